"""Type 1 and Type 2 ADL on both collateral decimals (the shared `env` fixture: 6 and 18), with every amount
written through `env.units` and the scale, so that the same hand calculation holds for both.

Book at 2,000: alice long 1 (20x, margin 100) against carol short 0.4 (10x, margin 80) and bob short 0.6 (2x,
margin 600). At 1,950 alice is liquidatable (equity 50 < MM 58.5; reward 9.75; bankruptcy notional 1,909.75).
Shorts at 1,950: carol u = 800 - 780 = 20 on 80 (score 0.2), bob u = 1,200 - 1,170 = 30 on 600 (score 30/630)."""
import pytest

from risk_calc import (
    assert_reference_params,
    ADL_TYPE_BANKRUPT,
    ADL_TYPE_FUND,
    NOTIONAL_STOP,
    REFUSE_RISK_LIMIT,
    WAD,
    ceil_div,
    events_named,
    fund_raw,
    notional_up,
    position,
    queue,
    score,
    w,
)


@pytest.fixture(scope="module")
def book(env, alice, bob, carol):
    assert_reference_params(env)
    for a in (alice, bob, carol):
        env.fund(a, env.units(5000))
    env.trade(alice, carol, env.ETH, w("0.4"), w(2000), buyer_leverage=w(20), seller_leverage=w(10))
    env.trade(alice, bob, env.ETH, w("0.6"), w(2000), buyer_leverage=w(20), seller_leverage=w(2))
    env.set_price(env.ETH, 1950)
    return env


@pytest.fixture
def bk(book):
    yield book
    book.check(after_keeper=True)


def set_max_fund_notional(env, value):
    params = env.dep.markets["ETH-PERP"]["params"].with_(max_fund_notional=value)
    env.perp.setMarketParams(env.ETH, params.as_tuple(), {"from": env.dep.deployer})


def test_type1_on_both_decimals(bk, alice, bob, carol, keeper):
    env = bk
    u = env.units
    set_max_fund_notional(env, u(1000))
    s_carol, s_bob = score(u(20), u(80)), score(u(30), u(600))
    assert queue(env, env.ETH, carol) == (s_carol, 1, 2, 5)
    assert queue(env, env.ETH, bob) == (s_bob, 2, 2, 3)
    cash = fund_raw(env, env.ETH)[0]
    free_bob, free_carol = env.free(bob), env.free(carol)

    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})

    assert tx.events["FundRefused"]["reason"] == REFUSE_RISK_LIMIT
    nb = u(2000) - (u(100) - u("9.75"))
    assert nb == u("1909.75")
    # alice still has equity (50, 9.75 of it to the keeper): refused for the risk limit, she is closed at mark
    # 1,950, not at her bankruptcy price, and her remaining 40.25 goes to the fund
    n_carol, n_bob = ceil_div(u(1950) * 4, 10), ceil_div(u(1950) * 6, 10)  # shorts buy at mark: rounded up
    assert (n_carol, n_bob) == (u(780), u(1170))
    assert [dict(f) for f in events_named(tx, "AdlFill")] == [
        {"marketId": env.ETH, "account": carol, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": w("0.4"),
         "price": w(1950), "notional": n_carol, "score": s_carol, "rank": 1},
        {"marketId": env.ETH, "account": bob, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": w("0.6"),
         "price": w(1950), "notional": n_bob, "score": s_bob, "rank": 2},
    ]
    assert env.free(carol) == free_carol + u(80) + u(800) - n_carol
    assert env.free(bob) == free_bob + u(600) + u(1200) - n_bob
    assert position(env, env.ETH, carol) == (0, 0, 0) and position(env, env.ETH, bob) == (0, 0, 0)
    assert fund_raw(env, env.ETH) == (cash + (n_carol + n_bob - nb), 0, 0)
    assert n_carol + n_bob - nb == u("40.25")


def test_risk_limit_type2_on_both_decimals(bk, alice, bob, carol, keeper):
    env = bk
    u, scale = env.units, env.scale
    mark = w(1950)
    env.perp.liquidate(env.ETH, alice, {"from": keeper})  # accepted: the fund is long 1 at 1,909.75
    cash, _, on = fund_raw(env, env.ETH)
    assert on == u("1909.75")
    set_max_fund_notional(env, u(1000))
    target_size = (u(1000) * NOTIONAL_STOP // WAD) * WAD * scale // mark
    q = w(1) - target_size
    q_bob = q - w("0.4")
    free_bob, free_carol = env.free(bob), env.free(carol)

    tx = env.perp.deleverageFund(env.ETH, {"from": keeper})

    n_carol, n_bob = notional_up(w("0.4"), mark, scale), notional_up(q_bob, mark, scale)
    assert n_carol == u(780)
    fills = events_named(tx, "AdlFill")
    assert [(f["account"], f["adlType"], f["sizeDelta"], f["price"], f["notional"], f["rank"]) for f in fills] == [
        (carol, ADL_TYPE_FUND, w("0.4"), mark, n_carol, 1),
        (bob, ADL_TYPE_FUND, q_bob, mark, n_bob, 2),
    ]
    assert env.free(carol) == free_carol + u(80) + u(800) - n_carol
    released_bob = -((u(1200) * q_bob) // w("0.6"))
    margin_after = u(600) - n_bob - released_bob
    freed = margin_after * q_bob // w("0.6")
    assert position(env, env.ETH, bob) == (-(w("0.6") - q_bob), -u(1200) - released_bob, margin_after - freed)
    assert env.free(bob) == free_bob + freed
    r1 = ceil_div(on * w("0.4"), w(1))
    r2 = ceil_div((on - r1) * q_bob, w("0.6"))
    assert fund_raw(env, env.ETH) == (cash + (n_carol - r1) + (n_bob - r2), target_size, on - r1 - r2)
    assert env.fund_state(env.ETH)["net_notional"] == notional_up(target_size, mark, scale) <= u(800)
