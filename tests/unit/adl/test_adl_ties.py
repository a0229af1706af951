"""Type 1 ADL tie-breaks: on equal scores the larger position goes first, then the older one (smaller openSeq).

Book (empty fund, 6 decimals), all at 2,000 and 20x (margin 5% of notional), opened in this order:
    alice long 1 (openSeq 1) and dave short 1 (2); bob long 1.5 against dave (bob 3, dave grows to 2.5);
    bob long 0.5 more against carol short (4); erin long 1 (5) against carol (2x, margin 500 + 1,000).
At mark 2,200 alice, bob and erin all score u / (m + u) = 200 / 300 (bob: 400 / 600); dave (short 2.5, margin
250) is bankrupt at 250 + 5,000 = 5,250, i.e. 2,100 a unit.
"""
import pytest

from risk_calc import (
    ADL_TYPE_BANKRUPT,
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
FEES = (400_000 + 1_000_000) + (600_000 + 1_500_000) + (200_000 + 500_000) + (400_000 + 1_000_000)


@pytest.fixture(scope="module")
def book(env0, alice, bob, carol, dave, erin):
    env = env0
    for a in (alice, bob, carol, dave, erin):
        env.fund(a, 3000 * U)
    env.trade(alice, dave, env.ETH, w(1), w(2000), buyer_leverage=w(20), seller_leverage=w(20))
    env.trade(bob, dave, env.ETH, w("1.5"), w(2000), buyer_leverage=w(20), seller_leverage=w(20))
    env.trade(bob, carol, env.ETH, w("0.5"), w(2000), buyer_leverage=w(20), seller_leverage=w(2))
    env.trade(erin, carol, env.ETH, w(1), w(2000), buyer_leverage=w(20), seller_leverage=w(2))
    env.set_price(env.ETH, 2200)
    env.bystander = new_bystander(env, 50 * U)
    return env


@pytest.fixture
def tb(book):
    yield book
    book.check()


def test_tied_scores_rank_larger_then_older_in_the_queue(tb, alice, bob, erin):
    env = tb
    seq = {a: env.perp.getPosition(env.ETH, a)[3] for a in (alice, bob, erin)}
    assert seq[alice] < seq[bob] < seq[erin]
    tie = score(200 * U, 100 * U)
    assert tie == score(400 * U, 200 * U) == 666_666_666_666_666_666
    assert queue(env, env.ETH, bob) == (tie, 1, 3, 5)  # larger position first
    assert queue(env, env.ETH, alice) == (tie, 2, 3, lights(2, 3))  # then the older
    assert queue(env, env.ETH, erin) == (tie, 3, 3, lights(3, 3))


def test_type1_breaks_ties_by_size_then_age(tb, alice, bob, carol, dave, erin, keeper):
    env = tb
    tie = score(200 * U, 100 * U)
    free = {a: env.free(a) for a in (alice, bob, carol, dave, erin)}
    erin_before, carol_before = position(env, env.ETH, erin), position(env, env.ETH, carol)
    bystander_free, free_keeper = env.free(env.bystander), env.free(keeper)

    tx = env.perp.liquidate(env.ETH, dave, {"from": keeper})

    nb, S = 5250 * U, w("2.5")
    fills = events_named(tx, "AdlFill")
    assert [(f["account"], f["sizeDelta"], f["notional"], f["score"], f["rank"]) for f in fills] == [
        (bob, -w(2), nb * w(2) // S, tie, 1),
        (alice, -w("0.5"), nb * w("0.5") // S, tie, 2),
    ]
    assert all(f["adlType"] == ADL_TYPE_BANKRUPT and f["price"] == w(2100) for f in fills)
    # bob closes 2 for 4,200: +200 on margin 200 -> 400 freed
    assert position(env, env.ETH, bob) == (0, 0, 0) and env.free(bob) == free[bob] + 400 * U
    # alice closes half for 1,050: released basis 1,000, pnl 50, margin 150, half (75) freed
    assert position(env, env.ETH, alice) == (w("0.5"), 1000 * U, 75 * U)
    assert env.free(alice) == free[alice] + 75 * U
    # erin (same score and size as alice, younger) and carol (same side as dave) untouched
    assert position(env, env.ETH, erin) == erin_before and env.free(erin) == free[erin]
    assert position(env, env.ETH, carol) == carol_before and env.free(carol) == free[carol]
    assert position(env, env.ETH, dave) == (0, 0, 0) and env.free(dave) == free[dave]
    # dave is bankrupt: the fund pays his keeper 0.5% of the notional, bounded by its cash (the fees)
    assert tx.events["Liquidated"]["keeperReward"] == FEES and env.free(keeper) == free_keeper + FEES
    assert fund_raw(env, env.ETH) == (0, 0, 0)
    assert env.free(env.bystander) == bystander_free
    env.check(after_keeper=True)
