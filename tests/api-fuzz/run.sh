#!/usr/bin/env bash
# API fuzzing: schemathesis generates requests for every operation of /openapi.json (valid and invalid inputs)
# and sends them to the real server on a fresh SQLite database with an admin key. It fails on any 5xx the spec
# does not document, on a status code, content type, header or body that does not match the spec, and on a
# request the server does not answer. A server panic or exit fails the step too. Bounded (a fixed number of
# examples per operation, a fixed seed, one worker) so CI is reproducible and takes a few minutes on 2 cores.
#
# Locally: tests/api-fuzz/run.sh (API_FUZZ_MAX_EXAMPLES=N and API_FUZZ_SEED=N change the budget and the seed).
# The server log, schemathesis' output and a JUnit report land in target/api-fuzz/. docs/testing.md has more.
#
# Excluded, each for a reason:
# - GET /xuc/api/2.0/cti is the CTI websocket: a plain GET is not the protocol (tests/it/cti.rs covers it).
# Nothing else: no REST endpoint revokes the admin key (keys are managed by `switchboard keys`), and the
# long-poll of GET /v2.0/events takes its `wait` from a short list (schemathesis.toml) so it cannot stall the run.
# Two operations may answer 500, the refusals LUCS documents as 500 (schemathesis.toml, hooks.py).
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
root=$(cd ../.. && pwd)

schemathesis_version=4.32.5
max_examples=${API_FUZZ_MAX_EXAMPLES:-60}
seed=${API_FUZZ_SEED:-20260601}
admin_key=api-fuzz-admin-key
out="$root/target/api-fuzz"
venv="$root/target/api-fuzz-venv"

if [ ! -x "$venv/bin/schemathesis" ] || [ "$("$venv/bin/schemathesis" --version | awk '{print $NF}')" != "$schemathesis_version" ]; then
  echo "installing schemathesis $schemathesis_version"
  python3 -m venv "$venv" >/dev/null
  "$venv/bin/pip" install -q "schemathesis==$schemathesis_version"
fi
"$venv/bin/schemathesis" --version

(cd "$root" && cargo build -q -p switchboard)

rm -rf "$out"
mkdir -p "$out"
db_dir=$(mktemp -d)
server_pid=
# SIGTERM shuts the server down gracefully; one that is still there after 30 seconds is killed.
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    for _ in $(seq 1 300); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "the server did not stop within 30 s of SIGTERM; killing it"
      kill -KILL "$server_pid"
    fi
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
cleanup() {
  stop_server
  rm -rf "$db_dir"
}
trap cleanup EXIT

# Port 0: the server picks a free port and prints it. The log exists before the server opens it, so it can be
# read at once.
: >"$out/server.log"
SWITCHBOARD_ADMIN_KEY=$admin_key RUST_LOG=${RUST_LOG:-warn} "$root/target/debug/switchboard" serve \
  --listen 127.0.0.1:0 --db "sqlite://$db_dir/fuzz.db" >"$out/server.log" 2>&1 &
server_pid=$!
base=
for _ in $(seq 1 100); do
  base=$(sed -n 's/^switchboard listening on \(http:[^ ]*\).*/\1/p' "$out/server.log" | head -n 1)
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log"; echo "the server did not start"; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { cat "$out/server.log"; echo "the server printed no address"; exit 1; }
echo "server: $base (pid $server_pid, log target/api-fuzz/server.log)"

# A little data, so that the identifiers in schemathesis.toml's dictionaries name something and generated calls
# get past "not found" into the handlers.
"$venv/bin/python" "$here/seed.py" "$base" "$admin_key"

started=$(date +%s)
set +e
# From target/api-fuzz, so whatever schemathesis writes next to where it runs stays out of the source tree.
(cd "$out" && SCHEMATHESIS_HOOKS="$here/hooks.py" "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$base/openapi.json" \
  --header "api_key: $admin_key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,documented_server_refusal \
  --exclude-path /xuc/api/2.0/cti \
  --max-examples "$max_examples" --seed "$seed" --workers 1 \
  --request-timeout 20 \
  --no-color --output-truncate false \
  --generation-database none \
  --report junit --report-dir "$out") 2>&1 | tee "$out/schemathesis.log"
status=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - started))

alive=yes
kill -0 "$server_pid" 2>/dev/null || alive=no
stop_server
panics=$(grep -c 'panicked at' "$out/server.log" || true)

# The summary ends with "API Operations: ... Tested: N" and "Test cases: N generated, ...".
operations=$(sed -n 's/^ *Tested: *\([0-9]*\).*/\1/p' "$out/schemathesis.log" | tail -n 1)
cases=$(grep -A 1 '^Test cases:' "$out/schemathesis.log" | sed -n 's/^ *\([0-9]*\) generated.*/\1/p' | tail -n 1)
echo
echo "api fuzzing: ${operations:-?} operations, ${cases:-?} test cases, ${elapsed}s (seed $seed, $max_examples examples per operation)"
failed=0
if [ "$alive" != yes ]; then
  echo "FAIL: the server exited during the run"
  failed=1
fi
if [ "$panics" != 0 ]; then
  echo "FAIL: the server panicked $panics time(s):"
  grep -A 3 'panicked at' "$out/server.log" | head -n 40
  failed=1
fi
if [ "$status" != 0 ]; then
  echo "FAIL: schemathesis found failures (exit $status); see above and target/api-fuzz/"
  failed=1
fi
exit $failed
