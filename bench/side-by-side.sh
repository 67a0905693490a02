#!/usr/bin/env bash
# Switchboard and its peers side by side, one after the other in one invocation, at the same offered rates and
# agent counts: switchboard's `bench lifecycle` against a fresh server, the naive PostgreSQL FOR UPDATE SKIP LOCKED
# queue (pgbench) and, if its chroot exists, Asterisk's app_queue. Prints one table and the ratios.
# Opt-in; nothing here runs in CI.
#
#   bench/side-by-side.sh                                     # 200 agents, 100/150/200 per s, 20 s per run
#   bench/side-by-side.sh --rates "100 150" --sb-rates "1000 3000" --duration 30 --out /tmp/peers
#
# Besides the common rates, switchboard also runs at --sb-rates (to find the rate it sustains) and pgbench once
# unthrottled (the naive queue's capacity with --clients clients).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
switchboard="${SWITCHBOARD_BIN:-$repo/target/release/switchboard}"
sb_port="${SB_PORT:-4690}"
agents=200
rates="100 150 200"
sb_rates="1000 2000 3000"
duration=20
handle=0.5
clients=8
p99_limit=100
systems="switchboard,pg,asterisk"
out=""

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'TXT'
options: --agents N (200) --rates "R ..." (100 150 200) --sb-rates "R ..." (1000 2000 3000) --duration S (20)
         --handle S (Asterisk's handling time, 0.5) --clients N (pgbench clients, 8)
         --p99-limit-ms MS (a rate is sustained when p99 is at most this, 100) --only switchboard,pg,asterisk
         --out DIR (keeps every run's JSON; default a temporary folder, removed)
environment: SWITCHBOARD_BIN (target/release/switchboard), SB_PORT (4690), ASTERISK_CHROOT, AMI_PORT, PGHOST...
TXT
}

while [ $# -gt 0 ]; do
  case "$1" in
    --agents) agents="$2"; shift 2 ;;
    --rates) rates="$2"; shift 2 ;;
    --sb-rates) sb_rates="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --handle) handle="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --p99-limit-ms) p99_limit="$2"; shift 2 ;;
    --only) systems="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

want() { [[ ",$systems," == *",$1,"* ]]; }

work="$(mktemp -d)"
if [ -z "$out" ]; then
  out="$work/results"
fi
mkdir -p "$out"
server_pid=""

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# What else uses the CPU right now: processes over 20% in a half-second sample.
busy() {
  top -bn2 -d0.5 -w 200 | awk '/^top -/ { n++ } n == 2 && /^ *[0-9]+ / && $9 + 0 >= 20 { printf "%s %s%% ", $12, $9 }'
}

note_load() {
  local what="$1" load others
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  others="$(busy)"
  printf '%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$what" "$load" "${others:-none}" >> "$out/loads.tsv"
  echo "== $what (load average $load; busy now: ${others:-nothing over 20%})" >&2
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(nproc) cores, $(free -h | awk '/^Mem:/ { print $2 }') memory; $(uptime)"
  echo "agents: $agents; rates: $rates; switchboard extra rates: $sb_rates; duration: $duration s"
} > "$out/run-info.txt"
cat "$out/run-info.txt" >&2
printf 'time\trun\tload average (1, 5, 15 min)\tprocesses over 20%% CPU just before\n' > "$out/loads.tsv"

run_switchboard() {
  local rate="$1"
  note_load "switchboard lifecycle, $agents agents, $rate/s"
  "$switchboard" bench lifecycle --url "http://127.0.0.1:$sb_port" --key benchkey --agents "$agents" \
    --rate "$rate" --duration "$duration" --json > "$out/switchboard-$rate.json" 2> "$out/switchboard-$rate.log" \
    || { echo "switchboard bench failed at $rate/s; see $out/switchboard-$rate.log" >&2; tail -5 "$out/switchboard-$rate.log" >&2; }
}

run_pg() {
  local rate="$1" label="$1/s"
  [ "$rate" = 0 ] && label="unthrottled"
  note_load "postgresql skip locked, $agents agents, $clients clients, $label"
  "$here/pg-skip-locked/run.sh" --agents "$agents" --clients "$clients" --rate "$rate" --duration "$duration" \
    --json > "$out/pg-$rate.json" 2> "$out/pg-$rate.log" \
    || { echo "pg run failed at $label; see $out/pg-$rate.log" >&2; tail -5 "$out/pg-$rate.log" >&2; }
}

run_asterisk() {
  local rate="$1"
  note_load "asterisk app_queue, $agents members, $handle s handling, $rate/s"
  "$here/asterisk/run.sh" --agents "$agents" --handle "$handle" --rate "$rate" --duration "$duration" \
    --json > "$out/asterisk-$rate.json" 2> "$out/asterisk-$rate.log" \
    || { echo "asterisk run failed at $rate/s; see $out/asterisk-$rate.log" >&2; tail -5 "$out/asterisk-$rate.log" >&2; }
}

asterisk_ready=0
if want asterisk; then
  if [ -x "${ASTERISK_CHROOT:-$here/asterisk/chroot}/usr/sbin/asterisk" ]; then
    asterisk_ready=1
  else
    echo "== asterisk skipped: no chroot (bench/asterisk/setup.sh builds it)" >&2
  fi
fi

if want switchboard; then
  [ -x "$switchboard" ] || { echo "no switchboard binary at $switchboard (cargo build --release -p switchboard)" >&2; exit 1; }
  if (exec 3<>"/dev/tcp/127.0.0.1/$sb_port") 2>/dev/null; then
    echo "127.0.0.1:$sb_port is in use: set SB_PORT" >&2
    exit 1
  fi
  SWITCHBOARD_ADMIN_KEY=benchkey "$switchboard" serve --listen "127.0.0.1:$sb_port" \
    --db "sqlite://$work/switchboard.db" > "$out/switchboard-server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$sb_port") 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
fi

# The common rates interleaved (switchboard, PostgreSQL, Asterisk at one rate, then the next rate), so that the
# runs compared with each other are close in time; then switchboard's higher rates and pgbench unthrottled.
for rate in $rates; do
  if want switchboard; then run_switchboard "$rate"; fi
  if want pg; then run_pg "$rate"; fi
  if [ "$asterisk_ready" -eq 1 ]; then run_asterisk "$rate"; fi
done
if want switchboard; then
  for rate in $sb_rates; do run_switchboard "$rate"; done
fi
if want pg; then run_pg 0; fi

note_load "done"
python3 "$here/side_by_side.py" --dir "$out" --p99-limit-ms "$p99_limit"
