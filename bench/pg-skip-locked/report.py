#!/usr/bin/env python3
"""Summarises pgbench per-transaction logs (pgbench -l) of the naive queue benchmark.

Each log line is: client_id transaction_no time_us script_no epoch_s epoch_us [schedule_lag_us]. With --rate,
the latency that counts is the one from the moment the cycle was due: schedule lag plus time in the database
(open loop, no coordinated omission). Prints a human summary on stderr and, with --json, one JSON line on stdout.
"""
import argparse
import glob
import json
import sys


def pct(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logs", required=True, help="glob of pgbench log files")
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--rate", type=float, default=0.0, help="offered cycles/s (0: unthrottled)")
    ap.add_argument("--agents", type=int, required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--unrouted", type=int, default=0, help="tasks left waiting at the end")
    ap.add_argument("--completed-rows", type=int, default=-1, help="tasks completed, from the table")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    service, due, first, last = [], [], None, None
    failed = 0
    for path in glob.glob(args.logs):
        with open(path, encoding="ascii") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 6:
                    continue
                if parts[2] in ("failed", "skipped"):
                    failed += 1
                    continue
                t_us = int(parts[2])
                end = int(parts[4]) + int(parts[5]) / 1e6
                lag_us = int(parts[6]) if len(parts) > 6 else 0
                service.append(t_us / 1000.0)
                due.append((t_us + lag_us) / 1000.0)
                first = end if first is None else min(first, end)
                last = end if last is None else max(last, end)
    service.sort()
    due.sort()
    n = len(service)
    lat = due if args.rate > 0 else service
    # A full cycle is a task created, routed and completed. A pgbench transaction whose router found every waiting
    # task locked by other routers completes nothing (the task it created is routed by a later one), so the
    # throughput counts completed tasks, not transactions.
    completed = args.completed_rows if args.completed_rows >= 0 else n
    result = {
        "system": "postgresql-skip-locked",
        "agents": args.agents,
        "clients": args.clients,
        "offered_rate": args.rate if args.rate > 0 else None,
        "duration_s": args.duration,
        "transactions": n,
        "failed": failed,
        "cycles": completed,
        "cycles_per_s": round(completed / args.duration, 1),
        "latency_from": "due time (schedule lag + database time)" if args.rate > 0 else "transaction start",
        "p50_ms": pct(lat, 50),
        "p90_ms": pct(lat, 90),
        "p99_ms": pct(lat, 99),
        "p999_ms": pct(lat, 99.9),
        "max_ms": lat[-1] if lat else None,
        "db_p50_ms": pct(service, 50),
        "db_p99_ms": pct(service, 99),
        "unrouted_tasks": args.unrouted,
            }
    for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "db_p50_ms", "db_p99_ms"):
        if result[k] is not None:
            result[k] = round(result[k], 3)

    offered = f"{args.rate:g}/s offered" if args.rate > 0 else "unthrottled"
    print(
        f"postgresql FOR UPDATE SKIP LOCKED queue: {args.agents} agents, {args.clients} clients, {offered}, "
        f"{args.duration:g} s\n"
        f"  full cycles (task created, routed, completed): {completed} ({result['cycles_per_s']}/s); "
        f"pgbench transactions {n}, failed {failed}; tasks left waiting {args.unrouted}\n"
        f"  cycle latency from {result['latency_from']}: p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms, "
        f"p99 {result['p99_ms']} ms, p99.9 {result['p999_ms']} ms, max {result['max_ms']} ms\n"
        f"  time in the database only: p50 {result['db_p50_ms']} ms, p99 {result['db_p99_ms']} ms",
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(result))
    return 0 if n > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
