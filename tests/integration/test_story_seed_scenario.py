"""The seed articles' scenario, rebuilt on-chain: a short is liquidated after a price spike with a deficit the
(empty) insurance fund cannot take; Type 1 ADL cuts the most profitable, most leveraged long first, by exactly
the size needed, at the bankruptcy price; every balance is then what the accounting model says, and everyone can
still withdraw.

6-decimal collateral (amounts in units, 1 token = 1e6). At 2,000:
    alice  buys 3 from carol at 20x / 2x    alice: margin 300, maker fee 1.2   carol: margin 3,000, taker fee 3
    bob    buys 1 from carol at 5x / 2x     bob: margin 400, fee 0.4           carol: margin +1,000, fee 1
    bob    buys 1 from dave at 5x / 10x     bob: margin +400, fee 0.4          dave: margin 200, fee 1
The fund's cash is the fees: 1.2 + 3 + 0.4 + 1 + 0.4 + 1 = 7.
Spike to 2,250: dave (short 1, basis -2,000, margin 200) has equity 200 - 250 = -50; his bankruptcy notional is
200 + 2,000 = 2,200. Dave has no equity to pay his keeper: the fund pays the reward (0.5% of 2,250 = 11.25,
bounded by its cash: all 7 of it), and would then end at 0 - 50 < 0: it refuses.
Longs at 2,250: alice u = 750 on margin 300 (score 750/1,050), bob u = 500 on 800 (500/1,300): alice is first,
and her first unit covers the whole bankrupt size.
"""
import brownie
import pytest

from risk_calc import (
    ADL_TYPE_BANKRUPT,
    REFUSE_NEGATIVE_EQUITY,
    assert_stale_epoch,
    event_names,
    fund_raw,
    position,
    queue,
    score,
    w,
)
from support import err

U = 10**6


@pytest.fixture(scope="module")
def story(env0, alice, bob, carol, dave, erin):
    env = env0
    env.fund(alice, 1000 * U)
    env.fund(bob, 2000 * U)
    env.fund(carol, 10_000 * U)
    env.fund(dave, 500 * U)
    env.fund(erin, 300 * U)  # a bystander: free collateral only
    return env


def test_seed_scenario(story, alice, bob, carol, dave, erin, keeper):
    env = story
    # ------------------------------------------------------------------ the book at 2,000
    env.trade(alice, carol, env.ETH, w(3), w(2000), buyer_leverage=w(20), seller_leverage=w(2))
    env.trade(bob, carol, env.ETH, w(1), w(2000), buyer_leverage=w(5), seller_leverage=w(2))
    env.trade(bob, dave, env.ETH, w(1), w(2000), buyer_leverage=w(5), seller_leverage=w(10))
    env.check()
    assert position(env, env.ETH, alice) == (w(3), 6000 * U, 300 * U)
    assert position(env, env.ETH, bob) == (w(2), 4000 * U, 800 * U)
    assert position(env, env.ETH, carol) == (-w(4), -8000 * U, 4000 * U)
    assert position(env, env.ETH, dave) == (-w(1), -2000 * U, 200 * U)
    cash = 1_200_000 + 3_000_000 + 400_000 + 1_000_000 + 400_000 + 1_000_000
    assert fund_raw(env, env.ETH) == (cash, 0, 0) == (7 * U, 0, 0)
    free = {
        alice: 1000 * U - 300 * U - 1_200_000,
        bob: 2000 * U - 800 * U - 800_000,
        carol: 10_000 * U - 4000 * U - 4_000_000,
        dave: 500 * U - 200 * U - 1_000_000,
        erin: 300 * U,
        keeper: 0,
    }
    for a, f in free.items():
        assert env.free(a) == f
    alice_old_order = env.order(alice, env.ETH, False, w(1), w(2250))

    # ------------------------------------------------------------------ the spike
    env.set_price(env.ETH, 2250)
    assert env.position(env.ETH, dave)["equity"] == -50 * U
    s_alice, s_bob = score(750 * U, 300 * U), score(500 * U, 800 * U)
    assert s_alice > s_bob
    assert queue(env, env.ETH, alice) == (s_alice, 1, 2, 5)
    assert queue(env, env.ETH, bob) == (s_bob, 2, 2, 3)
    assert queue(env, env.ETH, carol) == (0, 0, 0, 0)
    alice_value_before = free[alice] + 300 * U + 750 * U  # free + equity at mark

    # ------------------------------------------------------------------ liquidation -> refusal -> Type 1
    tx = env.perp.liquidate(env.ETH, dave, {"from": keeper})

    assert event_names(tx) == [
        "FundWatermarkUpdated", "Liquidated", "OrderEpochBumped", "FundRefused", "OrderEpochBumped", "AdlFill",
        "PositionUpdated", "PositionUpdated", "FundUpdated",
    ]
    # dave is bankrupt: the fund pays his keeper 0.5% of 2,250 = 11.25, bounded by its cash (the 7 of fees)
    assert dict(tx.events["Liquidated"]) == {
        "marketId": env.ETH, "account": dave, "keeper": keeper, "size": -w(1), "markPrice": w(2250),
        "bankruptcyPrice": w(2200), "equity": -50 * U, "keeperReward": 7 * U,
    }
    free[keeper] += 7 * U
    assert dict(tx.events["FundRefused"]) == {"marketId": env.ETH, "account": dave, "reason": REFUSE_NEGATIVE_EQUITY}
    assert dict(tx.events["AdlFill"]) == {
        "marketId": env.ETH, "account": alice, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": -w(1), "price": w(2200),
        "notional": 2200 * U, "score": s_alice, "rank": 1,
    }
    env.check(after_keeper=True)

    # alice sold 1 of 3 for 2,200: released basis 6,000 / 3 = 2,000, pnl +200, margin 500, a third freed
    freed = 500 * U // 3
    assert freed == 166_666_666
    free[alice] += freed
    assert position(env, env.ETH, alice) == (w(2), 4000 * U, 500 * U - freed)
    # the deficit is paid by alice alone: at mark she is worth exactly 50 less than before
    alice_value_after = free[alice] + (500 * U - freed) + (4500 * U - 4000 * U)
    assert alice_value_before - alice_value_after == 50 * U
    # everybody else as before, dave closed at zero margin, the fund's cash with the keeper
    assert position(env, env.ETH, bob) == (w(2), 4000 * U, 800 * U)
    assert position(env, env.ETH, carol) == (-w(4), -8000 * U, 4000 * U)
    assert position(env, env.ETH, dave) == (0, 0, 0)
    assert fund_raw(env, env.ETH) == (0, 0, 0)
    for a, f in free.items():
        assert env.free(a) == f
    assert env.perp.orderEpoch(alice) == 1 and env.perp.orderEpoch(bob) == 0
    assert queue(env, env.ETH, alice) == (score(500 * U, 500 * U - freed), 1, 2, 5)

    # ------------------------------------------------------------------ afterwards
    assert_stale_epoch(env, alice, alice_old_order, bob)
    with brownie.reverts(err("NoPosition", env.ETH, dave)):
        env.perp.liquidate(env.ETH, dave, {"from": keeper})
    # alice sells her 2 remaining units to carol at 2,250 with a fresh order: carol closes half her short
    env.trade(carol, alice, env.ETH, w(2), w(2250))
    n = 4500 * U
    free[alice] += (500 * U - freed) + (n - 4000 * U) - 2_250_000  # all margin, pnl +500, taker fee
    pnl_carol = -n + 4000 * U  # released basis -8,000 * 2 / 4
    free[carol] += (4000 * U + pnl_carol) // 2 - 900_000  # half of the margin after pnl, maker fee
    assert env.free(alice) == free[alice] and env.free(carol) == free[carol]
    assert position(env, env.ETH, alice) == (0, 0, 0)
    assert position(env, env.ETH, carol) == (-w(2), -4000 * U, (4000 * U + pnl_carol) - (4000 * U + pnl_carol) // 2)
    env.check(after_keeper=True)
    # everyone without a position can withdraw all of it
    for a in (alice, dave, erin):
        balance = env.token.balanceOf(a)
        env.perp.withdraw(free[a], {"from": a})
        assert env.token.balanceOf(a) == balance + free[a] and env.free(a) == 0
    env.check(after_keeper=True)
