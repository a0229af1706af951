"""A crash, step by step: timely liquidations feed the insurance fund (seeded with 200 units), the fund's
inherited longs drag it into drawdown distress, the next liquidation is refused (Distressed) and runs Type 1, a
keeper deleverages the fund with Type 2 at mark, and a top-up brings it back. The audit runs after every step,
and erin, who only holds free collateral, never loses a unit.

6-decimal collateral (units; 1 token = 1e6). At 2,000:
    alice long 1 (20x, margin 100)   vs frank short 1 (2x)
    bob   long 2 (20x, margin 200)   vs grace short 2 (10x, margin 400)
    carol long 1 (10x, margin 200)   vs frank short 1
    dave  long 1 (5x, margin 400)    vs frank short 1     (frank: short 3, margin 3,000)
Fees: 1.4 + 2.8 + 1.4 + 1.4 = 7, so the fund's cash is 207.
"""
import brownie
import pytest

from risk_calc import (
    ADL_TYPE_BANKRUPT,
    ADL_TYPE_FUND,
    DRAWDOWN_STOP,
    REFUSE_DRAWDOWN,
    WAD,
    assert_stale_epoch,
    drawdown,
    events_named,
    fund_raw,
    keeper_reward,
    notional_up,
    position,
    score,
    w,
)
from support import err

U = 10**6
S = 10**12


@pytest.fixture(scope="module")
def story(env200, alice, bob, carol, dave, erin, frank, grace, outsider):
    env = env200
    for a in (alice, bob, carol, dave):
        env.fund(a, 1000 * U)
    env.fund(frank, 10_000 * U)
    env.fund(grace, 2000 * U)
    env.fund(erin, 4321 * U)
    env.token.faucet(outsider, 1000 * U, {"from": outsider})
    env.token.approve(env.perp, 1000 * U, {"from": outsider})
    return env


def test_crash_cascade(story, alice, bob, carol, dave, erin, frank, grace, outsider, keeper):
    env = story
    erin_free = env.free(erin)

    def step_done():
        env.check(after_keeper=True)
        assert env.free(erin) == erin_free

    env.trade(alice, frank, env.ETH, w(1), w(2000), buyer_leverage=w(20), seller_leverage=w(2))
    env.trade(bob, grace, env.ETH, w(2), w(2000), buyer_leverage=w(20), seller_leverage=w(10))
    env.trade(carol, frank, env.ETH, w(1), w(2000), buyer_leverage=w(10), seller_leverage=w(2))
    env.trade(dave, frank, env.ETH, w(1), w(2000), buyer_leverage=w(5), seller_leverage=w(2))
    cash = 200 * U + 1_400_000 + 2_800_000 + 1_400_000 + 1_400_000
    assert fund_raw(env, env.ETH) == (cash, 0, 0) == (207 * U, 0, 0)
    step_done()
    old_orders = {a: env.order(a, env.ETH, True, w("0.1"), w(1900)) for a in (frank, grace)}

    # ---------------------------------------------------------------- 1. 1,950: two timely liquidations, accepted
    env.set_price(env.ETH, 1950)
    mark = w(1950)
    # alice: equity 50 < MM 58.5; bob: equity 200 - 100 = 100 < MM 117; carol (150 > 58.5) and dave are fine
    r_alice = keeper_reward(1950 * U, 50 * U, 100 * U, 100 * U)
    r_bob = keeper_reward(3900 * U, 100 * U, 200 * U, 100 * U)
    assert (r_alice, r_bob) == (9_750_000, 19_500_000)
    nb_alice = 2000 * U - (100 * U - r_alice)
    nb_bob = 4000 * U - (200 * U - r_bob)
    free_keeper = env.free(keeper)
    assert env.perp.liquidateBatch.call(env.ETH, [alice, bob, carol, dave, erin], {"from": keeper}) == 2
    tx = env.perp.liquidateBatch(env.ETH, [alice, bob, carol, dave, erin], {"from": keeper})
    t_hwm = tx.timestamp  # both liquidations sample the fund in this block: the second sample is the mark
    assert [(e["account"], e["bankruptcyPrice"]) for e in events_named(tx, "FundAccepted")] == [
        (alice, w("1909.75")), (bob, w("1909.75")),
    ]
    assert "AdlFill" not in tx.events
    # the high-water mark moves before each acceptance: 207, then 207 + (1,950 - 1,909.75) = 247.25
    hwm = cash + 1950 * U - nb_alice
    assert [e["highWaterMark"] for e in events_named(tx, "FundWatermarkUpdated")] == [cash, hwm]
    assert env.free(keeper) == free_keeper + r_alice + r_bob
    fund_on = nb_alice + nb_bob
    assert fund_raw(env, env.ETH) == (cash, w(3), fund_on) == (cash, w(3), 5_729_250_000)
    assert env.fund_state(env.ETH)["equity"] == cash + 3 * 1950 * U - fund_on
    step_done()

    # ---------------------------------------------------------------- 2. 1,850: the fund is in drawdown, refuses carol
    env.set_price(env.ETH, 1850)
    mark = w(1850)
    fund_equity = cash + 3 * 1850 * U - fund_on
    assert fund_equity == 27_750_000
    d = drawdown(hwm, fund_equity)
    assert d == (hwm - fund_equity) * WAD // hwm >= 3 * WAD // 10
    # carol: equity 200 - 150 = 50 < MM 55.5; reward min(9.25, 100, 50); nb = 2,000 - 190.75
    r_carol = keeper_reward(1850 * U, 50 * U, 200 * U, 100 * U)
    nb_carol = 2000 * U - (200 * U - r_carol)
    assert nb_carol == 1_809_250_000
    s_grace, s_frank = score(300 * U, 400 * U), score(450 * U, 3000 * U)  # shorts' u at 1,850
    free = {a: env.free(a) for a in (carol, frank, grace, dave, keeper)}
    tx = env.perp.liquidate(env.ETH, carol, {"from": keeper})
    assert dict(tx.events["FundWatermarkUpdated"]) == {
        "marketId": env.ETH, "highWaterMark": hwm, "highWaterMarkTimestamp": t_hwm, "drawdown": d, "distressed": True,
    }
    assert tx.events["FundRefused"]["reason"] == REFUSE_DRAWDOWN
    # carol still has equity (40.75 after the reward): Type 1 closes her at mark, not at her bankruptcy price
    # 1,809.25 (that would hand grace her 40.75), and the 40.75 goes to the fund
    assert [dict(f) for f in events_named(tx, "AdlFill")] == [
        {"marketId": env.ETH, "account": grace, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": w(1),
         "price": mark, "notional": 1850 * U, "score": s_grace, "rank": 1},
    ]
    # grace buys 1 of 2 at mark: released basis -2,000, pnl 2,000 - 1,850, half her margin after freed
    m_grace = 400 * U + 2000 * U - 1850 * U
    assert position(env, env.ETH, grace) == (-w(1), -2000 * U, m_grace - m_grace // 2)
    assert env.free(grace) == free[grace] + m_grace // 2
    assert position(env, env.ETH, carol) == (0, 0, 0) and env.free(carol) == free[carol]
    assert env.free(keeper) == free[keeper] + r_carol
    assert env.free(frank) == free[frank] and env.free(dave) == free[dave]
    surplus = 1850 * U - nb_carol
    assert surplus == 40_750_000
    cash += surplus
    assert fund_raw(env, env.ETH) == (cash, w(3), fund_on)
    step_done()

    # ---------------------------------------------------------------- 3. Type 2: the fund sells its 3 units at mark
    # its bankruptcy price (5,729.25 - 247.75) / 3 = 1,827.17 is below the mark: it trades at 1,850
    assert -((-(fund_on - cash) * WAD * S) // w(3)) < mark
    m_grace_now = m_grace - m_grace // 2
    s_grace2 = score(150 * U, m_grace_now)  # grace: short 1 at 2,000, u = 150 at 1,850
    assert s_grace2 > s_frank
    free = {a: env.free(a) for a in (frank, grace, dave)}
    dave_before = position(env, env.ETH, dave)
    tx = env.perp.deleverageFund(env.ETH, {"from": outsider})
    n_grace, n_frank = notional_up(w(1), mark, S), notional_up(w(2), mark, S)
    assert [dict(f) for f in events_named(tx, "AdlFill")] == [
        {"marketId": env.ETH, "account": grace, "adlType": ADL_TYPE_FUND, "sizeDelta": w(1), "price": mark,
         "notional": n_grace, "score": s_grace2, "rank": 1},
        {"marketId": env.ETH, "account": frank, "adlType": ADL_TYPE_FUND, "sizeDelta": w(2), "price": mark,
         "notional": n_frank, "score": s_frank, "rank": 2},
    ]
    # the fund: first unit releases 5,729.25 / 3 = 1,909.75 of basis, the other two the rest
    cash = cash + (n_grace - 1_909_750_000) + (n_frank - (fund_on - 1_909_750_000))
    assert cash == fund_equity + surplus == 68_500_000  # trading at mark leaves its equity as it was
    assert fund_raw(env, env.ETH) == (cash, 0, 0)
    assert position(env, env.ETH, grace) == (0, 0, 0)
    assert env.free(grace) == free[grace] + m_grace_now + (2000 * U - n_grace)
    m_frank = 3000 * U + (4000 * U - n_frank)  # released basis -6,000 * 2 / 3
    assert position(env, env.ETH, frank) == (-w(1), -2000 * U, m_frank - m_frank * 2 // 3)
    assert env.free(frank) == free[frank] + m_frank * 2 // 3
    assert position(env, env.ETH, dave) == dave_before and env.free(dave) == free[dave]
    step_done()
    for a, order in old_orders.items():
        assert_stale_epoch(env, a, order, dave)
    with brownie.reverts(err("FundFlat", env.ETH)):
        env.perp.deleverageFund(env.ETH, {"from": outsider})

    # ---------------------------------------------------------------- 4. recovery: a top-up back to the stop line
    env.set_price(env.ETH, 1900)
    target = hwm * (WAD - DRAWDOWN_STOP) // WAD  # 80% of 247.25 = 197.8
    env.perp.topUpFund(env.ETH, target - cash, {"from": outsider})
    tx = env.perp.pokeFund(env.ETH, {"from": outsider})
    assert dict(tx.events["FundWatermarkUpdated"]) == {
        "marketId": env.ETH, "highWaterMark": hwm, "highWaterMarkTimestamp": t_hwm, "drawdown": DRAWDOWN_STOP,
        "distressed": False,
    }
    assert fund_raw(env, env.ETH) == (target, 0, 0) == (197_800_000, 0, 0)
    step_done()
    # the fund accepts again: dave (5x) is healthy, so nothing to liquidate
    with brownie.reverts(err("NotLiquidatable", env.ETH, dave, 300 * U, 57 * U)):
        env.perp.liquidate(env.ETH, dave, {"from": keeper})
    # erin can withdraw all of her free collateral
    env.perp.withdraw(erin_free, {"from": erin})
    erin_free = 0
    step_done()
