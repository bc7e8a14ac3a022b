#!/usr/bin/env bash
# Installs (Debian's postgresql), starts on 127.0.0.1 and provisions the test/bench server.
# Idempotent. Prints the connection string of the vault's database on stdout.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi

read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1)
if [ "$status" != "online" ]; then
  pg_ctlcluster "$version" "$cluster" start -- -o "-c listen_addresses=127.0.0.1" >&2
fi

as_postgres() { runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -qAt "$@"; }
for _ in $(seq 1 30); do as_postgres -c 'select 1' >/dev/null 2>&1 && break; sleep 1; done

if [ "$(as_postgres -c "select 1 from pg_roles where rolname = 'vault'")" != "1" ]; then
  as_postgres -c "create role vault login password 'vault' createdb createrole" >&2
fi
if [ "$(as_postgres -c "select 1 from pg_database where datname = 'vault'")" != "1" ]; then
  as_postgres -c "create database vault owner vault" >&2
fi
echo "postgres://vault:vault@127.0.0.1:${port}/vault"
