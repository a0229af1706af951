"""Runs a crash simulation: deploys on the active network, builds the population, drives the oracle along the
scenario's price path, lets the keeper liquidate and deleverage, audits every invariant after every step, and
writes a JSON report and PNG plots.

    brownie run scripts/simulate.py main scenarios/flash_crash.yaml --network development
    make simulate SCENARIO=scenarios/slow_cascade.yaml
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from brownie import accounts, web3

from perp import report as rpt
from perp.scenario import ScenarioError, load, scaled
from perp.sim import Deployed, Simulation, SimulationHalted
from scripts.deploy import deploy_devnet, is_devnet

ROOT = Path(__file__).resolve().parent.parent


def deploy_for(scn, quiet=True):
    if not is_devnet():
        sys.exit("simulations drive mock oracles: run them on a devnet (--network development)")
    markets = [(m.name, m.start_price) for m in scn.markets]
    dep = deploy_devnet(accounts[0], decimals=scn.decimals, markets=[(n, 1) for n, _ in markets], fund_seed=0,
                        quiet=True)
    tx = {"from": accounts[0]}
    for m in scn.markets:
        mid = dep.market_id(m.name)
        params = dep.markets[m.name]["params"].with_(**m.params)
        problems = params.problems()
        if problems:
            raise ScenarioError(f"markets.{m.name}.params: " + "; ".join(problems))
        dep.perp.setMarketParams(mid, params.as_tuple(), tx)
        dep.markets[m.name]["params"] = params
        seed = int(m.fund_seed * 10**scn.decimals)
        if seed:
            dep.token.faucet(accounts[0], seed, tx)
            dep.token.approve(dep.perp, seed, tx)
            dep.perp.topUpFund(mid, seed, tx)
    return dep


def run(scenario_path: str, out_dir: str | None = None, plots: bool = True, quiet: bool = False,
        traders: int | None = None):
    """Runs one scenario file; `traders` overrides the population size (the tests run reduced sizes)."""
    scn = load(scenario_path)
    if traders is not None:
        scn = scaled(scn, traders=traders)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(quiet=quiet)
    console.print(f"[bold]{scn.name}[/]: {scn.description.strip()}")
    started = time.time()
    dep = deploy_for(scn)
    deployed = Deployed(
        perp=dep.perp.address, lens=dep.lens.address, token=dep.token.address,
        oracles={n: dep.oracle(n).address for n in dep.markets}, market_ids={n: dep.market_id(n) for n in dep.markets},
        operator=str(accounts[0]), keeper=str(accounts[1]),
    )
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TimeElapsedColumn(), console=console, disable=quiet) as progress:
        task = progress.add_task("building population", total=scn.steps + 1)

        def on_step(step, record):
            fills = record.type1_fills + record.type2_fills
            progress.update(task, completed=step + 1,
                            description=f"step {step:>4}  liq {record.liquidations:>3}  adl {fills:>3}")

        sim = Simulation(web3, deployed, scn, progress=on_step)
        try:
            sim.run()
        except SimulationHalted as exc:
            progress.stop()
            console.print(f"[bold red]simulation halted[/]: {exc}")
            raise
    summary = rpt.summarize(sim)
    report = rpt.build(sim, summary)
    out = Path(out_dir) if out_dir else ROOT / "reports" / "sim" / Path(scenario_path).stem
    json_path = rpt.write_json(report, out / "report.json")
    files = rpt.plot(report, out, scn.decimals) if plots else []
    elapsed = time.time() - started
    rpt.print_summary(report, scn.decimals, console)
    console.print(f"report: {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}")
    for f in files:
        console.print(f"plot:   {f.relative_to(ROOT) if f.is_relative_to(ROOT) else f}")
    console.print(f"{len(sim.traders)} traders x {scn.steps + 1} steps audited in {elapsed:.1f} s "
                  f"({len(sim.traders) * (scn.steps + 1) / elapsed:,.0f} account-steps/s)")
    return report, sim


def main(scenario_path: str = "scenarios/flash_crash.yaml", out_dir: str | None = None):
    try:
        run(scenario_path, out_dir)
    except ScenarioError as exc:
        sys.exit(f"bad scenario: {exc}")
    except SimulationHalted:
        sys.exit(1)
