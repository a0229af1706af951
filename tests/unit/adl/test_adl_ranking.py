"""Type 1 ADL ranking: Score = PnL% x effective leverage = u / (margin + u), highest first; losing and breakeven
positions and the bankrupt position's own side are never touched; the lens queue shows the same order.

The book (empty fund, 6 decimals), built at three marks:
    at 2,000  alice long 1 (20x, margin 100)   bob long 2 (10x, margin 400)   carol long 1 (4x, margin 500)
              dave short 3.5 (20x, margin 350) against them, deployer short 0.5 (2x, margin 500) against carol
    at 2,300  frank long 1 (5x, margin 460) against outsider short 1 (5x, margin 460)
    at 2,200  erin long 1 (5x, margin 440) against grace short 1 (5x, margin 440)
Mark 2,200: dave's equity is 350 - 700 = -350; his bankruptcy notional is 350 + 7,000 = 7,350, i.e. 2,100 a unit.
"""
import pytest

from risk_calc import (
    ADL_TYPE_BANKRUPT,
    REFUSE_NEGATIVE_EQUITY,
    assert_stale_epoch,
    event_names,
    events_named,
    fund_raw,
    lights,
    new_bystander,
    position,
    queue,
    score,
    w,
)

U = 10**6
FEES = (
    (400_000 + 1_000_000)  # alice/dave 2,000
    + (800_000 + 2_000_000)  # bob/dave 4,000
    + (200_000 + 500_000) * 2  # carol/dave and carol/deployer 1,000 each
    + (460_000 + 1_150_000)  # frank/outsider 2,300
    + (440_000 + 1_100_000)  # erin/grace 2,200
)


@pytest.fixture(scope="module")
def book(env0, deployer, alice, bob, carol, dave, erin, frank, grace, outsider):
    env = env0
    for a in (alice, bob, carol, dave, erin, frank, grace, outsider, deployer):
        env.fund(a, 2000 * U)
    env.trade(alice, dave, env.ETH, w(1), w(2000), buyer_leverage=w(20), seller_leverage=w(20))
    env.trade(bob, dave, env.ETH, w(2), w(2000), buyer_leverage=w(10), seller_leverage=w(20))
    env.trade(carol, dave, env.ETH, w("0.5"), w(2000), buyer_leverage=w(4), seller_leverage=w(20))
    env.trade(carol, deployer, env.ETH, w("0.5"), w(2000), buyer_leverage=w(4), seller_leverage=w(2))
    env.set_price(env.ETH, 2300)
    env.trade(frank, outsider, env.ETH, w(1), w(2300), buyer_leverage=w(5), seller_leverage=w(5))
    env.set_price(env.ETH, 2200)
    env.trade(erin, grace, env.ETH, w(1), w(2200), buyer_leverage=w(5), seller_leverage=w(5))
    env.bystander = new_bystander(env, 321 * U)
    return env


@pytest.fixture
def bk(book):
    """The book; the audit runs after the test (dave is bankrupt until a keeper liquidates him)."""
    yield book
    book.check()


def hand_scores():
    """At mark 2,200: u = floor(|s| * 2200) - openNotional for the longs."""
    return {
        "alice": score(2200 * U - 2000 * U, 100 * U),  # 200 / 300
        "bob": score(4400 * U - 4000 * U, 400 * U),  # 400 / 800
        "carol": score(2200 * U - 2000 * U, 500 * U),  # 200 / 700
    }


def test_book_is_as_built(bk, deployer, alice, bob, carol, dave, erin, frank, grace, outsider):
    env = bk
    assert position(env, env.ETH, alice) == (w(1), 2000 * U, 100 * U)
    assert position(env, env.ETH, bob) == (w(2), 4000 * U, 400 * U)
    assert position(env, env.ETH, carol) == (w(1), 2000 * U, 500 * U)
    assert position(env, env.ETH, dave) == (-w("3.5"), -7000 * U, 350 * U)
    assert position(env, env.ETH, deployer) == (-w("0.5"), -1000 * U, 500 * U)
    assert position(env, env.ETH, frank) == (w(1), 2300 * U, 460 * U)
    assert position(env, env.ETH, outsider) == (-w(1), -2300 * U, 460 * U)
    assert position(env, env.ETH, erin) == (w(1), 2200 * U, 440 * U)
    assert position(env, env.ETH, grace) == (-w(1), -2200 * U, 440 * U)
    assert fund_raw(env, env.ETH) == (FEES, 0, 0) and FEES == 8_750_000
    assert env.position(env.ETH, dave)["equity"] == -350 * U


def test_queue_indicator_before_adl(bk, deployer, alice, bob, carol, dave, erin, frank, grace, outsider):
    env = bk
    s = hand_scores()
    # longs: three eligible, ranked alice (0.667) > bob (0.5) > carol (0.286); erin at breakeven, frank losing
    assert queue(env, env.ETH, alice) == (s["alice"], 1, 3, lights(1, 3))
    assert queue(env, env.ETH, bob) == (s["bob"], 2, 3, lights(2, 3))
    assert queue(env, env.ETH, carol) == (s["carol"], 3, 3, lights(3, 3))
    assert (lights(1, 3), lights(2, 3), lights(3, 3)) == (5, 4, 2)
    assert queue(env, env.ETH, erin) == (0, 0, 3, 0)
    assert queue(env, env.ETH, frank) == (0, 0, 3, 0)
    # shorts: only outsider (entry 2,300, u = 2300 - 2200 = 100 on margin 460) is eligible
    assert queue(env, env.ETH, outsider) == (score(100 * U, 460 * U), 1, 1, 5)
    for short in (dave, deployer, grace):
        assert queue(env, env.ETH, short) == (0, 0, 1, 0)
    assert queue(env, env.ETH, env.bystander) == (0, 0, 0, 0)


def test_type1_cuts_counterparties_in_score_order_at_bankruptcy_price(
    bk, deployer, alice, bob, carol, dave, erin, frank, grace, outsider, keeper
):
    env = bk
    s = hand_scores()
    free = {a: env.free(a) for a in (alice, bob, carol, dave, erin, frank, grace, outsider, deployer, keeper)}
    untouched = {a: position(env, env.ETH, a) for a in (erin, frank, grace, outsider, deployer)}
    epochs = {a: env.perp.orderEpoch(a) for a in (alice, bob, carol, dave, erin, frank, grace, outsider, deployer)}
    stale_orders = {a: env.order(a, env.ETH, False, w("0.1"), w(2200)) for a in (alice, bob, carol)}
    bystander_free = env.free(env.bystander)

    tx = env.perp.liquidate(env.ETH, dave, {"from": keeper})

    assert tx.events["FundRefused"]["reason"] == REFUSE_NEGATIVE_EQUITY
    liq = tx.events["Liquidated"]
    # dave is bankrupt: his keeper is paid by the fund, 0.5% of the notional bounded by its cash (the fees, 8.75)
    assert (liq["equity"], liq["keeperReward"], liq["bankruptcyPrice"]) == (-350 * U, FEES, w(2100))
    # |S| = 3.5, nb = 7,350; longs sell, paid floor(nb * q / |S|)
    nb, S = 7350 * U, w("3.5")
    fills = events_named(tx, "AdlFill")
    assert [dict(f) for f in fills] == [
        {"marketId": env.ETH, "account": alice, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": -w(1), "price": w(2100),
         "notional": nb * w(1) // S, "score": s["alice"], "rank": 1},
        {"marketId": env.ETH, "account": bob, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": -w(2), "price": w(2100),
         "notional": nb * w(2) // S, "score": s["bob"], "rank": 2},
        {"marketId": env.ETH, "account": carol, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": -w("0.5"), "price": w(2100),
         "notional": nb * w("0.5") // S, "score": s["carol"], "rank": 3},
    ]
    assert [f["notional"] for f in fills] == [2100 * U, 4200 * U, 1050 * U]
    assert "AdlRemainderToFund" not in tx.events
    assert event_names(tx)[-2:] == ["PositionUpdated", "FundUpdated"]

    # alice: +100 realized on margin 100, all 200 released; bob: +200 on 400, 600 released
    assert position(env, env.ETH, alice) == (0, 0, 0) and env.free(alice) == free[alice] + 200 * U
    assert position(env, env.ETH, bob) == (0, 0, 0) and env.free(bob) == free[bob] + 600 * U
    # carol: half closed; released basis ceil(2000 * 0.5) = 1000, pnl 1050 - 1000 = 50, margin 550, half freed
    assert position(env, env.ETH, carol) == (w("0.5"), 1000 * U, 275 * U)
    assert env.free(carol) == free[carol] + 275 * U
    # dave: closed at zero margin, free collateral untouched
    assert position(env, env.ETH, dave) == (0, 0, 0) and env.free(dave) == free[dave]
    # same side (outsider in profit), breakeven and losing positions untouched
    for a, p in untouched.items():
        assert position(env, env.ETH, a) == p and env.free(a) == free[a]
    # the fund pieces add up exactly: no dust, nothing inherited; its cash paid the keeper
    assert fund_raw(env, env.ETH) == (0, 0, 0)
    assert env.free(keeper) == free[keeper] + FEES
    assert env.free(env.bystander) == bystander_free
    # order epochs: bumped for the liquidated account (first) and the deleveraged, nobody else
    for a in (dave, alice, bob, carol):
        assert env.perp.orderEpoch(a) == epochs[a] + 1
    for a in (erin, frank, grace, outsider, deployer):
        assert env.perp.orderEpoch(a) == epochs[a]
    assert [dict(e) for e in events_named(tx, "OrderEpochBumped")] == [
        {"account": a, "newEpoch": epochs[a] + 1} for a in (dave, alice, bob, carol)
    ]
    env.check(after_keeper=True)
    # their orders signed before the ADL are dead
    for a, order in stale_orders.items():
        assert_stale_epoch(env, a, order, erin)
    # an order signed at the new epoch works (carol sells her remaining 0.5 to erin)
    env.trade(erin, carol, env.ETH, w("0.5"), w(2200), buyer_leverage=w(5))

