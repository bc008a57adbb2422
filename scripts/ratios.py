#!/usr/bin/env python3
"""Per-round CPU-per-operation ratios between pairs of servers in one `reactor bench` report.

Servers measured in the same round shared that round's machine weather, so the median of the
per-round ratios is the fair comparison (docs/benchmarks.md, bench-method). Prints a Markdown
table: one row per scenario, one column per pair, median (min–max) of a ÷ b.

    python3 scripts/ratios.py bench/results/echo-1k-native.json epoll/native-gnet gnet/native-gnet

Servers of another build (reactor bench --with before=PATH) are named before:epoll, so a pair
of the new build over the old reads epoll/before:epoll.
"""
import json
import statistics
import sys


def per_round(result):
    return {r["round"]: r["cpu_us_per_op"] for r in result["rounds"] if r.get("cpu_us_per_op") is not None}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    report = json.load(open(sys.argv[1]))
    pairs = [p.split("/", 1) for p in sys.argv[2:]]
    print("| scenario | " + " | ".join(f"{a} ÷ {b} CPU/op" for a, b in pairs) + " |")
    print("|---" * (len(pairs) + 1) + "|")
    for sc in report["scenarios"]:
        by_name = {r["contender"]["name"]: per_round(r) for r in sc["results"]}
        cells = []
        for a, b in pairs:
            if a not in by_name or b not in by_name:
                cells.append("not measured")
                continue
            ratios = [by_name[a][k] / by_name[b][k] for k in by_name[a] if k in by_name[b] and by_name[b][k]]
            if not ratios:
                cells.append("no common round")
                continue
            cells.append(f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})")
        print(f"| {sc['name']} | " + " | ".join(cells) + " |")


main()
