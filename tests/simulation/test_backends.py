"""One engine, two backends: every shipped scenario, in the reduced size of test_scenarios.py (and its chain run:
scenario_runs.py), gives the same report on the chain and on the reference model, to the unit (``perp.sim.comparable``: everything but the gas, the events
only the contracts emit and the order hashes of the Trade events)."""
import json

import pytest

from perp import report as rpt
from perp.scenario import load, scaled
from perp.sim import CHAIN_ONLY_EVENTS, ModelSimulation, comparable
from scenario_runs import SCENARIOS, TRADERS, chain_run


def _plain(report: dict) -> dict:
    """The report as its JSON file holds it (prices as strings)."""
    return json.loads(json.dumps(report, default=str))


def _first_difference(a, b, where="report"):
    if type(a) is not type(b):
        return f"{where}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{where}.{k}: only on the {'model' if k in b else 'chain'}"
            d = _first_difference(a[k], b[k], f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{where}[{i}]")
            if d:
                return d
        return f"{where}: {len(a)} items on the chain, {len(b)} on the model" if len(a) != len(b) else None
    return None if a == b else f"{where}: chain {a!r} != model {b!r}"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_chain_and_model_give_the_same_report(path):
    done = chain_run(path)
    chain_report, sim = done.report, done.sim
    assert sim.clock_start is not None  # Anvil held the run's clock, so the model can keep the same times
    assert sim.keeper.counters["batch_splits"] == 0  # a batch halved for gas has no counterpart on the model

    model = ModelSimulation(scaled(load(path), traders=TRADERS), keeper=sim.dep.keeper, clock_start=sim.clock_start)
    model.run()
    model_report = rpt.build(model.record())

    chain, mine = _plain(comparable(chain_report)), _plain(comparable(model_report))
    assert _first_difference(chain, mine) is None, _first_difference(chain, mine)
    # what the comparison leaves out is only what it says: the model's report has no gas and no chain-only event
    assert model_report["summary"]["gas_used"] == 0 and chain_report["summary"]["gas_used"] > 0
    assert not {e["event"] for e in model_report["events"]} & CHAIN_ONLY_EVENTS
    # and what it compares is a real run: every trader deposited and traded, every step recorded
    assert sum(1 for e in mine["events"] if e["event"] == "Trade") == TRADERS
    assert len(mine["steps"]) == load(path).steps + 1
