#!/usr/bin/env python3
"""Drives Asterisk's app_queue over AMI: originates calls into the queue at a fixed rate (open loop) over Local
channels and measures how long each caller waits for a member.

Each call is an AMI Originate of Local/answer@callers (its ;2 half answers and waits) whose ;1 half runs
enter@callers, which is Queue(bench). Members are Local/N@agents: they answer at once, stay HANDLE seconds and hang
up (see setup.sh). From the events (manager.conf has timestampevents = yes, so every event carries Asterisk's
clock):

  queue wait   = AgentConnect.Timestamp - QueueCallerJoin.Timestamp  (caller entered the queue -> member connected)
  due->connect = AgentConnect.Timestamp - the moment the call was due  (includes the originate; same host clock)

Python standard library only. Prints a human summary on stderr and, with --json, one JSON line on stdout.
"""
import argparse
import json
import socket
import sys
import threading
import time


def pct(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


class Ami:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)
        self.file = self.sock.makefile("rb")
        self.banner = self.file.readline().decode().strip()
        self.send_lock = threading.Lock()

    def send(self, **fields):
        data = "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        with self.send_lock:
            self.sock.sendall(data.encode())

    def read_message(self):
        msg = {}
        while True:
            line = self.file.readline()
            if not line:
                return None
            line = line.decode(errors="replace").rstrip("\r\n")
            if not line:
                if msg:
                    return msg
                continue
            key, sep, value = line.partition(": ")
            if sep and key not in msg:
                msg[key] = value


class Run:
    def __init__(self, total):
        self.lock = threading.Lock()
        self.due = {}  # call id -> due time (time.time())
        self.join = {}  # call id -> QueueCallerJoin timestamp
        self.connect = {}  # call id -> AgentConnect timestamp
        self.complete = set()
        self.abandon = set()
        self.originate_failed = {}
        self.responses = {}  # ActionID -> Response
        self.member_calls = {}  # member channel uniqueid -> [member, connected at, hung up at]
        self.total = total
        self.done = threading.Event()


def reader(ami, run, prefix):
    """Reads every AMI message. A call is complete when its caller channel hangs up after a member connected
    (AgentComplete is not used: Asterisk 22 left it out for about 3% of the calls in a test run)."""
    while True:
        msg = ami.read_message()
        if msg is None:
            run.done.set()
            return
        event = msg.get("Event")
        with run.lock:
            if event is None:
                aid = msg.get("ActionID")
                if aid is not None:
                    run.responses[aid] = msg.get("Response", "")
                continue
            uid = msg.get("Uniqueid", "")
            if event == "OriginateResponse":
                if msg.get("Response") != "Success":
                    run.originate_failed[msg.get("ActionID", "")] = msg.get("Reason", "")
                continue
            ts = float(msg.get("Timestamp", "0") or 0) or time.time()
            if event == "Hangup" and uid in run.member_calls:
                run.member_calls[uid][2] = ts
                continue
            if not uid.startswith(prefix):
                continue
            cid, _, half = uid[len(prefix):].partition("-")
            if event == "QueueCallerJoin":
                run.join[cid] = ts
            elif event == "AgentConnect":
                run.connect[cid] = ts
                run.member_calls[msg.get("DestUniqueid", "")] = [msg.get("MemberName", ""), ts, None]
            elif event == "Hangup" and half == "1":
                if cid in run.connect:
                    run.complete.add(cid)
                elif cid not in run.abandon:
                    run.abandon.add(cid)
            elif event == "QueueCallerAbandon":
                run.abandon.add(cid)


def wait_for(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5038)
    ap.add_argument("--user", default="bench")
    ap.add_argument("--secret", default="bench")
    ap.add_argument("--agents", type=int, default=200, help="members agent1..agentN (their Custom states are set)")
    ap.add_argument("--rate", type=float, default=100.0, help="calls per second (fixed rate, open loop)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of calls")
    ap.add_argument("--handle", type=float, default=0.5, help="handling time configured in setup.sh (reported)")
    ap.add_argument("--drain", type=float, default=15.0, help="seconds to wait for calls in progress at the end")
    ap.add_argument("--give-up-waiting", type=int, default=0,
                    help="stop originating once this many calls sent are not connected yet (Asterisk has collapsed; "
                    "default: 5 s of calls, at least 500); the calls not sent count as unfinished")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    ami = Ami(args.host, args.port)
    ami.send(Action="Login", Username=args.user, Secret=args.secret, ActionID="login")
    total = int(round(args.rate * args.duration))
    run = Run(total)
    prefix = f"sb{int(time.time() * 1000) % 100000000}x"
    threading.Thread(target=reader, args=(ami, run, prefix), daemon=True).start()
    if not wait_for(lambda: "login" in run.responses, 10) or run.responses["login"] != "Success":
        print(f"AMI login failed: {run.responses.get('login')}", file=sys.stderr)
        return 1

    # Members are ringable only once their Custom device state says so.
    for i in range(1, args.agents + 1):
        ami.send(Action="Setvar", Variable=f"DEVICE_STATE(Custom:agent{i})", Value="NOT_INUSE", ActionID=f"dev{i}")
    if not wait_for(lambda: all(f"dev{i}" in run.responses for i in range(1, args.agents + 1)), 30):
        print("device states not acknowledged", file=sys.stderr)
        return 1
    time.sleep(1.0)

    give_up = args.give_up_waiting or max(500, int(5 * args.rate))
    gave_up_at = None
    start = time.time() + 0.2
    late_max = 0.0
    for i in range(total):
        if i % 50 == 0:
            with run.lock:
                # Sent and not connected yet: waiting in the queue, or not even in it (originate still pending).
                waiting = i - len(run.connect) - len(run.originate_failed)
            if waiting >= give_up:
                gave_up_at = i
                break
        due = start + i / args.rate
        now = time.time()
        if due > now:
            time.sleep(due - now)
        else:
            late_max = max(late_max, now - due)
        cid = str(i)
        with run.lock:
            run.due[cid] = due
        ami.send(
            Action="Originate",
            Channel="Local/answer@callers",
            Context="callers",
            Exten="enter",
            Priority="1",
            Async="true",
            ChannelId=f"{prefix}{cid}-1",
            OtherChannelId=f"{prefix}{cid}-2",
            ActionID=f"call{cid}",
        )
    sent_end = time.time()

    def finished():
        with run.lock:
            ended = len(run.complete) + len(run.abandon) + len(run.originate_failed)
        return ended >= (total if gave_up_at is None else gave_up_at)

    wait_for(finished, args.drain)
    ami.send(Action="Logoff", ActionID="logoff")
    time.sleep(0.2)

    with run.lock:
        waits = sorted(
            (run.connect[c] - run.join[c]) * 1000.0 for c in run.connect if c in run.join
        )
        due_lat = sorted((run.connect[c] - run.due[c]) * 1000.0 for c in run.connect if c in run.due)
        connect_times = sorted(run.connect.values())
        joined, connected = len(run.join), len(run.connect)
        completed, abandoned = len(run.complete), len(run.abandon)
        orig_failed = len(run.originate_failed)
        by_member = {}
        for member, begin, end in run.member_calls.values():
            by_member.setdefault(member, []).append((begin, end))
    # A member connected to a caller while its previous call was still up, by Asterisk's timestamps. The member's
    # channel hangs up a few ms after its dialplan marked it NOT_INUSE (up to 3 ms seen at 150 calls/s), so only
    # overlaps over 50 ms count as a member holding two calls; the longest overlap is reported either way.
    double_booked, overlap_max = 0, 0.0
    for calls in by_member.values():
        calls.sort(key=lambda c: c[0])
        for (_, prev_end), (begin, _) in zip(calls, calls[1:]):
            if prev_end is not None and begin < prev_end:
                overlap_max = max(overlap_max, prev_end - begin)
                if prev_end - begin > 0.050:
                    double_booked += 1
    members_used = len(by_member)

    window = args.duration
    in_window = [t for t in connect_times if start <= t <= start + window]

    def r(x):
        return None if x is None else round(x, 3)

    result = {
        "system": "asterisk-app_queue",
        "agents": args.agents,
        "handle_s": args.handle,
        "offered_rate": args.rate,
        "duration_s": args.duration,
        "calls_offered": total,
        "joined_queue": joined,
        "connected": connected,
        "completed": completed,
        "abandoned": abandoned,
        "originate_failed": orig_failed,
        "unfinished": total - completed - abandoned - orig_failed,
        "members_used": members_used,
        "double_booked": double_booked,
        "overlap_max_ms": round(overlap_max * 1000.0, 3),
        "connected_per_s": round(len(in_window) / window, 1),
        "cycles_per_s": round(completed / window, 1),
        "wait_p50_ms": r(pct(waits, 50)),
        "wait_p90_ms": r(pct(waits, 90)),
        "wait_p99_ms": r(pct(waits, 99)),
        "wait_p999_ms": r(pct(waits, 99.9)),
        "wait_max_ms": r(waits[-1] if waits else None),
        "due_to_connect_p50_ms": r(pct(due_lat, 50)),
        "due_to_connect_p99_ms": r(pct(due_lat, 99)),
        "driver_late_max_ms": round(late_max * 1000.0, 3),
        "gave_up_after_calls": gave_up_at,
        "send_s": round(sent_end - start, 3),
    }
    failures = result["abandoned"] + result["originate_failed"] + result["unfinished"]
    print(
        f"asterisk app_queue ({ami.banner}): {args.agents} members, {args.handle:g} s handling, "
        f"{args.rate:g} calls/s offered for {args.duration:g} s\n"
        f"  calls {total}: joined {joined}, connected {connected}, completed {completed}; failures {failures} "
        f"(abandoned {abandoned}, originate failed {orig_failed}, unfinished {result['unfinished']}); "
        f"{members_used} members took calls, {double_booked} connects to a member still on a call "
        f"(longest overlap {result['overlap_max_ms']} ms)\n"
        f"  connected {result['connected_per_s']}/s in the offered window, completed {result['cycles_per_s']}/s\n"
        f"  queue wait (QueueCallerJoin -> AgentConnect): p50 {result['wait_p50_ms']} ms, "
        f"p90 {result['wait_p90_ms']} ms, p99 {result['wait_p99_ms']} ms, p99.9 {result['wait_p999_ms']} ms, "
        f"max {result['wait_max_ms']} ms\n"
        f"  due -> member connected (includes the originate): p50 {result['due_to_connect_p50_ms']} ms, "
        f"p99 {result['due_to_connect_p99_ms']} ms; driver at most {result['driver_late_max_ms']} ms late"
        + (f"\n  GAVE UP after {gave_up_at} calls: {give_up} calls sent were not connected yet"
           if gave_up_at is not None else ""),
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(result))
    return 0 if completed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
