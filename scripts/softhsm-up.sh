#!/usr/bin/env bash
# A SoftHSM2 token for the PKCS#11 key provider (docs/adr/0007): installs Debian's softhsm2 when
# softhsm2-util is missing, then creates once, under DIR (default .vault-data/softhsm), a config, a
# token directory and a token labelled activity-vault whose user PIN sits in DIR/user-pin (0600).
# Safe to run again and from parallel test files (flock). Prints `export` lines on stdout:
#   eval "$(bash scripts/softhsm-up.sh /tmp/hsm)"
# The SO PIN is random and not kept: this token is for development and CI, and deleting DIR is how
# it is reset. The PINs are passed to softhsm2-util on its command line, visible to local `ps`
# for the moment it runs; a production HSM is initialised by its own tooling, not by this script.
set -euo pipefail
umask 077
TOKEN_LABEL=activity-vault
KEY_LABEL=vault-kek

dir="${1:-.vault-data/softhsm}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd -P)"
chmod 700 "$dir"

if ! command -v softhsm2-util >/dev/null 2>&1; then
  # apt holds its own lock and fails instead of waiting, so parallel callers queue here first.
  exec 8>/tmp/activity-vault-softhsm-install.lock
  flock 8
  if ! command -v softhsm2-util >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      echo "softhsm2-util is missing: install Debian's softhsm2 (apt-get install softhsm2) or run this as root" >&2
      exit 1
    fi
    echo "installing softhsm2 with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    if ! log="$( { apt-get update -qq && apt-get install -y -qq --no-install-recommends softhsm2; } 2>&1)"; then
      printf '%s\n' "$log" >&2
      exit 1
    fi
  fi
  flock -u 8
fi

module=""
for pkg in libsofthsm2 softhsm2; do
  module="$(dpkg -L "$pkg" 2>/dev/null | grep -E '/libsofthsm2\.so$' | head -n 1 || true)"
  [ -n "$module" ] && break
done
if [ -z "$module" ]; then
  for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
    if [ -e "$candidate" ]; then module="$candidate"; break; fi
  done
fi
if [ -z "$module" ] || [ ! -e "$module" ]; then
  echo "libsofthsm2.so not found (looked with dpkg -L libsofthsm2 and in /usr/lib/softhsm)" >&2
  exit 1
fi

exec 9>"$dir/.lock"
flock 9

conf="$dir/softhsm2.conf"
tokens="$dir/tokens"
pin_file="$dir/user-pin"
mkdir -p "$tokens"
wanted_conf="directories.tokendir = $tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false"
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$wanted_conf" ]; then
  printf '%s\n' "$wanted_conf" >"$conf.tmp"
  mv -f "$conf.tmp" "$conf"
fi
export SOFTHSM2_CONF="$conf"

token_exists() {
  softhsm2-util --show-slots 2>/dev/null | grep -Eq "^[[:space:]]*Label:[[:space:]]+${TOKEN_LABEL}[[:space:]]*$"
}

random_pin() {
  od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
}

if ! token_exists; then
  # The PIN is on disk before the token exists, so a crash in between is retried with the same PIN.
  if [ ! -s "$pin_file" ]; then
    random_pin >"$pin_file.tmp"
    chmod 600 "$pin_file.tmp"
    mv -f "$pin_file.tmp" "$pin_file"
  fi
  so_pin="$(random_pin)"
  softhsm2-util --init-token --free --label "$TOKEN_LABEL" --so-pin "$so_pin" --pin "$(cat "$pin_file")" >/dev/null
  unset so_pin
  echo "initialised SoftHSM2 token '$TOKEN_LABEL' in $tokens" >&2
elif [ ! -s "$pin_file" ]; then
  echo "token '$TOKEN_LABEL' exists in $tokens but $pin_file is missing; delete $dir to start over" >&2
  exit 1
fi
chmod 600 "$pin_file"
flock -u 9

printf 'export SOFTHSM2_CONF=%q\n' "$conf"
printf 'export VAULT_KEY_PROVIDER=pkcs11\n'
printf 'export VAULT_PKCS11_MODULE=%q\n' "$module"
printf 'export VAULT_PKCS11_TOKEN_LABEL=%q\n' "$TOKEN_LABEL"
printf 'export VAULT_PKCS11_PIN_FILE=%q\n' "$pin_file"
printf 'export VAULT_PKCS11_KEY_LABEL=%q\n' "$KEY_LABEL"
