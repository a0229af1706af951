"""The SPEC oracle's findings (tests/spec/test_spec_findings.py) on the contracts: the same hand-made books run through
the differential harness, so every step is also checked against the model (chain and model agree), and the chain's
numbers are pinned, now that the contracts follow the SPEC:

1. The keeper's reward is at most the exact 0.5% of notional (rounded against the keeper).
2. The fund refuses a position that would put its drawdown past the trigger line (latched or not).
3. Every trade samples the high-water mark, so a drawdown from a high that only a trade saw is a distress.
"""
from fractions import Fraction as Q

import pytest

from harness import Harness
from perp.model import WAD
from scripts.deploy import deploy_devnet
from support import Env

U = 10**6


@pytest.fixture(scope="module")
def env0(signers):
    return Env(deploy_devnet(signers[0], decimals=6, quiet=True, fund_seed=0), list(signers))


@pytest.fixture(scope="module")
def env500(signers):
    return Env(deploy_devnet(signers[0], decimals=6, quiet=True, fund_seed=500 * U), list(signers))


def ok(result):
    assert result[2] is None, result[2]
    return result


def book(env):
    h = Harness(env)
    alice, bob, carol, dave = (env.signers[i] for i in (1, 2, 3, 4))
    for a in (alice, bob, carol, dave):
        ok(h.deposit(a, 10_000 * U))

    def trade(buyer, seller, size, price, lev_b, lev_s):
        b = h.order(buyer, env.ETH, True, size, price * WAD, lev_b * WAD)
        s = h.order(seller, env.ETH, False, size, price * WAD, lev_s * WAD)
        ok(h.settle([(b, s, size, price * WAD, None, None)]))

    return h, (alice, bob, carol, dave), trade


def test_keeper_reward_is_at_most_the_exact_reward_on_chain(env0):
    h, (alice, bob, _, _), trade = book(env0)
    # 19x: at 20x = 1/imr, paying the notional rounded up (2,000.000000) misses the initial margin by one unit
    trade(alice, bob, WAD - 1, 2000, 19, 2)  # notional at 1,950: 1,949.999999999999998050
    h.set_price(env0.ETH, 1950 * 10**8)
    tx, _, _ = ok(h.liquidate(env0.ETH, alice))
    exact = Q((WAD - 1) * 1950, WAD) * Q(50, 10_000)  # 0.5% of the notional
    reward = tx.events["Liquidated"][0]["keeperReward"]
    assert reward == 9_749_999 == env0.free(env0.keeper)
    assert 0 <= exact - Q(reward, U) < Q(1, U)


def test_fund_refuses_a_position_past_its_drawdown_trigger_on_chain(env500):
    """Alice long 1 @ 2,000 (20x) gaps to 1,700 (equity -200): the fund (501.40) pays the keeper 8.50 and would be
    at 292.90 below its mark of 501.40 (41.6%, trigger 30%): it refuses, and Type 1 closes alice against bob at 1,900."""
    h, (alice, bob, _, _), trade = book(env500)
    trade(alice, bob, WAD, 2000, 20, 2)
    h.set_price(env500.ETH, 1700 * 10**8)
    tx, _, _ = ok(h.liquidate(env500.ETH, alice))
    assert tx.events["FundRefused"][0]["reason"] == 3  # RefusalReason.Drawdown
    assert tx.events["Liquidated"][0]["keeperReward"] == 8_500_000
    fill = tx.events["AdlFill"][0]
    assert (fill["account"], fill["sizeDelta"], fill["price"]) == (bob.address, WAD, 1900 * WAD)
    cash, size, on, hwm, _, distressed = env500.perp.fundAccount(env500.ETH)
    assert (cash, size, on, hwm, distressed) == (492_900_000, 0, 0, 501_400_000, False)


def test_every_trade_samples_the_high_water_mark_on_chain(env500):
    """The fund takes alice's long at 1,909.725; at 2,400 (fund equity 991.675) carol and dave trade, and that
    trade's sample is the mark; back at 2,000 (equity 591.843, a 40.3% drawdown) Type 2 runs (and reverts as a
    whole: the one eligible short, dave's 0.1, cannot take the fund's long 1)."""
    h, (alice, bob, carol, dave), trade = book(env500)
    trade(alice, bob, WAD, 2000, 20, 2)
    h.set_price(env500.ETH, 1945 * 10**8)
    ok(h.liquidate(env500.ETH, alice))  # timely: the fund takes alice's long at 1,909.725
    h.set_price(env500.ETH, 2400 * 10**8)
    high = env500.lens.fundState(env500.ETH)[3]  # the fund's equity when carol and dave trade
    tx, _, _ = ok(h.settle([(h.order(carol, env500.ETH, True, WAD // 10, 2400 * WAD, 5 * WAD),
                            h.order(dave, env500.ETH, False, WAD // 10, 2400 * WAD, 5 * WAD),
                            WAD // 10, 2400 * WAD, None, None)]))
    stored = env500.perp.fundAccount(env500.ETH)
    assert high == stored[3] == 991_675_000 and stored[4] == tx.timestamp
    h.set_price(env500.ETH, 2000 * 10**8)
    _, _, err = h.deleverage_fund(env500.ETH)
    assert env500.lens.fundState(env500.ETH)[3] == 591_843_000
    assert err == "InsufficientAdlCapacity: 1, 1000000000000000000, 100000000000000000"
