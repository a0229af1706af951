"""Type 2 ADL (deleverageFund): the fund in distress closes its position against the ranked counterparties at
mark, capped at its own bankruptcy price so that its cash never goes negative; FundFlat, FundNotDistressed and a
stale oracle revert.

Book (fund seeded with 1,000 units, 6 decimals), at 2,000: alice long 1 (20x, margin 100) against carol short
0.6 (10x, margin 120) and bob short 0.4 (2x); deployer long 0.2 (1x, margin 400) against bob (short 0.6 in all,
margin 600). Fees 0.84 + 0.56 + 0.28 to the fund. At 1,950 alice is liquidated: reward 9.75, the fund accepts
her unit at 2,000 - 90.25 = 1,909.75 (high-water mark 1,001.68, set before it took the position)."""
import brownie
import pytest

from risk_calc import (
    ADL_TYPE_FUND,
    WAD,
    assert_stale_epoch,
    drawdown,
    event_names,
    events_named,
    fund_raw,
    make_stale,
    new_bystander,
    position,
    score,
    w,
)
from support import err

U = 10**6
S = 10**12
CASH = 1000 * U + 840_000 + 560_000 + 280_000  # seed + fees
NB = 1_909_750_000


@pytest.fixture(scope="module")
def book(env1k, deployer, alice, bob, carol, keeper):
    env = env1k
    for a in (deployer, alice, bob, carol):
        env.fund(a, 5000 * U)
    env.trade(alice, carol, env.ETH, w("0.6"), w(2000), buyer_leverage=w(20), seller_leverage=w(10))
    env.trade(alice, bob, env.ETH, w("0.4"), w(2000), buyer_leverage=w(20), seller_leverage=w(2))
    env.trade(deployer, bob, env.ETH, w("0.2"), w(2000), buyer_leverage=w(1), seller_leverage=w(2))
    env.set_price(env.ETH, 1950)
    # the liquidation samples the fund before it acts (flat: equity = cash, all the fees): the high-water mark
    env.hwm_time = env.perp.liquidate(env.ETH, alice, {"from": keeper}).timestamp
    env.bystander = new_bystander(env, 99 * U)
    return env


@pytest.fixture
def t2(book):
    yield book
    book.check(after_keeper=True)


def test_book_is_as_built(t2, deployer, bob, carol):
    env = t2
    assert fund_raw(env, env.ETH) == (CASH, w(1), NB)
    assert env.perp.fundAccount(env.ETH)[3] == CASH  # high-water mark
    assert position(env, env.ETH, carol) == (-w("0.6"), -1200 * U, 120 * U)
    assert position(env, env.ETH, bob) == (-w("0.6"), -1200 * U, 600 * U)
    assert position(env, env.ETH, deployer) == (w("0.2"), 400 * U, 400 * U)


def test_healthy_fund_reverts_fund_not_distressed(t2):
    env = t2
    # at 1,950 the fund's equity is 1,001.68 + 1,950 - 1,909.75 = 1,041.93, a new high: drawdown 0
    equity = CASH + 1950 * U - NB
    assert equity == 1_041_930_000
    with brownie.reverts(err("FundNotDistressed", env.ETH, equity, 0, 1950 * U)):
        env.perp.deleverageFund(env.ETH, {"from": env.keeper})


def test_flat_fund_reverts_fund_flat(t2):
    env = t2
    assert fund_raw(env, env.BTC) == (1000 * U, 0, 0)
    with brownie.reverts(err("FundFlat", env.BTC)):
        env.perp.deleverageFund(env.BTC, {"from": env.keeper})


def test_stale_oracle_reverts_deleverage_fund(t2):
    env = t2
    env.set_price(env.ETH, 900)
    updated = make_stale(env, env.ETH)
    with brownie.reverts(err("StaleOraclePrice", env.ETH, updated, 3600)):
        env.perp.deleverageFund(env.ETH, {"from": env.keeper})
    with brownie.reverts(err("StaleOraclePrice", env.ETH, updated, 3600)):
        env.perp.pokeFund(env.ETH, {"from": env.keeper})


def test_fund_with_negative_equity_deleverages_in_score_order_capped_at_its_bankruptcy_price(
    t2, deployer, bob, carol, keeper
):
    env = t2
    mark = w(900)
    env.set_price(env.ETH, 900)
    equity = CASH + 900 * U - NB
    assert equity == -8_070_000
    # the fund's bankruptcy price (long): (openNotional - cash) / size = 908.07 > mark, so it sells at 908.07
    p = -((-(NB - CASH) * WAD * S) // w(1))
    assert p == w("908.07") > mark
    # shorts at mark: carol u = 1,200 - 540 = 660 on margin 120, bob the same u on 600
    s_carol, s_bob = score(660 * U, 120 * U), score(660 * U, 600 * U)
    free = {a: env.free(a) for a in (bob, carol, deployer, keeper)}
    deployer_before = position(env, env.ETH, deployer)
    old = {a: env.order(a, env.ETH, True, w("0.1"), w(900)) for a in (bob, carol)}
    bystander_free = env.free(env.bystander)

    tx = env.perp.deleverageFund(env.ETH, {"from": keeper})

    # counterparties buy: they pay ceil(q * p)
    n_carol = -((-w("0.6") * p) // (WAD * S))
    n_bob = -((-w("0.4") * p) // (WAD * S))
    assert (n_carol, n_bob) == (544_842_000, 363_228_000)
    assert [dict(f) for f in events_named(tx, "AdlFill")] == [
        {"marketId": env.ETH, "account": carol, "adlType": ADL_TYPE_FUND, "sizeDelta": w("0.6"), "price": p,
         "notional": n_carol, "score": s_carol, "rank": 1},
        {"marketId": env.ETH, "account": bob, "adlType": ADL_TYPE_FUND, "sizeDelta": w("0.4"), "price": p,
         "notional": n_bob, "score": s_bob, "rank": 2},
    ]
    # the drawdown latch is set on the way (equity below zero: drawdown above 100%)
    assert dict(tx.events["FundWatermarkUpdated"]) == {
        "marketId": env.ETH, "highWaterMark": CASH, "highWaterMarkTimestamp": env.hwm_time,
        "drawdown": drawdown(CASH, equity), "distressed": True,
    }
    assert event_names(tx)[-1] == "FundUpdated"
    # fund: sells 0.6 (released ceil(1,909.75 * 0.6) = 1,145.85), then the last 0.4 (released 763.9): cash ends at 0
    cash_mid = CASH + n_carol - 1_145_850_000
    assert cash_mid == 400_672_000
    assert cash_mid + n_bob - (NB - 1_145_850_000) == 0
    assert fund_raw(env, env.ETH) == (0, 0, 0)
    assert dict(tx.events["FundUpdated"]) == {"marketId": env.ETH, "cash": 0, "size": 0, "openNotional": 0}
    # carol realizes 1,200 - 544.842 on margin 120, all freed
    assert position(env, env.ETH, carol) == (0, 0, 0)
    assert env.free(carol) == free[carol] + 120 * U + 1200 * U - n_carol
    # bob: 0.4 of 0.6 closed; released basis -floor(1,200 * 0.4 / 0.6) = -800
    margin_after = 600 * U + (800 * U - n_bob)
    freed = margin_after * w("0.4") // w("0.6")
    assert (margin_after, freed) == (1_036_772_000, 691_181_333)
    assert position(env, env.ETH, bob) == (-w("0.2"), -400 * U, margin_after - freed)
    assert env.free(bob) == free[bob] + freed
    # the fund's own side is never touched
    assert position(env, env.ETH, deployer) == deployer_before and env.free(deployer) == free[deployer]
    assert env.free(keeper) == free[keeper]
    assert env.free(env.bystander) == bystander_free
    env.check(after_keeper=True)
    for a, order in old.items():
        assert_stale_epoch(env, a, order, deployer)
    # a flat fund has nothing left to deleverage
    with brownie.reverts(err("FundFlat", env.ETH)):
        env.perp.deleverageFund(env.ETH, {"from": keeper})


def test_type2_works_on_a_paused_market(t2, bob, carol, keeper):
    env = t2
    env.perp.setPaused(env.ETH, True, {"from": env.dep.deployer})
    env.set_price(env.ETH, 900)
    tx = env.perp.deleverageFund(env.ETH, {"from": keeper})
    assert [(f["account"], f["rank"]) for f in events_named(tx, "AdlFill")] == [(carol, 1), (bob, 2)]
    assert fund_raw(env, env.ETH) == (0, 0, 0)
