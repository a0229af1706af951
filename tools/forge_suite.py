#!/usr/bin/env python3
"""Runs the Foundry suite (tests/forge/) and proves what it reached.

    python tools/forge_suite.py                 # FOUNDRY_PROFILE from the environment, `ci` by default
    FOUNDRY_PROFILE=deep python tools/forge_suite.py

Four forge runs, one compile: the math fuzz tests (tests/forge/unit), the gas figures checked against the
checked-in snapshot (tests/forge/gas, each call as its own transaction with `--isolate`, so storage starts cold as
on a chain), the jamming attacks replayed at a fixed budget (tests/forge/jamming, isolated too: every liquidation and
ADL call must fit a 30M-gas block), and the invariant campaigns (tests/forge/invariant). Then the coverage check: every invariant run
appends the states it reached to build/forge/coverage/<suite>.txt, and a state that the campaign exists to reach
but reached zero times fails the suite, with the table printed either way.

Exit status: 0 when all passed and every state was reached, 1 otherwise.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COVERAGE = ROOT / "build" / "forge" / "coverage"
CALLS = re.compile(r"\[(PASS|FAIL)[^\]]*\]\s+(invariant_\w+)\(\) \(runs: (\d+), calls: (\d+), reverts: (\d+)\)")


def forge(args: list[str], env: dict, command: str = "test") -> tuple[int, str]:
    """Exit status and output of one forge run; a compile error counts as a failure (forge 1.7.1 prints
    "Compilation failed" and still exits 0 when the failing file is not one the matched tests need)."""
    proc = subprocess.run(["forge", command, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    return (proc.returncode or (1 if "Compilation failed" in out else 0)), out


def coverage(folder: Path = COVERAGE) -> dict[str, dict[str, int]]:
    """{suite: {state: total count over all runs}} from the files the invariant runs wrote into `folder`."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text().splitlines():
            name, _, count = line.rpartition(" ")
            if name:
                table[path.stem][name] += int(count)
    return table


def print_coverage(table: dict[str, dict[str, int]]) -> list[str]:
    suites = sorted(table)
    states = sorted({s for t in table.values() for s in t})
    print(f"\n{'state reached':32} | " + " | ".join(f"{s:>12}" for s in suites))
    print("-" * 33 + "+" + "+".join("-" * 14 for _ in suites))
    missing = []
    for state in states:
        counts = [table[s].get(state, 0) for s in suites]
        print(f"{state:32} | " + " | ".join(f"{c:>12,}" for c in counts))
        missing += [f"{s}: {state}" for s, c in zip(suites, counts) if c == 0]
    return missing


def main() -> int:
    env = dict(os.environ)
    env.setdefault("FOUNDRY_PROFILE", "ci")
    env["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    profile = env["FOUNDRY_PROFILE"]
    COVERAGE.mkdir(parents=True, exist_ok=True)
    for old in [*COVERAGE.glob("*.txt"), *COVERAGE.glob("*.log")]:
        old.unlink()
    failed = []
    steps = [
        ("math fuzz tests", ["--match-path", "tests/forge/unit/*"]),
        ("gas figures vs tests/forge/gas/snapshots", ["--isolate", "--gas-snapshot-check=true", "--match-path", "tests/forge/gas/*"]),
        ("jamming attacks replayed (30M-gas blocks)", ["--isolate", "--gas-snapshot-emit=false", "--match-path", "tests/forge/jamming/*"]),
        ("invariant campaigns", ["--match-path", "tests/forge/invariant/*"]),
    ]
    # one full compile first: with --match-path forge compiles only what the matched tests need, so each step would
    # otherwise compile its own part again
    started = time.monotonic()
    code, out = forge([], env, command="build")
    print(f"==> forge ({profile}): build ({time.monotonic() - started:.0f} s)")
    if code != 0:
        print(out[-4000:])
        failed.append("build")
    calls = 0
    for title, args in steps:
        started = time.monotonic()
        code, out = forge(args, env)
        took = time.monotonic() - started
        summary = [l for l in out.splitlines() if re.search(r"\[(PASS|FAIL)|Suite result|Error|error\b", l)]
        print(f"==> forge ({profile}): {title} ({took:.0f} s)")
        print("\n".join(summary[-40:]))
        for m in CALLS.finditer(out):
            calls += int(m.group(4))
        # forge 1.7.1 can exit 0 when an invariant campaign fails (seen on a deep run), and exits 0 when
        # --gas-snapshot-check finds a changed gas figure ("Snapshots differ"): the output decides too
        if code != 0 or re.search(r"\[FAIL|Suite result: FAILED|Snapshots differ", out):
            failed.append(title)
            if not summary:
                print(out[-4000:])
    table = coverage()
    missing = print_coverage(table) if table else ["no invariant run wrote its coverage"]
    print(f"\ninvariant calls in total: {calls:,} (profile {profile})")
    jam = COVERAGE / "jamming.log"
    if jam.exists():
        print(jam.read_text().strip())
    if missing:
        print("states never reached (the campaign exists to reach them):\n  " + "\n  ".join(missing))
        failed.append("coverage")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("forge suite: all passed, every state reached")
    return 0


if __name__ == "__main__":
    sys.exit(main())
