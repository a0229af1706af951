"""Stress run: two crash simulations and the benchmarks back to back on ONE chain, ROUNDS times, under CPU load,
counting failures (any non-zero exit). A transaction wrongly declared dropped, a receipt read too early or a nonce
used twice shows up here as a failure.

    python tools/stress.py --rounds 20 [--load 2] [--traders 200] [--no-bench]
    make stress ROUNDS=20

It starts one Anvil of its own (``perp.devnet``, a free port of $PERP_DEVNET_PORTS, default 8620-8649) with the
stock EIP-1559 base fee, runs ``perp simulate --rpc`` twice (flash_crash and slow_cascade) and the Brownie
benchmarks (``scripts/bench_gas.py``, ``scripts/bench_sim.py``) attached to it through a Brownie network named
``perp-stress-<port>`` that points at the node, with LOAD busy processes competing for the CPU, and stops everything at
the end (even on error). Prints one line per run and a final tally; exit 0 only with zero failures.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from perp.devnet import Devnet  # noqa: E402


def _burn() -> None:
    while True:
        pass


def _rss_mib(pgid: int) -> int:
    """Resident memory (MiB) of every process in group `pgid` (the node: npm wrapper and native child)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # the 5th field of /proc/PID/stat: the process group
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # the 24th: resident pages
        except (OSError, IndexError, ValueError):
            continue
    return total // 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--load", type=int, default=2, help="busy processes competing for the CPU (default 2)")
    ap.add_argument("--traders", type=int, default=200,
                    help="traders per simulation, and in the throughput benchmark (default 200)")
    ap.add_argument("--no-bench", action="store_true", help="simulations only")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{ROOT}/node_modules/.bin:{ROOT}/.venv/bin:{os.environ['PATH']}",
               SOLCX_BINARY_PATH=str(ROOT / ".solcx"), PYTHONDONTWRITEBYTECODE="1")
    brownie = str(ROOT / ".venv" / "bin" / "brownie")
    perp = str(ROOT / ".venv" / "bin" / "perp")
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(max(0, args.load))]
    failures, runs, started = [], 0, time.time()
    # Anvil keeps every block's state in memory by default: twenty rounds on one chain grew it past 24 GB and the
    # kernel killed it (round 8 of the first full run). Only the recent states are kept; nothing here reads old ones.
    node = Devnet(extra_args=("--prune-history", "64"))
    try:
        node.start()
        # one Brownie network per run (Brownie keeps networks in one file per user): two stress runs at once must
        # not point each other's benchmarks at the wrong node (seen: "nonce too low" from a run attached to both)
        network = f"perp-stress-{node.port}"
        if not args.no_bench:
            settings = ["host=http://127.0.0.1", f"port={node.port}", "gas_limit=30000000", "accounts=10"]
            subprocess.run([brownie, "networks", "delete", network], cwd=ROOT, env=env, capture_output=True)
            r = subprocess.run([brownie, "networks", "add", "Development", network, "cmd=anvil", *settings],
                               cwd=ROOT, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"stress: cannot add the Brownie network {network}: {(r.stdout + r.stderr)[-500:]}")
                return 2
        for b in burners:
            b.start()
        print(f"stress: node {node.url}, {args.rounds} rounds, {args.load} busy processes", flush=True)
        jobs = [("simulate flash_crash", [perp, "simulate", "scenarios/flash_crash.yaml", "--rpc", node.url,
                                          "--traders", str(args.traders), "--no-plots", "--quiet",
                                          "--out", f"/tmp/perp-stress-{node.port}/flash"]),
                ("simulate slow_cascade", [perp, "simulate", "scenarios/slow_cascade.yaml", "--rpc", node.url,
                                           "--traders", str(args.traders), "--no-plots", "--quiet",
                                           "--out", f"/tmp/perp-stress-{node.port}/slow"])]
        if not args.no_bench:
            jobs += [("bench_gas", [brownie, "run", "scripts/bench_gas.py", "--network", network]),
                     ("bench_sim", [brownie, "run", "scripts/bench_sim.py", "main", "scenarios/flash_crash.yaml",
                                    str(args.traders), "--network", network, "--silent"])]
        pgid = os.getpgid(node.proc.pid)
        for rnd in range(1, args.rounds + 1):
            if node.proc.poll() is not None:
                break
            for label, cmd in jobs:
                t0 = time.time()
                r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
                runs += 1
                ok = r.returncode == 0
                print(f"round {rnd:>2} {label:22} {'ok' if ok else 'FAILED (exit %d)' % r.returncode} "
                      f"{time.time() - t0:6.1f} s   load {os.getloadavg()[0]:4.1f} on {os.cpu_count()} cores   "
                      f"node {_rss_mib(pgid):,} MiB", flush=True)
                if not ok:
                    failures.append((rnd, label, (r.stdout + r.stderr)[-3000:]))
                    print("    " + "\n    ".join((r.stdout + r.stderr)[-1500:].splitlines()), flush=True)
                if node.proc.poll() is not None:  # the node is gone: what follows would only fail (or, for Brownie,
                    # quietly start a chain of its own), so the run ends here as a failure
                    failures.append((rnd, "node", f"the node exited with status {node.proc.returncode}"))
                    print(f"stress: the node exited with status {node.proc.returncode}; stopping", flush=True)
                    break
    finally:
        for b in burners:
            if b.is_alive():
                b.terminate()
        node.stop()
        if not args.no_bench:
            subprocess.run([brownie, "networks", "delete", network], cwd=ROOT, env=env, capture_output=True)
    for rnd, label, tail in failures:
        print(f"\n--- round {rnd} {label} failed; last output:\n{tail}")
    print(f"\nstress: {runs} runs, {len(failures)} failures, {time.time() - started:.0f} s")
    return 0 if not failures and runs else 1


if __name__ == "__main__":
    sys.exit(main())
