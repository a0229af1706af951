"""Runs a crash simulation in Brownie: deploys on the active network (``perp.sim.deploy_for``, the one deployment
path), builds the population, drives the oracle along the scenario's price path, lets the keeper liquidate and
deleverage, audits every invariant after every step, and writes a JSON report and PNG plots.

    brownie run scripts/simulate.py main scenarios/flash_crash.yaml --network development
    perp simulate scenarios/slow_cascade.yaml          # the same without Brownie (a fresh Anvil of its own)
"""
from __future__ import annotations

import sys
from pathlib import Path

from brownie import accounts, web3

import scripts.brownie_compat  # noqa: F401  (Brownie's own confirmation path, made correct on Anvil)
from perp.chain import Rpc, Sender
from perp.runner import run_scenario
from perp.scenario import ScenarioError
from perp.sim import SimulationHalted
from scripts.deploy import is_devnet

ROOT = Path(__file__).resolve().parent.parent


def run(scenario_path: str, out_dir: str | None = None, plots: bool = True, quiet: bool = False,
        traders: int | None = None):
    """Runs one scenario file; `traders` overrides the population size (the tests run reduced sizes). The HTML
    report comes with the plots (`plots=False`, as the tests run it, writes neither). Returns (report, simulation)."""
    if not is_devnet():
        sys.exit("simulations drive mock oracles: run them on a devnet (--network development)")
    operator = Sender(Rpc(web3), address=str(accounts[0]))
    return run_scenario(web3, operator, str(accounts[1]), scenario_path, out_dir=out_dir, plots=plots, quiet=quiet,
                        traders=traders, html=plots)


def main(scenario_path: str = "scenarios/flash_crash.yaml", out_dir: str | None = None):
    try:
        run(scenario_path, out_dir)
    except ScenarioError as exc:
        sys.exit(f"bad scenario: {exc}")
    except SimulationHalted:
        sys.exit(1)
