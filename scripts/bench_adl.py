#!/usr/bin/env python3
"""The ADL cost curve: Type 1 and Type 2 with 1 and 10 fills, a trade into the book and the queue's upkeep, for
N = 10 ... 100,000 open positions on the opposite side, each figure beside its target (issue: core v2).

    python scripts/bench_adl.py          # (make bench runs it) about a minute; figures to build/bench/adl_curve.txt

The books are built by tests/forge/bench/BenchPerpetual.sol (the benchmark-only seeding path) and every figure is
the gas of one transaction in forge with `--isolate` (storage cold at the start of each call, as on a chain).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench" / "adl_curve.txt"
TARGETS = {
    "Type 1, 1 fill": 300_000,
    "Type 1, 10 fills": 1_000_000,
    "Type 2, 1 fill": 300_000,
    "Type 2, 10 fills": 1_000_000,
    "queue upkeep of one changed position (remove + insert with hint)": 25_000,
    "settle: 1 pair, open 2 new positions, with hints": 200_000,
}


def main() -> int:
    env = dict(os.environ, FOUNDRY_PROFILE="bench")
    env["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    if OUT.exists():
        OUT.unlink()
    proc = subprocess.run(["forge", "test", "--isolate", "--gas-snapshot-emit=false"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not OUT.exists():
        print(proc.stdout[-3000:] + proc.stderr[-3000:], file=sys.stderr)
        return 1
    rows: dict = {}
    for line in OUT.read_text().splitlines():
        n, name, gas, fills = line.split("\t")
        rows.setdefault(name, {})[int(n)] = (int(gas), int(fills))
    sizes = sorted({n for r in rows.values() for n in r})
    width = max(len(r) for r in TARGETS)
    print(f"{'gas of one transaction':{width}} | " + " | ".join(f"{'N=' + format(n, ','):>11}" for n in sizes)
          + " |     target")
    print("-" * (width + 1) + ("+" + "-" * 13) * len(sizes) + "+-----------")
    for name, target in TARGETS.items():
        cells = []
        for n in sizes:
            gas, _ = rows.get(name, {}).get(n, (None, 0))
            mark = "" if gas is None or gas <= target else "*"
            cells.append(f"{gas:>10,}{mark:1}" if gas is not None else f"{'-':>11}")
        print(f"{name:{width}} | " + " | ".join(cells) + f" | <= {target:>7,}")
    print("(* above its target; the fill counts of every ADL row were checked by the benchmark)")
    bad = [(name, n) for name in TARGETS for n in sizes
           if name.startswith("Type") and rows.get(name, {}).get(n, (0, 0))[1] != (1 if "1 fill" in name else 10)]
    if bad:
        print(f"unexpected fill counts: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
