"""The oracle alone, on numbers computed by hand from SPEC.md's definitions (no model, no chain)."""
from fractions import Fraction as Q

import pytest

import oracle as O

ETH = O.Params(imr=Q(5, 100), mmr=Q(3, 100), mcr=Q(4, 100), reward_rate=Q(50, 10_000), max_reward=Q(100),
               max_fund_notional=Q(5_000_000), drawdown_trigger=Q(3, 10), drawdown_stop=Q(2, 10),
               notional_stop=Q(8, 10), hwm_window=8 * 3600)


def test_position_views_and_states():
    p = O.Position(size=Q(1), entry=Q(2000), margin=Q(100))  # 20x long
    assert (p.notional(Q(2100)), p.upnl(Q(2100)), p.equity(Q(2100)), p.bankruptcy_price()) == (2100, 100, 200, 1900)
    assert p.score(Q(2100)) == Q(1, 2)  # PnL% 100/2100 x leverage 2100/200
    states = {m: O.state(p, Q(m), ETH) for m in (2100, 1990, 1975, 1950, 1899)}
    # 2100: E 200 >= IM 105; 1990: E 90 < IM 99.5; 1975: E 75 < 4% of N = 79; 1950: E 50 < MM 58.5; 1899: E -1
    assert states == {2100: "healthy", 1990: "reduce_only", 1975: "margin_call", 1950: "liquidatable",
                      1899: "bankrupt"}
    assert p.score(Q(1950)) is None and p.score(Q(2000)) is None  # at a loss or at breakeven: never selected
    short = O.Position(size=Q(-2), entry=Q(2000), margin=Q(200))
    assert (short.upnl(Q(1900)), short.equity(Q(1900)), short.bankruptcy_price()) == (200, 400, 2100)
    assert O.Position(Q(1), Q(50), Q(100)).bankruptcy_price() == 0  # floored at 0


def test_queue_is_score_order_then_larger_then_older():
    mark = Q(1800)
    book = {
        "x": O.Position(Q(-1), Q(2000), Q(100), age=2),  # u 200, E 300: 2/3
        "y": O.Position(Q(-2), Q(2000), Q(200), age=1),  # u 400, E 600: 2/3, larger than x
        "z": O.Position(Q(-2), Q(2000), Q(200), age=3),  # same as y, younger
        "w": O.Position(Q(-1), Q(1700), Q(100), age=4),  # at a loss
        "v": O.Position(Q(-1), Q(1800), Q(100), age=5),  # breakeven
        "l": O.Position(Q(1), Q(1000), Q(100), age=6),  # the other side
        "s": O.Position(Q(-1), Q(2000), Q(10), age=7),  # u 200, E 210: 20/21, first
    }
    assert [a for a, _ in O.adl_queue(book, False, mark)] == ["s", "y", "z", "x"]
    assert [a for a, _ in O.adl_queue(book, True, mark)] == ["l"]


def story():
    """tests/unit/adl/test_adl_type2.py's book, from its description: alice long 1 @ 2,000 at 20x against carol
    (0.6 at 10x) and bob (0.4 at 2x); the deployer long 0.2 @ 2,000 at 1x against bob (2x); the fund seeded with
    1,000 plus 1.68 of fees (maker 2 bps and taker 5 bps of each fill)."""
    book = {"alice": O.Position(Q(1), Q(2000), Q(100), 1), "carol": O.Position(Q("-0.6"), Q(2000), Q(120), 2),
            "bob": O.Position(Q("-0.6"), Q(2000), Q(600), 3), "deployer": O.Position(Q("0.2"), Q(2000), Q(400), 4)}
    return book, O.Fund(cash=Q("1001.68"))


def test_a_timely_liquidation_is_handed_to_the_fund_at_the_bankruptcy_price_after_the_reward():
    book, fund = story()
    t = O.HighWaterMark(ETH)
    t.sample(0, fund.equity(Q(1950)), "liquidation")
    r = O.liquidate(book, fund, "alice", Q(1950), ETH, t.value(), t.latched)
    # equity 50 < MM 58.5; reward min(0.5% x 1,950, 100, 50) = 9.75 from the margin; Pb = 2,000 - 90.25
    assert (r.reward, r.reward_from_fund, r.bankruptcy_price, r.accepted) == (Q("9.75"), False, Q("1909.75"), True)
    assert r.fund == O.Fund(Q("1001.68"), Q(1), Q("1909.75")) and "alice" not in r.book


def test_type2_of_a_fund_below_zero_equity_trades_at_its_bankruptcy_price_and_leaves_its_cash_at_zero():
    book, fund = story()
    t = O.HighWaterMark(ETH)
    t.sample(0, fund.equity(Q(1950)), "liquidation")
    r = O.liquidate(book, fund, "alice", Q(1950), ETH, t.value(), t.latched)
    mark = Q(900)
    t.sample(1, r.fund.equity(mark), "adl")  # equity 1,001.68 + (900 - 1,909.75) = -8.07
    d = O.deleverage_fund(r.book, r.fund, mark, ETH, t.value(), t.latched)
    assert d.causes == {"equity", "drawdown"} and d.required == 1
    assert d.price == Q("908.07")  # max(mark, 1,909.75 - 1,001.68)
    assert [(f.account, f.size, f.price, f.pnl, f.score, f.rank) for f in d.fills] == [
        ("carol", Q("0.6"), Q("908.07"), Q("655.158"), Q(660, 780), 1),  # u 660, E 780
        ("bob", Q("0.4"), Q("908.07"), Q("436.772"), Q(660, 1260), 2),  # u 660, E 1,260
    ]
    assert d.fund == O.Fund(Q(0), Q(0), Q(0))  # flat, cash exactly zero
    assert d.book["bob"] == O.Position(Q("-0.2"), Q(2000), Q(600) + Q("436.772"), 3)


def test_type1_is_best_effort_each_cut_capped_by_size_and_margin_and_the_rest_goes_to_the_fund():
    book = {"long": O.Position(Q(2), Q(2000), Q(100), 1),
            "s1": O.Position(Q(-1), Q(2000), Q(20), 2),  # at 1,850: u 150, E 170; gains at Pb
            "s2": O.Position(Q(-1), Q(1900), Q(10), 3)}  # at 1,850: u 50, E 60; loses 50 a unit at Pb
    mark = Q(1850)  # long: equity 100 - 300 = -200, Pb = 1,950
    r = O.liquidate(book, O.Fund(Q(0)), "long", mark, ETH, Q(0), False)
    assert (r.reward, r.accepted, r.reasons, r.bankruptcy_price) == (0, False, {"equity"}, 1950)
    assert [(f.account, f.size, f.pnl) for f in r.fills] == [("s1", 1, 50), ("s2", Q("0.2"), -10)]
    assert r.remainder == Q("0.8") and r.fund == O.Fund(Q(0), Q("0.8"), Q(1950))
    assert r.book == {"s2": O.Position(Q("-0.8"), Q(1900), Q(0), 3)}  # its margin is exactly used up


def test_type2_is_all_or_nothing_and_says_why_it_cannot_run():
    book = {"s": O.Position(Q("-0.5"), Q(2000), Q(50), 1), "l": O.Position(Q("0.5"), Q(1900), Q(500), 2)}
    fund = O.Fund(Q(50), Q(1), Q(1900))  # at 1,800: equity -50, Pb 1,850
    with pytest.raises(O.Revert, match="InsufficientAdlCapacity"):
        O.deleverage_fund(book, fund, Q(1800), ETH, Q(50), False)  # 0.5 eligible of 1 required
    with pytest.raises(O.Revert, match="FundFlat"):
        O.deleverage_fund(book, O.Fund(Q(50)), Q(1800), ETH, Q(50), False)
    with pytest.raises(O.Revert, match="FundNotDistressed"):
        O.deleverage_fund(book, O.Fund(Q(500), Q(1), Q(1900)), Q(1900), ETH, Q(500), False)
    limited = O.Params(**{**ETH.__dict__, "max_fund_notional": Q(1000)})
    d = O.deleverage_fund({"s": O.Position(Q(-1), Q(2000), Q(100), 1)}, O.Fund(Q(500), Q(1), Q(1900)), Q(1900),
                          limited, Q(500), False)
    assert (d.causes, d.required, d.price) == ({"risk_limit"}, Q(11, 19), 1900)  # down to 800 of notional


def test_the_fund_refuses_what_breaks_its_rules():
    mark = Q(2000)
    late = {"a": O.Position(Q(1), Q(2200), Q(0), 1)}  # equity -200 at 2,000
    timely = {"a": O.Position(Q(1), Q(2000), Q(50), 1), "b": O.Position(Q(-1), Q(2000), Q(50), 2)}  # E 50 < MM 60
    flat = O.Fund(Q(500))
    # SPEC: "would put its drawdown past the trigger line": 500 -> 300 is a 40% drawdown
    r = O.liquidate(late, flat, "a", mark, ETH, Q(500), False)
    assert (r.accepted, r.reasons) == (False, {"drawdown"})
    r = O.liquidate(late, flat, "a", mark, ETH, Q(500), False, O.Rules(refuse_drawdown_after_acceptance=False))
    assert r.accepted  # README: only a latched fund refuses for its drawdown
    r = O.liquidate(late, O.Fund(Q(100)), "a", mark, ETH, Q(100), False)
    assert r.reasons == {"equity", "drawdown"}  # 100 - 200 < 0
    limited = O.Params(**{**ETH.__dict__, "max_fund_notional": Q(3000)})
    long_fund = O.Fund(Q(1000), Q(1), Q(2000))
    assert O.liquidate(timely, long_fund, "a", mark, limited, Q(1000), False).reasons == {"risk_limit"}  # 4,000
    assert O.liquidate(timely, long_fund, "b", mark, limited, Q(1000), False).accepted  # it lowers the notional
    tight = O.Params(**{**ETH.__dict__, "max_fund_notional": Q(100)})
    two = O.Fund(Q(1000), Q(2), Q(2000))  # 4,000 above a limit of 100; a short of 1 leaves 2,000: no push
    assert O.liquidate(timely, two, "b", mark, tight, Q(1000), False).accepted


def test_high_water_mark_is_a_rolling_maximum_of_samples_that_include_trades():
    spec, readme = O.HighWaterMark(ETH), O.HighWaterMark(ETH, O.README_RULES)
    for t, e, action in ((0, Q(200), "liquidation"), (3600, Q(150), "poke"), (7200, Q(400), "trade"),
                         (8 * 3600 + 1, Q(100), "adl")):
        spec.sample(t, e, action)
        readme.sample(t, e, action)
    # SPEC: max of the window (1 s, 8 h + 1 s]: 150 (poke) and 400 (trade) -> 400; drawdown 75%: distressed
    assert (spec.value(), spec.latched) == (400, True)
    # README: trades do not sample; the mark of 200 set at 0 is reset to the current 100 after a whole window
    assert (readme.value(), readme.latched) == (100, False)
    rolling_no_trades = O.HighWaterMark(ETH, O.Rules(sample_on_trades=False))
    for t, e, action in ((0, Q(200), "liquidation"), (3600, Q(150), "poke"), (8 * 3600 + 1, Q(100), "adl")):
        rolling_no_trades.sample(t, e, action)
    assert (rolling_no_trades.value(), rolling_no_trades.latched) == (150, True)  # 33% past the 30% trigger


def test_the_fund_realizes_pnl_when_it_reduces_and_averages_when_it_adds():
    f = O.Fund(Q(100), Q(1), Q(2000))
    assert f.take(Q(1), Q(2200)) == O.Fund(Q(100), Q(2), Q(2100))
    assert f.take(Q("-0.5"), Q(1800)) == O.Fund(Q(0), Q("0.5"), Q(2000))
    assert f.take(Q(-3), Q(1900)) == O.Fund(Q(0), Q(-2), Q(1900))  # closes 1 at a loss of 100, opens short 2
