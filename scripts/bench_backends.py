"""One engine, two backends: the same crash scenario (flash_crash, full size) run by the simulation engine on the
chain (a fresh Anvil that this script starts and stops) and on the reference model (no chain), seconds side by side,
the ratio beside its target, and whether the two reports are the same. `make bench` runs it.

    python scripts/bench_backends.py [SCENARIO] [--traders N] [--model-runs 5]

What is timed, on both backends: the engine's run (population, every price step with the keeper and the audit after
it) and the run record read at the end. Not timed: starting Anvil and deploying the contracts on the chain (the
issue's "after set-up"), building the reference model's markets, writing the report. The model's figure is the
median of ``--model-runs`` runs (the first run included); the chain's is one run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from perp import report as rpt
from perp.chain.tx import Sender
from perp.deploy import connect
from perp.devnet import Devnet
from perp.scenario import load, scaled
from perp.sim import ModelSimulation, Simulation, comparable, deploy_for

SCENARIO = "scenarios/flash_crash.yaml"
TARGET = 20  # the model at least 20x faster than the chain (issue 12); the aim is 100x
AIM = 100


def chain_run(scn):
    node = Devnet().start()
    try:
        rpc = connect(node.url)
        accounts = rpc.request("eth_accounts", [])
        deployed = deploy_for(Sender(rpc, address=accounts[0]), scn, accounts[1])
        t0 = time.perf_counter()
        sim = Simulation(rpc.w3, deployed, scn)
        sim.run()
        record = sim.record()
        return time.perf_counter() - t0, sim, record
    finally:
        node.stop()


def model_run(scn, keeper: str, clock_start: int):
    sim = ModelSimulation(scn, keeper=keeper, clock_start=clock_start)
    t0 = time.perf_counter()
    sim.run()
    record = sim.record()
    return time.perf_counter() - t0, record


def same_report(chain_record, model_record, splits: int) -> str:
    a = json.loads(json.dumps(comparable(rpt.build(chain_record)), default=str))
    b = json.loads(json.dumps(comparable(rpt.build(model_record)), default=str))
    if a == b:
        return "yes, to the unit (perp.sim.comparable)"
    if splits:  # the chain's keeper halved a batch that would not fit a block: one more transaction, same fills
        for r in (a, b):
            r["summary"].pop("transactions")
            for e in r["events"]:
                e.pop("tx_index")
        if a == b:
            return (f"yes, to the unit, but for the transaction count and indices: the chain's keeper halved "
                    f"{splits} batch(es) that would not fit a block (no gas on the model)")
    return "NO: the reports differ (run tests/simulation/test_backends.py)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?", default=SCENARIO)
    ap.add_argument("--traders", type=int, help="override the scenario's number of traders")
    ap.add_argument("--model-runs", type=int, default=5)
    args = ap.parse_args()
    if args.model_runs < 1:
        ap.error("--model-runs must be at least 1")
    scn = load(args.scenario)
    if args.traders:
        scn = scaled(scn, traders=args.traders)
    print(f"scenario {scn.name}: {scn.population.count} traders, {scn.steps + 1} steps; {os.cpu_count()} cores")
    chain_s, sim, chain_record = chain_run(scn)
    model_times, model_record = [], None
    for _ in range(args.model_runs):
        seconds, model_record = model_run(scn, sim.dep.keeper, sim.clock_start)
        model_times.append(seconds)
    model_s = statistics.median(model_times)
    ratio = chain_s / model_s
    verdict = "met" if ratio >= TARGET else "MISSED"
    aim = "reached" if ratio >= AIM else "not reached"
    rows = [("chain (Anvil, after deployment)", f"{chain_s:.2f}", "-"),
            (f"reference model (median of {args.model_runs})", f"{model_s:.3f}", "-"),
            ("chain / model", f"{ratio:.0f}x", f">= {TARGET}x: {verdict} (aim {AIM}x: {aim})")]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'backend':{width}} | {'seconds':>8} | target")
    print("-" * (width + 1) + "+" + "-" * 10 + "+" + "-" * 44)
    for name, value, target in rows:
        print(f"{name:{width}} | {value:>8} | {target}")
    print(f"\nmodel runs (s): {', '.join(f'{t:.3f}' for t in model_times)}; chain: {chain_record.transactions} "
          f"transactions, {chain_record.gas_used:,} gas")
    print(f"same report on both: {same_report(chain_record, model_record, sim.keeper.counters['batch_splits'])}")


if __name__ == "__main__":
    main()
