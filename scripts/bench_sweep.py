"""Sweep throughput: the shipped small sweep (scenarios/sweeps/small.yaml, reference model, no chain) run from
scratch on a local Ray instance of 1 and of 2 CPUs; scenario-runs per minute, Ray's start included (what
`perp sweep` takes). `make bench` runs it before the chain benchmarks.

    python scripts/bench_sweep.py [SWEEP_FILE] [--workers 1,2]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from perp.lab.sweep import expand, load, run_sweep

SWEEP = "scenarios/sweeps/small.yaml"
TARGET_SECONDS = 120  # the shipped sweep runs in under 2 minutes on 2 cores
SCALING_TARGET = 1.5  # 2 workers at least 1.5x the runs per minute of 1 (2 cores)


def measure(sweep, workers: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as out:
        t0 = time.perf_counter()
        res = run_sweep(sweep, out, workers=workers, progress=False)
        return res.ran, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sweep", nargs="?", default=SWEEP)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    sweep = load(args.sweep)
    points, _ = expand(sweep)
    counts = [int(w) for w in args.workers.split(",")]
    print(f"sweep {sweep.name}: {len(points)} scenario runs on the reference model, {len(sweep.policies)} policies "
          f"each; {os.cpu_count()} cores")
    rows = []
    for w in counts:
        ran, seconds = measure(sweep, w)
        rows.append((w, ran, seconds, ran * 60 / seconds))
    base = rows[0][3]
    print(f"\n{'workers':>7} | {'runs':>5} | {'seconds':>8} | {'runs/min':>9} | {'vs 1 worker':>11} | target")
    print("-" * 8 + "+" + "-" * 7 + "+" + "-" * 10 + "+" + "-" * 11 + "+" + "-" * 13 + "+" + "-" * 40)
    for w, ran, seconds, rate in rows:
        targets = []
        if w == 2:
            targets.append(f"<= {TARGET_SECONDS} s: {'met' if seconds <= TARGET_SECONDS else 'MISSED'}")
            ratio = rate / base
            targets.append(f">= {SCALING_TARGET}x: {'met' if ratio >= SCALING_TARGET else 'MISSED'}")
        print(f"{w:>7} | {ran:>5} | {seconds:>8.1f} | {rate:>9,.0f} | {rate / base:>10.2f}x | "
              f"{'; '.join(targets) or '-'}")
    print("(Ray's start, about 3-5 s, is inside every figure)")


if __name__ == "__main__":
    main()
