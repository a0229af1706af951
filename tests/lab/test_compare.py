"""The policy comparison on a shipped scenario run on the reference model (reduced size): every ADL event is recorded
with its book, the protocol's queue policy reproduces the model's fills on every one of them (Type 1 and Type 2),
and the per-run figures are consistent across policies."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from perp.cli import main
from perp.lab.compare import compare, crash_on_model
from perp.scenario import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def flash():
    return crash_on_model(load(ROOT / "scenarios" / "flash_crash.yaml"), traders=120)


def test_queue_policy_reproduces_every_recorded_event(flash):
    assert {c.adl_type for c in flash.cases} == {1, 2}
    comp = compare(flash.cases)
    assert comp.queue_matches, comp.mismatches


def test_same_book_same_total_at_one_price(flash):
    """At one fill price per event, every policy that fills the same size cuts the same total (to rounding): the
    policies differ in who pays, not in how much."""
    comp = compare(flash.cases)
    for i, c in enumerate(flash.cases):
        filled = {n: evs[i].filled for n, evs in comp.events.items()}
        assert len(set(filled.values())) == 1, (i, filled)
        nets = [evs[i].net for evs in comp.events.values()]
        assert max(nets) - min(nets) <= 2 * len(c.book.entries) + 2, (i, nets)
    shortfall = {n: r.shortfall for n, r in comp.per_policy.items()}
    assert len(set(shortfall.values())) == 1


def test_cli_prints_the_table():
    res = CliRunner().invoke(main, ["lab", "compare", str(ROOT / "scenarios" / "short_squeeze.yaml"), "--traders",
                                    "60"])
    assert res.exit_code == 0, res.output
    for name in ("queue", "pnl_leverage", "pro_rata", "water_fill", "dydx_sweep"):
        assert name in res.output
    bad = CliRunner().invoke(main, ["lab", "compare", str(ROOT / "scenarios" / "calm.yaml"), "--policy", "nope"])
    assert bad.exit_code == 2
