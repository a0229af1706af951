"""Liquidation into the insurance fund (docs/TESTING.md, "Liquidation"), on 6- and 18-decimal collateral.

Every test opens its own book at mark 2,000: a 20x long (margin 100 per ETH) against a 2x short, moves the oracle
and liquidates. Expected numbers come from the accounting model, written out in each test."""
import brownie
import pytest

from risk_calc import (
    assert_reference_params,
    assert_stale_epoch,
    MAX_REWARD_TOKENS,
    REFUSE_NEGATIVE_EQUITY,
    ORACLE_DECIMALS,
    REWARD_BPS,
    WAD,
    BPS,
    event_names,
    events_named,
    fee,
    fund_raw,
    keeper_reward,
    keeper_reward_from_fund,
    make_stale,
    margin_for,
    mm,
    notional_down,
    notional_up,
    position,
    price_of,
    upnl,
    w,
)
from support import err

ENTRY = w(2000)


@pytest.fixture(scope="module")
def funded(env, alice, bob, carol, dave, erin, outsider):
    """alice, carol, dave and erin are the longs' wallets, bob the deep-pocketed short, outsider a bystander."""
    assert_reference_params(env)
    for a in (alice, carol, dave, erin):
        env.fund(a, env.units(10_000))
    env.fund(bob, env.units(200_000))
    env.fund(outsider, env.units(777))
    return env


@pytest.fixture
def lq(funded):
    yield funded
    funded.check(after_keeper=True)


def open_long(env, long, size, leverage=w(20), short=None, price=ENTRY):
    """`long` buys `size` at `price` from the 2x short (bob by default); returns the long's expected state."""
    env.trade(long, short or env.signers[2], env.ETH, size, price, buyer_leverage=leverage, seller_leverage=w(2))
    n = notional_down(size, price, env.scale)
    return {"size": size, "open_notional": n, "margin": margin_for(n, leverage), "fee": fee(n, 2), "seller_fee": fee(n, 5)}


def test_timely_liquidation_hands_position_to_fund_at_bankruptcy_price(lq, alice, bob, keeper, outsider):
    env = lq
    s = env.scale
    cash0 = fund_raw(env, env.ETH)[0]
    pos = open_long(env, alice, w(1))
    assert pos["margin"] == env.units(100) and pos["fee"] == env.units("0.4") and pos["seller_fee"] == env.units(1)
    cash = cash0 + pos["fee"] + pos["seller_fee"]
    free_alice, free_keeper, free_bystander = env.free(alice), env.free(keeper), env.free(outsider)
    bob_before = position(env, env.ETH, bob)

    mark = w(1950)
    env.set_price(env.ETH, 1950)
    equity = pos["margin"] + notional_down(w(1), mark, s) - pos["open_notional"]  # 100 - 50 = 50
    assert equity == env.units(50)
    maint = mm(w(1), mark, s)  # ceil(1950 * 3%) = 58.5
    assert maint == env.units("58.5") and 0 <= equity < maint
    notional = notional_down(w(1), mark, s)
    reward = keeper_reward(notional, equity, pos["margin"], env.units(MAX_REWARD_TOKENS))
    assert reward == notional * REWARD_BPS // BPS == env.units("9.75")  # the bps cap binds
    margin_left = pos["margin"] - reward  # 90.25
    nb = pos["open_notional"] - margin_left  # 2000 - 90.25 = 1909.75
    pb = price_of(nb, w(1), s)
    assert pb == w("1909.75")
    # the fund's state before: flat, so its equity is its cash, which becomes the high-water mark
    fund_equity_before = env.fund_state(env.ETH)["equity"]
    assert fund_equity_before == cash

    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})

    assert event_names(tx) == ["FundWatermarkUpdated", "Liquidated", "OrderEpochBumped", "FundAccepted", "PositionUpdated", "FundUpdated"]
    assert dict(tx.events["Liquidated"]) == {
        "marketId": env.ETH, "account": alice, "keeper": keeper, "size": w(1), "markPrice": mark,
        "bankruptcyPrice": pb, "equity": equity, "keeperReward": reward,
    }
    assert dict(tx.events["FundWatermarkUpdated"]) == {  # the liquidation's sample, before it acts
        "marketId": env.ETH, "highWaterMark": cash, "highWaterMarkTimestamp": tx.timestamp, "drawdown": 0,
        "distressed": False,
    }
    assert dict(tx.events["FundAccepted"]) == {"marketId": env.ETH, "account": alice, "size": w(1), "bankruptcyPrice": pb}
    assert dict(tx.events["PositionUpdated"]) == {
        "marketId": env.ETH, "account": alice, "size": 0, "openNotional": 0, "margin": 0, "freeCollateral": free_alice,
    }
    assert dict(tx.events["FundUpdated"]) == {"marketId": env.ETH, "cash": cash, "size": w(1), "openNotional": nb}
    assert "AdlFill" not in tx.events and "FundRefused" not in tx.events

    assert position(env, env.ETH, alice) == (0, 0, 0)
    assert env.free(alice) == free_alice  # the trader's margin is spent, its free collateral untouched
    assert env.free(keeper) == free_keeper + reward
    assert env.free(outsider) == free_bystander
    assert position(env, env.ETH, bob) == bob_before
    assert fund_raw(env, env.ETH) == (cash, w(1), nb)
    fund = env.fund_state(env.ETH)
    assert fund["equity"] == cash + notional_down(w(1), mark, s) - nb
    assert fund["equity"] - fund_equity_before == equity - reward == env.units("40.25")


def test_timely_liquidation_of_a_short_gives_the_fund_a_short(lq, alice, bob, carol, keeper):
    env = lq
    s = env.scale
    # carol (2x) buys 1 from bob; bob's leverage is 20x this time: margin 100
    env.trade(carol, bob, env.ETH, w(1), ENTRY, buyer_leverage=w(2), seller_leverage=w(20))
    cash = fund_raw(env, env.ETH)[0]
    on, margin = -env.units(2000), env.units(100)
    assert position(env, env.ETH, bob)[1:] == (on, margin)
    free_bob = env.free(bob)
    mark = w(2050)
    env.set_price(env.ETH, 2050)
    equity = margin + (-notional_up(w(1), mark, s) - on)  # 100 - 50 = 50
    assert 0 <= equity < mm(-w(1), mark, s) == env.units("61.5")
    reward = keeper_reward(notional_down(w(1), mark, s), equity, margin, env.units(100))
    assert reward == env.units("10.25")
    nb = (margin - reward) - on  # short: margin - openNotional = 89.75 + 2000
    assert nb == env.units("2089.75")

    tx = env.perp.liquidate(env.ETH, bob, {"from": keeper})

    assert tx.events["Liquidated"]["size"] == -w(1)
    assert tx.events["Liquidated"]["bankruptcyPrice"] == w("2089.75")
    assert dict(tx.events["FundAccepted"]) == {"marketId": env.ETH, "account": bob, "size": -w(1), "bankruptcyPrice": w("2089.75")}
    assert fund_raw(env, env.ETH) == (cash, -w(1), -nb)
    assert env.free(bob) == free_bob and position(env, env.ETH, bob) == (0, 0, 0)
    # fund equity at mark: cash - ceil(|s| P) - openNotional; the gain is the leftover equity
    assert env.fund_state(env.ETH)["equity"] == cash - notional_up(w(1), mark, s) + nb == cash + equity - reward


def test_keeper_reward_is_capped_at_max_liquidation_reward(lq, alice, keeper):
    env = lq
    s = env.scale
    size = w(30)
    pos = open_long(env, alice, size)  # notional 60,000, margin 3,000
    mark = w(1950)
    env.set_price(env.ETH, 1950)
    equity = pos["margin"] + upnl(size, pos["open_notional"], mark, s)  # 3000 - 1500
    assert equity == env.units(1500) and equity < mm(size, mark, s) == env.units(1755)
    notional = notional_up(size, mark, s)
    assert notional * REWARD_BPS // BPS == env.units("292.5") > env.units(100)
    reward = env.units(100)
    nb = pos["open_notional"] - (pos["margin"] - reward)  # 60000 - 2900 = 57100
    free_keeper = env.free(keeper)
    cash = fund_raw(env, env.ETH)[0]

    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})

    assert tx.events["Liquidated"]["keeperReward"] == reward
    assert tx.events["Liquidated"]["bankruptcyPrice"] == price_of(nb, size, s) == 57100 * WAD // 30
    assert env.free(keeper) == free_keeper + reward
    assert fund_raw(env, env.ETH) == (cash, size, env.units(57100))


def test_keeper_reward_is_capped_at_remaining_equity(lq, alice, keeper):
    env = lq
    s = env.scale
    pos = open_long(env, alice, w(1))
    mark = w(1905)
    env.set_price(env.ETH, 1905)
    equity = pos["margin"] + upnl(w(1), pos["open_notional"], mark, s)  # 100 - 95 = 5
    assert equity == env.units(5)
    assert notional_up(w(1), mark, s) * REWARD_BPS // BPS == env.units("9.525") > equity
    free_keeper = env.free(keeper)
    cash = fund_raw(env, env.ETH)[0]
    equity_before = env.fund_state(env.ETH)["equity"]

    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})

    assert tx.events["Liquidated"]["keeperReward"] == equity
    assert env.free(keeper) == free_keeper + equity
    nb = pos["open_notional"] - (pos["margin"] - equity)  # 2000 - 95 = 1905: bankruptcy price = mark
    assert tx.events["FundAccepted"]["bankruptcyPrice"] == w(1905)
    assert fund_raw(env, env.ETH) == (cash, w(1), nb)
    assert env.fund_state(env.ETH)["equity"] == equity_before  # nothing left over for the fund


def test_late_liquidation_is_paid_by_the_fund_and_the_fund_absorbs_the_deficit(lq, alice, bob, keeper, outsider):
    """A bankrupt position has no equity to pay its keeper: the fund pays the reward (0.5% of 1,880 = 9.40, under the
    cap) out of its cash, then takes the position at the bankruptcy price and its 20 deficit."""
    env = lq
    s = env.scale
    pos = open_long(env, alice, w(1))
    cash = fund_raw(env, env.ETH)[0]
    free_alice, free_keeper, free_bystander = env.free(alice), env.free(keeper), env.free(outsider)
    mark = w(1880)
    env.set_price(env.ETH, 1880)  # gap through the bankruptcy price 1,900
    equity = pos["margin"] + upnl(w(1), pos["open_notional"], mark, s)
    assert equity == -env.units(20)
    nb = pos["open_notional"] - pos["margin"]  # 1900
    reward = keeper_reward_from_fund(notional_down(w(1), mark, s), cash, env.units(MAX_REWARD_TOKENS))
    assert reward == env.units("9.4")
    fund_equity_before = env.fund_state(env.ETH)["equity"]

    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})

    assert dict(tx.events["Liquidated"]) == {
        "marketId": env.ETH, "account": alice, "keeper": keeper, "size": w(1), "markPrice": mark,
        "bankruptcyPrice": w(1900), "equity": equity, "keeperReward": reward,
    }
    assert tx.events["FundAccepted"]["bankruptcyPrice"] == w(1900)
    assert env.free(keeper) == free_keeper + reward  # the keeper's profit on a bankrupt position
    assert env.free(alice) == free_alice and position(env, env.ETH, alice) == (0, 0, 0)
    assert env.free(outsider) == free_bystander
    assert fund_raw(env, env.ETH) == (cash - reward, w(1), nb)
    # the fund pays the reward and takes the 20 deficit
    assert env.fund_state(env.ETH)["equity"] - fund_equity_before == equity - reward


def test_an_empty_fund_pays_a_bankrupt_positions_keeper_what_it_has(env0, alice, keeper):
    """The fund's cash bounds the reward: with 1.40 of cash (the fees) the keeper gets 1.40 and the cash ends at 0,
    never below; the empty fund then refuses alice's deficit."""
    env = env0
    s = env.scale
    assert fund_raw(env, env.ETH)[0] == 0
    env.fund(alice, env.units(10_000))
    env.fund(env.signers[2], env.units(200_000))  # bob, the short
    pos = open_long(env, alice, w(1))
    cash = fund_raw(env, env.ETH)[0]
    assert cash == pos["fee"] + pos["seller_fee"] == env.units("1.4")
    free_keeper = env.free(keeper)
    env.set_price(env.ETH, 1880)
    reward = keeper_reward_from_fund(notional_down(w(1), w(1880), s), cash, env.units(MAX_REWARD_TOKENS))
    assert reward == cash
    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})
    assert tx.events["Liquidated"]["keeperReward"] == reward
    assert env.free(keeper) == free_keeper + reward
    # no cash left (never below zero), so it refuses alice's deficit: Type 1 closes her against bob at 1,900
    assert tx.events["FundRefused"]["reason"] == REFUSE_NEGATIVE_EQUITY
    assert fund_raw(env, env.ETH) == (0, 0, 0)
    env.check(after_keeper=True)


def test_healthy_position_reverts_not_liquidatable_with_equity_and_mm(lq, alice, keeper):
    env = lq
    pos = open_long(env, alice, w(1), leverage=w(5))  # margin 400
    assert pos["margin"] == env.units(400)
    with brownie.reverts(err("NotLiquidatable", env.ETH, alice, env.units(400), env.units(60))):
        env.perp.liquidate(env.ETH, alice, {"from": keeper})
    env.set_price(env.ETH, 1700)  # equity 100, MM ceil(1700 * 3%) = 51
    with brownie.reverts(err("NotLiquidatable", env.ETH, alice, env.units(100), env.units(51))):
        env.perp.liquidate(env.ETH, alice, {"from": keeper})


def test_equity_equal_to_maintenance_margin_is_not_liquidatable(lq, alice, keeper):
    """The boundary, found by hand: the lowest oracle answer at which equity >= MM; one step lower liquidates."""
    env = lq
    s = env.scale
    pos = open_long(env, alice, w(1))
    step = 10 ** (18 - ORACLE_DECIMALS)

    def equity_and_mm(answer):
        p = answer * step
        return pos["margin"] + upnl(w(1), pos["open_notional"], p, s), mm(w(1), p, s)

    lo, hi = 1900 * 10**ORACLE_DECIMALS, 2000 * 10**ORACLE_DECIMALS  # liquidatable at lo, healthy at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        e, m = equity_and_mm(mid)
        lo, hi = (lo, mid) if e >= m else (mid, hi)
    e, m = equity_and_mm(hi)
    env.oracle(env.ETH).setPrice(hi, {"from": env.dep.deployer})
    with brownie.reverts(err("NotLiquidatable", env.ETH, alice, e, m)):
        env.perp.liquidate(env.ETH, alice, {"from": keeper})
    env.oracle(env.ETH).setPrice(lo, {"from": env.dep.deployer})
    e, m = equity_and_mm(lo)
    assert e < m
    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})
    assert tx.events["Liquidated"]["equity"] == e


def test_account_without_position_reverts_no_position(lq, outsider, keeper):
    env = lq
    with brownie.reverts(err("NoPosition", env.ETH, outsider)):
        env.perp.liquidate(env.ETH, outsider, {"from": keeper})


def test_liquidate_batch_liquidates_exactly_the_liquidatable_accounts(lq, alice, bob, carol, dave, erin, outsider, keeper):
    env = lq
    s = env.scale
    a = open_long(env, alice, w(1))  # 20x: liquidatable at 1950
    c = open_long(env, carol, w(2))  # 20x: liquidatable at 1950
    d = open_long(env, dave, w(1), leverage=w(5))  # healthy
    cash = fund_raw(env, env.ETH)[0]
    free_keeper, free_bystander = env.free(keeper), env.free(outsider)
    bob_before, dave_before = position(env, env.ETH, bob), position(env, env.ETH, dave)
    mark = w(1950)
    env.set_price(env.ETH, 1950)
    rewards, nbs = 0, 0
    for p in (a, c):
        eq = p["margin"] + upnl(p["size"], p["open_notional"], mark, s)
        r = keeper_reward(notional_down(abs(p["size"]), mark, s), eq, p["margin"], env.units(100))
        rewards += r
        nbs += p["open_notional"] - (p["margin"] - r)
    assert rewards == env.units("9.75") + env.units("19.5")
    accounts = [alice, dave, outsider, carol, bob, erin]

    assert env.perp.liquidateBatch.call(env.ETH, accounts, {"from": keeper}) == 2
    tx = env.perp.liquidateBatch(env.ETH, accounts, {"from": keeper})

    assert [e["account"] for e in events_named(tx, "Liquidated")] == [alice, carol]
    assert position(env, env.ETH, alice) == (0, 0, 0) and position(env, env.ETH, carol) == (0, 0, 0)
    assert position(env, env.ETH, dave) == dave_before and position(env, env.ETH, bob) == bob_before
    assert env.free(keeper) == free_keeper + rewards
    assert env.free(outsider) == free_bystander
    assert fund_raw(env, env.ETH) == (cash, w(3), nbs)
    # nothing left to liquidate: a second pass counts 0 and changes nothing
    assert env.perp.liquidateBatch.call(env.ETH, accounts, {"from": keeper}) == 0


def test_liquidation_works_on_a_paused_market(lq, alice, keeper, deployer):
    env = lq
    open_long(env, alice, w(1))
    env.set_price(env.ETH, 1950)
    env.perp.setPaused(env.ETH, True, {"from": deployer})
    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})
    assert tx.events["FundAccepted"]["bankruptcyPrice"] == w("1909.75")
    assert position(env, env.ETH, alice) == (0, 0, 0)


def test_stale_oracle_reverts_liquidation(lq, alice, keeper):
    env = lq
    open_long(env, alice, w(1))
    env.set_price(env.ETH, 1950)
    updated = make_stale(env, env.ETH)
    with brownie.reverts(err("StaleOraclePrice", env.ETH, updated, 3600)):
        env.perp.liquidate(env.ETH, alice, {"from": keeper})
    with brownie.reverts(err("StaleOraclePrice", env.ETH, updated, 3600)):
        env.perp.liquidateBatch(env.ETH, [alice], {"from": keeper})
    assert position(env, env.ETH, alice)[0] == w(1)


def test_liquidate_batch_counts_a_repeated_account_once(lq, alice, keeper):
    env = lq
    open_long(env, alice, w(1))
    env.set_price(env.ETH, 1950)
    assert env.perp.liquidateBatch.call(env.ETH, [alice, alice], {"from": keeper}) == 1
    tx = env.perp.liquidateBatch(env.ETH, [alice, alice], {"from": keeper})
    assert len(events_named(tx, "Liquidated")) == 1
    assert fund_raw(env, env.ETH)[1] == w(1)


def test_liquidate_batch_of_nobody_liquidatable_changes_nothing(lq, alice, outsider, keeper):
    env = lq
    open_long(env, alice, w(1), leverage=w(5))
    before = (position(env, env.ETH, alice), fund_raw(env, env.ETH), env.free(keeper))
    tx = env.perp.liquidateBatch(env.ETH, [alice, outsider], {"from": keeper})
    assert "Liquidated" not in tx.events
    assert (position(env, env.ETH, alice), fund_raw(env, env.ETH), env.free(keeper)) == before


def test_a_liquidation_cancels_the_liquidated_accounts_resting_orders(lq, alice, bob, carol, keeper):
    """A resting bid alice signed before her liquidation must not reopen a position for her afterwards; nobody
    else's orders are touched (the counterparty's, the keeper's)."""
    env = lq
    open_long(env, alice, w(1))
    resting = env.order(alice, env.ETH, True, w("0.1"), w(1950))
    epochs = {a: env.perp.orderEpoch(a) for a in (alice, bob, keeper)}
    env.set_price(env.ETH, 1950)

    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})

    assert [dict(e) for e in events_named(tx, "OrderEpochBumped")] == [{"account": alice, "newEpoch": epochs[alice] + 1}]
    assert {a: env.perp.orderEpoch(a) for a in epochs} == {**epochs, alice: epochs[alice] + 1}
    assert_stale_epoch(env, alice, resting, carol)
    assert position(env, env.ETH, alice) == (0, 0, 0)
