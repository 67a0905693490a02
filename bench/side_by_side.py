#!/usr/bin/env python3
"""Reads the JSON results that side-by-side.sh collected (switchboard-RATE.json, pg-RATE.json with 0 for the
unthrottled run, asterisk-RATE.json) and prints one table plus the ratios of switchboard to each peer.

A run is *sustained* when it finished at least 95% of the offered rate within the run, nothing failed, and its p99
(full cycle for switchboard and PostgreSQL, due -> member connected for Asterisk) is at most --p99-limit-ms.
"""
import argparse
import glob
import json
import os
import re
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read().strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # One JSON line at the end of other output.
        return json.loads(text.splitlines()[-1])


def rows_from(directory):
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        m = re.match(r"(switchboard|pg|asterisk)-(\d+(?:\.\d+)?)\.json$", os.path.basename(path))
        if not m:
            continue
        try:
            data = load(path)
        except (OSError, ValueError) as err:
            print(f"skipping {path}: {err}", file=sys.stderr)
            continue
        if not data:
            continue
        system, rate = m.group(1), float(m.group(2))
        if system == "switchboard":
            errors = sum(data.get("errors", {}).values()) if isinstance(data.get("errors"), dict) else 0
            rows.append({
                "system": "switchboard", "offered": rate, "achieved": data["finished_per_s"],
                "cycle": (data["full_cycle"]["p50_ms"], data["full_cycle"]["p99_ms"]),
                "agent": (data["offer_latency"]["p50_ms"], data["offer_latency"]["p99_ms"]),
                "failures": data.get("unfinished", 0) + data.get("abandoned", 0) + errors,
                "agents": data.get("agents"),
            })
        elif system == "pg":
            rows.append({
                "system": "postgresql", "offered": rate if rate > 0 else None, "achieved": data["cycles_per_s"],
                "cycle": (data["p50_ms"], data["p99_ms"]), "agent": (None, None),
                "failures": data.get("failed", 0), "agents": data.get("agents"),
            })
        else:
            rows.append({
                "system": "asterisk", "offered": rate, "achieved": data["cycles_per_s"],
                "cycle": (None, None),
                "agent": (data["due_to_connect_p50_ms"], data["due_to_connect_p99_ms"]),
                "wait": (data["wait_p50_ms"], data["wait_p99_ms"]),
                "connected_per_s": data.get("connected_per_s"),
                "failures": data.get("abandoned", 0) + data.get("originate_failed", 0) + data.get("unfinished", 0)
                + data.get("double_booked", 0),
                "agents": data.get("agents"),
            })
    return rows


def judge(row, limit):
    p99 = row["agent"][1] if row["system"] == "asterisk" else row["cycle"][1]
    achieved = row["connected_per_s"] if row["system"] == "asterisk" else row["achieved"]
    enough = row["offered"] is None or achieved >= 0.95 * row["offered"]
    row["sustained"] = bool(enough and row["failures"] == 0 and p99 is not None and p99 <= limit)
    row["rate"] = row["offered"] if row["offered"] is not None else row["achieved"]


def fmt(x, digits=1):
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}" if x >= 10 else f"{x:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--p99-limit-ms", type=float, default=100.0)
    args = ap.parse_args()
    rows = rows_from(args.dir)
    if not rows:
        print("no results", file=sys.stderr)
        return 1
    for row in rows:
        judge(row, args.p99_limit_ms)
    order = {"switchboard": 0, "postgresql": 1, "asterisk": 2}
    rows.sort(key=lambda r: (order[r["system"]], r["offered"] is None, r["offered"] or 0))

    print()
    print("| system | agents | offered/s | achieved cycles/s | cycle p50 ms | cycle p99 ms | to agent p50 ms "
          "| to agent p99 ms | failures | sustained |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        offered = fmt(r["offered"]) if r["offered"] is not None else "unthrottled"
        print(f"| {r['system']} | {r['agents']} | {offered} | {fmt(r['achieved'])} | {fmt(r['cycle'][0])} "
              f"| {fmt(r['cycle'][1])} | {fmt(r['agent'][0])} | {fmt(r['agent'][1])} | {r['failures']} "
              f"| {'yes' if r['sustained'] else 'no'} |")
    print()
    print("cycle: switchboard = due -> created over REST, offer on the agent's socket, answered, hung up;")
    print("       postgresql = due -> task inserted, routed (SKIP LOCKED), completed (three commits).")
    print("to agent: switchboard = due -> offer on the agent's socket; asterisk = due -> member connected")
    print("       (AMI Originate, Local channels, queue, member answers); asterisk's cycle includes the handling")
    print("       time, so it is not shown.")
    for r in rows:
        if r["system"] == "asterisk":
            print(f"asterisk at {fmt(r['offered'])}/s: queue wait (QueueCallerJoin -> AgentConnect) p50 "
                  f"{fmt(r['wait'][0])} ms, p99 {fmt(r['wait'][1])} ms; connected {fmt(r['connected_per_s'])}/s "
                  "within the offered window")
    print(f"sustained: >= 95% of the offered rate done in the window, no failure, p99 <= {args.p99_limit_ms:g} ms.")

    def best(system):
        ok = [r for r in rows if r["system"] == system and r["sustained"]]
        return max(ok, key=lambda r: r["rate"]) if ok else None

    def tried_above(system, rate):
        return any(r["system"] == system and r["offered"] is not None and r["offered"] > rate for r in rows)

    sb = best("switchboard")
    print()
    if sb is None:
        print("switchboard sustained none of its rates: no ratios.")
        return 0
    sb_bound = "" if tried_above("switchboard", sb["rate"]) else " (the highest rate offered: a lower bound)"
    print(f"switchboard sustains {fmt(sb['rate'])} full cycles/s{sb_bound}: full cycle p50 {fmt(sb['cycle'][0])} "
          f"/ p99 {fmt(sb['cycle'][1])} ms, offer p50 {fmt(sb['agent'][0])} / p99 {fmt(sb['agent'][1])} ms")
    peers = []
    for system in ("postgresql", "asterisk"):
        if not any(r["system"] == system for r in rows):
            continue
        peer = best(system)
        if peer is None:
            print(f"{system}: sustained none of its runs")
            continue
        peers.append((system, peer))
        how = "unthrottled, closed loop" if peer["offered"] is None else "offered"
        bound = ""
        if peer["offered"] is not None and not tried_above(system, peer["rate"]):
            bound = " (the highest rate offered: a lower bound)"
        lat = peer["cycle"] if system == "postgresql" else peer["agent"]
        mine = sb["cycle"] if system == "postgresql" else sb["agent"]
        what = "full cycle" if system == "postgresql" else "due -> agent"
        print(f"{system} sustains {fmt(peer['rate'])}/s ({how}){bound}: {what} p50 {fmt(lat[0])} / p99 "
              f"{fmt(lat[1])} ms")
        print(f"  ratios, switchboard to {system}: sustained rate {sb['rate'] / peer['rate']:.1f}x; {what} latency "
              f"at each one's sustained rate, {system}'s / switchboard's: p50 {lat[0] / mine[0]:.2f}, "
              f"p99 {lat[1] / mine[1]:.2f} (above 1: switchboard's is lower)")
        for r in rows:
            if r["system"] != system or r["offered"] is None:
                continue
            same = [s for s in rows if s["system"] == "switchboard" and s["offered"] == r["offered"]]
            if not same:
                continue
            s = same[0]
            p_lat = r["cycle"] if system == "postgresql" else r["agent"]
            s_lat = s["cycle"] if system == "postgresql" else s["agent"]
            if None in p_lat or None in s_lat:
                continue
            print(f"  at {fmt(r['offered'])}/s offered: {system} {what} p50 {fmt(p_lat[0])} / p99 {fmt(p_lat[1])} ms, "
                  f"switchboard {fmt(s_lat[0])} / {fmt(s_lat[1])} ms; {system}'s / switchboard's: "
                  f"p50 {p_lat[0] / s_lat[0]:.2f}, p99 {p_lat[1] / s_lat[1]:.2f}")
    if peers:
        system, peer = max(peers, key=lambda p: p[1]["rate"])
        peer_p50 = peer["cycle"][0] if system == "postgresql" else peer["agent"][0]
        ratio = sb["rate"] / peer["rate"]
        met = ratio >= 10 and sb["cycle"][1] < peer_p50
        print()
        print(f"target (TARGETS.md, server 3): at least 10x the best peer's sustainable full-lifecycle rate with "
              f"our p99 below that peer's p50. Best peer: {system} at {fmt(peer['rate'])}/s. Switchboard: "
              f"{ratio:.1f}x{sb_bound}, p99 {fmt(sb['cycle'][1])} ms vs the peer's p50 {fmt(peer_p50)} ms: "
              f"{'MET' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
