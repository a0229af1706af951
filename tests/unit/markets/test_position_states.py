"""Position states through PerpLens.positionInfo (0 None, 1 Healthy, 2 ReduceOnly, 3 MarginCall, 4 Liquidatable,
5 Bankrupt): the oracle is moved to put a position in each state, and the whole view (equity, notional, entry and
bankruptcy prices...) is checked against the formulas of docs/TESTING.md, computed by hand.

ETH-PERP: imr 5%, mcr 4%, mmr 3%. Positions opened once per deployment (before every test's snapshot):
  alice long / bob short 1 ETH at 2,000 at 5x: margin 400 each; long equity = P - 1,600, short 2,400 - P.
  carol long / dave short 1 ETH at 2,000 at 20x: margin 100 each (equity = IM exactly at 2,000).
  erin long / frank short 0.333... ETH at 2,000.33 at 7x: odd size and price, every rounding matters."""
import brownie
import pytest

from support import err

WAD = 10**18
ONE_THIRD = 333_333_333_333_333_333
NONE, HEALTHY, REDUCE_ONLY, MARGIN_CALL, LIQUIDATABLE, BANKRUPT = range(6)


@pytest.fixture(scope="module", autouse=True)
def book(env, calc, open_pair, alice, bob, carol, dave, erin, frank):
    a = open_pair(env, alice, bob, env.ETH, WAD, calc.px(2000))
    c = open_pair(env, carol, dave, env.ETH, WAD, calc.px(2000), buyer_leverage=20 * WAD, seller_leverage=20 * WAD)
    e = open_pair(env, erin, frank, env.ETH, ONE_THIRD, calc.px("2000.33"), buyer_leverage=7 * WAD,
                  seller_leverage=7 * WAD)
    assert (a.long_margin, a.short_margin) == (env.units(400), env.units(400))
    assert (c.long_margin, c.short_margin) == (env.units(100), env.units(100))
    env.check()
    return {"alice": a, "carol": c, "erin": e}


def view(env, account, market_id=None):
    return env.position(market_id or env.ETH, account)


def expected_view(env, calc, account, size, open_notional, margin, price, state, open_seq):
    """The lens's view computed by hand from the formulas."""
    abs_size = abs(size)
    upnl = calc.upnl(size, open_notional, price, env.scale)
    bankruptcy_notional = max(open_notional - margin if size > 0 else margin - open_notional, 0)
    return {
        "account": account,
        "size": size,
        "open_notional": open_notional,
        "margin": margin,
        "entry_price": abs(open_notional) * WAD * env.scale // abs_size,
        "notional": calc.notional_up(size, price, env.scale),
        "upnl": upnl,
        "equity": margin + upnl,
        "bankruptcy_price": bankruptcy_notional * WAD * env.scale // abs_size,
        "state": state,
        "open_seq": open_seq,
    }


def classify(calc, equity, notional):
    """Hand check of the chosen price: which band the equity falls in (thresholds rounded up)."""
    if equity < 0:
        return BANKRUPT
    if equity < calc.wad_mul_up(notional, 3 * WAD // 100):
        return LIQUIDATABLE
    if equity < calc.wad_mul_up(notional, 4 * WAD // 100):
        return MARGIN_CALL
    if equity < calc.wad_mul_up(notional, 5 * WAD // 100):
        return REDUCE_ONLY
    return HEALTHY


# ------------------------------------------------------------------ none


def test_account_without_position_is_in_state_none_with_zero_view(env, outsider):
    assert view(env, outsider) == {
        "account": outsider, "size": 0, "open_notional": 0, "margin": 0, "entry_price": 0, "notional": 0,
        "upnl": 0, "equity": 0, "bankruptcy_price": 0, "state": NONE, "open_seq": 0,
    }


def test_position_in_one_market_is_none_in_the_other(env, alice):
    assert view(env, alice, env.BTC)["state"] == NONE
    assert view(env, alice, env.BTC)["size"] == 0


# ------------------------------------------------------------------ each state, long and short

LONG_CASES = [  # long 1 ETH, cost 2,000, margin 400: equity = P - 1,600
    ("healthy", "1900", HEALTHY),  # equity 300 >= IM 95
    ("reduce_only", "1683.5", REDUCE_ONLY),  # equity 83.5 < IM 84.175, >= 67.34
    ("margin_call", "1660.25", MARGIN_CALL),  # equity 60.25 < 66.41, >= MM 49.8075
    ("liquidatable", "1620.75", LIQUIDATABLE),  # equity 20.75 < MM 48.6225
    ("liquidatable_at_zero_equity", "1600", LIQUIDATABLE),  # equity exactly 0 is not bankrupt
    ("bankrupt", "1590.33333333", BANKRUPT),  # equity -9.66666667 (long value rounded down)
]

SHORT_CASES = [  # short 1 ETH, proceeds 2,000, margin 400: equity = 2,400 - P
    ("healthy", "2100", HEALTHY),  # equity 300 >= IM 105
    ("reduce_only", "2300.5", REDUCE_ONLY),  # equity 99.5 < IM 115.025, >= 92.02
    ("margin_call", "2320.75", MARGIN_CALL),  # equity 79.25 < 92.83, >= MM 69.6225
    ("liquidatable", "2350.1", LIQUIDATABLE),  # equity 49.9 < MM 70.503
    ("liquidatable_at_zero_equity", "2400", LIQUIDATABLE),
    ("bankrupt", "2400.00000001", BANKRUPT),  # the short's debt rounds up: equity -1 unit (dec6)
]


@pytest.mark.parametrize("price,state", [c[1:] for c in LONG_CASES], ids=[c[0] for c in LONG_CASES])
def test_long_position_state_and_view_at_mark(checked, calc, alice, price, state):
    env = checked
    env.set_price(env.ETH, price)
    mark = calc.px(price)
    want = expected_view(env, calc, alice, WAD, env.units(2000), env.units(400), mark, state, open_seq=1)
    assert classify(calc, want["equity"], want["notional"]) == state
    assert want["entry_price"] == 2000 * WAD
    assert want["bankruptcy_price"] == 1600 * WAD

    assert view(env, alice) == want


@pytest.mark.parametrize("price,state", [c[1:] for c in SHORT_CASES], ids=[c[0] for c in SHORT_CASES])
def test_short_position_state_and_view_at_mark(checked, calc, bob, price, state):
    env = checked
    env.set_price(env.ETH, price)
    mark = calc.px(price)
    want = expected_view(env, calc, bob, -WAD, -env.units(2000), env.units(400), mark, state, open_seq=2)
    assert classify(calc, want["equity"], want["notional"]) == state
    assert want["entry_price"] == 2000 * WAD
    assert want["bankruptcy_price"] == 2400 * WAD

    assert view(env, bob) == want


def test_bankrupt_short_equity_is_minus_one_unit_just_above_bankruptcy_price(checked, bob):
    env = checked
    env.set_price(env.ETH, "2400.00000001")
    # debt = ceil(2,400.00000001 in units): 2,400.000001 (dec6) or 2,400.00000001 (dec18)
    expected = -1 if env.decimals == 6 else -(10**10)
    assert view(env, bob)["equity"] == expected
    assert view(env, bob)["state"] == BANKRUPT


# ------------------------------------------------------------------ exact thresholds (carol, 20x)


def test_equity_exactly_initial_margin_is_healthy(env, carol):
    v = view(env, carol)
    assert (v["equity"], v["notional"], v["state"]) == (env.units(100), env.units(2000), HEALTHY)


def test_equity_one_price_tick_below_initial_margin_is_reduce_only(checked, calc, carol):
    env = checked
    env.set_price(env.ETH, "1999.99999999")
    mark = calc.px("1999.99999999")
    want = expected_view(env, calc, carol, WAD, env.units(2000), env.units(100), mark, REDUCE_ONLY, open_seq=3)
    if env.decimals == 6:
        assert (want["equity"], want["notional"]) == (99_999_999, 2_000_000_000)  # IM 100,000,000
    assert view(env, carol) == want


# At 1,900 carol's equity is exactly what she added (100 + 1,900 - 2,000 = 0); notional 1,900:
# IM 95, margin-call line 76, MM 57.
THRESHOLDS = [
    ("at_im", "95", 0, HEALTHY),
    ("below_im", "95", -1, REDUCE_ONLY),
    ("at_mcr", "76", 0, REDUCE_ONLY),
    ("below_mcr", "76", -1, MARGIN_CALL),
    ("at_mm", "57", 0, MARGIN_CALL),
    ("below_mm", "57", -1, LIQUIDATABLE),
]


@pytest.mark.parametrize("added,offset,state", [t[1:] for t in THRESHOLDS], ids=[t[0] for t in THRESHOLDS])
def test_state_boundaries_are_exact_to_the_unit(checked, carol, added, offset, state):
    env = checked
    env.set_price(env.ETH, 1900)
    amount = env.units(added) + offset
    env.perp.addMargin(env.ETH, amount, {"from": carol})

    v = view(env, carol)

    assert (v["margin"], v["equity"], v["notional"], v["state"]) == (
        env.units(100) + amount, amount, env.units(1900), state)


def test_zero_equity_at_1900_is_liquidatable(checked, carol):
    env = checked
    env.set_price(env.ETH, 1900)
    v = view(env, carol)
    assert (v["equity"], v["state"]) == (0, LIQUIDATABLE)


# ------------------------------------------------------------------ rounding (erin / frank)


def test_odd_long_view_rounds_entry_and_bankruptcy_prices_down(checked, calc, book, erin):
    env = checked
    e = book["erin"]
    env.set_price(env.ETH, "1987.65432101")
    mark = calc.px("1987.65432101")
    want = expected_view(env, calc, erin, ONE_THIRD, e.long_notional, e.long_margin, mark, HEALTHY, open_seq=5)
    if env.decimals == 6:
        # erin, the buyer, paid n = ceil(0.333.. * 2,000.33) = 666.776667; margin = ceil(n / 7) = 95.253810
        assert (e.long_notional, e.long_margin) == (666_776_667, 95_253_810)
        assert want["entry_price"] == 2000_330001000000002000
        assert want["bankruptcy_price"] == 1714_568571000000001714
        assert (want["notional"], want["equity"]) == (662_551_441, 95_253_810 + 662_551_440 - 666_776_667)
    assert view(env, erin) == want


def test_odd_short_view_rounds_debt_up_and_prices_down(checked, calc, book, frank):
    env = checked
    e = book["erin"]
    env.set_price(env.ETH, "1987.65432101")
    mark = calc.px("1987.65432101")
    # frank, the seller, received n = floor(0.333.. * 2,000.33) = 666.776666
    want = expected_view(env, calc, frank, -ONE_THIRD, -e.short_notional, e.short_margin, mark, HEALTHY, open_seq=6)
    if env.decimals == 6:
        assert want["bankruptcy_price"] == 2286_091428000000002286
        assert want["equity"] == 95_253_810 - 662_551_441 + 666_776_666
    assert view(env, frank) == want


# ------------------------------------------------------------------ the lens agrees with liquidation


def test_margin_call_position_is_not_liquidatable(checked, calc, alice, keeper):
    env = checked
    env.set_price(env.ETH, "1660.25")
    equity = env.units("60.25")
    mm = calc.wad_mul_up(env.units("1660.25"), 3 * WAD // 100)  # 49.8075
    assert view(env, alice)["state"] == MARGIN_CALL

    with brownie.reverts(err("NotLiquidatable", env.ETH, alice, equity, mm)):
        env.perp.liquidate(env.ETH, alice, {"from": keeper})


def test_equity_exactly_at_maintenance_margin_is_not_liquidatable(checked, carol, keeper):
    env = checked
    env.set_price(env.ETH, 1900)
    env.perp.addMargin(env.ETH, env.units(57), {"from": carol})  # equity 57 = MM of notional 1,900

    with brownie.reverts(err("NotLiquidatable", env.ETH, carol, env.units(57), env.units(57))):
        env.perp.liquidate(env.ETH, carol, {"from": keeper})


def test_liquidatable_position_is_liquidated(checked, alice, keeper):
    env = checked
    env.set_price(env.ETH, "1620.75")
    assert view(env, alice)["state"] == LIQUIDATABLE

    env.perp.liquidate(env.ETH, alice, {"from": keeper})

    assert view(env, alice)["state"] == NONE
