"""addMargin / removeMargin on isolated positions: exact margin and free collateral, PositionUpdated, and every
revert with its arguments computed by hand (ETH-PERP defaults: imr 5%, mcr 4%, mmr 3%, max 20x, fees 2/5 bps).

Reference position: 1.5 ETH bought by alice from bob at 2,000.5 at 5x, so notional n = 3,000.75, margin 600.15
each side, alice (maker) pays 0.600150 and bob (taker) 1.500375 in fees. The oracle is moved to 2,000.5 first,
so that at the unchanged mark uPnL is 0 and equity = margin."""
import brownie
import pytest
from brownie import web3

from perp.params import default_params
from support import err

SIZE = "1.5"
PRICE = "2000.5"


def ev(tx, name, i=0):
    return dict(tx.events[name][i])


def stored(env, market_id, account):
    size, open_notional, margin, *_ = env.perp.getPosition(market_id, account)
    return size, open_notional, margin


@pytest.fixture(scope="module", autouse=True)
def ref(env, calc, open_pair, alice, bob):
    """The reference position (alice long, bob short), opened once per deployment before the isolation snapshot
    of every test of this module, with its hand-computed numbers; mark = fill price."""
    env.set_price(env.ETH, PRICE)
    o = open_pair(env, alice, bob, env.ETH, calc.wad(SIZE), calc.px(PRICE), deposit=env.units(10_000))
    assert o.notional == env.units("3000.75")
    assert o.long_margin == o.short_margin == env.units("600.15")
    env.check()
    return o


SIDES = ["long", "short"]


def side_of(ref, alice, bob, side):
    """(account, signed size, signed open notional, margin, free) of one side of the reference position."""
    if side == "long":
        return alice, ref.size, ref.notional, ref.long_margin, ref.long_free
    return bob, -ref.size, -ref.notional, ref.short_margin, ref.short_free


# ------------------------------------------------------------------ addMargin


@pytest.mark.parametrize("side", SIDES)
def test_add_margin_moves_free_collateral_into_position_margin(checked, ref, alice, bob, side):
    env = checked
    acct, size, on, margin, free = side_of(ref, alice, bob, side)
    amount = env.units("12.345")

    env.perp.addMargin(env.ETH, amount, {"from": acct})

    assert stored(env, env.ETH, acct) == (size, on, margin + amount)
    assert env.free(acct) == free - amount


@pytest.mark.parametrize("side", SIDES)
def test_add_margin_emits_position_updated_with_full_state(checked, ref, alice, bob, side):
    env = checked
    acct, size, on, margin, free = side_of(ref, alice, bob, side)
    amount = env.units("12.345")

    tx = env.perp.addMargin(env.ETH, amount, {"from": acct})

    assert ev(tx, "PositionUpdated") == {
        "marketId": env.ETH, "account": acct, "size": size, "openNotional": on,
        "margin": margin + amount, "freeCollateral": free - amount,
    }


def test_add_margin_above_free_collateral_reverts_with_amounts(checked, ref, alice):
    env = checked
    with brownie.reverts(err("InsufficientFreeCollateral", alice, ref.long_free, ref.long_free + 1)):
        env.perp.addMargin(env.ETH, ref.long_free + 1, {"from": alice})
    assert stored(env, env.ETH, alice)[2] == ref.long_margin


def test_add_margin_of_all_free_collateral_succeeds(checked, ref, alice):
    env = checked
    env.perp.addMargin(env.ETH, ref.long_free, {"from": alice})
    assert env.free(alice) == 0
    assert stored(env, env.ETH, alice)[2] == ref.long_margin + ref.long_free


def test_add_margin_zero_reverts_zero_amount(checked, ref, alice):
    with brownie.reverts(err("ZeroAmount")):
        checked.perp.addMargin(checked.ETH, 0, {"from": alice})


def test_add_margin_without_position_reverts_no_position(checked, carol):
    env = checked
    env.fund(carol, env.units(100))
    with brownie.reverts(err("NoPosition", env.ETH, carol)):
        env.perp.addMargin(env.ETH, env.units(1), {"from": carol})
    assert env.free(carol) == env.units(100)


def test_add_margin_in_other_market_than_the_position_reverts_no_position(checked, ref, alice):
    env = checked
    with brownie.reverts(err("NoPosition", env.BTC, alice)):
        env.perp.addMargin(env.BTC, env.units(1), {"from": alice})


def test_add_margin_on_paused_market_is_allowed(checked, ref, alice, deployer):
    """Pause stops trading and margin removal, but a trader can still defend a position keepers can liquidate."""
    env = checked
    env.perp.setPaused(env.ETH, True, {"from": deployer})
    free = env.free(alice)
    env.perp.addMargin(env.ETH, env.units(1), {"from": alice})
    assert stored(env, env.ETH, alice)[2] == ref.long_margin + env.units(1)
    assert env.free(alice) == free - env.units(1)


def test_add_margin_on_unknown_market_reverts_unknown_market(checked, alice):
    env = checked
    env.fund(alice, env.units(1))
    with brownie.reverts(err("UnknownMarket", 99)):
        env.perp.addMargin(99, env.units(1), {"from": alice})


def test_add_margin_works_with_a_stale_oracle(checked, ref, alice):
    """Adding margin needs no price (it only makes the position safer)."""
    env = checked
    stale_at = web3.eth.get_block("latest").timestamp - 3600 - 100
    env.oracle(env.ETH).setPriceAt(2000 * 10**8, stale_at, {"from": env.dep.deployer})

    env.perp.addMargin(env.ETH, env.units(1), {"from": alice})

    assert stored(env, env.ETH, alice)[2] == ref.long_margin + env.units(1)


# ------------------------------------------------------------------ removeMargin: success


@pytest.mark.parametrize("side", SIDES)
def test_remove_margin_moves_margin_back_to_free_collateral(checked, ref, alice, bob, side):
    env = checked
    acct, size, on, margin, free = side_of(ref, alice, bob, side)
    amount = env.units("100.01")

    env.perp.removeMargin(env.ETH, amount, {"from": acct})

    assert stored(env, env.ETH, acct) == (size, on, margin - amount)
    assert env.free(acct) == free + amount


@pytest.mark.parametrize("side", SIDES)
def test_remove_margin_emits_position_updated_with_full_state(checked, ref, alice, bob, side):
    env = checked
    acct, size, on, margin, free = side_of(ref, alice, bob, side)
    amount = env.units("100.01")

    tx = env.perp.removeMargin(env.ETH, amount, {"from": acct})

    assert ev(tx, "PositionUpdated") == {
        "marketId": env.ETH, "account": acct, "size": size, "openNotional": on,
        "margin": margin - amount, "freeCollateral": free + amount,
    }


def test_remove_margin_down_to_exactly_initial_margin_succeeds(checked, calc, ref, alice):
    env = checked
    # At the entry price uPnL is 0 (notional rounds the same both ways), so equity = margin.
    im = calc.wad_mul_up(calc.notional_up(ref.size, ref.price, env.scale), ref.params.imr)
    assert im == env.units("150.0375")  # 5% of 3,000.75

    env.perp.removeMargin(env.ETH, ref.long_margin - im, {"from": alice})

    assert stored(env, env.ETH, alice)[2] == im
    assert env.free(alice) == ref.long_free + ref.long_margin - im


def test_remove_margin_one_unit_below_initial_margin_reverts_insufficient_margin(checked, ref, alice):
    env = checked
    im = env.units("150.0375")
    with brownie.reverts(err("InsufficientMargin", env.ETH, alice, im - 1, im)):
        env.perp.removeMargin(env.ETH, ref.long_margin - im + 1, {"from": alice})
    assert stored(env, env.ETH, alice)[2] == ref.long_margin
    assert env.free(alice) == ref.long_free


def test_remove_margin_does_not_count_unrealized_profit(checked, calc, open_pair, carol, dave):
    """Carol long 1 ETH at 2,000 (margin 400); at 2,200 her equity is 600 and IM 110. The profit (200) does not
    count: she can take out margin down to IM (290, leverage 2,200 / 110 = 20x, the maximum), not one unit more
    (`ProfitNotWithdrawable` with the margin that would be left and the IM); the failed call changes nothing. (An
    adversarial review showed a profitable position emptying its margin against its profit and so vetoing the
    fund's Type 2, README "Margin".)"""
    env = checked
    o = open_pair(env, carol, dave, env.ETH, calc.wad(1), calc.px(2000), deposit=env.units(1_000))
    env.set_price(env.ETH, 2200)
    assert o.long_margin == env.units(400)
    im = env.units(110)

    with brownie.reverts(err("ProfitNotWithdrawable", env.ETH, carol, im - 1, im)):
        env.perp.removeMargin(env.ETH, env.units(290) + 1, {"from": carol})
    with brownie.reverts(err("ProfitNotWithdrawable", env.ETH, carol, 0, im)):
        env.perp.removeMargin(env.ETH, o.long_margin, {"from": carol})
    assert stored(env, env.ETH, carol) == (calc.wad(1), env.units(2000), env.units(400))
    assert env.free(carol) == o.long_free

    tx = env.perp.removeMargin(env.ETH, env.units(290), {"from": carol})

    assert stored(env, env.ETH, carol) == (calc.wad(1), env.units(2000), im)
    assert env.free(carol) == o.long_free + env.units(290)
    assert ev(tx, "PositionUpdated")["margin"] == im


# ------------------------------------------------------------------ removeMargin: initial margin


def test_remove_margin_on_long_after_price_drop_reverts_with_hand_computed_equity_and_im(checked, calc, ref, alice):
    env = checked
    price = calc.px("1950.12345678")
    env.set_price(env.ETH, "1950.12345678")
    # long value rounds down, IM on the notional rounded up
    value = calc.notional_down(ref.size, price, env.scale)
    equity = ref.long_margin + value - ref.notional
    im = calc.wad_mul_up(calc.notional_up(ref.size, price, env.scale), ref.params.imr)
    if env.decimals == 6:
        assert (value, equity, im) == (2925185185, 524585185, 146259260)
    amount = equity - im + 1

    with brownie.reverts(err("InsufficientMargin", env.ETH, alice, equity - amount, im)):
        env.perp.removeMargin(env.ETH, amount, {"from": alice})
    assert stored(env, env.ETH, alice)[2] == ref.long_margin


def test_remove_margin_on_short_after_price_rise_reverts_with_hand_computed_equity_and_im(checked, calc, ref, bob):
    env = checked
    price = calc.px("2049.98765432")
    env.set_price(env.ETH, "2049.98765432")
    # short's debt rounds up
    debt = calc.notional_up(ref.size, price, env.scale)
    equity = ref.short_margin - debt + ref.notional
    im = calc.wad_mul_up(debt, ref.params.imr)
    if env.decimals == 6:
        assert (debt, equity, im) == (3074981482, 525918518, 153749075)
    amount = equity - im + 1

    with brownie.reverts(err("InsufficientMargin", env.ETH, bob, equity - amount, im)):
        env.perp.removeMargin(env.ETH, amount, {"from": bob})
    assert stored(env, env.ETH, bob)[2] == ref.short_margin


def test_remove_margin_on_short_after_price_rise_down_to_exactly_im_succeeds(checked, calc, ref, bob):
    env = checked
    price = calc.px("2049.98765432")
    env.set_price(env.ETH, "2049.98765432")
    debt = calc.notional_up(ref.size, price, env.scale)
    equity = ref.short_margin - debt + ref.notional
    im = calc.wad_mul_up(debt, ref.params.imr)

    env.perp.removeMargin(env.ETH, equity - im, {"from": bob})

    assert stored(env, env.ETH, bob)[2] == ref.short_margin - (equity - im)
    assert env.free(bob) == ref.short_free + equity - im


def test_remove_margin_above_position_margin_reverts_insufficient_margin_with_amount(checked, calc, ref, alice):
    """Asking for more than the stored margin reverts before any write. The contract reports the equity at mark
    and, in the `initialMargin` slot, the amount asked for (see the report: the slot is reused)."""
    env = checked
    price = calc.px(2010)
    env.set_price(env.ETH, 2010)
    equity = ref.long_margin + calc.notional_down(ref.size, price, env.scale) - ref.notional
    assert equity == env.units("614.4")  # 600.15 + 1.5 * (2,010 - 2,000.5)
    amount = ref.long_margin + 1

    with brownie.reverts(err("InsufficientPositionMargin", env.ETH, alice, ref.long_margin, amount)):
        env.perp.removeMargin(env.ETH, amount, {"from": alice})
    assert stored(env, env.ETH, alice)[2] == ref.long_margin


# ------------------------------------------------------------------ removeMargin: max leverage


@pytest.fixture
def max10x(checked, deployer):
    """ETH-PERP with max leverage 10x while imr stays 5%: equity between 5% and 10% of notional passes the
    initial margin check but not the leverage check. (With the default max 20x = 1/imr the leverage check can
    never fail once IM passed: equity >= n*imr implies ceil(n/equity) <= 1/imr.)"""
    params = default_params("ETH-PERP", checked.decimals).with_(max_leverage=10 * 10**18)
    checked.perp.setMarketParams(checked.ETH, params.as_tuple(), {"from": deployer})
    return params


def test_remove_margin_leaving_leverage_above_max_reverts_leverage_too_high(checked, calc, max10x, ref, alice):
    env = checked
    amount = env.units(400)
    equity = ref.long_margin - amount  # 200.15, above IM 150.0375
    notional = calc.notional_up(ref.size, ref.price, env.scale)
    assert equity >= calc.wad_mul_up(notional, max10x.imr)
    leverage = calc.wad_div_up(notional, equity)  # 3,000.75 / 200.15 = 14.992... rounded up
    assert leverage == 14992505620784411692

    with brownie.reverts(err("LeverageTooHigh", leverage, 10 * 10**18)):
        env.perp.removeMargin(env.ETH, amount, {"from": alice})
    assert stored(env, env.ETH, alice)[2] == ref.long_margin


def test_remove_margin_to_exactly_max_leverage_succeeds(checked, max10x, ref, alice):
    env = checked
    target = env.units("300.075")  # 3,000.75 / 10
    env.perp.removeMargin(env.ETH, ref.long_margin - target, {"from": alice})
    assert stored(env, env.ETH, alice)[2] == target


def test_remove_margin_one_unit_past_max_leverage_reverts(checked, calc, max10x, ref, alice):
    env = checked
    equity = env.units("300.075") - 1
    leverage = calc.wad_div_up(env.units("3000.75"), equity)
    assert leverage > 10 * 10**18
    with brownie.reverts(err("LeverageTooHigh", leverage, 10 * 10**18)):
        env.perp.removeMargin(env.ETH, ref.long_margin - equity, {"from": alice})


# ------------------------------------------------------------------ removeMargin: guards


def test_remove_margin_zero_reverts_zero_amount(checked, ref, alice):
    with brownie.reverts(err("ZeroAmount")):
        checked.perp.removeMargin(checked.ETH, 0, {"from": alice})


def test_remove_margin_without_position_reverts_no_position(checked, carol):
    env = checked
    with brownie.reverts(err("NoPosition", env.ETH, carol)):
        env.perp.removeMargin(env.ETH, 1, {"from": carol})


def test_remove_margin_in_other_market_than_the_position_reverts_no_position(checked, ref, alice):
    env = checked
    with brownie.reverts(err("NoPosition", env.BTC, alice)):
        env.perp.removeMargin(env.BTC, 1, {"from": alice})


def test_remove_margin_on_paused_market_reverts_market_paused(checked, ref, alice, deployer):
    env = checked
    env.perp.setPaused(env.ETH, True, {"from": deployer})
    with brownie.reverts(err("MarketPaused", env.ETH)):
        env.perp.removeMargin(env.ETH, 1, {"from": alice})
    assert env.free(alice) == ref.long_free


def test_remove_margin_on_unknown_market_reverts_unknown_market(checked, alice):
    with brownie.reverts(err("UnknownMarket", 99)):
        checked.perp.removeMargin(99, 1, {"from": alice})


def test_remove_margin_with_stale_oracle_reverts_stale_oracle_price(checked, ref, alice):
    env = checked
    stale_at = web3.eth.get_block("latest").timestamp - 3600 - 100
    env.oracle(env.ETH).setPriceAt(2000 * 10**8, stale_at, {"from": env.dep.deployer})

    with brownie.reverts(err("StaleOraclePrice", env.ETH, stale_at, 3600)):
        env.perp.removeMargin(env.ETH, 1, {"from": alice})
    assert stored(env, env.ETH, alice)[2] == ref.long_margin


def _set_next_block_timestamp(ts):
    web3.provider.make_request("evm_setNextBlockTimestamp", [ts])


def test_remove_margin_with_price_exactly_max_age_old_succeeds(checked, ref, alice):
    env = checked
    block_ts = web3.eth.get_block("latest").timestamp + 20
    env.oracle(env.ETH).setPriceAt(200_050_000_000, block_ts - 3600, {"from": env.dep.deployer})
    _set_next_block_timestamp(block_ts)

    tx = env.perp.removeMargin(env.ETH, 1, {"from": alice})

    assert web3.eth.get_block(tx.block_number).timestamp == block_ts
    assert stored(env, env.ETH, alice)[2] == ref.long_margin - 1


def test_remove_margin_with_price_one_second_past_max_age_reverts(checked, ref, alice):
    env = checked
    block_ts = web3.eth.get_block("latest").timestamp + 20
    updated_at = block_ts - 3601
    env.oracle(env.ETH).setPriceAt(200_050_000_000, updated_at, {"from": env.dep.deployer})
    _set_next_block_timestamp(block_ts)

    with brownie.reverts(err("StaleOraclePrice", env.ETH, updated_at, 3600)):
        env.perp.removeMargin(env.ETH, 1, {"from": alice})


def test_remove_margin_with_a_price_stamped_after_the_block_reverts_and_changes_nothing(checked, ref, alice):
    env = checked
    block_ts = web3.eth.get_block("latest").timestamp + 20
    env.oracle(env.ETH).setPriceAt(200_050_000_000, block_ts + 1, {"from": env.dep.deployer})
    _set_next_block_timestamp(block_ts)

    with brownie.reverts(err("OracleUpdatedInFuture", env.ETH, block_ts + 1, block_ts)):
        env.perp.removeMargin(env.ETH, 1, {"from": alice})
    assert stored(env, env.ETH, alice)[2] == ref.long_margin


def test_remove_margin_with_a_price_stamped_in_the_same_second_succeeds(checked, ref, alice):
    env = checked
    block_ts = web3.eth.get_block("latest").timestamp + 20
    env.oracle(env.ETH).setPriceAt(200_050_000_000, block_ts, {"from": env.dep.deployer})
    _set_next_block_timestamp(block_ts)

    env.perp.removeMargin(env.ETH, 1, {"from": alice})
    assert stored(env, env.ETH, alice)[2] == ref.long_margin - 1


@pytest.mark.parametrize("answer", [0, -1, -2000 * 10**8], ids=["zero", "minus_one_unit", "minus_2000"])
def test_remove_margin_with_non_positive_oracle_price_reverts_invalid_oracle_price(checked, ref, alice, answer):
    env = checked
    env.oracle(env.ETH).setPrice(answer, {"from": env.dep.deployer})
    with brownie.reverts(err("InvalidOraclePrice", env.ETH, answer)):
        env.perp.removeMargin(env.ETH, 1, {"from": alice})
    assert stored(env, env.ETH, alice)[2] == ref.long_margin
