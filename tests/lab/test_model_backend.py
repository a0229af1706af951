"""The simulation engine on the reference model (``perp.sim.ModelSimulation``), no chain: its audit catches planted
faults (the state invariants and the ADL event rules), bad inputs get readable errors, a run is deterministic, and
``perp simulate --backend model`` writes the engine's report. (Chain and model reports are compared to the unit in
tests/simulation/test_backends.py.)"""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import perp.model.adl
from perp import report as rpt
from perp.cli import main
from perp.model import Model
from perp.scenario import ScenarioError, load, scaled
from perp.sim import DEVNET_KEEPER, ModelSimulation, SimulationHalted

ROOT = Path(__file__).resolve().parents[2]


def _scenario(name: str, traders: int):
    return scaled(load(ROOT / "scenarios" / f"{name}.yaml"), traders=traders)


def test_planted_free_collateral_halts_naming_the_invariant_and_the_account():
    sim = ModelSimulation(_scenario("calm", 20))
    sim.start()
    sim.steps.append(sim.step(0))
    bystander = sim.bystanders[0].address
    free = sim.model.free_collateral(bystander)
    sim.model.free[bystander.lower()] = free - 1  # out of the vault's thin air, not through any action
    with pytest.raises(SimulationHalted) as exc:
        sim.check(step=99, first_event=len(sim.events), pending=set())
    message = str(exc.value)
    assert "step 99: invariant violated" in message
    assert "[conservation] vault" in message and "(off by 1)" in message
    assert f"[bystander] {bystander}: free collateral {free - 1} != {free} at start" in message


def test_adl_out_of_rank_order_halts_the_run(monkeypatch):
    """A planted fault in the model's ADL engine (the candidates' order reversed) is caught by the event rules on
    the transaction that made the fills."""
    ahead = perp.model.adl.ahead
    monkeypatch.setattr(perp.model.adl, "ahead", lambda a, b: ahead(b, a))
    sim = ModelSimulation(_scenario("flash_crash", 120))
    with pytest.raises(SimulationHalted) as exc:
        sim.run()
    message = str(exc.value)
    assert message.startswith("step 10: invariant violated")  # the gap step, where Type 1 first fires
    assert "[adl_order]" in message and "(type 1, rank 2)" in message


def test_the_same_run_twice_gives_the_same_report():
    a, b = ModelSimulation(_scenario("short_squeeze", 60)), ModelSimulation(_scenario("short_squeeze", 60))
    a.run()
    b.run()
    ra, rb = rpt.build(a.record()), rpt.build(b.record())
    assert json.dumps(ra, sort_keys=True, default=str) == json.dumps(rb, sort_keys=True, default=str)
    assert ra["summary"]["liquidations"] > 0 and ra["summary"]["gas_used"] == 0
    assert {e["args"]["keeper"] for e in ra["events"] if e["event"] == "Liquidated"} == {DEVNET_KEEPER.lower()}


def test_a_model_of_other_decimals_is_refused():
    with pytest.raises(ValueError, match="the model has 18 collateral decimals, the scenario 6"):
        ModelSimulation(_scenario("calm", 10), model=Model(18))


def test_out_of_bounds_parameters_name_the_market():
    scn = _scenario("calm", 10)
    m = scn.markets[0]
    bad = type(scn)(**{**scn.__dict__, "markets": (type(m)(**{**m.__dict__, "params": {"mmr": 10**18}}),)
                                                   + tuple(scn.markets[1:])})
    with pytest.raises(ScenarioError, match=f"markets.{m.name}.params: "):
        ModelSimulation(bad)


def test_cli_backend_model_writes_the_engine_report(tmp_path):
    out = tmp_path / "calm"
    res = CliRunner().invoke(main, ["simulate", str(ROOT / "scenarios" / "calm.yaml"), "--backend", "model",
                                    "--traders", "20", "--out", str(out), "--no-plots", "--no-html", "--quiet"])
    assert res.exit_code == 0, res.output
    written = json.loads((out / "report.json").read_text())
    sim = ModelSimulation(_scenario("calm", 20))
    sim.run()
    assert written == json.loads(json.dumps(rpt.build(sim.record()), default=str))


def test_cli_backend_model_refuses_an_rpc():
    res = CliRunner().invoke(main, ["simulate", str(ROOT / "scenarios" / "calm.yaml"), "--backend", "model",
                                    "--rpc", "http://127.0.0.1:1"])
    assert res.exit_code == 2
    assert "error: --rpc names a node, --backend model runs without one" in res.output


def test_cli_unknown_backend_is_a_usage_error():
    res = CliRunner().invoke(main, ["simulate", str(ROOT / "scenarios" / "calm.yaml"), "--backend", "anvil"])
    assert res.exit_code == 2
    assert "'anvil' is not one of 'chain', 'model'" in res.output


def test_model_run_html_takes_the_policy_table_from_its_own_books(tmp_path):
    from perp.lab.compare import compare, crash_on_model
    from perp.runner import run_scenario_on_model

    path = ROOT / "scenarios" / "flash_crash.yaml"
    report, sim = run_scenario_on_model(str(path), out_dir=str(tmp_path), plots=False, quiet=True, traders=60)
    html = (tmp_path / "report.html").read_text()
    own = compare(crash_on_model(load(path), traders=60).cases)  # the same engine run again: the same books
    assert own.cases > 0
    assert f"Every policy of perp.lab on the {own.cases} ADL events of this run (reference model)" in html
    assert report["summary"]["gas_used"] == 0 and sim.backend == "model"
