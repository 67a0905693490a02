#!/usr/bin/env bash
# Asterisk app_queue peer benchmark: starts Asterisk from the sid chroot that setup.sh built, with N members and a
# handling time, drives calls into the queue over AMI at a fixed rate (ami_driver.py) and stops Asterisk again.
# Opt-in; nothing here runs in CI.
#
#   bench/asterisk/run.sh --agents 200 --handle 0.5 --rate 100 --duration 20
#   bench/asterisk/run.sh --agents 200 --handle 0.5 --rate 150 --duration 20 --json   # one JSON line on stdout
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chroot_dir="${ASTERISK_CHROOT:-$here/chroot}"
ami_port="${AMI_PORT:-5038}"
agents=200
handle=0.5
rate=100
duration=20
json=0

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  echo "options: --agents N (200) --handle SECONDS (0.5) --rate CALLS_PER_S (100) --duration S (20) --json"
  echo "environment: ASTERISK_CHROOT (bench/asterisk/chroot), AMI_PORT (5038)"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --agents) agents="$2"; shift 2 ;;
    --handle) handle="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --json) json=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

[ -x "$chroot_dir/usr/sbin/asterisk" ] || { echo "no asterisk in $chroot_dir: run bench/asterisk/setup.sh" >&2; exit 1; }
if (exec 3<>"/dev/tcp/127.0.0.1/$ami_port") 2>/dev/null; then
  echo "127.0.0.1:$ami_port is already in use (another asterisk?)" >&2
  exit 1
fi

AMI_PORT="$ami_port" ASTERISK_CHROOT="$chroot_dir" \
  "$here/setup.sh" --config-only --agents "$agents" --handle "$handle" --ami-port "$ami_port" >&2

ast=(chroot "$chroot_dir" /usr/sbin/asterisk -C /etc/asterisk-bench/asterisk.conf)
log="$chroot_dir/var/log/asterisk-bench/run.log"
ulimit -n 65536 2>/dev/null || true
"${ast[@]}" -f -n > "$log" 2>&1 &
pid=$!

# Stops Asterisk for sure: an overloaded Asterisk (thousands of calls in progress after a collapse) may neither
# answer `core stop now` nor end on SIGTERM, so it gets SIGKILL after 10 s.
# shellcheck disable=SC2317  # called by the EXIT trap
stop_asterisk() {
  kill -0 "$pid" 2>/dev/null || return 0
  timeout 5 "${ast[@]}" -rx 'core stop now' >/dev/null 2>&1 || true
  local i
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    [ "$i" -eq 50 ] && kill "$pid" 2>/dev/null
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap stop_asterisk EXIT

for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$ami_port") 2>/dev/null; then
    break
  fi
  kill -0 "$pid" 2>/dev/null || { echo "asterisk exited at start; see $log" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
ticks0="$(cpu_ticks)"
driver=(python3 "$here/ami_driver.py" --port "$ami_port" --agents "$agents" --rate "$rate" --duration "$duration"
  --handle "$handle")
status=0
if [ "$json" -eq 1 ]; then
  "${driver[@]}" --json || status=$?
else
  "${driver[@]}" 2>&1 || status=$?
fi
ticks1="$(cpu_ticks)"
hz="$(getconf CLK_TCK)"
echo "  asterisk used $(( (ticks1 - ticks0) / hz )).$(( (ticks1 - ticks0) % hz * 100 / hz )) s of CPU during the run" >&2
exit "$status"
