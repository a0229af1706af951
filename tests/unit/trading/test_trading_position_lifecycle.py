"""A position through several trades, with hand-computed numbers (docs/TESTING.md, Accounting model):
increase with entry-price averaging, partial reduce with realized PnL, full close, flip, partial fills of one
order, reduce-only orders.

Every counterparty opens fresh and every fill is within the 5% band of the mark (2,000 unless set)."""
import brownie

from support import err
from trading_calc import MAKER_BPS, TAKER_BPS, X, order_hash, pos, w


def buy_from(env, buyer, seller, size, price, buyer_lev=X(5), seller_lev=X(5), maker_buys=True, **kw):
    """One matched pair; `kw` goes to the buyer's order (`reduce_only=...`)."""
    buy = env.order(buyer, env.ETH, True, size, price, leverage=buyer_lev, is_maker=maker_buys, **kw)
    sell = env.order(seller, env.ETH, False, size, price, leverage=seller_lev, is_maker=not maker_buys)
    maker, taker = (buy, sell) if maker_buys else (sell, buy)
    return env.perp.settle(env.match(maker, taker), {"from": env.keeper})


def sell_to(env, seller, buyer, size, price, seller_lev=X(5), buyer_lev=X(5), maker_sells=True, **kw):
    """One matched pair; `kw` goes to the seller's order (`reduce_only=...`)."""
    sell = env.order(seller, env.ETH, False, size, price, leverage=seller_lev, is_maker=maker_sells, **kw)
    buy = env.order(buyer, env.ETH, True, size, price, leverage=buyer_lev, is_maker=not maker_sells)
    maker, taker = (sell, buy) if maker_sells else (buy, sell)
    return env.perp.settle(env.match(maker, taker), {"from": env.keeper})


# ------------------------------------------------------------------------------------------------ increase


def test_increase_adds_notional_and_margin(t, calc, funded, alice, bob, carol):
    # 1 @ 2,000 then 1 @ 2,050, both 5x and alice the maker: openNotional 4,050, margin 400 + 410.
    buy_from(t, alice, bob, w(1), w(2000))
    buy_from(t, alice, carol, w(1), w(2050))
    assert pos(t, t.ETH, alice) == (w(2), calc.u(4050), calc.u(810))
    # fees: ceil(2000 * 2 / 1e4) = 0.4 and ceil(2050 * 2 / 1e4) = 0.41
    assert t.free(alice) == funded - calc.u(810) - calc.u("0.81")


def test_increase_averages_the_entry_price(t, alice, bob, carol):
    buy_from(t, alice, bob, w(1), w(2000))
    buy_from(t, alice, carol, w(1), w(2050))
    assert t.position(t.ETH, alice)["entry_price"] == w(2025)  # 4,050 / 2


def test_increase_of_a_short_averages_the_entry_price(t, calc, bob, carol, dave):
    # Short 2 @ 1,990 then 1 @ 2,030: openNotional -(3,980 + 2,030) = -6,010, entry 2,003.333... (floor).
    sell_to(t, bob, carol, w(2), w(1990))
    sell_to(t, bob, dave, w(1), w(2030))
    assert pos(t, t.ETH, bob) == (-w(3), -calc.u(6010), calc.u(796) + calc.u(406))
    assert t.position(t.ETH, bob)["entry_price"] == calc.u(6010) * 10**18 * t.scale // w(3)


def test_increase_at_another_leverage_posts_margin_at_the_new_orders_leverage(t, calc, alice, bob, carol):
    buy_from(t, alice, bob, w(1), w(2000), buyer_lev=X(5))
    buy_from(t, alice, carol, w(1), w(2000), buyer_lev=X(8))
    assert pos(t, t.ETH, alice) == (w(2), calc.u(4000), calc.u(400) + calc.u(250))


# ------------------------------------------------------------------------------------------------ reduce


def test_partial_reduce_of_a_long_realizes_pnl_at_the_fill_price(t, calc, funded, alice, bob, carol):
    # alice long 3 @ 2,000.0000005 at 5x: the buyer pays n0 = ceil(6,000.0000015) (6,000.000002 with 6 decimals;
    # bob, the seller, receives 6,000.000001 and the fund the unit between).
    p0 = w("2000.0000005")
    buy_from(t, alice, bob, w(3), p0)
    n0 = calc.notional_up(w(3), p0)
    m0 = calc.margin(n0, X(5))
    assert n0 == (calc.u("6000.000002") if t.decimals == 6 else calc.u("6000.0000015"))
    assert pos(t, t.ETH, bob)[1] == -(calc.u("6000.000001") if t.decimals == 6 else calc.u("6000.0000015"))
    t.set_price(t.ETH, 2100)
    # She sells 1 @ 2,100 (maker): released cost r = ceil(n0 / 3), pnl = 2,100 - r, margin after = m0 + pnl,
    # a third of it (floor) back to free collateral.
    sell_to(t, alice, carol, w(1), w(2100))
    n1 = calc.u(2100)
    r = calc.released_cost(n0, w(1), w(3))
    assert r == (calc.u("2000.000001") if t.decimals == 6 else calc.u("2000.0000005"))  # rounded up
    pnl = n1 - r
    margin_after = m0 + pnl
    released = margin_after * w(1) // w(3)
    assert pos(t, t.ETH, alice) == (w(2), n0 - r, margin_after - released)
    fee_open = calc.fee(n0, MAKER_BPS)
    fee_close = calc.fee(n1, MAKER_BPS)
    assert t.free(alice) == funded - m0 - fee_open + released - fee_close


def test_partial_reduce_of_a_long_keeps_the_entry_price(t, alice, bob, carol):
    buy_from(t, alice, bob, w(4), w(2000))
    t.set_price(t.ETH, 2100)
    sell_to(t, alice, carol, w(1), w(2100))
    assert t.position(t.ETH, alice)["entry_price"] == w(2000)


def test_partial_reduce_of_a_short_at_a_higher_price_realizes_a_loss(t, calc, funded, bob, carol, dave):
    # bob short 3 @ 2,000 at 5x: openNotional -6,000, margin 1,200 (taker: fee ceil(6000 * 5 / 1e4) = 3).
    buy_from(t, carol, bob, w(3), w(2000))
    t.set_price(t.ETH, 2100)
    # bob buys 1 @ 2,100 as taker: r = ceil(-6,000 / 3) = -2,000, pnl = -2,100 - (-2,000) = -100,
    # margin after 1,100, floor(1,100 / 3) = 366.666666... back to free.
    buy_from(t, bob, dave, w(1), w(2100), maker_buys=False)
    released = calc.u(1100) // 3
    assert pos(t, t.ETH, bob) == (-w(2), -calc.u(4000), calc.u(1100) - released)
    assert t.free(bob) == funded - calc.u(1200) - calc.u(3) + released - calc.u("1.05")


# ------------------------------------------------------------------------------------------------ close


def test_full_close_at_a_loss_returns_margin_minus_loss(t, calc, funded, alice, bob, carol):
    buy_from(t, alice, bob, w(1), w(2000))  # margin 400, maker fee 0.4
    t.set_price(t.ETH, 1900)
    sell_to(t, alice, carol, w(1), w(1900), maker_sells=False)  # taker fee ceil(1900 * 5 / 1e4) = 0.95
    assert pos(t, t.ETH, alice) == (0, 0, 0)
    # pnl = 1,900 - 2,000 = -100: 300 of the 400 margin comes back.
    assert t.free(alice) == funded - calc.u(400) - calc.u("0.4") + calc.u(300) - calc.u("0.95")


def test_full_close_at_a_profit_returns_margin_plus_profit(t, calc, funded, alice, bob, carol):
    buy_from(t, alice, bob, w(1), w(2000))
    t.set_price(t.ETH, 2100)
    sell_to(t, alice, carol, w(1), w(2100))  # maker fee 0.42
    assert pos(t, t.ETH, alice) == (0, 0, 0)
    assert t.free(alice) == funded - calc.u(400) - calc.u("0.4") + calc.u(500) - calc.u("0.42")


def test_full_close_of_a_short_at_a_profit(t, calc, funded, bob, carol, dave):
    sell_to(t, bob, carol, w(2), w(2000))  # short 2: openNotional -4,000, margin 800, maker fee 0.8
    t.set_price(t.ETH, 1950)
    buy_from(t, bob, dave, w(2), w(1950))  # pnl = -3,900 + 4,000 = +100, maker fee 0.78
    assert pos(t, t.ETH, bob) == (0, 0, 0)
    assert t.free(bob) == funded - calc.u(800) - calc.u("0.8") + calc.u(900) - calc.u("0.78")


def test_full_close_removes_the_account_from_its_side_list(t, alice, bob, carol):
    buy_from(t, alice, bob, w(1), w(2000))
    buy_from(t, carol, bob, w(1), w(2000))
    sell_to(t, alice, bob, w(1), w(2000))  # alice closes; bob reduces to short 1
    assert list(t.side_accounts(t.ETH, True)) == [carol.address]
    assert list(t.side_accounts(t.ETH, False)) == [bob.address]
    zero = "0x0000000000000000000000000000000000000000"
    # storage cleared, openSeq and the ADL queue fields included
    assert tuple(t.perp.getPosition(t.ETH, alice)) == (0, 0, 0, 0, 0, False, 0, zero, 0, 0, zero)


def test_full_close_exactly_at_the_bankruptcy_price_leaves_zero_margin(t, calc, funded, alice, bob, carol):
    # Long 1 @ 2,000 at 20x: margin 100, bankruptcy price 1,900 = the lower band edge at mark 2,000.
    buy_from(t, alice, bob, w(1), w(2000), buyer_lev=X(20))
    sell_to(t, alice, carol, w(1), w(1900))  # pnl -100 = -margin: allowed, nothing comes back
    assert pos(t, t.ETH, alice) == (0, 0, 0)
    assert t.free(alice) == funded - calc.u(100) - calc.u("0.4") - calc.u("0.38")


# ------------------------------------------------------------------------------------------------ flip


def test_flip_closes_the_long_and_opens_the_rest_short_at_the_orders_leverage(t, calc, funded, alice, bob, carol):
    buy_from(t, alice, bob, w(1), w(2000))  # long 1: openNotional 2,000, margin 400 (5x), maker fee 0.4
    t.set_price(t.ETH, 2100)
    # alice sells 2.5 at 10x (maker), at a price whose notional splits unevenly in both decimals:
    # n = floor(2.5 * p); the closing 1 gets floor(n * 1 / 2.5) and the opening 1.5 gets the rest.
    p = w("2100.000000400000000001")
    tx = sell_to(t, alice, carol, w("2.5"), p, seller_lev=X(10))
    n = calc.notional(w("2.5"), p)
    close_n = n * w(1) // w("2.5")
    assert close_n * 5 != n * 2  # the split is rounded (down for the closing part)
    pnl = close_n - calc.u(2000)
    open_n = n - close_n
    open_margin = calc.margin(open_n, X(10))
    assert pos(t, t.ETH, alice) == (-w("1.5"), -open_n, open_margin)
    fees = calc.fee(calc.u(2000), MAKER_BPS) + calc.fee(n, MAKER_BPS)
    assert t.free(alice) == funded - calc.u(400) + (calc.u(400) + pnl) - open_margin - fees
    assert (tx.events["Trade"]["buyerNotional"], tx.events["Trade"]["sellerNotional"]) == (calc.notional_up(w("2.5"), p), n)


def test_flip_literal_numbers(t, calc, funded, alice, bob, carol):
    # The same flip at exactly 2,100: close 1 for 2,100 (pnl +100, 500 back), open short 2 for 4,200 at 10x (420).
    buy_from(t, alice, bob, w(1), w(2000))
    t.set_price(t.ETH, 2100)
    sell_to(t, alice, carol, w(3), w(2100), seller_lev=X(10))
    assert pos(t, t.ETH, alice) == (-w(2), -calc.u(4200), calc.u(420))
    assert t.free(alice) == funded - calc.u(400) - calc.u("0.4") + calc.u(500) - calc.u(420) - calc.u("1.26")


def test_flip_moves_the_account_to_the_other_side_list(t, alice, bob, carol):
    buy_from(t, alice, bob, w(1), w(2000))
    sell_to(t, alice, carol, w(3), w(2000))
    assert alice.address not in t.side_accounts(t.ETH, True)
    assert alice.address in t.side_accounts(t.ETH, False)


def test_flip_of_a_short_to_a_long(t, calc, funded, bob, carol, dave):
    sell_to(t, bob, carol, w(2), w(2000))  # short 2: -4,000, margin 800, maker fee 0.8
    t.set_price(t.ETH, 1900)
    # bob buys 3 @ 1,900 at 4x (taker): close 2 for 3,800 (pnl +200, 1,000 back), open long 1 for 1,900 (475).
    buy_from(t, bob, dave, w(3), w(1900), buyer_lev=X(4), maker_buys=False)
    assert pos(t, t.ETH, bob) == (w(1), calc.u(1900), calc.u(475))
    fee = calc.fee(calc.u(5700), TAKER_BPS)  # 2.85
    assert fee == calc.u("2.85")
    assert t.free(bob) == funded - calc.u(800) - calc.u("0.8") + calc.u(1000) - calc.u(475) - fee


# ------------------------------------------------------------------------------------------------ partial fills


def test_one_order_filled_across_two_matches(t, calc, funded, alice, bob, carol):
    # alice's buy of 3 at 3x: 1 from bob, then 2 from carol. Margin is posted per fill, each rounded up.
    order = t.order(alice, t.ETH, True, w(3), w(2000), leverage=X(3), is_maker=True)
    h = order_hash(t, order)
    s1 = t.order(bob, t.ETH, False, w(1), w(2000))
    t.perp.settle(t.match(order, s1, fill_size=w(1)), {"from": t.keeper})
    assert t.perp.filledAmount(h) == w(1)
    assert pos(t, t.ETH, alice) == (w(1), calc.u(2000), calc.margin(calc.u(2000), X(3)))

    s2 = t.order(carol, t.ETH, False, w(2), w(2000))
    t.perp.settle(t.match(order, s2, fill_size=w(2)), {"from": t.keeper})
    assert t.perp.filledAmount(h) == w(3)
    m = calc.margin(calc.u(2000), X(3)) + calc.margin(calc.u(4000), X(3))
    # 666.666667 + 1,333.333334 = 2,000.000001 with 6 decimals (each fill rounds up); 2,000 - 1 wei... with 18
    assert m == (calc.u("2000.000001") if t.decimals == 6 else calc.u(2000) + 1)
    assert pos(t, t.ETH, alice) == (w(3), calc.u(6000), m)
    assert t.free(alice) == funded - m - calc.u("0.4") - calc.u("0.8")


def test_partial_fill_leaves_the_rest_of_the_order_fillable(t, alice, bob, carol):
    order = t.order(alice, t.ETH, True, w(3), w(2000), is_maker=True)
    t.perp.settle(t.match(order, t.order(bob, t.ETH, False, w(1), w(2000)), fill_size=w(1)), {"from": t.keeper})
    remaining = order.size - t.perp.filledAmount(order_hash(t, order))
    assert remaining == w(2)
    t.perp.settle(t.match(order, t.order(carol, t.ETH, False, w(5), w(2000)), fill_size=remaining), {"from": t.keeper})
    assert t.perp.filledAmount(order_hash(t, order)) == w(3)
    assert pos(t, t.ETH, carol)[0] == -w(2)


def test_one_taker_order_filled_by_two_makers(t, calc, alice, bob, carol):
    taker = t.order(carol, t.ETH, False, w(2), w(1990))
    t.perp.settle(t.match(t.order(alice, t.ETH, True, w(1), w(2000)), taker, fill_size=w(1)), {"from": t.keeper})
    t.perp.settle(t.match(t.order(bob, t.ETH, True, w(1), w(1995)), taker, fill_size=w(1)), {"from": t.keeper})
    assert t.perp.filledAmount(order_hash(t, taker)) == w(2)
    assert pos(t, t.ETH, carol) == (-w(2), -calc.u(3995), calc.u(400) + calc.u(399))


# ------------------------------------------------------------------------------------------------ reduce-only


def test_reduce_only_order_that_would_increase_reverts(t, alice, bob, carol):
    buy_from(t, alice, bob, w(1), w(2000))
    buy = t.order(alice, t.ETH, True, w(1), w(2000), reduce_only=True, is_maker=True)
    sell = t.order(carol, t.ETH, False, w(1), w(2000))
    with brownie.reverts(err("ReduceOnlyViolated", order_hash(t, buy), w(1), w(2))):
        t.perp.settle(t.match(buy, sell), {"from": t.keeper})
    assert pos(t, t.ETH, alice)[0] == w(1)
    assert t.perp.filledAmount(order_hash(t, buy)) == 0


def test_reduce_only_order_without_a_position_reverts(t, alice, carol):
    sell = t.order(alice, t.ETH, False, w(1), w(2000), reduce_only=True)
    buy = t.order(carol, t.ETH, True, w(1), w(2000))
    with brownie.reverts(err("ReduceOnlyViolated", order_hash(t, sell), 0, -w(1))):
        t.perp.settle(t.match(buy, sell), {"from": t.keeper})


def test_reduce_only_order_that_would_flip_reverts(t, alice, bob, carol):
    buy_from(t, alice, bob, w(1), w(2000))
    sell = t.order(alice, t.ETH, False, w(2), w(2000), reduce_only=True, is_maker=True)
    buy = t.order(carol, t.ETH, True, w(2), w(2000))
    with brownie.reverts(err("ReduceOnlyViolated", order_hash(t, sell), w(1), -w(1))):
        t.perp.settle(t.match(sell, buy), {"from": t.keeper})
    assert pos(t, t.ETH, alice)[0] == w(1)


def test_reduce_only_order_that_reduces_succeeds(t, calc, funded, alice, bob, carol):
    buy_from(t, alice, bob, w(2), w(2000))  # long 2: 4,000, margin 800
    sell_to(t, alice, carol, w(1), w(2000), reduce_only=True)
    assert pos(t, t.ETH, alice) == (w(1), calc.u(2000), calc.u(400))
    assert t.free(alice) == funded - calc.u(800) - calc.u("0.8") + calc.u(400) - calc.u("0.4")


def test_reduce_only_order_that_closes_exactly_succeeds(t, alice, bob, carol):
    buy_from(t, alice, bob, w(2), w(2000))
    sell_to(t, alice, carol, w(2), w(2000), reduce_only=True)
    assert pos(t, t.ETH, alice) == (0, 0, 0)


def test_reduce_only_short_buying_back_succeeds(t, calc, bob, carol, dave):
    sell_to(t, bob, carol, w(2), w(2000))
    buy_from(t, bob, dave, w("0.5"), w(2000), reduce_only=True)
    assert pos(t, t.ETH, bob) == (-w("1.5"), -calc.u(3000), calc.u(600))
