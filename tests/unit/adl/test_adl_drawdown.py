"""Type 2 trigger and stop lines: the drawdown latch (set at 30% drawdown from the high-water mark by any sample:
a trade, pokeFund, liquidate or deleverageFund; cleared at 20%), the fund's refusal of a position that would put its
drawdown past the trigger (and its acceptance of one that would not, latched or not), the high-water mark as the
largest sample of its 8-hour window, and the risk-limit Type 2 that stops at maxFundNotional * notionalStop.

Book (fund seeded with 1,000 units, 6 decimals), at 2,000: alice long 1 (20x, margin 100) and carol long 1 (5x,
margin 400), both against bob short 2 (2x, margin 2,000); fees 2.8 to the fund (cash 1,002.8). At 1,950 alice is
liquidated (reward 9.75; the fund takes her unit at 1,909.75) and pokeFund sets the high-water mark at the fund's
equity 1,002.8 + 1,950 - 1,909.75 = 1,043.05.
Fund equity at a mark P (units) is 1,002.8 + P - 1,909.75, so a drawdown d needs P = (1 - d) * 1,043.05 + 906.95.
"""
import brownie
import pytest

from risk_calc import (
    ADL_TYPE_BANKRUPT,
    ADL_TYPE_FUND,
    DRAWDOWN_STOP,
    DRAWDOWN_TRIGGER,
    NOTIONAL_STOP,
    REFUSE_DRAWDOWN,
    WAD,
    assert_stale_epoch,
    ceil_div,
    drawdown,
    event_names,
    events_named,
    fund_raw,
    new_bystander,
    notional_down,
    notional_up,
    position,
    price_of,
    score,
    set_price_units,
    w,
)
from support import err

U = 10**6
S = 10**12
CASH = 1000 * U + 2 * (400_000 + 1_000_000)
NB = 1_909_750_000
HWM = CASH + 1950 * U - NB


def mark_for_equity(equity):
    """Mark (WAD) at which the fund (cash CASH, long 1 at NB) has `equity` units."""
    return (equity - CASH + NB) * S


def mark_for_drawdown(d_wad):
    """Mark (WAD) at which the fund's equity is exactly (1 - d) * HWM (the multiple of 1e10 the oracle needs)."""
    equity = HWM * (WAD - d_wad) // WAD
    assert HWM * (WAD - d_wad) % WAD == 0
    return (equity - CASH + NB) * S, equity


@pytest.fixture(scope="module")
def book(env1k, alice, bob, carol, outsider, keeper):
    env = env1k
    for a in (alice, bob, carol):
        env.fund(a, 5000 * U)
    env.trade(alice, bob, env.ETH, w(1), w(2000), buyer_leverage=w(20), seller_leverage=w(2))
    env.trade(carol, bob, env.ETH, w(1), w(2000), buyer_leverage=w(5), seller_leverage=w(2))
    env.set_price(env.ETH, 1950)
    env.perp.liquidate(env.ETH, alice, {"from": keeper})
    env.hwm_time = env.perp.pokeFund(env.ETH, {"from": outsider}).timestamp  # the sample that is the mark
    env.token.faucet(outsider, 1000 * U, {"from": outsider})
    env.token.approve(env.perp, 1000 * U, {"from": outsider})
    env.bystander = new_bystander(env, 10 * U)
    return env


@pytest.fixture
def dd(book):
    yield book
    book.check(after_keeper=True)


def test_book_is_as_built(dd, bob, carol):
    env = dd
    assert HWM == 1_043_050_000
    cash, size, on, hwm, _, distressed = env.perp.fundAccount(env.ETH)
    assert (cash, size, on, hwm, distressed) == (CASH, w(1), NB, HWM, False)
    assert position(env, env.ETH, bob) == (-w(2), -4000 * U, 2000 * U)
    assert position(env, env.ETH, carol) == (w(1), 2000 * U, 400 * U)


def test_drawdown_just_below_the_trigger_does_not_latch(dd, outsider, keeper):
    env = dd
    p30, eq30 = mark_for_drawdown(DRAWDOWN_TRIGGER)
    p = p30 + S  # one unit of equity more
    set_price_units(env, env.ETH, p)
    equity = eq30 + 1
    d = drawdown(HWM, equity)
    assert equity == 730_135_001 and d == DRAWDOWN_TRIGGER - 958_726_811 < DRAWDOWN_TRIGGER
    tx = env.perp.pokeFund(env.ETH, {"from": outsider})
    assert "FundWatermarkUpdated" not in tx.events  # neither the mark nor the latch moved
    assert env.fund_state(env.ETH)["drawdown"] == d and env.fund_state(env.ETH)["distressed"] is False
    # the risk desk's view: no distress, nothing to offset (the price is mark: the fund's own cap, 906.95, is below)
    assert tuple(env.lens.type2Preview.call(env.ETH)) == (False, 0, equity, d, p, 0, 0, False)
    with brownie.reverts(err("FundNotDistressed", env.ETH, equity, d, notional_up(w(1), p, S))):
        env.perp.deleverageFund(env.ETH, {"from": keeper})


def test_drawdown_at_the_trigger_latches_and_allows_type2_at_mark(dd, bob, carol, outsider, keeper):
    env = dd
    p, equity = mark_for_drawdown(DRAWDOWN_TRIGGER)
    assert (p, equity) == (w("1637.085"), 730_135_000)
    set_price_units(env, env.ETH, p)
    tx = env.perp.pokeFund(env.ETH, {"from": outsider})
    assert dict(tx.events["FundWatermarkUpdated"]) == {
        "marketId": env.ETH, "highWaterMark": HWM, "highWaterMarkTimestamp": env.hwm_time,
        "drawdown": DRAWDOWN_TRIGGER, "distressed": True,
    }
    assert env.fund_state(env.ETH)["distressed"] is True
    # the risk desk's view before the call: drawdown distress (DistressReason 2), Type 2 at mark for the fund's whole
    # unit, and bob can take all of it; the preview changes nothing
    fund_before = tuple(env.perp.fundAccount(env.ETH))
    assert tuple(env.lens.type2Preview.call(env.ETH)) == (True, 2, equity, DRAWDOWN_TRIGGER, p, w(1), w(1), False)
    assert tuple(env.perp.fundAccount(env.ETH)) == fund_before
    free_bob, free_carol, carol_before = env.free(bob), env.free(carol), position(env, env.ETH, carol)
    old = env.order(bob, env.ETH, True, w("0.1"), p)
    bystander_free = env.free(env.bystander)
    # bob at mark: u = 4,000 - ceil(2 * 1,637.085) = 725.83 on margin 2,000
    u_bob = 4000 * U - notional_up(w(2), p, S)
    assert u_bob == 725_830_000

    tx = env.perp.deleverageFund(env.ETH, {"from": keeper})

    # the fund's bankruptcy price (1,909.75 - 1,002.8 = 906.95) is below mark: it sells its unit at mark
    n = notional_up(w(1), p, S)
    assert n == 1_637_085_000
    (fill,) = events_named(tx, "AdlFill")
    assert dict(fill) == {
        "marketId": env.ETH, "account": bob, "adlType": ADL_TYPE_FUND, "sizeDelta": w(1), "price": p,
        "notional": n, "score": score(u_bob, 2000 * U), "rank": 1,
    }
    assert "FundWatermarkUpdated" not in tx.events
    # fund realizes n - 1,909.75 into its cash; equity unchanged by a trade at mark
    assert fund_raw(env, env.ETH) == (CASH + n - NB, 0, 0) == (equity, 0, 0)
    # bob: 1 of 2 closed, released basis -2,000, pnl 2,000 - n
    margin_after = 2000 * U + 2000 * U - n
    assert position(env, env.ETH, bob) == (-w(1), -2000 * U, margin_after - margin_after // 2)
    assert env.free(bob) == free_bob + margin_after // 2
    # carol is on the fund's side: untouched
    assert position(env, env.ETH, carol) == carol_before and env.free(carol) == free_carol
    assert env.free(env.bystander) == bystander_free
    env.check(after_keeper=True)
    assert_stale_epoch(env, bob, old, outsider)


def test_latched_fund_accepts_a_position_that_leaves_its_drawdown_below_the_trigger(dd, bob, carol, keeper):
    """No pokeFund: liquidate samples the fund first (drawdown exactly 30%: the latch is set), then decides. Carol's
    timely position brings the fund 28.90 of surplus (mark 1,637.085, bankruptcy price 1,608.185425), so after
    acceptance its drawdown is 27.2%, below the trigger: the fund takes it, latched or not."""
    env = dd
    p, equity = mark_for_drawdown(DRAWDOWN_TRIGGER)
    set_price_units(env, env.ETH, p)
    free_bob, free_keeper, bob_before = env.free(bob), env.free(keeper), position(env, env.ETH, bob)
    # carol: equity 400 + 1,637.085 - 2,000 = 37.085 < MM ceil(1,637.085 * 3%) = 49.11255
    eq_carol = 400 * U + notional_down(w(1), p, S) - 2000 * U
    assert eq_carol == 37_085_000 and eq_carol < ceil_div(notional_up(w(1), p, S) * 3, 100)
    reward = min(notional_down(w(1), p, S) * 50 // 10_000, 100 * U, eq_carol)
    assert reward == 8_185_425
    nb = 2000 * U - (400 * U - reward)
    pb = price_of(nb, w(1), S)
    assert (nb, pb) == (1_608_185_425, w("1608.185425"))
    after = equity + notional_down(w(1), p, S) - nb
    assert after == 759_034_575 and drawdown(HWM, after) < DRAWDOWN_TRIGGER

    tx = env.perp.liquidate(env.ETH, carol, {"from": keeper})

    assert event_names(tx) == [
        "FundWatermarkUpdated", "Liquidated", "OrderEpochBumped", "FundAccepted", "PositionUpdated", "FundUpdated",
    ]
    assert dict(tx.events["FundWatermarkUpdated"]) == {
        "marketId": env.ETH, "highWaterMark": HWM, "highWaterMarkTimestamp": env.hwm_time,
        "drawdown": DRAWDOWN_TRIGGER, "distressed": True,
    }
    assert dict(tx.events["FundAccepted"]) == {"marketId": env.ETH, "account": carol, "size": w(1), "bankruptcyPrice": pb}
    assert position(env, env.ETH, carol) == (0, 0, 0)
    assert position(env, env.ETH, bob) == bob_before and env.free(bob) == free_bob
    assert env.free(keeper) == free_keeper + reward
    assert fund_raw(env, env.ETH) == (CASH, w(2), NB + nb)
    assert env.fund_state(env.ETH)["equity"] == after


def test_fund_refuses_a_position_that_would_put_its_drawdown_past_the_trigger(dd, bob, carol, keeper):
    """At 1,590 carol is bankrupt (equity -10): the fund pays her keeper 7.95 (0.5% of 1,590) from its cash, and taking
    her long at its bankruptcy price of 1,600 would leave it at 665.10, 36.2% below its mark of 1,043.05: it refuses
    (RefusalReason.Drawdown) and Type 1 closes carol against bob (short 2, the only eligible short) at 1,600."""
    env = dd
    p = w(1590)
    set_price_units(env, env.ETH, p)
    free_bob, free_keeper = env.free(bob), env.free(keeper)
    equity = CASH + notional_down(w(1), p, S) - NB
    assert equity == 683_050_000
    reward = 1590 * U * 50 // 10_000
    assert reward == 7_950_000
    nb = 2000 * U - 400 * U
    assert drawdown(HWM, equity - reward + notional_down(w(1), p, S) - nb) >= DRAWDOWN_TRIGGER

    tx = env.perp.liquidate(env.ETH, carol, {"from": keeper})

    assert event_names(tx) == [
        "FundWatermarkUpdated", "Liquidated", "OrderEpochBumped", "FundRefused", "OrderEpochBumped", "AdlFill",
        "PositionUpdated", "PositionUpdated", "FundUpdated",
    ]
    assert dict(tx.events["FundWatermarkUpdated"]) == {
        "marketId": env.ETH, "highWaterMark": HWM, "highWaterMarkTimestamp": env.hwm_time,
        "drawdown": drawdown(HWM, equity), "distressed": True,
    }
    assert tx.events["Liquidated"]["keeperReward"] == reward and tx.events["Liquidated"]["equity"] == -10 * U
    assert dict(tx.events["FundRefused"]) == {"marketId": env.ETH, "account": carol, "reason": REFUSE_DRAWDOWN}
    u_bob = 4000 * U - notional_up(w(2), p, S)
    assert dict(tx.events["AdlFill"]) == {
        "marketId": env.ETH, "account": bob, "adlType": ADL_TYPE_BANKRUPT, "sizeDelta": w(1), "price": w(1600),
        "notional": nb, "score": score(u_bob, 2000 * U), "rank": 1,
    }
    margin_after = 2000 * U + 2000 * U - nb
    assert position(env, env.ETH, bob) == (-w(1), -2000 * U, margin_after - margin_after // 2)
    assert env.free(bob) == free_bob + margin_after // 2
    assert position(env, env.ETH, carol) == (0, 0, 0)
    assert env.free(keeper) == free_keeper + reward  # the keeper's profit on a bankrupt position
    assert fund_raw(env, env.ETH) == (CASH - reward, w(1), NB)  # nothing inherited; the reward from its cash


def test_latched_fund_between_stop_and_trigger_may_still_deleverage(dd, bob, outsider, keeper):
    env = dd
    p, equity = mark_for_drawdown(DRAWDOWN_TRIGGER)
    set_price_units(env, env.ETH, p)
    env.perp.pokeFund(env.ETH, {"from": outsider})
    _, eq25 = mark_for_drawdown(WAD // 4)
    top_up = eq25 - equity
    assert top_up == 52_152_500
    env.perp.topUpFund(env.ETH, top_up, {"from": outsider})
    assert env.fund_state(env.ETH)["drawdown"] == WAD // 4
    assert DRAWDOWN_STOP < WAD // 4 < DRAWDOWN_TRIGGER
    assert env.fund_state(env.ETH)["distressed"] is True

    tx = env.perp.deleverageFund(env.ETH, {"from": keeper})

    assert [(f["account"], f["adlType"], f["sizeDelta"], f["price"]) for f in events_named(tx, "AdlFill")] == [
        (bob, ADL_TYPE_FUND, w(1), p)
    ]
    assert fund_raw(env, env.ETH) == (CASH + top_up + notional_up(w(1), p, S) - NB, 0, 0)


def test_top_up_back_to_the_stop_line_clears_the_latch(dd, outsider, keeper):
    env = dd
    p, equity = mark_for_drawdown(DRAWDOWN_TRIGGER)
    set_price_units(env, env.ETH, p)
    env.perp.pokeFund(env.ETH, {"from": outsider})
    _, eq20 = mark_for_drawdown(DRAWDOWN_STOP)
    top_up = eq20 - equity
    assert (top_up, eq20) == (104_305_000, 834_440_000)
    env.perp.topUpFund(env.ETH, top_up, {"from": outsider})
    # deleverageFund recomputes the latch first: drawdown exactly 20% clears it, then nothing is in distress
    with brownie.reverts(err("FundNotDistressed", env.ETH, eq20, DRAWDOWN_STOP, notional_up(w(1), p, S))):
        env.perp.deleverageFund(env.ETH, {"from": keeper})
    tx = env.perp.pokeFund(env.ETH, {"from": outsider})
    assert dict(tx.events["FundWatermarkUpdated"]) == {
        "marketId": env.ETH, "highWaterMark": HWM, "highWaterMarkTimestamp": env.hwm_time,
        "drawdown": DRAWDOWN_STOP, "distressed": False,
    }
    assert env.fund_state(env.ETH)["distressed"] is False


def test_drawdown_between_the_lines_without_latch_is_not_distress(dd, outsider, keeper):
    env = dd
    p, equity = mark_for_drawdown(WAD // 4)
    assert (p, equity) == (w("1689.2375"), 782_287_500)
    set_price_units(env, env.ETH, p)
    tx = env.perp.pokeFund(env.ETH, {"from": outsider})
    assert "FundWatermarkUpdated" not in tx.events
    with brownie.reverts(err("FundNotDistressed", env.ETH, equity, WAD // 4, notional_up(w(1), p, S))):
        env.perp.deleverageFund(env.ETH, {"from": keeper})


def test_risk_limit_type2_stops_at_the_notional_stop_line(dd, bob, carol, keeper):
    env = dd
    mark = w(1950)
    max_notional = 1000 * U
    params = env.dep.markets["ETH-PERP"]["params"].with_(max_fund_notional=max_notional)
    env.perp.setMarketParams(env.ETH, params.as_tuple(), {"from": env.dep.deployer})
    assert env.fund_state(env.ETH)["net_notional"] == 1950 * U > max_notional
    free_bob, carol_before = env.free(bob), position(env, env.ETH, carol)
    # target: 1,000 * 80% = 800 units of notional, i.e. floor(800 / 1,950) units of size
    target_notional = max_notional * NOTIONAL_STOP // WAD
    target_size = target_notional * WAD * S // mark
    q = w(1) - target_size
    assert (target_size, q) == (410_256_410_256_410_256, 589_743_589_743_589_744)

    tx = env.perp.deleverageFund(env.ETH, {"from": keeper})

    n = notional_up(q, mark, S)  # bob buys: pays ceil(q * 1,950)
    u_bob = 4000 * U - notional_up(w(2), mark, S)
    (fill,) = events_named(tx, "AdlFill")
    assert dict(fill) == {
        "marketId": env.ETH, "account": bob, "adlType": ADL_TYPE_FUND, "sizeDelta": q, "price": mark,
        "notional": n, "score": score(u_bob, 2000 * U), "rank": 1,
    }
    released_fund = ceil_div(NB * q, w(1))
    cash = CASH + n - released_fund
    assert fund_raw(env, env.ETH) == (cash, target_size, NB - released_fund)
    net = notional_up(target_size, mark, S)
    assert net == 800 * U <= target_notional
    assert env.fund_state(env.ETH)["net_notional"] == net
    released_bob = -((4000 * U * q) // w(2))  # toward +infinity for a negative basis
    margin_after = 2000 * U + (-n - released_bob)
    freed = margin_after * q // w(2)
    assert position(env, env.ETH, bob) == (-(w(2) - q), -4000 * U - released_bob, margin_after - freed)
    assert env.free(bob) == free_bob + freed
    assert position(env, env.ETH, carol) == carol_before
    # back under the limit: no more Type 2
    equity = cash + notional_down(target_size, mark, S) - (NB - released_fund)
    hwm = max(HWM, equity)
    with brownie.reverts(err("FundNotDistressed", env.ETH, equity, drawdown(hwm, equity), net)):
        env.perp.deleverageFund(env.ETH, {"from": keeper})


@pytest.mark.filterwarnings("ignore:rpc.sleep should not be called directly:FutureWarning")
def test_high_water_mark_is_the_largest_sample_of_its_window(dd, bob, outsider, keeper):
    """Kept last in this module: it moves the chain's clock past the 8-hour window (the oracle is re-posted).
    4 h after the mark (1,043.05) a poke samples 990.8975 (5% down); 4 h later the mark's own sample has left the
    window and the fund is at 693.62825: the mark is now the poke's 990.8975 (not the current equity, as a mark that
    resets once its window has passed would be), a drawdown of exactly 30%, so the latch is set and Type 2 runs."""
    env = dd
    brownie.chain.sleep(4 * 3600)
    e5 = HWM * 95 // 100
    assert e5 == 990_897_500
    set_price_units(env, env.ETH, mark_for_equity(e5))
    t1 = env.perp.pokeFund(env.ETH, {"from": outsider}).timestamp
    assert tuple(env.perp.fundAccount(env.ETH))[3:] == (HWM, env.hwm_time, False)  # the first sample is still in
    brownie.chain.sleep(4 * 3600 + 60)
    equity = e5 * 70 // 100
    p = mark_for_equity(equity)
    assert (equity, p) == (693_628_250, w("1600.57825"))
    set_price_units(env, env.ETH, p)
    tx = env.perp.pokeFund(env.ETH, {"from": outsider})
    assert tx.timestamp > env.hwm_time + 8 * 3600 and tx.timestamp - t1 < 8 * 3600
    assert dict(tx.events["FundWatermarkUpdated"]) == {
        "marketId": env.ETH, "highWaterMark": e5, "highWaterMarkTimestamp": t1, "drawdown": DRAWDOWN_TRIGGER,
        "distressed": True,
    }
    tx = env.perp.deleverageFund(env.ETH, {"from": keeper})
    assert [(f["account"], f["adlType"], f["sizeDelta"], f["price"]) for f in events_named(tx, "AdlFill")] == [
        (bob, ADL_TYPE_FUND, w(1), p)
    ]
    assert fund_raw(env, env.ETH) == (CASH + notional_up(w(1), p, S) - NB, 0, 0)
