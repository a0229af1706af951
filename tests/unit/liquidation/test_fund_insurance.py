"""The insurance fund: top-ups, acceptance of liquidated positions, the three refusal reasons, and its equity at
mark (cash + unrealized PnL of the position it holds). 6-decimal collateral; `env6` is seeded with 100,000 units,
`env0` has an empty fund (only trading fees), so it refuses any position that arrives with negative equity."""
import brownie
import pytest

from risk_calc import (
    ADL_TYPE_BANKRUPT,
    REFUSE_NEGATIVE_EQUITY,
    REFUSE_RISK_LIMIT,
    WAD,
    event_names,
    fund_raw,
    notional_down,
    notional_up,
    position,
    score,
    w,
)
from support import err

U = 10**6  # one token of the 6-decimal collateral, in units


def fund_accounts(env, alice, bob, carol, dave, outsider):
    for a in (alice, carol, dave):
        env.fund(a, 10_000 * U)
    env.fund(bob, 100_000 * U)
    env.fund(outsider, 500 * U)


@pytest.fixture(scope="module")
def seeded(env6, alice, bob, carol, dave, outsider):
    fund_accounts(env6, alice, bob, carol, dave, outsider)
    return env6


@pytest.fixture(scope="module")
def empty(env0, alice, bob, carol, dave, outsider):
    fund_accounts(env0, alice, bob, carol, dave, outsider)
    return env0


@pytest.fixture
def fx(seeded):
    yield seeded
    seeded.check(after_keeper=True)


@pytest.fixture
def fx0(empty):
    yield empty
    empty.check(after_keeper=True)


def set_max_fund_notional(env, value):
    params = env.dep.markets["ETH-PERP"]["params"].with_(max_fund_notional=value)
    env.perp.setMarketParams(env.ETH, params.as_tuple(), {"from": env.dep.deployer})


def long_20x_vs_bob(env, alice, bob, size=w(1)):
    """alice buys `size` at 2,000 at 20x from bob at 2x (maker 2 bps, taker 5 bps to the fund)."""
    env.trade(alice, bob, env.ETH, size, w(2000), buyer_leverage=w(20), seller_leverage=w(2))


# ------------------------------------------------------------------------------------------------ top-ups


def test_anyone_can_top_up_the_fund(fx, outsider):
    env = fx
    cash, size, on = fund_raw(env, env.ETH)
    assert (cash, size, on) == (100_000 * U, 0, 0)
    amount = 1234 * U + 567_891
    env.token.faucet(outsider, amount, {"from": outsider})
    env.token.approve(env.perp, amount, {"from": outsider})
    vault = env.token.balanceOf(env.perp)
    free = env.free(outsider)

    tx = env.perp.topUpFund(env.ETH, amount, {"from": outsider})

    assert event_names(tx) == ["FundToppedUp", "FundUpdated", "Transfer"]  # the token moves last
    assert dict(tx.events["FundToppedUp"]) == {"marketId": env.ETH, "from": outsider, "amount": amount}
    assert dict(tx.events["FundUpdated"]) == {"marketId": env.ETH, "cash": cash + amount, "size": 0, "openNotional": 0}
    assert fund_raw(env, env.ETH) == (cash + amount, 0, 0)
    assert env.token.balanceOf(env.perp) == vault + amount
    assert env.free(outsider) == free  # paid from the wallet, not from free collateral
    assert fund_raw(env, env.BTC)[0] == 100_000 * U  # the other market's fund is separate


def test_top_up_of_zero_reverts(fx, outsider):
    with brownie.reverts(err("ZeroAmount")):
        fx.perp.topUpFund(fx.ETH, 0, {"from": outsider})


# ------------------------------------------------------------------------------------------------ acceptance


def test_fund_accepts_up_to_its_risk_limit(fx, alice, bob, keeper):
    """Net notional after = ceil(1 * 1950) = 1950 units: equal to the limit is still accepted."""
    env = fx
    long_20x_vs_bob(env, alice, bob)
    set_max_fund_notional(env, 1950 * U)
    env.set_price(env.ETH, 1950)
    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})
    assert "FundAccepted" in tx.events and "FundRefused" not in tx.events and "AdlFill" not in tx.events
    assert fund_raw(env, env.ETH)[1:] == (w(1), 1_909_750_000)  # nb = 2000 - (100 - 9.75)


def test_fund_above_its_limit_accepts_a_position_that_reduces_its_exposure(fx, alice, bob, carol, dave, keeper):
    env = fx
    long_20x_vs_bob(env, alice, bob)
    env.set_price(env.ETH, 1950)
    env.perp.liquidate(env.ETH, alice, {"from": keeper})  # fund long 1 at 1909.75
    cash = fund_raw(env, env.ETH)[0]
    set_max_fund_notional(env, 1000 * U)  # the fund is now above its limit
    # carol shorts 1 at 1950 at 20x (margin 97.5) to dave (2x); fees 0.39 + 0.975 to the fund
    env.trade(dave, carol, env.ETH, w(1), w(1950), buyer_leverage=w(2), seller_leverage=w(20))
    cash += 390_000 + 975_000
    env.set_price(env.ETH, 2000)
    # carol: equity 97.5 - 50 = 47.5 < MM 60; reward min(10, 100, 47.5) = 10; nb = (97.5 - 10) + 1950 = 2037.5
    nb = 2_037_500_000
    tx = env.perp.liquidate(env.ETH, carol, {"from": keeper})
    assert dict(tx.events["FundAccepted"]) == {
        "marketId": env.ETH, "account": carol, "size": -w(1), "bankruptcyPrice": w("2037.5"),
    }
    # netting closes the fund's long: realized nb - 1909.75 = 127.75 to its cash
    assert fund_raw(env, env.ETH) == (cash + nb - 1_909_750_000, 0, 0)


def test_fund_equity_is_cash_plus_upnl_of_its_long_at_mark(fx, alice, bob, keeper):
    env = fx
    long_20x_vs_bob(env, alice, bob, w("1.5"))  # margin 150
    env.set_price(env.ETH, 1950)  # equity 75 < MM 87.75; reward floor(2925 * 0.5%) = 14.625
    env.perp.liquidate(env.ETH, alice, {"from": keeper})
    nb = 3000 * U - (150 * U - 14_625_000)
    cash, size, on = fund_raw(env, env.ETH)
    assert (size, on) == (w("1.5"), nb) and nb == 2_864_625_000
    hwm = env.perp.fundAccount(env.ETH)[3]
    env.oracle(env.ETH).setPrice(195_000_000_001, {"from": env.dep.deployer})  # 1950.00000001
    mark = 1_950_000_000_010_000_000_000
    value = 1_500_000_000_000_000_000 * mark // 10**30  # floor(2925.000000015) units
    assert value == notional_down(w("1.5"), mark, 10**12) == 2_925_000_000
    f = env.fund_state(env.ETH)
    assert f["equity"] == cash + value - nb
    assert f["net_notional"] == 2_925_000_001  # rounded up
    assert f["hwm"] == hwm and f["drawdown"] == 0 and f["distressed"] is False
    env.set_price(env.ETH, 1800)
    f = env.fund_state(env.ETH)
    assert f["equity"] == cash + 1800 * 3 // 2 * U - nb
    assert f["drawdown"] == (hwm - f["equity"]) * WAD // hwm


def test_fund_equity_is_cash_plus_upnl_of_its_short_at_mark(fx, bob, carol, keeper):
    env = fx
    env.trade(carol, bob, env.ETH, w("1.5"), w(2000), buyer_leverage=w(2), seller_leverage=w(20))
    env.set_price(env.ETH, 2050)  # bob: equity 150 - 75 = 75 < MM 92.25; reward floor(3075 * 0.5%) = 15.375
    env.perp.liquidate(env.ETH, bob, {"from": keeper})
    nb = (150 * U - 15_375_000) + 3000 * U
    cash, size, on = fund_raw(env, env.ETH)
    assert (size, on) == (-w("1.5"), -nb)
    env.oracle(env.ETH).setPrice(205_000_000_001, {"from": env.dep.deployer})  # 2050.00000001
    mark = 2_050_000_000_010_000_000_000
    debt = notional_up(w("1.5"), mark, 10**12)  # ceil(3075.000000015) units
    assert debt == 3_075_000_001
    f = env.fund_state(env.ETH)
    assert f["equity"] == cash - debt + nb
    assert f["net_notional"] == debt


# ------------------------------------------------------------------------------------------------ refusals


def test_fund_refuses_a_position_that_leaves_its_equity_negative(fx0, alice, bob, keeper, outsider):
    env = fx0
    long_20x_vs_bob(env, alice, bob)
    cash = 400_000 + 1_000_000  # the empty fund holds only the two fees
    assert fund_raw(env, env.ETH) == (cash, 0, 0)
    free_alice, free_bob, free_bystander = env.free(alice), env.free(bob), env.free(outsider)
    epoch_alice, epoch_bob = env.perp.orderEpoch(alice), env.perp.orderEpoch(bob)
    env.set_price(env.ETH, 1880)  # alice: equity 100 - 120 = -20; incoming at nb 1900 worth 1880 - 1900 = -20
    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})
    assert event_names(tx) == [
        "FundWatermarkUpdated", "Liquidated", "OrderEpochBumped", "FundRefused", "OrderEpochBumped", "AdlFill",
        "PositionUpdated", "PositionUpdated", "FundUpdated",
    ]
    assert dict(tx.events["FundRefused"]) == {"marketId": env.ETH, "account": alice, "reason": REFUSE_NEGATIVE_EQUITY}
    # alice is bankrupt: the fund pays her keeper 0.5% of 1,880 = 9.40, bounded by its cash (1.40)
    assert tx.events["Liquidated"]["equity"] == -20 * U and tx.events["Liquidated"]["keeperReward"] == cash
    # Type 1 in the same call: bob (short 1, entry 2000, margin 1000, u = 2000 - 1880 = 120) buys 1 at 1900
    assert dict(tx.events["AdlFill"]) == {
        "marketId": env.ETH, "account": bob, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": w(1), "price": w(1900),
        "notional": 1900 * U, "score": score(120 * U, 1000 * U), "rank": 1,
    }
    assert [dict(e) for e in tx.events["OrderEpochBumped"]] == [  # the liquidated account's orders, then bob's
        {"account": alice, "newEpoch": epoch_alice + 1}, {"account": bob, "newEpoch": epoch_bob + 1}]
    assert tx.events["PositionUpdated"][0]["account"] == bob
    assert tx.events["PositionUpdated"][1]["account"] == alice
    assert position(env, env.ETH, alice) == (0, 0, 0) and env.free(alice) == free_alice
    # bob realizes 2000 - 1900 = 100 on his 1000 margin, all released
    assert position(env, env.ETH, bob) == (0, 0, 0) and env.free(bob) == free_bob + 1100 * U
    assert fund_raw(env, env.ETH) == (0, 0, 0)
    assert env.free(outsider) == free_bystander


def test_fund_refuses_a_position_above_its_risk_limit(fx, alice, bob, keeper):
    env = fx
    long_20x_vs_bob(env, alice, bob)
    set_max_fund_notional(env, 1000 * U)
    cash = fund_raw(env, env.ETH)[0]
    free_bob = env.free(bob)
    env.set_price(env.ETH, 1950)  # net notional after = 1950 > 1000
    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})
    assert dict(tx.events["FundRefused"]) == {"marketId": env.ETH, "account": alice, "reason": REFUSE_RISK_LIMIT}
    assert "FundAccepted" not in tx.events
    # timely: the keeper still gets 9.75; alice still has 40.25 of equity, so bob buys 1 at mark 1,950 (not at her
    # bankruptcy price 1,909.75: that would hand him her equity) and her 40.25 goes to the fund
    assert tx.events["Liquidated"]["keeperReward"] == 9_750_000
    fill = tx.events["AdlFill"]
    assert (fill["account"], fill["sizeDelta"], fill["price"], fill["notional"]) == (bob, w(1), w(1950), 1950 * U)
    assert fill["score"] == score(50 * U, 1000 * U) and fill["rank"] == 1
    assert env.free(bob) == free_bob + 1000 * U + (2000 * U - 1950 * U)  # his profit at mark, no more
    assert fund_raw(env, env.ETH) == (cash + 40_250_000, 0, 0)  # nothing inherited; alice's remaining equity
