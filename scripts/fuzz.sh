#!/usr/bin/env bash
# Fuzzes a real vault from its own /openapi.json with schemathesis: every operation, with valid
# tokens of the roles it needs, on data seeded so that not everything is a 404. Fails on any 5xx,
# any response outside its declared status codes, media type, headers or schema, any schema-invalid
# request accepted, and any operation that took a request without its token.
#
# Store: the embedded database; PostgreSQL when VAULT_DATABASE_URL is set (a role that may create
# databases: the run gets a scratch database of its own, dropped at the end).
# Knobs: VAULT_FUZZ_SECONDS (schemathesis' time budget, default 150), VAULT_FUZZ_SEED (replay a run).
# Installs what it needs (python3-venv from Debian if missing, schemathesis from PyPI into
# .venv-fuzz/) and compiles dist/ first.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

SCHEMATHESIS_VERSION=4.32.5
venv=.venv-fuzz
budget="${VAULT_FUZZ_SECONDS:-150}"
step() { echo "== $* (${SECONDS} s)" >&2; }

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  step "apt-get install python3 python3-venv"
  apt-get update -qq >&2
  apt-get install -y -qq python3 python3-venv >&2
fi
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  step "pip install schemathesis==$SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
fi

# CI has just compiled dist/ for the test runs (VAULT_FUZZ_BUILT=1); a run of its own compiles.
if [ -z "${VAULT_FUZZ_BUILT:-}" ]; then
  step "compile"
  npx tsc -p tsconfig.json
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/vault-fuzz.XXXXXX")"
server_pid=""
drop_database=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$drop_database" ]; then node scripts/fuzz-db.mjs drop "$VAULT_DATABASE_URL" "$drop_database" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Only what the vault is told here: an operator's own VAULT_* settings must not change the run.
vault_env=(env -i PATH="$PATH" HOME="$HOME" VAULT_DATA_DIR="$work/data" VAULT_HOST=127.0.0.1 VAULT_PORT=0 VAULT_LOG_LEVEL=info)
if [ -n "${VAULT_DATABASE_URL:-}" ]; then
  database_url="$(node scripts/fuzz-db.mjs create "$VAULT_DATABASE_URL")"
  drop_database="$database_url"
  vault_env+=(VAULT_DATABASE_URL="$database_url")
  "${vault_env[@]}" node dist/src/cli/bin.js migrate >&2
  step "fuzzing a vault on PostgreSQL (scratch database)"
else
  step "fuzzing a vault on the embedded database"
fi

"${vault_env[@]}" node dist/src/cli/bin.js serve >"$work/server.log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 1 120); do
  url="$(grep -o 'Server listening at http://127\.0\.0\.1:[0-9]*' "$work/server.log" | head -n 1 | sed 's/^Server listening at //')" || true
  [ -n "$url" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/server.log" >&2; echo "the vault did not start" >&2; exit 1; fi
  sleep 0.5
done
[ -n "$url" ] || { cat "$work/server.log" >&2; echo "the vault did not listen within 60 s" >&2; exit 1; }
echo "   $url" >&2

mint() { "${vault_env[@]}" node dist/src/cli/bin.js token mint --ttl 3600 "$@"; }
export FUZZ_URL="$url"
FUZZ_TOKEN_PRIVACY_OFFICER="$(mint --sub fuzz-privacy-officer --role privacy-officer)"
FUZZ_TOKEN_INGEST_AGENT="$(mint --sub fuzz-ingest-agent --role ingest-agent)"
FUZZ_TOKEN_SECURITY_ADMIN="$(mint --sub fuzz-security-admin --role security-admin)"
FUZZ_TOKEN_AUDITOR="$(mint --sub fuzz-auditor --role auditor)"
FUZZ_TOKEN_TRAINING_JOB="$(mint --sub fuzz-training-job --role training-job --team team-autocomplete --purpose autocomplete-model)"
export FUZZ_TOKEN_PRIVACY_OFFICER FUZZ_TOKEN_INGEST_AGENT FUZZ_TOKEN_SECURITY_ADMIN FUZZ_TOKEN_AUDITOR FUZZ_TOKEN_TRAINING_JOB

step "seed"
seed="$(node scripts/fuzz-seed.mjs)"
field() { node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; process.stdout.write(JSON.stringify(v))' "$seed" "$1"; }

# Tokens stay in the environment (schemathesis substitutes ${...}); seeded ids are written in.
#
# False positives, each excluded for the one operation it concerns and no wider: the check
# `positive_data_acceptance` expects a schema-valid request to be accepted, but some inputs are
# valid only if the vault issued them or only together, which no schema can say. For those
# operations `checks.positive_data_acceptance.expected-statuses` adds the refusal the vault gives
# them, for that operation alone (every other 4xx still fails the run):
# - `cursor` of GET /v1/audit/events and `after` of GET /v1/datasets/{id}/records are opaque,
#   MACed cursors: any other string is a 400 invalid_request;
# - POST /v1/datasets: `from` must be before `to` (a 400);
# - PUT /v1/employees: an employee_id may appear once per batch (a 400; `uniqueItems` compares
#   whole entries, not one field of them);
# - POST /v1/policy/bundles: the body must be a gzipped bundle (400) signed by a trusted key (422).
# - GET /v1/collection/status, the employee routes of the collection controls and of subject rights
#   (erase, records, exposure): an employee id that is not on the roster is a 404, and a window of
#   the employee's copy whose `from` is not before `to` is a 400;
# - PUT /v1/collection/manifest: `base_version` that is not the version in force is a 409.
# - GET /v1/audit/stats and /v1/audit/alarms: `from` must be before `to`, and the stats window is
#   31 days at most (a 400); the alarms' `cursor` is opaque, like the events' (a 400).
# Four operations are not fuzzed, on purpose: POST /v1/program/pause and /resume (a valid request
# pauses collection or freezes exports, and from then every ingest or dataset answer is, by design,
# a 503 the run would count as a failure; test/collection/pauses.test.ts holds their input checks),
# GET /v1/collection/events (an event stream never ends; test/collection/agents.test.ts), and
# POST /v1/keys/rotate (it takes no input, and each valid call rotates the KEK in the background;
# test/key-lifecycle/rotation.test.ts).
# And one narrower still: POST /v1/records takes any JSON payload, but a `__proto__` key (or
# `constructor.prototype`) at any depth refuses the whole body with a 400, fastify's guard against
# prototype poisoning. `hooks = scripts/fuzz-hooks.py` drops just those generated bodies.
cat >"$work/schemathesis.toml" <<EOF
hooks = "$PWD/scripts/fuzz-hooks.py"

[dictionaries]
datasets = { values = [$(field dataset_id)] }
cursors = { values = [$(field cursor)] }
employees = { values = $(field employee_ids) }
revisions = { values = $(field revisions) }

[warnings]
# An operation that answered nothing but 401/403 was not fuzzed at all: a broken token fails the run.
fail-on = ["missing_auth"]

[[operations]]
include-path = "/v1/employees"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_PRIVACY_OFFICER}" }
checks = { positive_data_acceptance = { expected-statuses = ["2xx", 400, 401, 403, 404, 409] } }

[[operations]]
include-path = "/v1/records"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_INGEST_AGENT}" }

[[operations]]
include-path = "/v1/policy/bundles"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_SECURITY_ADMIN}" }
checks = { positive_data_acceptance = { expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422] } }

[[operations]]
include-path-regex = "^/v1/policy/bundles/.+"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_SECURITY_ADMIN}" }
parameters = { "path.revision" = { dictionary = "revisions", probability = 0.3 } }

[[operations]]
include-path = "/v1/audit/events"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_AUDITOR}" }
parameters = { "query.employee_id" = { dictionary = "employees", probability = 0.3 } }
checks = { positive_data_acceptance = { expected-statuses = ["2xx", 400, 401, 403, 404, 409] } }

[[operations]]
include-path-regex = "^/v1/audit/(stats|alarms)$"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_AUDITOR}" }
checks = { positive_data_acceptance = { expected-statuses = ["2xx", 400, 401, 403, 404] } }

[[operations]]
include-path-regex = "^/v1/audit/(verify|checkpoints)$"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_AUDITOR}" }

[[operations]]
include-path = "/v1/datasets"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_TRAINING_JOB}" }
checks = { positive_data_acceptance = { expected-statuses = ["2xx", 400, 401, 403, 404, 409] } }

[[operations]]
include-path = "/v1/datasets/{id}/records"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_TRAINING_JOB}" }
parameters = { "path.id" = { dictionary = "datasets", probability = 0.5 }, "query.after" = { dictionary = "cursors", probability = 0.3 } }
checks = { positive_data_acceptance = { expected-statuses = ["2xx", 400, 401, 403, 404, 409] } }

[[operations]]
include-path = "/v1/employees/{id}/access-report"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_AUDITOR}" }
parameters = { "path.id" = { dictionary = "employees", probability = 0.5 } }

[[operations]]
include-path-regex = '^/v1/employees/[{]id[}]/(pause|opt-out|consent)$'
headers = { Authorization = "Bearer \${FUZZ_TOKEN_PRIVACY_OFFICER}" }
parameters = { "path.id" = { dictionary = "employees", probability = 0.5 } }
checks = { positive_data_acceptance = { expected-statuses = ["2xx", 400, 401, 403, 404] } }

[[operations]]
include-path-regex = '^/v1/employees/[{]id[}]/(erase|records|exposure)$'
headers = { Authorization = "Bearer \${FUZZ_TOKEN_PRIVACY_OFFICER}" }
parameters = { "path.id" = { dictionary = "employees", probability = 0.5 } }
checks = { positive_data_acceptance = { expected-statuses = ["2xx", 400, 401, 403, 404] } }

[[operations]]
include-path = "/v1/keys/status"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_AUDITOR}" }

[[operations]]
include-path = "/v1/collection/manifest"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_PRIVACY_OFFICER}" }
checks = { positive_data_acceptance = { expected-statuses = ["2xx", 400, 401, 403, 404, 409] } }

[[operations]]
include-path = "/v1/collection/status"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_INGEST_AGENT}" }
parameters = { "query.employee_id" = { dictionary = "employees", probability = 0.5 } }
checks = { positive_data_acceptance = { expected-statuses = ["2xx", 400, 401, 403, 404] } }

[[operations]]
include-path-regex = "^/v1/(collection/permit-keys|program/status)$"
headers = { Authorization = "Bearer \${FUZZ_TOKEN_AUDITOR}" }
EOF

# The vault's own count, per operation and status, from its Prometheus counters: the proof that
# every operation was reached past its door, and what it answered.
tally() {
  node --input-type=module -e '
    const text = await (await fetch(process.argv[1] + "/metrics")).text();
    const ops = new Map();
    let seconds = 0;
    for (const line of text.split("\n")) {
      const count = /^vault_http_requests_total\{method="([^"]+)",route="([^"]+)",status="(\d+)"\} (\d+)/.exec(line);
      if (count) {
        const key = `${count[1]} ${count[2]}`;
        if (!ops.has(key)) ops.set(key, {});
        ops.get(key)[count[3]] = Number(count[4]);
      }
      const sum = /^vault_http_request_duration_seconds_sum\{[^}]*\} ([0-9.e+-]+)/.exec(line);
      if (sum) seconds += Number(sum[1]);
    }
    let total = 0;
    for (const [op, statuses] of [...ops].sort()) {
      total += Object.values(statuses).reduce((a, b) => a + b, 0);
      console.error(`   ${op.padEnd(48)} ${Object.entries(statuses).map(([s, n]) => `${s}:${n}`).join(" ")}`);
    }
    console.error(`   ${total} requests answered, ${seconds.toFixed(1)} s inside the vault`);
  ' "$url"
}

# One worker: with two, schemathesis 4.32.5 on Python 3.11 crashed in its own code generation
# ("SystemError: AST constructor recursion depth mismatch"), a run error that is no finding.
# `--suppress-health-check filter_too_much`: Hypothesis cannot build strings for the org unit
# pattern's lookaheads directly, draws and filters, and on some seeds gives up on PUT /v1/employees
# with a health-check error. It concerns generating requests only, never the verdict on an answer.
step "schemathesis $SCHEMATHESIS_VERSION, ${budget} s"
status=0
"$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$url/openapi.json" \
  --checks all \
  --max-time "$budget" \
  --suppress-health-check filter_too_much \
  --exclude-path /v1/program/pause --exclude-path /v1/program/resume --exclude-path /v1/collection/events --exclude-path /v1/keys/rotate \
  --request-timeout 30 \
  --workers 1 \
  --no-color \
  ${VAULT_FUZZ_SEED:+--seed "$VAULT_FUZZ_SEED"} 2>&1 | tee "$work/schemathesis.out" || status=$?

step "what the vault answered, by operation and status"
tally || true

# What the answers do not show: a value that reached the database and was refused there (mapped to
# a 400, but the edge should have caught it), and anything the vault logged as an error.
if grep -q '"level":50\|"alarm":"edge_validation_gap"' "$work/server.log"; then
  echo "the vault logged errors or an edge validation gap during the run:" >&2
  grep '"level":50\|"alarm":"edge_validation_gap"' "$work/server.log" | head -n 20 >&2
  status=1
fi

# The closing line CI reads: schemathesis' test cases, and the failures (its own, or the vault's log).
summary="$(grep -E '^ +[0-9]+ generated' "$work/schemathesis.out" | tail -n 1)" || true
generated="$(grep -oE '[0-9]+ generated' <<<"$summary" | grep -oE '[0-9]+')" || generated=0
failed="$(grep -oE '[0-9]+ unique failures?' <<<"$summary" | grep -oE '^[0-9]+')" || failed=0
passed="$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+')" || passed=$((generated > failed ? generated - failed : 0))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "fuzz: ${passed} passed, ${failed} failed"
exit "$status"
