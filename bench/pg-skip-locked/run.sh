#!/usr/bin/env bash
# The naive PostgreSQL `FOR UPDATE SKIP LOCKED` queue, driven by pgbench: each pgbench transaction is one full task
# cycle (create a task; route the best waiting task to the longest-idle free agent with its skill; complete it,
# freeing the agent). Opt-in peer benchmark; nothing here runs in CI.
#
#   bench/pg-skip-locked/run.sh --agents 200 --rate 1000 --duration 30      # open loop at 1,000 cycles/s
#   bench/pg-skip-locked/run.sh --agents 200 --duration 30                  # unthrottled (as fast as it goes)
#   bench/pg-skip-locked/run.sh ... --json                                  # one JSON line on stdout
#
# It drops and creates its own database (default switchboard_peer) on the PostgreSQL at PGHOST:PGPORT
# (default 127.0.0.1:5432, user postgres).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
agents=200
rate=0
clients=8
jobs=2
duration=30
json=0
db="${PEER_DB:-switchboard_peer}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  echo "options: --agents N (200) --rate CYCLES_PER_S (0: unthrottled) --clients N (8) --jobs N (2)"
  echo "         --duration S (30) --db NAME (switchboard_peer) --json"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --agents) agents="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --db) db="$2"; shift 2 ;;
    --json) json=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

case "$db" in
  test|postgres|root|template0|template1) echo "refusing to use the database '$db': pick one of its own" >&2; exit 2 ;;
esac
[[ "$db" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "database name must be a plain identifier: $db" >&2; exit 2; }
[ "$jobs" -le "$clients" ] || jobs="$clients"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

psql -qX -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d "$db" -v agents="$agents" -f "$here/schema.sql" >/dev/null

args=(-n -M prepared -f "$here/cycle.sql" -c "$clients" -j "$jobs" -T "$duration" -l --log-prefix="$work/cycle")
if [ "$rate" != 0 ]; then
  args+=(-R "$rate")
fi
echo "pgbench ${args[*]} $db" >&2
pgbench "${args[@]}" "$db" > "$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; exit 1; }
grep -E '^(number of (transactions|failed)|latency average|tps|rate limit schedule lag)' "$work/pgbench.out" \
  | sed 's/^/  pgbench: /' >&2 || true

unrouted="$(psql -qAtX -d "$db" -c "SELECT count(*) FROM task WHERE state = 'waiting'")"
completed="$(psql -qAtX -d "$db" -c "SELECT count(*) FROM task WHERE state = 'completed'")"

report=(--logs "$work/cycle*" --duration "$duration" --rate "$rate" --agents "$agents" --clients "$clients"
  --unrouted "$unrouted" --completed-rows "$completed")
if [ "$json" -eq 1 ]; then
  report+=(--json)
  python3 "$here/report.py" "${report[@]}"
else
  python3 "$here/report.py" "${report[@]}" 2>&1
fi
