"""The per-wave policy table (``perp.lab.waves``, ``perp lab compare --per-wave``): the scenario's waves read with
readable errors; the grouping on hand-computed books (the arithmetic of ``test_policies_hand``); and on the synthetic
10 October 2025 scenario in a reduced size, the waves partition the run to the unit and the queue's wave figures are
the model's own ADL fills, recomputed from its events without the policies."""
import copy
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from perp.cli import main
from perp.core import WAD, notional_down, notional_up
from perp.lab import Book, protocol_queue
from perp.lab.compare import AdlCase, compare, crash_on_model
from perp.lab.waves import ALL, OUTSIDE, markdown, per_wave
from perp.scenario import ScenarioError, Wave, load, parse

from test_policies_hand import A, AMOUNT, B, BOOK, C, D, MARK, SCALE, SHORTFALL, U

ROOT = Path(__file__).resolve().parents[2]
OCT10 = ROOT / "scenarios" / "oct10_2025.yaml"
TRADERS = 150

BASE = {
    "name": "t",
    "steps": 10,
    "markets": {"ETH-PERP": {"start_price": 2000, "path": {"kind": "gap", "at": 5, "to": 1500}}},
    "traders": {"count": 10, "leverage": 5, "notional": 1000},
}


def with_waves(waves):
    raw = copy.deepcopy(BASE)
    raw["waves"] = waves
    return raw


def test_waves_are_read_in_order():
    scn = parse(with_waves([{"name": "one", "from": 0, "to": 4}, {"name": "two", "from": 5, "to": 10}]))
    assert scn.waves == (Wave("one", 0, 4), Wave("two", 5, 10))
    assert [s for s in range(11) if scn.waves[0].holds(s)] == [0, 1, 2, 3, 4]  # both ends included
    assert parse(copy.deepcopy(BASE)).waves == ()
    assert load(OCT10).waves[0].holds(2) and not load(OCT10).waves[0].holds(18)


@pytest.mark.parametrize("waves,message", [
    ([], "scenario.waves: must list at least one wave"),
    ({"name": "x"}, "scenario.waves: must list at least one wave"),
    ([{"from": 0, "to": 3}], "waves[0].name: is required"),
    ([{"name": " ", "from": 0, "to": 3}], "waves[0].name: must not be empty"),
    ([{"name": "a", "to": 3}], "waves[0].from: is required"),
    ([{"name": "a", "from": 0, "to": 11}], "waves[0].to: must be at most 10, got 11"),
    ([{"name": "a", "from": 4, "to": 3}], "waves[0].to: must be at least 4, got 3"),
    ([{"name": "a", "from": "x", "to": 3}], "waves[0].from: must be an integer, got 'x'"),
    ([{"name": "a", "from": 0, "to": 5}, {"name": "b", "from": 5, "to": 8}],
     "waves[1].from: must come after the previous wave's last step (5), got 5"),
    ([{"name": "a", "from": 0, "to": 2}, {"name": "a", "from": 3, "to": 8}], "waves[1].name: 'a' names two waves"),
    ([{"name": "a", "from": 0, "to": 2, "steps": 3}], "waves[0].steps: is not a wave field"),
    (["a"], "waves[0]: must be a mapping"),
])
def test_a_bad_wave_is_named_in_the_error(waves, message):
    with pytest.raises(ScenarioError) as exc:
        parse(with_waves(waves))
    assert message in str(exc.value)


# ------------------------------------------------------------------------------------------- hand-computed waves

def _case(step, adl_type, book, amount, shortfall):
    fills = [(f.account, f.size, f.notional, f.rank) for f in protocol_queue(book, amount).fills]
    return AdlCase(step, "ETH-PERP", adl_type, book, amount, shortfall, 0, fills)


# Wave "w1" (steps 0-5, the event at its last step): the hand book's Type 1 (3 ETH at Pb 1,850, mark 2,000:
#   shortfall 450 U).
# Wave "w2" (steps 6-10, the event at its first step): a Type 2 of 1 ETH from the same longs at mark: c (first,
#   score 0.75) sells 1 ETH for 2,000 U, worth 2,000 U at mark: no haircut.
# Step 12 (no wave): the Type 1 again.
TYPE2_AT_MARK = Book.type2([A, B, C, D], True, MARK, SCALE, MARK)
CASES = [_case(5, 1, BOOK, AMOUNT, SHORTFALL), _case(6, 2, TYPE2_AT_MARK, WAD, 0),
         _case(12, 1, BOOK, AMOUNT, SHORTFALL)]
WAVES = (Wave("w1", 0, 5), Wave("w2", 6, 10))
# The queue's haircuts in the Type 1 (test_policies_hand): c 299,999,994, a 150,000,006 (sum 450 U); c's leverage
# after: 2,000.00008 U kept on 100.000006 U of equity.
LC = 2_000_000_080 * WAD // 100_000_006
GINI_T1 = Fraction(599_999_988, 1_350_000_000)


@pytest.fixture(scope="module")
def hand():
    comp = compare(CASES)
    assert comp.queue_matches
    return comp, per_wave(CASES, comp, WAVES)


def test_hand_waves_rows_and_their_events(hand):
    _, rows = hand
    assert [(r.wave, r.steps, r.events, r.type1, r.type2) for r in rows] == [
        ("w1", (0, 5), 1, 1, 0), ("w2", (6, 10), 1, 0, 1), (OUTSIDE, (), 1, 1, 0), (ALL, (), 3, 2, 1)]
    assert [r.shortfall for r in rows] == [450 * U, 0, 450 * U, 900 * U]
    # the ADL notional of the protocol's fills: the Type 1's bankruptcy notional, 5,550 U; the Type 2's 2,000 U
    assert [r.deleveraged for r in rows] == [5550 * U, 2000 * U, 5550 * U, 13_100 * U]


def test_hand_waves_queue_figures(hand):
    _, rows = hand
    q = [r.per_policy["queue"] for r in rows]
    assert [(x.haircut_total, x.overshoot, x.accounts_hit) for x in q] == [
        (450 * U, 0, 2), (0, 0, 1), (450 * U, 0, 2), (900 * U, 0, 2)]
    assert q[0].haircuts == {"c": 299_999_994, "a": 150_000_006}
    assert q[1].haircuts == {"c": 0}
    # concentration over the eligible a, b, c (d is at a loss): the Type 1's, scale-free, so the run's is the same
    assert (q[0].gini, q[2].gini, q[3].gini) == (GINI_T1, GINI_T1, GINI_T1)
    assert q[0].top1_share == Fraction(299_999_994, 450 * U) == q[3].top1_share
    assert q[1].gini is None and q[1].top1_share is None and q[1].max_equity_share is None  # nothing cut
    assert q[0].max_equity_share == Fraction(299_999_994, 400 * U)
    # leverage left: w1 c's 19.9999996x; w2 c keeps 2 ETH (4,000 U) on its 400 U: 10x; the run the larger
    assert [x.leverage_after_max for x in q] == [LC, 10 * WAD, LC, LC]


def test_hand_waves_pro_rata_figures(hand):
    _, rows = hand
    p = rows[0].per_policy["pro_rata"]  # a 300 U, b 60 U, c 90 U (test_policies_hand)
    assert p.haircuts == {"a": 300 * U, "b": 60 * U, "c": 90 * U}
    assert (p.haircut_total, p.overshoot, p.accounts_hit) == (450 * U, 0, 3)
    assert p.top1_share == Fraction(300, 450)
    # Gini of (60, 90, 300): 2 * (60 + 180 + 900) / (3 * 450) - 4/3 = 2,280 / 1,350 - 4/3 = 480 / 1,350
    assert p.gini == Fraction(480, 1350)


def test_hand_markdown_has_a_line_per_wave_and_policy(hand):
    comp, rows = hand
    md = markdown(rows, 6).splitlines()
    assert len(md) == 2 + len(rows) * len(comp.per_policy)
    assert md[2].startswith("| w1 | queue | 1 (1/0) | 5,550.00 | 450.00 | 450.00 | 0 | 2 | ")
    assert [ln.split(" | ")[0] for ln in md[2:]].count("| w1") == 1


def test_a_comparison_of_other_cases_is_refused():
    comp = compare(CASES[:2])
    with pytest.raises(ValueError, match="covers 2 events, not the 3 cases given"):
        per_wave(CASES, comp, WAVES)


# ------------------------------------------------------------------------------------------- the scenario, reduced

@pytest.fixture(scope="module")
def oct10():
    scn = load(OCT10)
    run = crash_on_model(scn, traders=TRADERS)
    comp = compare(run.cases)
    return scn, run, comp, per_wave(run.cases, comp, scn.waves)


def test_every_wave_has_adl_and_the_waves_partition_the_run(oct10):
    scn, run, comp, rows = oct10
    assert comp.queue_matches, comp.mismatches
    waves = [r for r in rows if r.wave not in (OUTSIDE, ALL)]
    assert [r.wave for r in waves] == [w.name for w in scn.waves]
    assert all(r.type1 > 0 and r.shortfall > 0 for r in waves)  # a refused bankrupt liquidation in every wave
    parts, total = rows[:-1], rows[-1]
    assert total.wave == ALL and total.events == len(run.cases) == sum(r.events for r in parts)
    assert total.shortfall == sum(r.shortfall for r in parts) == sum(c.shortfall for c in run.cases)
    for name, whole in total.per_policy.items():
        for fig in ("haircut_total", "windfall_total", "overshoot", "undershoot", "covered", "shortfall", "events"):
            assert getattr(whole, fig) == sum(getattr(r.per_policy[name], fig) for r in parts), (name, fig)
        merged = {}
        for r in parts:
            for a, h in r.per_policy[name].haircuts.items():
                merged[a] = merged.get(a, 0) + h
        assert merged == whole.haircuts, name


def _mark(scn, market, step):
    """The model's mark at a step: the path's price as the 8-decimal feed's answer, in WAD."""
    return int(scn.market(market).path.points[step] * 10**8) * 10**10


def test_the_queue_s_wave_figures_are_the_model_s_own_fills(oct10):
    """Recomputed from the model's AdlFill events alone: per transaction and account, the PnL at that step's mark
    minus the PnL the fill realized (a seller notional_down(q, mark) - n, a buyer n - notional_up(q, mark)); the
    positive parts summed per wave are the queue's haircuts, the fills' notionals its ADL notional, the accounts its
    accounts hit."""
    scn, run, comp, rows = oct10
    names = {mid: name for name, mid in run.market_ids.items()}
    per_tx = {}  # one ADL event: (transaction, the liquidated account or 0 for a Type 2)
    liquidated = {}
    for e in run.events:
        if e["event"] == "Liquidated":
            liquidated[e["tx_index"]] = e["args"]["account"]
        if e["event"] != "AdlFill":
            continue
        a = e["args"]
        q, n = abs(a["sizeDelta"]), a["notional"]
        mark = _mark(scn, names[a["marketId"]], e["step"])
        h = notional_down(q, mark, run.scale) - n if a["sizeDelta"] < 0 else n - notional_up(q, mark, run.scale)
        case = (e["tx_index"], liquidated.get(e["tx_index"], 0) if a["adlType"] == 1 else 0)
        tx = per_tx.setdefault(case, {"step": e["step"], "cuts": {}, "notional": 0})
        tx["cuts"][a["account"]] = tx["cuts"].get(a["account"], 0) + h
        tx["notional"] += n
    assert len(per_tx) == sum(1 for c in run.cases if c.model_fills)
    for r, w in zip(rows, scn.waves):
        txs = [t for t in per_tx.values() if w.holds(t["step"])]
        queue = r.per_policy["queue"]
        assert queue.haircut_total == sum(max(h, 0) for t in txs for h in t["cuts"].values()), w.name
        assert queue.windfall_total == sum(max(-h, 0) for t in txs for h in t["cuts"].values()), w.name
        assert r.deleveraged == sum(t["notional"] for t in txs), w.name
        assert queue.accounts_hit == len({a for t in txs for a in t["cuts"]}), w.name


def test_the_command_prints_and_writes_the_per_wave_table(tmp_path):
    out = tmp_path / "waves.md"
    res = CliRunner().invoke(main, ["lab", "compare", str(OCT10), "--traders", "60", "--per-wave", "--markdown",
                                    str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    scn = load(OCT10)
    for w in scn.waves:
        assert text.count(f"| {w.name} | queue |") == 1
    for name in ("queue", "pnl_leverage", "pro_rata", "water_fill", "dydx_sweep"):
        assert text.count(f"| {name} |") == len(scn.waves) + 1  # every wave and the whole run
    bad = CliRunner().invoke(main, ["lab", "compare", str(ROOT / "scenarios" / "calm.yaml"), "--per-wave"])
    assert bad.exit_code == 2 and "names no waves" in bad.output
    bad = CliRunner().invoke(main, ["lab", "compare", str(OCT10), "--markdown", str(out)])
    assert bad.exit_code == 2 and "add --per-wave" in bad.output
