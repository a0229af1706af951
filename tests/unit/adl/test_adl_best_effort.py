"""Type 1 is best-effort: it never reverts for lack of counterparties (the fund takes the remainder), and a
counterparty is cut only as far as its margin absorbs the loss realized at the bankruptcy price. Type 2 is
all-or-nothing and trades at mark capped at the fund's bankruptcy price. Empty fund, 6 decimals; each test
builds its own book."""
import brownie
import pytest

from risk_calc import (
    drawdown,
    ADL_TYPE_BANKRUPT,
    ADL_TYPE_FUND,
    REFUSE_NEGATIVE_EQUITY,
    WAD,
    assert_stale_epoch,
    ceil_div,
    event_names,
    events_named,
    fund_raw,
    new_bystander,
    position,
    score,
    upnl,
    w,
)
from support import err

U = 10**6
S = 10**12  # scale of a 6-decimal collateral


@pytest.fixture(scope="module")
def funded(env0, deployer, alice, bob, carol, dave, erin, frank, grace, outsider):
    env = env0
    for a in (deployer, alice, bob, carol, dave, erin, frank, grace, outsider):
        env.fund(a, 5000 * U)
    env.bystander = new_bystander(env, 1234 * U)
    return env


@pytest.fixture
def be(funded):
    yield funded
    funded.check(after_keeper=True)


def remainder_book(env, alice, bob, carol, dave):
    """dave short 2 at 2,000 (20x, margin 200) against alice (20x) and bob (5x); bob sells his long to carol at
    2,400 (carol long 1, 5x, margin 480). Mark 2,300: dave's equity 200 - 600 = -400, nb = 4,200 (2,100 a unit);
    alice is eligible (u = 300), carol is losing (u = -100)."""
    env.trade(alice, dave, env.ETH, w(1), w(2000), buyer_leverage=w(20), seller_leverage=w(20))
    env.trade(bob, dave, env.ETH, w(1), w(2000), buyer_leverage=w(5), seller_leverage=w(20))
    env.set_price(env.ETH, 2400)
    env.trade(carol, bob, env.ETH, w(1), w(2400), buyer_leverage=w(5), seller_leverage=w(5))
    env.set_price(env.ETH, 2300)
    return (400_000 + 1_000_000) * 2 + (480_000 + 1_200_000)  # fees: the empty fund's cash


def test_type1_gives_the_remainder_to_the_fund_when_counterparties_run_out(be, alice, bob, carol, dave, keeper):
    env = be
    cash = remainder_book(env, alice, bob, carol, dave)
    assert fund_raw(env, env.ETH) == (cash, 0, 0) and cash == 4_480_000
    free_alice, free_carol, carol_before = env.free(alice), env.free(carol), position(env, env.ETH, carol)
    bystander_free = env.free(env.bystander)

    tx = env.perp.liquidate(env.ETH, dave, {"from": keeper})  # does not revert

    assert tx.events["FundRefused"]["reason"] == REFUSE_NEGATIVE_EQUITY
    nb = 4200 * U
    (fill,) = events_named(tx, "AdlFill")
    assert dict(fill) == {
        "marketId": env.ETH, "account": alice, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": -w(1), "price": w(2100),
        "notional": nb * w(1) // w(2), "score": score(300 * U, 100 * U), "rank": 1,
    }
    assert dict(tx.events["AdlRemainderToFund"]) == {"marketId": env.ETH, "account": dave, "size": -w(1)}
    assert event_names(tx)[-4:] == ["PositionUpdated", "AdlRemainderToFund", "PositionUpdated", "FundUpdated"]
    # dave is bankrupt: his keeper is paid by the fund, 0.5% of 4,600 = 23 bounded by its cash (all 4.48 of it)
    assert tx.events["Liquidated"]["keeperReward"] == cash
    # the fund takes the other unit for the rest of nb: 4,200 - 2,100
    assert fund_raw(env, env.ETH) == (0, -w(1), -2100 * U)
    assert dict(tx.events["FundUpdated"]) == {"marketId": env.ETH, "cash": 0, "size": -w(1), "openNotional": -2100 * U}
    assert env.fund_state(env.ETH)["equity"] == -2300 * U + 2100 * U  # now negative: -200
    assert position(env, env.ETH, alice) == (0, 0, 0) and env.free(alice) == free_alice + 200 * U
    assert position(env, env.ETH, carol) == carol_before and env.free(carol) == free_carol
    assert position(env, env.ETH, dave) == (0, 0, 0)
    assert env.free(env.bystander) == bystander_free


def test_type2_without_enough_counterparties_reverts_and_changes_nothing(
    be, alice, bob, carol, dave, frank, outsider, keeper
):
    env = be
    remainder_book(env, alice, bob, carol, dave)
    env.perp.liquidate(env.ETH, dave, {"from": keeper})  # fund: short 1 at 2,100, equity < 0
    cash = 0  # its cash (the fees) paid dave's keeper
    # no long is in profit (carol bought at 2,400): nothing available
    with brownie.reverts(err("InsufficientAdlCapacity", env.ETH, w(1), 0)):
        env.perp.deleverageFund(env.ETH, {"from": keeper})
    # frank buys 0.4 from outsider at 2,300 (5x, margin 184); at 2,310 he is in profit
    env.trade(frank, outsider, env.ETH, w("0.4"), w(2300), buyer_leverage=w(5), seller_leverage=w(5))
    cash += 184_000 + 460_000
    env.set_price(env.ETH, 2310)
    before = {a: (position(env, env.ETH, a), env.free(a), env.perp.orderEpoch(a)) for a in (carol, frank, outsider)}
    fund_before = fund_raw(env, env.ETH)
    assert fund_before == (cash, -w(1), -2100 * U)
    # the fund's price: mark capped at its bankruptcy price (cash - openNotional) / |size| = 2,100.644
    p = (cash + 2100 * U) * WAD * S // w(1)
    assert p == w("2100.644")
    # frank's whole 0.4 fits (loss at p: 920 - floor(0.4 p) = 79.7424 < margin 184), the unit needed does not
    # the risk desk's view says so without the call: negative equity (DistressReason 1), required 1, available 0.4
    equity = fund_before[0] + 2100 * U - 2310 * U
    hwm = env.perp.fundAccount(env.ETH)[3]
    assert hwm == 4_480_000  # the fees, sampled by dave's liquidation before it acted
    assert tuple(env.lens.type2Preview.call(env.ETH)) == (
        False, 1, equity, drawdown(hwm, equity), p, w(1), w("0.4"), False
    )
    with brownie.reverts(err("InsufficientAdlCapacity", env.ETH, w(1), w("0.4"))):
        env.perp.deleverageFund(env.ETH, {"from": keeper})
    for a, b in before.items():
        assert (position(env, env.ETH, a), env.free(a), env.perp.orderEpoch(a)) == b
    assert fund_raw(env, env.ETH) == fund_before


def test_type2_clears_the_fund_at_its_bankruptcy_price_leaving_cash_at_zero(
    be, alice, bob, carol, dave, erin, frank, grace, outsider, keeper
):
    env = be
    remainder_book(env, alice, bob, carol, dave)
    env.perp.liquidate(env.ETH, dave, {"from": keeper})
    cash = 0  # its cash (the fees) paid dave's keeper
    env.trade(frank, outsider, env.ETH, w("0.4"), w(2300), buyer_leverage=w(5), seller_leverage=w(5))
    cash += 184_000 + 460_000
    env.set_price(env.ETH, 2310)
    env.trade(erin, grace, env.ETH, w(1), w(2310), buyer_leverage=w(5), seller_leverage=w(5))
    cash += 462_000 + 1_155_000  # erin: long 1 at 2,310, margin 462
    env.set_price(env.ETH, 2320)
    assert fund_raw(env, env.ETH) == (cash, -w(1), -2100 * U) and cash == 2_261_000
    mark = w(2320)
    # fund short 1: price = min(mark, (cash + 2,100) / 1) = 2,102.261
    p = (cash + 2100 * U) * WAD * S // w(1)
    assert p == w("2102.261") < mark
    # scores at mark: frank u = 0.4 * 2320 - 920 = 8 on 184; erin u = 10 on 462
    s_frank, s_erin = score(8 * U, 184 * U), score(10 * U, 462 * U)
    assert s_frank > s_erin
    free = {a: env.free(a) for a in (frank, erin, carol, grace, outsider)}
    old_orders = {a: env.order(a, env.ETH, False, w("0.1"), w(2320)) for a in (frank, erin)}
    bystander_free = env.free(env.bystander)

    tx = env.perp.deleverageFund(env.ETH, {"from": keeper})

    # counterparties sell: paid floor(q * p)
    n_frank = w("0.4") * p // (WAD * S)
    n_erin = w("0.6") * p // (WAD * S)
    assert (n_frank, n_erin) == (840_904_400, 1_261_356_600)
    fills = events_named(tx, "AdlFill")
    assert [dict(f) for f in fills] == [
        {"marketId": env.ETH, "account": frank, "adlType": ADL_TYPE_FUND, "sizeDelta": -w("0.4"), "price": p,
         "notional": n_frank, "score": s_frank, "rank": 1},
        {"marketId": env.ETH, "account": erin, "adlType": ADL_TYPE_FUND, "sizeDelta": -w("0.6"), "price": p,
         "notional": n_erin, "score": s_erin, "rank": 2},
    ]
    # fund: buys back 0.4 (released basis -840, pnl 840 - 840.9044) then 0.6 (released -1,260): cash ends at 0
    cash_mid = cash + (840 * U - n_frank)
    assert cash_mid == 1_356_600
    assert fund_raw(env, env.ETH) == (cash_mid + (1260 * U - n_erin), 0, 0) == (0, 0, 0)
    assert dict(tx.events["FundUpdated"]) == {"marketId": env.ETH, "cash": 0, "size": 0, "openNotional": 0}
    # frank realizes n - 920 (a loss, at the capped price) on margin 184, all freed
    assert position(env, env.ETH, frank) == (0, 0, 0)
    assert env.free(frank) == free[frank] + 184 * U + n_frank - 920 * U
    # erin: 0.6 of 1 closed; released basis ceil(2310 * 0.6) = 1,386
    pnl = n_erin - 1386 * U
    margin_after = 462 * U + pnl
    freed = margin_after * w("0.6") // w(1)
    assert position(env, env.ETH, erin) == (w("0.4"), 2310 * U - 1386 * U, margin_after - freed)
    assert env.free(erin) == free[erin] + freed
    for a in (carol, grace, outsider):
        assert env.free(a) == free[a]
    assert env.free(env.bystander) == bystander_free
    env.check(after_keeper=True)
    for a, order in old_orders.items():
        assert_stale_epoch(env, a, order, grace)


def test_counterparty_is_cut_only_as_far_as_its_margin_absorbs_the_loss_at_bankruptcy_price(
    be, deployer, alice, bob, carol, dave, keeper
):
    """dave short 2 at 1,900 (20x, margin 190): nb = 190 + 3,800 = 3,990, i.e. 1,995 a unit. Longs at mark 2,300:
    alice 1 at 1,900 (20x, margin 95; score 400/495), carol 1 at 2,200 (20x, margin 110; score 100/210) and bob
    1 at 1,900 (1x, margin 1,900; score 400/2,300). Closing carol at 1,995 would lose 205 > her margin 110."""
    env = be
    env.set_price(env.ETH, 1900)
    env.trade(alice, dave, env.ETH, w(1), w(1900), buyer_leverage=w(20), seller_leverage=w(20))
    env.trade(bob, dave, env.ETH, w(1), w(1900), buyer_leverage=w(1), seller_leverage=w(20))
    env.set_price(env.ETH, 2200)
    env.trade(carol, deployer, env.ETH, w(1), w(2200), buyer_leverage=w(20), seller_leverage=w(2))
    cash = (380_000 + 950_000) * 2 + (440_000 + 1_100_000)
    env.set_price(env.ETH, 2300)
    assert position(env, env.ETH, carol) == (w(1), 2200 * U, 110 * U)
    free = {a: env.free(a) for a in (alice, bob, carol, dave, deployer)}
    deployer_before = position(env, env.ETH, deployer)

    tx = env.perp.liquidate(env.ETH, dave, {"from": keeper})

    nb, abs_s, pb = 3990 * U, w(2), w(1995)
    # alice: whole unit (profit at 1,995)
    n_a = nb * w(1) // abs_s
    # carol: capacity = (margin - 2) * |size| / loss at pb = (110 - 0.000002) / 205 of her unit
    loss_c = 2200 * U - 1995 * U
    q_c = (110 * U - 2) * w(1) // loss_c
    assert q_c == 536_585_356_097_560_975
    n_c = nb * q_c // abs_s
    r_c = ceil_div(2200 * U * q_c, w(1))
    pnl_c = n_c - r_c
    margin_after_c = 110 * U + pnl_c
    assert 0 <= margin_after_c <= 2
    freed_c = margin_after_c * q_c // w(1)
    # bob takes what is left
    q_b = w(2) - w(1) - q_c
    n_b = nb * q_b // abs_s
    r_b = ceil_div(1900 * U * q_b, w(1))
    margin_after_b = 1900 * U + (n_b - r_b)
    freed_b = margin_after_b * q_b // w(1)
    fills = events_named(tx, "AdlFill")
    assert [(f["account"], f["sizeDelta"], f["notional"], f["rank"]) for f in fills] == [
        (alice, -w(1), n_a, 1),
        (carol, -q_c, n_c, 2),
        (bob, -q_b, n_b, 3),
    ]
    assert [f["score"] for f in fills] == [score(400 * U, 95 * U), score(100 * U, 110 * U), score(400 * U, 1900 * U)]
    assert all(f["price"] == pb for f in fills)
    assert "AdlRemainderToFund" not in tx.events
    assert position(env, env.ETH, alice) == (0, 0, 0) and env.free(alice) == free[alice] + 95 * U + (n_a - 1900 * U)
    assert position(env, env.ETH, carol) == (w(1) - q_c, 2200 * U - r_c, margin_after_c - freed_c)
    assert env.free(carol) == free[carol] + freed_c
    assert position(env, env.ETH, bob) == (w(1) - q_b, 1900 * U - r_b, margin_after_b - freed_b)
    assert env.free(bob) == free[bob] + freed_b
    # no counterparty is left with negative margin or equity at mark
    for a in (carol, bob):
        size, on, margin = position(env, env.ETH, a)
        assert margin >= 0 and margin + upnl(size, on, w(2300), S) >= 0
    # the rounding dust of the pieces goes to the fund (dave was short: he paid nb, the longs got the pieces)
    dust = nb - (n_a + n_c + n_b)
    assert 0 <= dust <= 2
    # dave is bankrupt: the fund's cash (the fees, under 0.5% of his notional) paid his keeper
    assert tx.events["Liquidated"]["keeperReward"] == cash
    assert fund_raw(env, env.ETH) == (dust, 0, 0)
    assert position(env, env.ETH, deployer) == deployer_before and env.free(deployer) == free[deployer]
    assert env.free(dave) == free[dave]


def test_short_counterparty_buying_at_bankruptcy_price_is_cut_only_as_far_as_its_margin_allows(
    be, deployer, alice, carol, frank, keeper
):
    """A bankrupt long this time: alice long 1 at 2,000 (20x, margin 100) against deployer (1x, margin 2,000);
    carol shorts 1 at 1,800 (20x, margin 90) to frank. At 1,700: alice's equity is -200, nb = 1,900 (pb 1,900).
    carol (u = 100 on 90, score 100/190) ranks before deployer (u = 300 on 2,000); buying back at 1,900 would
    cost carol 100 > 90, so she is cut by (90 - 0.000002) / 100 of her unit and deployer takes the rest."""
    env = be
    env.trade(alice, deployer, env.ETH, w(1), w(2000), buyer_leverage=w(20), seller_leverage=w(1))
    env.set_price(env.ETH, 1800)
    env.trade(frank, carol, env.ETH, w(1), w(1800), buyer_leverage=w(2), seller_leverage=w(20))
    cash = (400_000 + 1_000_000) + (360_000 + 900_000)
    env.set_price(env.ETH, 1700)
    assert position(env, env.ETH, carol) == (-w(1), -1800 * U, 90 * U)
    free = {a: env.free(a) for a in (alice, carol, deployer, frank)}
    frank_before = position(env, env.ETH, frank)

    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})

    nb = 1900 * U
    q_c = (90 * U - 2) * w(1) // (1900 * U - 1800 * U)
    assert q_c == 899_999_980_000_000_000
    n_c = ceil_div(nb * q_c, w(1))  # buyers pay rounded up
    r_c = -(1800 * U * q_c // w(1))  # released basis of a short: toward +infinity
    margin_after_c = 90 * U + (-n_c - r_c)
    assert (n_c, r_c, margin_after_c) == (1_709_999_962, -1_619_999_964, 2)
    freed_c = margin_after_c * q_c // w(1)
    q_d = w(1) - q_c
    n_d = ceil_div(nb * q_d, w(1))
    r_d = -(2000 * U * q_d // w(1))
    margin_after_d = 2000 * U + (-n_d - r_d)
    freed_d = margin_after_d * q_d // w(1)
    fills = events_named(tx, "AdlFill")
    assert [dict(f) for f in fills] == [
        {"marketId": env.ETH, "account": carol, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": q_c, "price": w(1900),
         "notional": n_c, "score": score(100 * U, 90 * U), "rank": 1},
        {"marketId": env.ETH, "account": deployer, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": q_d, "price": w(1900),
         "notional": n_d, "score": score(300 * U, 2000 * U), "rank": 2},
    ]
    assert position(env, env.ETH, carol) == (-(w(1) - q_c), -1800 * U - r_c, margin_after_c - freed_c)
    assert env.free(carol) == free[carol] + freed_c
    assert position(env, env.ETH, deployer) == (-(w(1) - q_d), -2000 * U - r_d, margin_after_d - freed_d)
    assert env.free(deployer) == free[deployer] + freed_d
    size, on, margin = position(env, env.ETH, carol)
    assert margin >= 0 and margin + upnl(size, on, w(1700), S) >= 0
    # the shorts paid the pieces, alice received nb: the rounding surplus stays in the fund
    dust = (n_c + n_d) - nb
    assert 0 <= dust <= 2
    # alice is bankrupt: the fund's cash (the fees, under 0.5% of her notional) paid her keeper
    assert tx.events["Liquidated"]["keeperReward"] == cash
    assert fund_raw(env, env.ETH) == (dust, 0, 0)
    assert position(env, env.ETH, alice) == (0, 0, 0) and env.free(alice) == free[alice]
    assert position(env, env.ETH, frank) == frank_before and env.free(frank) == free[frank]
