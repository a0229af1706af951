"""Sweeps (perp.lab.sweep): the sweep file's grid expansion, the resume logic and the summary's figures as pure
functions (exact), then one tiny sweep end to end on a local Ray instance (1 CPU): its rows equal the same points
run in-process, a second call reruns only what was not finished, and its HTML summary is self-contained."""
import re
from decimal import Decimal
from pathlib import Path

import pytest

from perp.core import WAD
from perp.lab.sweep import (COLUMNS, Point, SweepError, append_rows, apply, expand, finished, fund_path, parse,
                            pending, quantile, read_table, run_point, run_sweep, summarize)
from perp.scenario import load
from perp.sim import StepRecord

ROOT = Path(__file__).resolve().parents[2]
SCN = ROOT / "scenarios"


def sweep(**over):
    raw = {"name": "t", "scenarios": ["short_squeeze.yaml", "flash_crash.yaml"], "seeds": [1, 2],
           "grid": {"fund_seed_scale": [0.5, 1], "mmr": [0.02, 0.035]}, "policies": ["queue", "pro_rata"]}
    raw.update(over)
    return parse(raw, SCN, "t.yaml")


def test_expansion_order_and_the_points_out_of_bounds():
    points, skipped = expand(sweep())
    # 2 scenarios x 2 seeds x 2 x 2 = 16; mmr 0.035 is at or above BTC-PERP's mcr (3%): out in flash_crash only
    assert len(points) + len(skipped) == 16
    assert [(Path(p.scenario).stem, p.seed, p.params) for p in points] == [
        ("short_squeeze", 1, (("fund_seed_scale", Decimal("0.5")), ("mmr", Decimal("0.02")))),
        ("short_squeeze", 1, (("fund_seed_scale", Decimal("0.5")), ("mmr", Decimal("0.035")))),
        ("short_squeeze", 1, (("fund_seed_scale", Decimal("1")), ("mmr", Decimal("0.02")))),
        ("short_squeeze", 1, (("fund_seed_scale", Decimal("1")), ("mmr", Decimal("0.035")))),
        ("short_squeeze", 2, (("fund_seed_scale", Decimal("0.5")), ("mmr", Decimal("0.02")))),
        ("short_squeeze", 2, (("fund_seed_scale", Decimal("0.5")), ("mmr", Decimal("0.035")))),
        ("short_squeeze", 2, (("fund_seed_scale", Decimal("1")), ("mmr", Decimal("0.02")))),
        ("short_squeeze", 2, (("fund_seed_scale", Decimal("1")), ("mmr", Decimal("0.035")))),
        ("flash_crash", 1, (("fund_seed_scale", Decimal("0.5")), ("mmr", Decimal("0.02")))),
        ("flash_crash", 1, (("fund_seed_scale", Decimal("1")), ("mmr", Decimal("0.02")))),
        ("flash_crash", 2, (("fund_seed_scale", Decimal("0.5")), ("mmr", Decimal("0.02")))),
        ("flash_crash", 2, (("fund_seed_scale", Decimal("1")), ("mmr", Decimal("0.02")))),
    ]
    assert len(skipped) == 4
    assert all(Path(p.scenario).stem == "flash_crash" and p.value("mmr") == Decimal("0.035") for p, _ in skipped)
    assert all(why.startswith("BTC-PERP: mmr must be > 0 and below mcr") for _, why in skipped)
    assert len({p.id for p in points}) == 12


def test_point_ids_are_stable_and_ignore_the_folder():
    a = Point("/x/flash_crash.yaml", 1, 100, (("mmr", Decimal("0.02")),))
    b = Point("/y/flash_crash.yaml", 1, 100, (("mmr", Decimal("0.02")),))
    c = Point("/y/flash_crash.yaml", 2, 100, (("mmr", Decimal("0.02")),))
    assert a.id == b.id != c.id and re.fullmatch(r"[0-9a-f]{16}", a.id)


def test_bad_sweep_files_name_the_field():
    with pytest.raises(SweepError, match="grid.leverage: not an axis"):
        sweep(grid={"leverage": [2]})
    with pytest.raises(SweepError, match="policies: unknown 'nope'"):
        sweep(policies=["nope"])
    with pytest.raises(SweepError, match="scenarios: missing.yaml: no such file"):
        sweep(scenarios=["missing.yaml"])
    with pytest.raises(SweepError, match="seeds"):
        sweep(seeds=[-1])


def test_apply_sets_exactly_the_point_values():
    scn = load(SCN / "flash_crash.yaml")
    pt = Point(str(SCN / "flash_crash.yaml"), 9, 40, (("fund_seed_scale", Decimal("0.5")),
                                                    ("drawdown_trigger", Decimal("0.4")),
                                                    ("drawdown_stop", Decimal("0.1")), ("mmr", Decimal("0.02")),
                                                    ("max_leverage", Decimal("15")), ("keeper_latency", 3)))
    got = apply(pt, scn)
    assert got.population.seed == 9 and got.population.count == 40 and got.keeper.latency == 3
    for m, m0 in zip(got.markets, scn.markets):
        assert m.fund_seed == m0.fund_seed / 2
        assert m.params == dict(m0.params, drawdown_trigger=4 * WAD // 10, drawdown_stop=WAD // 10,
                                mmr=2 * WAD // 100, max_leverage=15 * WAD)
    assert apply(Point(pt.scenario, None, None, ()), scn) == scn


def test_finished_and_pending():
    pts = [Point(f"/s/{n}.yaml", 1, None, ()) for n in "abc"]
    rows = [{"point_id": pts[0].id, "policy": "queue"}, {"point_id": pts[0].id, "policy": "pro_rata"},
            {"point_id": pts[1].id, "policy": "queue"}]  # b misses pro_rata: not finished
    done = finished(rows, ["queue", "pro_rata"])
    assert done == {pts[0].id}
    assert pending(pts + [pts[2]], done) == [pts[1], pts[2]]
    assert finished(rows, ["queue"]) == {pts[0].id, pts[1].id}
    assert pending(pts, finished([], ["queue"])) == pts


def test_table_appends_and_drops_a_cut_line(tmp_path):
    path = tmp_path / "points.csv"
    append_rows(path, [{"point_id": "a", "policy": "queue", "bad_debt": 5}])
    append_rows(path, [{"point_id": "b", "policy": "queue", "bad_debt": 7}])
    with path.open("a") as fh:
        fh.write("c,short")  # an interrupted write
    rows = read_table(path)
    assert [(r["point_id"], r["bad_debt"]) for r in rows] == [("a", "5"), ("b", "7")]
    assert path.read_text().count("point_id") == 1 and list(rows[0]) == list(COLUMNS)


def test_quantile_nearest_rank():
    xs = [7, 1, 3, 5, 9, 2, 8, 4, 6, 10]
    assert [quantile(xs, q) for q in (0.1, 0.5, 0.9, 0.99, 1.0)] == [1, 5, 9, 10, 10]
    assert quantile([4], 0.5) == 4 and quantile([], 0.5) is None


def test_fund_path():
    def step(i, a, b):
        return StepRecord(i, {}, {"A": {"equity": a}, "B": {"equity": b}}, {})

    # A: peak 100 then 40 (60%); B: 50, 80, 20 (75% from 80); totals 150, 180, 60
    start, low, dd = fund_path([step(0, 100, 50), step(1, 100, 80), step(2, 40, 20)], ["A", "B"])
    assert (start, low, dd) == (150, 60, 0.75)


def test_summary_figures():
    def row(pid, scn, fired, bad, dd, policy="queue", share="0.5"):
        return {"point_id": pid, "scenario": scn, "decimals": "6", "adl_fired": str(fired), "bad_debt": str(bad),
                "fund_drawdown_max": str(dd), "reconciled": "1", "policy": policy, "accounts_hit": "4",
                "haircuts": "2000000", "overshoot": "1", "gini": "0.5", "gini_event": "0.25", "top1_share": share,
                "top10_share": "1", "max_equity_share": "0.1", "leverage_after_max": "3", "queue_matches": "1"}

    rows = [row("p1", "x", 1, 10**6, 0.5), row("p2", "x", 0, 0, 0.1), row("p3", "y", 1, 3 * 10**6, 0.9),
            row("p1", "x", 1, 10**6, 0.5, "pro_rata", "0.25"), row("p3", "y", 1, 3 * 10**6, 0.9, "pro_rata", "0.75")]
    s = summarize(rows)
    assert s["overall"]["points"] == 3 and s["overall"]["p_adl"] == 2 / 3
    assert s["overall"]["bad_debt"] == {"q50": 1.0, "q90": 3.0, "q99": 3.0, "q100": 3.0}
    assert s["overall"]["fund_drawdown"]["q50"] == 0.5
    assert s["by_scenario"]["x"]["p_adl"] == 0.5 and s["by_scenario"]["y"]["points"] == 1
    assert s["policies"]["queue"]["points"] == 2 and s["policies"]["queue"]["haircuts"] == 2.0
    assert s["policies"]["pro_rata"]["top1_share"] == 0.5 and s["policies"]["queue"]["queue_matches"] is True


def test_tiny_sweep_on_local_ray_resumes(tmp_path):
    pytest.importorskip("ray")
    sw = parse({"name": "tiny", "scenarios": ["short_squeeze.yaml"], "traders": 40, "seeds": [3],
                "grid": {"fund_seed_scale": [0.5, 1], "keeper_latency": [0, 1]}, "policies": ["queue", "water_fill"]},
               SCN, "tiny.yaml")
    points, _ = expand(sw)
    assert len(points) == 4
    first = run_sweep(sw, tmp_path, workers=1, progress=False, limit=3)
    assert (first.points, first.already, first.ran) == (4, 0, 3)
    rows = read_table(tmp_path / "points.csv")
    assert len(rows) == 3 * 2
    second = run_sweep(sw, tmp_path, workers=1, progress=False)
    assert (second.already, second.ran) == (3, 1)
    third = run_sweep(sw, tmp_path, workers=1, progress=False)
    assert third.ran == 0
    rows = read_table(tmp_path / "points.csv")
    assert len(rows) == 4 * 2 and {r["point_id"] for r in rows} == {p.id for p in points}
    local = run_point(points[0], sw.policies)  # Ray's rows are the in-process rows (but for the timing)
    got = [r for r in rows if r["point_id"] == points[0].id]
    for mine, theirs in zip(local, got):
        assert {k: str(v) for k, v in mine.items() if k != "seconds"} == \
            {k: v for k, v in theirs.items() if k != "seconds"}
    assert all(r["reconciled"] == "1" for r in rows)
    assert all(r["queue_matches"] == "1" for r in rows if r["policy"] == "queue")
    s = third.summary
    assert s["overall"]["points"] == 4 and s["overall"]["p_adl"] == sum(int(r["adl_fired"]) for r in rows) / 8
    html = (tmp_path / "summary.html").read_text()
    assert not re.search(r"<script[^>]+src\s*=\s*['\"]?(https?:)?//", html, re.I)
    for title in ("Probability that ADL fires", "Bad debt per run", "Largest fund drawdown", "Policies side by side"):
        assert title in html


def test_chain_points_replace_those_points_with_a_chain_backend():
    model_points, _ = expand(sweep())
    points, _ = expand(sweep(chain_points=[2, 12]))
    assert [p.backend for p in points] == ["model", "chain"] + ["model"] * 9 + ["chain"]
    assert [(p.scenario, p.seed, p.params) for p in points] == [(p.scenario, p.seed, p.params) for p in model_points]
    # a chain point is its own point (its rows never stand for the model's), a model point keeps its id
    assert points[1].id != model_points[1].id and points[0].id == model_points[0].id
    assert len({p.id for p in points + model_points}) == 14


@pytest.mark.parametrize("raw, message", [
    ([13], "--chain-points: 13 is not a point number (1..12)"),
    ([0], "t.yaml: chain_points: a list of point numbers (1-based, in expansion order)"),
    ("2", "t.yaml: chain_points: a list of point numbers (1-based, in expansion order)"),
])
def test_chain_points_out_of_range_are_readable_errors(raw, message):
    with pytest.raises(SweepError) as exc:
        expand(sweep(chain_points=raw))
    assert str(exc.value) == message


def test_chain_points_option_parses_numbers_only():
    from perp.lab.sweep import parse_point_numbers

    assert parse_point_numbers("1, 5,7") == (1, 5, 7)
    with pytest.raises(SweepError, match=r"--chain-points: 'x' is not a point number \(a comma-separated list"):
        parse_point_numbers("1,x")


def test_a_table_of_other_columns_is_not_resumed(tmp_path):
    (tmp_path / "points.csv").write_text("point_id,scenario,policy\nabc,x,queue\n")
    with pytest.raises(SweepError, match="its columns are not this version's"):
        run_sweep(sweep(), tmp_path, workers=1, progress=False)
