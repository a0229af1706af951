"""`settleBatch`: several matched pairs in one transaction, applied in order, all or nothing.

The five pairs (all 5x, mark 2,000, every price inside the band), computed by hand:

1. alice (maker) buys 1 @ 2,000 from bob.        n = 2,000
   alice +1, on 2,000, m 400, fee 0.4          | bob -1, on -2,000, m 400, fee 1
2. dave (maker) sells 2 @ 2,010 to carol.        n = 4,020
   dave -2, on -4,020, m 804, fee 0.804        | carol +2, on 4,020, m 804, fee 2.01
3. erin (maker) buys 0.5 @ 1,990 from alice.     n = 995
   erin +0.5, on 995, m 199, fee 0.199
   alice reduces 0.5 of 1: r = 1,000, pnl -5, margin 395, 197.5 released -> +0.5, on 1,000, m 197.5, fee 0.4975
4. bob (maker) buys 1 @ 2,000 from carol.        n = 2,000
   bob closes: r = -2,000, pnl 0, 400 released -> flat, fee 0.4
   carol reduces 1 of 2: r = 2,010, pnl -10, margin 794, 397 released -> +1, on 2,010, m 397, fee 1
5. dave (maker) buys 3 @ 2,005 from erin.        n = 6,015
   dave flips: closes 2 for floor(6,015 * 2 / 3) = 4,010, r = -4,020, pnl +10, 814 released;
               opens +1 for 2,005 at 5x -> +1, on 2,005, m 401, fee 1.203
   erin flips: closes 0.5 for 1,002.5, r = 995, pnl +7.5, 206.5 released;
               opens -2.5 for 5,012.5 at 5x -> -2.5, on -5,012.5, m 1,002.5, fee 3.0075
"""
import brownie

from support import err
from trading_calc import order_hash, pos, unchanged, w


def five_pairs(env, alice, bob, carol, dave, erin):
    """[(maker, taker)] of the five pairs in the module docstring."""
    o = env.order
    E = env.ETH
    return [
        (o(alice, E, True, w(1), w(2000), is_maker=True), o(bob, E, False, w(1), w(2000))),
        (o(dave, E, False, w(2), w(2010), is_maker=True), o(carol, E, True, w(2), w(2010))),
        (o(erin, E, True, w("0.5"), w(1990), is_maker=True), o(alice, E, False, w("0.5"), w(1990))),
        (o(bob, E, True, w(1), w(2000), is_maker=True), o(carol, E, False, w(1), w(2000))),
        (o(dave, E, True, w(3), w(2005), is_maker=True), o(erin, E, False, w(3), w(2005))),
    ]


def test_batch_of_five_pairs_gives_the_hand_computed_positions(t, calc, alice, bob, carol, dave, erin):
    pairs = five_pairs(t, alice, bob, carol, dave, erin)
    t.perp.settleBatch([t.match(m, k) for m, k in pairs], {"from": t.keeper})
    u = calc.u
    assert pos(t, t.ETH, alice) == (w("0.5"), u(1000), u("197.5"))
    assert pos(t, t.ETH, bob) == (0, 0, 0)
    assert pos(t, t.ETH, carol) == (w(1), u(2010), u(397))
    assert pos(t, t.ETH, dave) == (w(1), u(2005), u(401))
    assert pos(t, t.ETH, erin) == (-w("2.5"), -u("5012.5"), u("1002.5"))


def test_batch_of_five_pairs_gives_the_hand_computed_free_collateral(t, calc, funded, alice, bob, carol, dave, erin):
    pairs = five_pairs(t, alice, bob, carol, dave, erin)
    t.perp.settleBatch([t.match(m, k) for m, k in pairs], {"from": t.keeper})
    u = calc.u
    assert t.free(alice) == funded - u(400) - u("0.4") + u("197.5") - u("0.4975")
    assert t.free(bob) == funded - u(400) - u(1) + u(400) - u("0.4")
    assert t.free(carol) == funded - u(804) - u("2.01") + u(397) - u(1)
    assert t.free(dave) == funded - u(804) - u("0.804") + u(814) - u(401) - u("1.203")
    assert t.free(erin) == funded - u(199) - u("0.199") + u("206.5") - u("1002.5") - u("3.0075")


def test_batch_of_five_pairs_pays_every_fee_to_the_fund(t, calc, alice, bob, carol, dave, erin):
    cash_before = t.perp.fundAccount(t.ETH)[0]
    pairs = five_pairs(t, alice, bob, carol, dave, erin)
    t.perp.settleBatch([t.match(m, k) for m, k in pairs], {"from": t.keeper})
    # 0.4 + 1 + 0.804 + 2.01 + 0.199 + 0.4975 + 0.4 + 1 + 1.203 + 3.0075
    assert t.perp.fundAccount(t.ETH)[0] == cash_before + calc.u("10.521")


def test_batch_emits_one_trade_per_pair_in_order(t, calc, alice, bob, carol, dave, erin):
    pairs = five_pairs(t, alice, bob, carol, dave, erin)
    tx = t.perp.settleBatch([t.match(m, k) for m, k in pairs], {"from": t.keeper})
    trades = [(e["buyer"], e["seller"], e["size"], e["price"], e["buyerNotional"]) for e in tx.events["Trade"]]
    u = calc.u
    assert trades == [
        (alice.address, bob.address, w(1), w(2000), u(2000)),
        (carol.address, dave.address, w(2), w(2010), u(4020)),
        (erin.address, alice.address, w("0.5"), w(1990), u(995)),
        (bob.address, carol.address, w(1), w(2000), u(2000)),
        (dave.address, erin.address, w(3), w(2005), u(6015)),
    ]
    assert len(tx.events["PositionUpdated"]) == 10


def test_batch_records_every_order_as_filled(t, alice, bob, carol, dave, erin):
    pairs = five_pairs(t, alice, bob, carol, dave, erin)
    t.perp.settleBatch([t.match(m, k) for m, k in pairs], {"from": t.keeper})
    for maker, taker in pairs:
        assert t.perp.filledAmount(order_hash(t, maker)) == maker.size
        assert t.perp.filledAmount(order_hash(t, taker)) == taker.size


def test_one_order_filled_by_two_pairs_of_the_same_batch(t, calc, alice, bob, carol):
    buy = t.order(alice, t.ETH, True, w(3), w(2000), is_maker=True)
    s1, s2 = t.order(bob, t.ETH, False, w(1), w(2000)), t.order(carol, t.ETH, False, w(2), w(2000))
    t.perp.settleBatch([t.match(buy, s1, fill_size=w(1)), t.match(buy, s2, fill_size=w(2))], {"from": t.keeper})
    assert t.perp.filledAmount(order_hash(t, buy)) == w(3)
    assert pos(t, t.ETH, alice) == (w(3), calc.u(6000), calc.u(1200))


def test_batch_whose_third_pair_is_bad_reverts_with_that_pairs_error(t, alice, bob, carol, dave, erin):
    pairs = five_pairs(t, alice, bob, carol, dave, erin)
    matches = [t.match(m, k) for m, k in pairs]
    maker3, taker3 = pairs[2]
    matches[2] = t.match(maker3, taker3, fill_price=w(1989))  # within erin's buy limit, below alice's sell limit
    hashes = [order_hash(t, o) for pair in pairs for o in pair]
    with unchanged(t, [alice, bob, carol, dave, erin], hashes):
        with brownie.reverts(err("PriceOutsideLimit", order_hash(t, taker3), w(1989), w(1990))):
            t.perp.settleBatch(matches, {"from": t.keeper})


def test_batch_whose_third_pair_has_a_forged_signature_changes_nothing(t, alice, bob, carol, dave, erin):
    pairs = five_pairs(t, alice, bob, carol, dave, erin)
    matches = [t.match(m, k) for m, k in pairs]
    maker3, taker3 = pairs[2]
    matches[2] = t.match(maker3, taker3, maker_sig=t.sign(maker3, signer=dave))
    hashes = [order_hash(t, o) for pair in pairs for o in pair]
    with unchanged(t, [alice, bob, carol, dave, erin], hashes):
        with brownie.reverts(err("InvalidSignature", erin, dave)):
            t.perp.settleBatch(matches, {"from": t.keeper})


def test_batch_that_overfills_an_order_in_its_last_pair_changes_nothing(t, alice, bob, carol, dave):
    buy = t.order(alice, t.ETH, True, w(2), w(2000), is_maker=True)
    sells = [t.order(a, t.ETH, False, w(1), w(2000)) for a in (bob, carol, dave)]
    matches = [t.match(buy, s, fill_size=w(1)) for s in sells]
    with unchanged(t, [alice, bob, carol, dave], [order_hash(t, buy)] + [order_hash(t, s) for s in sells]):
        with brownie.reverts(err("OrderOverfilled", order_hash(t, buy), w(2), w(1), w(2))):
            t.perp.settleBatch(matches, {"from": t.keeper})


def test_empty_batch_changes_nothing(t, alice):
    with unchanged(t, [alice]):
        tx = t.perp.settleBatch([], {"from": t.keeper})
    assert tx.status == 1
    assert "Trade" not in tx.events
