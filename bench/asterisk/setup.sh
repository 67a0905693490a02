#!/usr/bin/env bash
# Builds a Debian sid chroot with Asterisk in it (Debian ships asterisk only in sid) and writes the benchmark's
# Asterisk configuration into it. Opt-in peer benchmark; nothing here runs in CI. Needs root and debootstrap
# (apt-get install debootstrap).
#
#   bench/asterisk/setup.sh                      # chroot + asterisk + config for 200 agents, 0.5 s handling
#   bench/asterisk/setup.sh --config-only --agents 200 --handle 0.5
#
# The chroot lives in $ASTERISK_CHROOT (default: bench/asterisk/chroot, ignored by git).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chroot_dir="${ASTERISK_CHROOT:-$here/chroot}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
agents=200
handle=0.5
ami_port="${AMI_PORT:-5038}"
config_only=0

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  echo "options: --agents N (200) --handle SECONDS (0.5) --ami-port PORT (5038) --config-only"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --agents) agents="$2"; shift 2 ;;
    --handle) handle="$2"; shift 2 ;;
    --ami-port) ami_port="$2"; shift 2 ;;
    --config-only) config_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

build_chroot() {
  if [ -x "$chroot_dir/usr/sbin/asterisk" ]; then
    echo "asterisk already installed in $chroot_dir"
    return
  fi
  command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
  if [ ! -x "$chroot_dir/usr/bin/apt-get" ]; then
    echo "debootstrap sid into $chroot_dir (a few minutes)"
    mkdir -p "$chroot_dir"
    debootstrap --variant=minbase sid "$chroot_dir" "$mirror"
  fi
  # No service may start inside the chroot while packages are installed.
  printf '#!/bin/sh\nexit 101\n' > "$chroot_dir/usr/sbin/policy-rc.d"
  chmod +x "$chroot_dir/usr/sbin/policy-rc.d"
  # The mirror's sid Release file can be past its Valid-Until date by this machine's clock (seen: 18 days);
  # debootstrap does not check that date, apt does.
  echo 'Acquire::Check-Valid-Until "false";' > "$chroot_dir/etc/apt/apt.conf.d/99bench-valid-until"
  echo "installing asterisk in the chroot"
  chroot "$chroot_dir" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  chroot "$chroot_dir" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends asterisk asterisk-modules
  chroot "$chroot_dir" /usr/sbin/asterisk -V
}

write_config() {
  local etc="$chroot_dir/etc/asterisk-bench"
  local moddir
  moddir="$(cd "$chroot_dir" && find usr/lib -maxdepth 5 -type f -name app_queue.so -printf '/%h\n' | head -n1)"
  [ -n "$moddir" ] || { echo "app_queue.so not found in $chroot_dir" >&2; exit 1; }
  mkdir -p "$etc" "$chroot_dir/run/asterisk-bench" "$chroot_dir/var/log/asterisk-bench" \
    "$chroot_dir/var/lib/asterisk-bench" "$chroot_dir/var/spool/asterisk-bench"

  cat > "$etc/asterisk.conf" <<CONF
[directories]
astetcdir => /etc/asterisk-bench
astmoddir => $moddir
astvarlibdir => /var/lib/asterisk-bench
astdbdir => /var/lib/asterisk-bench
astkeydir => /var/lib/asterisk-bench
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => /var/spool/asterisk-bench
astrundir => /run/asterisk-bench
astlogdir => /var/log/asterisk-bench

[options]
verbose = 0
debug = 0
nocolor = yes
transcode_via_sln = no
CONF

  # Only what the benchmark needs: the queue, the dialplan, device states and bridging.
  cat > "$etc/modules.conf" <<'CONF'
[modules]
autoload = no
load => res_timing_timerfd.so
load => pbx_config.so
load => app_queue.so
load => func_devstate.so
load => bridge_simple.so
load => bridge_holding.so
load => bridge_builtin_features.so
CONF

  # Off: call detail records, channel event logging. Empty: the rest that the core reads at start.
  printf '[general]\nenable = no\n' > "$etc/cdr.conf"
  printf '[general]\nenable = no\n' > "$etc/cel.conf"
  local f
  for f in features.conf acl.conf udptl.conf ccss.conf; do
    printf '[general]\n' > "$etc/$f"
  done
  if [ -f "$chroot_dir/etc/asterisk/indications.conf" ]; then
    cp "$chroot_dir/etc/asterisk/indications.conf" "$etc/indications.conf"
  fi

  cat > "$etc/logger.conf" <<'CONF'
[general]
[logfiles]
messages => error,warning
CONF

  cat > "$etc/manager.conf" <<CONF
[general]
enabled = yes
port = $ami_port
bindaddr = 127.0.0.1
timestampevents = yes

[bench]
secret = bench
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = call,agent,originate,system
write = call,originate,system,command
; Only the events the driver reads reach its socket.
eventfilter = Event: (QueueCallerJoin|AgentConnect|Hangup|QueueCallerAbandon|OriginateResponse|FullyBooted)
CONF

  {
    cat <<'CONF'
[general]
persistentmembers = no
shared_lastcall = no

[bench]
strategy = leastrecent
timeout = 15
retry = 0
wrapuptime = 0
ringinuse = no
autofill = yes
joinempty = yes
leavewhenempty = no
announce-frequency = 0
announce-holdtime = no
announce-position = no
periodic-announce-frequency = 0
reportholdtime = no
CONF
    local i
    for ((i = 1; i <= agents; i++)); do
      echo "member => Local/$i@agents,0,agent$i,Custom:agent$i"
    done
  } > "$etc/queues.conf"

  # The extension of member agentN is N (a pattern cannot spell "agent": n means a digit 2-9 there).
  # A caller is an originated Local channel: its ;2 half answers and waits, its ;1 half enters the queue.
  # A member answers at once, marks its Custom device state busy, handles the call for HANDLE seconds,
  # hangs up and is free again.
  cat > "$etc/extensions.conf" <<CONF
[globals]
HANDLE = $handle

[callers]
exten => answer,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
exten => enter,1,Queue(bench,r)
 same => n,Hangup()

[agents]
exten => _X!,1,Set(AGENT=agent\${EXTEN})
 same => n,Set(DEVICE_STATE(Custom:\${AGENT})=INUSE)
 same => n,Answer()
 same => n,Wait(\${HANDLE})
 same => n,Hangup()
exten => h,1,Set(DEVICE_STATE(Custom:\${AGENT})=NOT_INUSE)
CONF
  echo "config for $agents agents, ${handle} s handling, AMI on 127.0.0.1:$ami_port written to $etc"
}

if [ "$config_only" -eq 0 ]; then
  build_chroot
fi
write_config
