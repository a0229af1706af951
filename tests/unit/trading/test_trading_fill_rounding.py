"""Finding 2 of the adversarial review (issue 10): piecewise fills must not drain a resting order.

The landed contract rounded one fill notional down and used it for both sides, so a submitter who cut a resting
order into many small fills at a price whose notional is not a whole unit moved up to one unit per piece from the
order's signer to himself. Now the buyer pays the notional rounded up and the seller receives it rounded down (the
unit between goes to the market's insurance fund), no order is filled in pieces below the market's `minFillSize`
(but its last), and the maker/taker role is part of the signed order. Numbers by hand, with 6 and 18 decimals."""
import dataclasses

import brownie

from support import err
from trading_calc import MAKER_BPS, TAKER_BPS, X, fund_cash, order_hash, pos, raw_match, unchanged, w

MIN_FILL = w("0.001")  # perp/params.py default_params
# One wei above 2,000: a fill of 0.001 ETH is then 2 tokens and 0.001 wei of a token, not a whole unit with either
# collateral (18 decimals: 2.000000000000000000|001; 6 decimals: 2.000000|000000000000001).
ODD_PRICE = w(2000) + 1


def test_the_reference_market_has_a_minimum_fill(t):
    assert t.dep.markets["ETH-PERP"]["params"].min_fill_size == MIN_FILL
    assert t.perp.marketInfo(t.ETH)[2][-1] == MIN_FILL


def test_buyer_pays_the_notional_rounded_up_the_seller_receives_it_rounded_down(t, calc, funded, alice, bob):
    q = w("0.007")  # 14 tokens, above the minimum position
    up, down = calc.notional_up(q, ODD_PRICE), calc.notional(q, ODD_PRICE)
    assert (up, down) == (calc.u(14) + 1, calc.u(14))
    cash = fund_cash(t, t.ETH)
    buy = t.order(alice, t.ETH, True, q, ODD_PRICE, is_maker=True)
    sell = t.order(bob, t.ETH, False, q, ODD_PRICE)
    tx = t.perp.settle(t.match(buy, sell), {"from": t.keeper})
    maker_fee, taker_fee = calc.fee(up, MAKER_BPS), calc.fee(down, TAKER_BPS)
    ev = tx.events["Trade"]
    assert (ev["buyerNotional"], ev["sellerNotional"], ev["buyerFee"], ev["sellerFee"]) == (up, down, maker_fee, taker_fee)
    assert pos(t, t.ETH, alice) == (q, up, calc.margin(up, X(5)))
    assert pos(t, t.ETH, bob) == (-q, -down, calc.margin(down, X(5)))
    assert fund_cash(t, t.ETH) == cash + maker_fee + taker_fee + 1  # the rounding unit is the fund's


def test_a_resting_order_cut_into_minimum_pieces_loses_its_rounding_to_the_fund_not_to_the_cutter(
        t, calc, alice, bob, carol):
    # bob rests a reduce-only sell of 0.01 ETH (of his long of 1); carol, who submits the matches, adds to her own
    # long in ten pieces of the minimum fill at a price whose piece notional is not a whole unit.
    t.trade(bob, alice, t.ETH, w(1), w(2000))
    t.trade(carol, alice, t.ETH, w(1), w(2000), buyer_leverage=X(1))
    rest = t.order(bob, t.ETH, False, w("0.01"), w(2000), reduce_only=True, is_maker=True)
    sig = t.sign(rest)
    up, down = calc.notional_up(MIN_FILL, ODD_PRICE), calc.notional(MIN_FILL, ODD_PRICE)
    assert (up, down) == (calc.u(2) + 1, calc.u(2))
    cash = fund_cash(t, t.ETH)
    bob_basis, carol_before, carol_free = pos(t, t.ETH, bob)[1], pos(t, t.ETH, carol), t.free(carol)
    for _ in range(10):
        piece = t.order(carol, t.ETH, True, MIN_FILL, ODD_PRICE, leverage=X(1))
        t.perp.settle(t.match(rest, piece, maker_sig=sig, fill_size=MIN_FILL, fill_price=ODD_PRICE),
                      {"from": carol})
    # carol paid 10 * up for her 0.01 ETH, bob's long gave up its cost for 10 * down: one unit a piece to the fund
    assert pos(t, t.ETH, carol) == (carol_before[0] + w("0.01"), carol_before[1] + 10 * up,
                                    carol_before[2] + 10 * calc.margin(up, X(1)))
    assert t.perp.filledAmount(order_hash(t, rest)) == w("0.01")
    fees = 10 * (calc.fee(down, MAKER_BPS) + calc.fee(up, TAKER_BPS))
    assert fund_cash(t, t.ETH) == cash + fees + 10
    assert t.free(carol) == carol_free - 10 * calc.margin(up, X(1)) - 10 * calc.fee(up, TAKER_BPS)
    assert pos(t, t.ETH, bob)[1] == bob_basis - calc.released_cost(bob_basis, w("0.01"), w(1))


def test_a_piece_below_the_minimum_fill_is_refused_unless_it_completes_the_order(t, calc, alice, bob, carol):
    # bob (long 1) rests a sell of 0.0015; carol (long 1) and alice (short 2) buy pieces of it
    t.trade(bob, alice, t.ETH, w(1), w(2000))
    t.trade(carol, alice, t.ETH, w(1), w(2000))
    rest = t.order(bob, t.ETH, False, w("0.0015"), w(2000), is_maker=True)
    sig = t.sign(rest)
    dust = MIN_FILL - 1
    piece = t.order(carol, t.ETH, True, dust, w(2000))
    # the maker's order is checked first: its piece is below the minimum and leaves it open
    with unchanged(t, [bob, carol], [order_hash(t, rest)]):
        with brownie.reverts(err("FillBelowMinimum", order_hash(t, rest), dust, MIN_FILL)):
            t.perp.settle(t.match(rest, piece, maker_sig=sig, fill_size=dust), {"from": carol})
    # a minimum piece, then the rest (0.0005, below the minimum) completes the order and goes through
    t.perp.settle(t.match(rest, t.order(carol, t.ETH, True, MIN_FILL, w(2000)), maker_sig=sig), {"from": carol})
    last = t.order(alice, t.ETH, True, w("0.0005"), w(2000))
    t.perp.settle(t.match(rest, last, maker_sig=sig), {"from": carol})
    assert t.perp.filledAmount(order_hash(t, rest)) == w("0.0015")
    assert pos(t, t.ETH, bob)[0] == w(1) - w("0.0015")


def test_a_dust_taker_order_cannot_cut_a_resting_order_either(t, alice, bob):
    # the taker's own order is complete after the piece, the maker's is not: the maker's check refuses it
    rest = t.order(bob, t.ETH, False, w(1), w(2000), is_maker=True)
    sig = t.sign(rest)
    dust = t.order(alice, t.ETH, True, w("0.0001"), w(2000))
    with brownie.reverts(err("FillBelowMinimum", order_hash(t, rest), w("0.0001"), MIN_FILL)):
        t.perp.settle(t.match(rest, dust, maker_sig=sig), {"from": alice})


def roles(env, buyer, seller, buy_is_maker, sell_is_maker):
    buy = env.order(buyer, env.ETH, True, w(1), w(2000), is_maker=buy_is_maker)
    sell = env.order(seller, env.ETH, False, w(1), w(2000), is_maker=sell_is_maker)
    return buy, sell


def test_an_order_signed_as_a_taker_cannot_be_settled_as_the_maker(t, alice, bob):
    buy, sell = roles(t, alice, bob, False, False)
    m = raw_match(buy, t.sign(buy), sell, t.sign(sell), w(1), w(2000))  # the Python client refuses it itself
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("OrderRoleMismatch", order_hash(t, buy), False)):
            t.perp.settle(m, {"from": t.keeper})


def test_a_resting_order_cannot_be_charged_the_taker_fee(t, calc, alice, bob):
    # alice's resting bid is signed as a maker: the submitter cannot put it in the taker's place
    buy, sell = roles(t, alice, bob, True, True)
    m = raw_match(sell, t.sign(sell), buy, t.sign(buy), w(1), w(2000))
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("OrderRoleMismatch", order_hash(t, buy), True)):
            t.perp.settle(m, {"from": t.keeper})
    # in its own role it pays the maker fee
    buy, sell = roles(t, alice, bob, True, False)
    tx = t.perp.settle(raw_match(buy, t.sign(buy), sell, t.sign(sell), w(1), w(2000)), {"from": bob})
    n = calc.u(2000)
    assert (tx.events["Trade"]["buyerFee"], tx.events["Trade"]["sellerFee"]) == (
        calc.fee(n, MAKER_BPS), calc.fee(n, TAKER_BPS))


def test_the_role_is_part_of_the_signed_order(t, alice):
    as_taker = t.order(alice, t.ETH, True, w(1), w(2000), nonce=77)
    as_maker = dataclasses.replace(as_taker, is_maker=True)
    assert t.perp.hashOrder(as_taker.as_tuple()) != t.perp.hashOrder(as_maker.as_tuple())
