"""Every way `settle` refuses a match, with the exact custom error, and nothing changed afterwards (positions in
both markets, free collateral, filled amounts, fund cash, vault balance, order epochs)."""
import dataclasses

import brownie
import pytest
from brownie import chain
from eth_account import Account

from perp.orders import order_digest
from support import err
from trading_calc import (
    BAND_BPS,
    BTC_MAX_LEVERAGE,
    MAX_LEVERAGE,
    MAX_ORACLE_AGE,
    UINT256_MAX,
    X,
    latest_timestamp,
    oracle_answer,
    order_hash,
    pos,
    raw_match,
    revert_with_block_time,
    set_next_block_timestamp,
    unchanged,
    w,
)

ZERO_ADDRESS = "0x" + "00" * 20


def mk(env, account, is_buy, size=None, price=None, market=None, **kw):
    """An order of 1 ETH at 2,000 (5x) unless told otherwise; a buy is signed as the maker, a sell as the taker
    (the order most tests here match them in)."""
    kw.setdefault("is_maker", is_buy)
    return env.order(account, market or env.ETH, is_buy, size or w(1), price or w(2000), **kw)


def settle(env, maker, taker, **kw):
    return env.perp.settle(env.match(maker, taker, **kw), {"from": env.keeper})


def recovered_by_contract(env, order, signature) -> str:
    """The address the contract recovers from `signature` over the digest of `order` on this deployment,
    computed independently in Python."""
    return Account._recover_hash(order_digest(order, env.chain_id, env.perp.address), signature=signature)


# ------------------------------------------------------------------------------------------------ amounts


def test_zero_fill_size_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    m = raw_match(buy, t.sign(buy), sell, t.sign(sell), 0, w(2000))  # the Python client refuses 0 itself
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("ZeroAmount")):
            t.perp.settle(m, {"from": t.keeper})


def test_fill_whose_notional_rounds_to_zero_units_reverts(t, calc, alice, bob):
    # 6 decimals: n = floor(q * 2000e18 / 1e30) is 0 for q < 5e8 (5e-10 ETH).
    if t.decimals != 6:
        pytest.skip("with 18 decimals the smallest size (1 wei) at 2,000 is worth 2,000 units: see the low-price test")
    q = 5 * 10**8 - 1
    assert calc.notional(q, w(2000)) == 0 and calc.notional(q + 1, w(2000)) == 1
    buy, sell = mk(t, alice, True, size=q), mk(t, bob, False, size=q)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("NotionalTooSmall", q, w(2000))):
            settle(t, buy, sell)


def test_fill_whose_notional_rounds_to_zero_units_at_a_tiny_price_reverts(t, calc, alice, bob):
    # Any decimals: at the smallest 8-decimal oracle price (1e-8, i.e. 1e10 WAD) the largest size worth less
    # than one unit is floor((1e18 * scale - 1) / 1e10).
    t.oracle(t.ETH).setPrice(1, {"from": t.dep.deployer})
    p = 10**10
    q = (10**18 * t.scale - 1) // p
    assert calc.notional(q, p) == 0 and calc.notional(q + 1, p) == 1
    buy, sell = mk(t, alice, True, size=q, price=p), mk(t, bob, False, size=q, price=p)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("NotionalTooSmall", q, p)):
            settle(t, buy, sell)


# ------------------------------------------------------------------------------------------------ expiry


def test_order_with_an_expiry_in_the_past_reverts(t, alice, bob):
    expiry = latest_timestamp() - 1
    buy, sell = mk(t, alice, True, expiry=expiry), mk(t, bob, False)
    h = order_hash(t, buy)
    with unchanged(t, [alice, bob], [h, order_hash(t, sell)]):
        msg, ts = revert_with_block_time(lambda: settle(t, buy, sell))
    assert msg == err("OrderExpired", h, expiry, ts)


@pytest.mark.filterwarnings("ignore:rpc.sleep should not be called directly")
def test_order_expires_while_waiting_to_be_matched(t, alice, bob):
    expiry = latest_timestamp() + 60
    buy, sell = mk(t, alice, True), mk(t, bob, False, expiry=expiry)
    chain.sleep(120)
    t.set_price(t.ETH, 2000)  # keep the oracle fresh
    h = order_hash(t, sell)
    with unchanged(t, [alice, bob], [order_hash(t, buy), h]):
        msg, ts = revert_with_block_time(lambda: settle(t, buy, sell))
    assert ts > expiry
    assert msg == err("OrderExpired", h, expiry, ts)


def test_order_is_still_valid_in_the_block_of_its_expiry(t, alice, bob):
    expiry = latest_timestamp() + 100
    buy, sell = mk(t, alice, True, expiry=expiry), mk(t, bob, False)
    set_next_block_timestamp(expiry)
    tx = settle(t, buy, sell)
    assert chain[tx.block_number].timestamp == expiry
    assert pos(t, t.ETH, alice)[0] == w(1)


# ------------------------------------------------------------------------------------------------ fill amounts


def test_replay_of_a_fully_filled_order_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    m = t.match(buy, sell)
    t.perp.settle(m, {"from": t.keeper})
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("OrderOverfilled", order_hash(t, buy), w(1), w(1), w(1))):
            t.perp.settle(m, {"from": t.keeper})


def test_fill_beyond_the_remaining_size_reverts(t, alice, bob, carol):
    buy = mk(t, alice, True, size=w(1))
    settle(t, buy, mk(t, bob, False), fill_size=w("0.6"))
    sell2 = mk(t, carol, False)
    with unchanged(t, [alice, bob, carol], [order_hash(t, buy), order_hash(t, sell2)]):
        with brownie.reverts(err("OrderOverfilled", order_hash(t, buy), w("0.6"), w("0.6"), w(1))):
            settle(t, buy, sell2, fill_size=w("0.6"))


def test_fill_larger_than_the_taker_order_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True, size=w(2)), mk(t, bob, False, size=w(1))
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("OrderOverfilled", order_hash(t, sell), 0, w(2), w(1))):
            settle(t, buy, sell, fill_size=w(2))


# ------------------------------------------------------------------------------------------------ cancellation


def test_cancel_order_emits_order_cancelled(t, alice):
    o = mk(t, alice, True)
    tx = t.perp.cancelOrder(o.as_tuple(), {"from": alice})
    assert [dict(e) for e in tx.events["OrderCancelled"]] == [
        {"orderHash": "0x" + order_hash(t, o).hex(), "account": alice.address}
    ]
    assert t.perp.filledAmount(order_hash(t, o)) == UINT256_MAX


def test_cancelled_order_cannot_be_filled(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    t.perp.cancelOrder(buy.as_tuple(), {"from": alice})
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("OrderIsCancelled", order_hash(t, buy))):
            settle(t, buy, sell)


def test_cancelled_taker_order_cannot_be_filled(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    t.perp.cancelOrder(sell.as_tuple(), {"from": bob})
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("OrderIsCancelled", order_hash(t, sell))):
            settle(t, buy, sell)


def test_rest_of_a_partially_filled_order_can_be_cancelled(t, alice, bob, carol):
    buy = mk(t, alice, True, size=w(3))
    settle(t, buy, mk(t, bob, False), fill_size=w(1))
    t.perp.cancelOrder(buy.as_tuple(), {"from": alice})
    sell2 = mk(t, carol, False)
    with unchanged(t, [alice, bob, carol], [order_hash(t, buy), order_hash(t, sell2)]):
        with brownie.reverts(err("OrderIsCancelled", order_hash(t, buy))):
            settle(t, buy, sell2, fill_size=w(1))
    assert pos(t, t.ETH, alice)[0] == w(1)


def test_cancelling_someone_elses_order_reverts(t, alice, bob):
    o = mk(t, alice, True)
    with unchanged(t, [alice, bob], [order_hash(t, o)]):
        with brownie.reverts(err("NotOrderOwner", bob, alice)):
            t.perp.cancelOrder(o.as_tuple(), {"from": bob})


def test_cancel_all_orders_bumps_the_epoch(t, alice):
    tx = t.perp.cancelAllOrders({"from": alice})
    assert [dict(e) for e in tx.events["OrderEpochBumped"]] == [{"account": alice.address, "newEpoch": 1}]
    assert t.perp.orderEpoch(alice) == 1
    tx = t.perp.cancelAllOrders({"from": alice})
    assert tx.events["OrderEpochBumped"]["newEpoch"] == 2


def test_orders_of_an_old_epoch_are_stale_after_cancel_all(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    assert buy.epoch == 0
    t.perp.cancelAllOrders({"from": alice})
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("OrderEpochStale", order_hash(t, buy), 0, 1)):
            settle(t, buy, sell)


def test_orders_signed_for_the_new_epoch_settle_after_cancel_all(t, alice, bob):
    t.perp.cancelAllOrders({"from": alice})
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    assert buy.epoch == 1
    settle(t, buy, sell)
    assert pos(t, t.ETH, alice)[0] == w(1)


def test_order_signed_for_a_future_epoch_is_stale(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False, epoch=5)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("OrderEpochStale", order_hash(t, sell), 5, 0)):
            settle(t, buy, sell)


def test_cancel_all_orders_leaves_other_accounts_orders_valid(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    t.perp.cancelAllOrders({"from": bob})
    buy2 = mk(t, alice, True)
    assert buy2.epoch == 0
    with brownie.reverts(err("OrderEpochStale", order_hash(t, sell), 0, 1)):
        settle(t, buy, sell)
    settle(t, buy, mk(t, bob, False))
    assert pos(t, t.ETH, alice)[0] == w(1)


# ------------------------------------------------------------------------------------------------ signatures


def test_order_signed_by_another_account_reverts(t, alice, bob, carol):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    forged = t.sign(buy, signer=carol)
    with unchanged(t, [alice, bob, carol], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("InvalidSignature", alice, carol)):
            t.perp.settle(t.match(buy, sell, maker_sig=forged), {"from": t.keeper})


def test_taker_order_signed_by_another_account_reverts(t, alice, bob, carol):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    forged = t.sign(sell, signer=carol)
    with unchanged(t, [alice, bob, carol], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("InvalidSignature", bob, carol)):
            t.perp.settle(t.match(buy, sell, taker_sig=forged), {"from": t.keeper})


def test_order_signed_for_another_chain_id_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    assert t.chain_id != 1
    sig = t.sign(buy, chain_id=1)
    recovered = recovered_by_contract(t, buy, sig)
    assert recovered != alice.address
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("InvalidSignature", alice, recovered)):
            t.perp.settle(t.match(buy, sell, maker_sig=sig), {"from": t.keeper})


def test_order_signed_for_another_verifying_contract_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    sig = t.sign(sell, contract=t.lens.address)
    recovered = recovered_by_contract(t, sell, sig)
    assert recovered != bob.address
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("InvalidSignature", bob, recovered)):
            t.perp.settle(t.match(buy, sell, taker_sig=sig), {"from": t.keeper})


def test_order_signed_for_one_market_submitted_for_another_reverts(t, alice, bob):
    signed_eth = mk(t, alice, True, price=w(60000))
    sig = t.sign(signed_eth)
    as_btc = dataclasses.replace(signed_eth, market_id=t.BTC)
    sell = mk(t, bob, False, price=w(60000), market=t.BTC)
    recovered = recovered_by_contract(t, as_btc, sig)
    assert recovered != alice.address
    with unchanged(t, [alice, bob], [order_hash(t, as_btc), order_hash(t, signed_eth), order_hash(t, sell)]):
        with brownie.reverts(err("InvalidSignature", alice, recovered)):
            t.perp.settle(t.match(as_btc, sell, maker_sig=sig), {"from": t.keeper})


def test_order_altered_after_signing_reverts(t, alice, bob):
    buy = mk(t, alice, True, size=w(1))
    sig = t.sign(buy)
    bigger = dataclasses.replace(buy, size=w(2))
    sell = mk(t, bob, False, size=w(2))
    with unchanged(t, [alice, bob], [order_hash(t, bigger), order_hash(t, sell)]):
        with brownie.reverts(err("InvalidSignature", alice, recovered_by_contract(t, bigger, sig))):
            t.perp.settle(t.match(bigger, sell, maker_sig=sig), {"from": t.keeper})


@pytest.mark.parametrize("bad_sig", [b"", b"\x01" * 64, b"\x00" * 65], ids=["empty", "64_bytes", "zeros"])
def test_malformed_signature_reverts_with_zero_recovered_address(t, alice, bob, bad_sig):
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    m = raw_match(buy, bad_sig, sell, t.sign(sell), w(1), w(2000))
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("InvalidSignature", alice, ZERO_ADDRESS)):
            t.perp.settle(m, {"from": t.keeper})


# ------------------------------------------------------------------------------------------------ prices


def test_fill_above_the_buyers_limit_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True, price=w(2000)), mk(t, bob, False, price=w(1990))
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("PriceOutsideLimit", order_hash(t, buy), w(2001), w(2000))):
            settle(t, buy, sell, fill_price=w(2001))


def test_fill_below_the_sellers_limit_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True, price=w(2010)), mk(t, bob, False, price=w(2000))
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("PriceOutsideLimit", order_hash(t, sell), w(1999), w(2000))):
            settle(t, buy, sell, fill_price=w(1999))


def test_fill_just_above_the_oracle_band_reverts(t, alice, bob):
    # band = 2,000 * 500 / 1e4 = 100: fills must lie in [1,900, 2,100].
    price = w(2100) + 1
    buy, sell = mk(t, alice, True, price=w(2200)), mk(t, bob, False, price=w(1800))
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("PriceOutsideOracleBand", price, w(2000), BAND_BPS)):
            settle(t, buy, sell, fill_price=price)


def test_fill_just_below_the_oracle_band_reverts(t, alice, bob):
    price = w(1900) - 1
    buy, sell = mk(t, alice, True, price=w(2200)), mk(t, bob, False, price=w(1800))
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("PriceOutsideOracleBand", price, w(2000), BAND_BPS)):
            settle(t, buy, sell, fill_price=price)


@pytest.mark.parametrize("edge", [2100, 1900], ids=["upper_edge", "lower_edge"])
def test_fill_exactly_at_the_oracle_band_edge_succeeds(t, calc, alice, bob, edge):
    buy, sell = mk(t, alice, True, price=w(2200)), mk(t, bob, False, price=w(1800))
    settle(t, buy, sell, fill_price=w(edge))
    assert pos(t, t.ETH, alice) == (w(1), calc.u(edge), calc.margin(calc.u(edge), X(5)))
    assert pos(t, t.ETH, bob) == (-w(1), -calc.u(edge), calc.margin(calc.u(edge), X(5)))


def test_oracle_band_follows_the_oracle(t, alice, bob):
    # At mark 2,200 the band is [2,090, 2,310]: a fill at 2,000 is now outside.
    t.set_price(t.ETH, 2200)
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("PriceOutsideOracleBand", w(2000), w(2200), BAND_BPS)):
            settle(t, buy, sell)


# ------------------------------------------------------------------------------------------------ market and oracle


def test_settle_in_a_paused_market_reverts(t, alice, bob):
    t.perp.setPaused(t.ETH, True, {"from": t.dep.deployer})
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("MarketPaused", t.ETH)):
            settle(t, buy, sell)


def test_pausing_one_market_leaves_the_other_tradable(t, alice, bob):
    t.perp.setPaused(t.BTC, True, {"from": t.dep.deployer})
    settle(t, mk(t, alice, True), mk(t, bob, False))
    assert pos(t, t.ETH, alice)[0] == w(1)


def test_settle_after_unpausing_succeeds(t, alice, bob):
    t.perp.setPaused(t.ETH, True, {"from": t.dep.deployer})
    t.perp.setPaused(t.ETH, False, {"from": t.dep.deployer})
    settle(t, mk(t, alice, True), mk(t, bob, False))
    assert pos(t, t.ETH, alice)[0] == w(1)


def test_settle_in_an_unknown_market_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True, market=99), mk(t, bob, False, market=99)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("UnknownMarket", 99)):
            settle(t, buy, sell)


def test_settle_with_a_stale_oracle_reverts(t, alice, bob):
    updated_at = latest_timestamp() - MAX_ORACLE_AGE - 400
    t.oracle(t.ETH).setPriceAt(oracle_answer(2000), updated_at, {"from": t.dep.deployer})
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("StaleOraclePrice", t.ETH, updated_at, MAX_ORACLE_AGE)):
            settle(t, buy, sell)
    t.set_price(t.ETH, 2000)  # fresh again, for the invariant audit that reads the lens


def test_oracle_exactly_max_age_old_is_still_usable(t, alice, bob):
    now = latest_timestamp() + 30
    t.oracle(t.ETH).setPriceAt(oracle_answer(2000), now - MAX_ORACLE_AGE, {"from": t.dep.deployer})
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    set_next_block_timestamp(now)
    settle(t, buy, sell)
    assert pos(t, t.ETH, alice)[0] == w(1)
    t.set_price(t.ETH, 2000)


def test_oracle_one_second_past_max_age_is_stale(t, alice, bob):
    now = latest_timestamp() + 30
    updated_at = now - MAX_ORACLE_AGE - 1
    t.oracle(t.ETH).setPriceAt(oracle_answer(2000), updated_at, {"from": t.dep.deployer})
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    set_next_block_timestamp(now)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("StaleOraclePrice", t.ETH, updated_at, MAX_ORACLE_AGE)):
            settle(t, buy, sell)
    t.set_price(t.ETH, 2000)


@pytest.mark.parametrize("answer", [0, -1, -oracle_answer(2000)], ids=["zero", "minus_one", "negative"])
def test_settle_with_a_non_positive_oracle_price_reverts(t, alice, bob, answer):
    t.oracle(t.ETH).setPrice(answer, {"from": t.dep.deployer})
    buy, sell = mk(t, alice, True), mk(t, bob, False)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("InvalidOraclePrice", t.ETH, answer)):
            settle(t, buy, sell)
    t.set_price(t.ETH, 2000)


# ------------------------------------------------------------------------------------------------ leverage


def test_leverage_above_the_market_maximum_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True, leverage=MAX_LEVERAGE + 1), mk(t, bob, False)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("LeverageTooHigh", MAX_LEVERAGE + 1, MAX_LEVERAGE)):
            settle(t, buy, sell)


def test_leverage_above_the_btc_maximum_reverts_in_btc(t, alice, bob):
    # BTC-PERP allows 25x: 21x passes there but 26x does not.
    buy = mk(t, alice, True, price=w(60000), market=t.BTC, leverage=X(26))
    sell = mk(t, bob, False, price=w(60000), market=t.BTC, leverage=X(21))
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("LeverageTooHigh", X(26), BTC_MAX_LEVERAGE)):
            settle(t, buy, sell)


def test_leverage_below_one_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False, leverage=X(1) - 1)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("LeverageTooLow", X(1) - 1)):
            settle(t, buy, sell)


def test_zero_leverage_reverts(t, alice, bob):
    buy, sell = mk(t, alice, True, leverage=0), mk(t, bob, False)
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("LeverageTooLow", 0)):
            settle(t, buy, sell)


# ------------------------------------------------------------------------------------------------ collateral


def test_not_enough_free_collateral_for_the_margin_reverts(t, calc, alice, frank):
    t.fund(frank, calc.u(100))
    buy, sell = mk(t, frank, True), mk(t, alice, False)  # frank needs ceil(2,000 / 5) = 400
    with unchanged(t, [alice, frank], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("InsufficientFreeCollateral", frank, calc.u(100), calc.u(400))):
            settle(t, buy, sell)


def test_not_enough_free_collateral_for_the_fee_reverts(t, calc, alice, frank):
    # Exactly the margin: after it, free collateral is 0 and the maker fee ceil(2000 * 2 / 1e4) = 0.4 is missing.
    t.fund(frank, calc.u(400))
    buy, sell = mk(t, frank, True), mk(t, alice, False)
    with unchanged(t, [alice, frank], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("InsufficientFreeCollateral", frank, 0, calc.u("0.4"))):
            settle(t, buy, sell)


def test_margin_plus_fee_exactly_is_enough(t, calc, alice, frank):
    t.fund(frank, calc.u("400.4"))
    settle(t, mk(t, frank, True), mk(t, alice, False))
    assert pos(t, t.ETH, frank) == (w(1), calc.u(2000), calc.u(400))
    assert t.free(frank) == 0


def test_fee_of_a_close_is_paid_from_the_margin_it_releases(t, calc, alice, bob, frank):
    t.fund(frank, calc.u("400.4"))
    settle(t, mk(t, frank, True), mk(t, alice, False))  # free collateral now 0
    settle(t, mk(t, frank, False), mk(t, bob, True))  # close at 2,000: 400 released, 0.4 maker fee out of it
    assert pos(t, t.ETH, frank) == (0, 0, 0)
    assert t.free(frank) == calc.u("399.6")


def test_adding_to_a_losing_position_below_initial_margin_reverts(t, calc, alice, bob, carol):
    # alice long 1 @ 2,000 at 20x (margin 100); the mark drops to 1,950 (equity 50 < IM 97.5: reduce-only).
    settle(t, mk(t, alice, True, leverage=X(20)), mk(t, bob, False))
    t.set_price(t.ETH, 1950)
    # Buying 0.1 more @ 1,950 at 20x: margin ceil(195 / 20) = 9.75 -> size 1.1, openNotional 2,195, margin 109.75;
    # equity = 109.75 + floor(1.1 * 1,950) - 2,195 = 59.75; IM = ceil(ceil(1.1 * 1,950) * 5%) = 107.25.
    q, p = w("0.1"), w(1950)
    buy, sell = mk(t, alice, True, size=q, price=p, leverage=X(20)), mk(t, carol, False, size=q, price=p)
    n = calc.notional(q, p)
    margin = calc.u(100) + calc.margin(n, X(20))
    equity = margin + calc.notional(w("1.1"), p) - (calc.u(2000) + n)
    im = calc.im(w("1.1"), p)
    assert (equity, im) == (calc.u("59.75"), calc.u("107.25"))
    with unchanged(t, [alice, bob, carol], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("InsufficientMargin", t.ETH, alice, equity, im)):
            settle(t, buy, sell)


def test_opening_with_a_fill_far_from_mark_below_initial_margin_reverts(t, calc, alice, bob):
    # Long 1 @ 2,100 (upper band edge) at 20x: margin 105, equity at mark 2,000 = 105 - 100 = 5 < IM 100.
    buy, sell = mk(t, alice, True, price=w(2100), leverage=X(20)), mk(t, bob, False, price=w(2100))
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("InsufficientMargin", t.ETH, alice, calc.u(5), calc.u(100))):
            settle(t, buy, sell)


def test_reducing_a_position_below_initial_margin_is_allowed(t, calc, alice, bob, carol):
    settle(t, mk(t, alice, True, leverage=X(20)), mk(t, bob, False))
    t.set_price(t.ETH, 1950)
    # sell 0.5 @ 1,950: r = 1,000, pnl = 975 - 1,000 = -25, margin after 75. Pro rata would release 37.5, but the
    # kept half (equity 75 - 25 = 50) needs IM ceil(975 * 5%) = 48.75: only the excess 1.25 is released.
    settle(t, mk(t, alice, False, size=w("0.5"), price=w(1950)), mk(t, carol, True, size=w("0.5"), price=w(1950)))
    assert pos(t, t.ETH, alice) == (w("0.5"), calc.u(1000), calc.u("73.75"))


def test_reduce_realizing_more_loss_than_the_margin_reverts(t, calc, alice, bob, carol):
    # Unreachable at a constant oracle: an opening fill must leave equity >= IM at mark, and a closing fill is at
    # most 5% below mark, so the realized loss never exceeds the margin. Once the oracle moves it is reachable:
    # alice long 1 @ 2,000 at 20x (margin 100), mark drops to 1,850, she sells 1 @ 1,850: pnl -150, margin -50.
    settle(t, mk(t, alice, True, leverage=X(20)), mk(t, bob, False))
    t.set_price(t.ETH, 1850)
    sell, buy = mk(t, alice, False, price=w(1850)), mk(t, carol, True, price=w(1850))
    with unchanged(t, [alice, bob, carol], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("TradeLeavesBadDebt", t.ETH, alice, -calc.u(50))):
            settle(t, sell, buy)


def test_reduce_of_a_short_realizing_more_loss_than_the_margin_reverts(t, calc, alice, bob, carol):
    settle(t, mk(t, alice, True), mk(t, bob, False, leverage=X(20)))  # bob short 1 @ 2,000, margin 100
    t.set_price(t.ETH, 2120)
    buy, sell = mk(t, bob, True, price=w(2120)), mk(t, carol, False, price=w(2120))
    with unchanged(t, [alice, bob, carol], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("TradeLeavesBadDebt", t.ETH, bob, -calc.u(20))):
            settle(t, buy, sell)


def test_partial_reduce_of_an_underwater_position_releases_no_margin(t, calc, funded, alice, bob, carol):
    """A position with negative equity cannot be milked of margin by partial closes: the released share is capped
    at the remaining position's equity above its initial margin at mark, which is negative here."""
    settle(t, mk(t, alice, True, leverage=X(20)), mk(t, bob, False))  # long 1 @ 2,000, margin 100
    t.set_price(t.ETH, 1850)  # equity 100 - 150 = -50: bankrupt
    half = w("0.5")
    # sell 0.5 @ 1,850: n = 925, r = 1,000, pnl = -75, margin after 25; pro rata 12.5, but the kept half has
    # equity 25 + (925 - 1,000) = -50 against IM ceil(925 * 5%) = 46.25: nothing is released.
    settle(t, mk(t, alice, False, size=half, price=w(1850)), mk(t, carol, True, size=half, price=w(1850)))
    assert pos(t, t.ETH, alice) == (half, calc.u(1000), calc.u(25))
    assert t.free(alice) == funded - calc.u(100) - calc.u("0.4") - calc.u("0.185")
    assert t.position(t.ETH, alice)["equity"] == calc.u(25) + calc.u(925) - calc.u(1000)  # still -50
    # Closing the rest would realize -75 against a margin of 25.
    sell, buy = mk(t, alice, False, size=half, price=w(1850)), mk(t, carol, True, size=half, price=w(1850))
    with brownie.reverts(err("TradeLeavesBadDebt", t.ETH, alice, calc.u(25) - calc.u(75))):
        settle(t, sell, buy)


def test_partial_reduce_releases_only_the_excess_over_initial_margin_when_pro_rata_would_break_it(
    t, calc, funded, alice, bob, carol
):
    settle(t, mk(t, alice, True, leverage=X(10)), mk(t, bob, False))  # long 1 @ 2,000, margin 200
    t.set_price(t.ETH, 1850)  # equity 200 - 150 = 50
    half = w("0.5")
    # sell 0.5 @ 1,850: pnl -75, margin after 125, pro rata 62.5; kept equity 125 - 75 = 50, IM 46.25:
    # only the excess 3.75 is released.
    settle(t, mk(t, alice, False, size=half, price=w(1850)), mk(t, carol, True, size=half, price=w(1850)))
    assert pos(t, t.ETH, alice) == (half, calc.u(1000), calc.u(125) - calc.u("3.75"))
    assert t.free(alice) == funded - calc.u(200) - calc.u("0.4") + calc.u("3.75") - calc.u("0.185")
    assert t.position(t.ETH, alice)["equity"] == calc.u("46.25")


# ------------------------------------------------------------------------------------------------ pairing


def test_self_trade_reverts(t, alice):
    buy, sell = mk(t, alice, True), mk(t, alice, False)
    with unchanged(t, [alice], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("SelfTrade", alice)):
            settle(t, buy, sell)


@pytest.mark.parametrize("is_buy", [True, False], ids=["both_buy", "both_sell"])
def test_two_orders_on_the_same_side_revert(t, alice, bob, is_buy):
    o1, o2 = mk(t, alice, is_buy), mk(t, bob, is_buy)
    with unchanged(t, [alice, bob], [order_hash(t, o1), order_hash(t, o2)]):
        with brownie.reverts(err("SameSide", is_buy)):
            settle(t, o1, o2)


def test_orders_for_different_markets_revert(t, alice, bob):
    buy, sell = mk(t, alice, True), mk(t, bob, False, market=t.BTC, price=w(60000))
    with unchanged(t, [alice, bob], [order_hash(t, buy), order_hash(t, sell)]):
        with brownie.reverts(err("MarketMismatch", t.ETH, t.BTC)):
            settle(t, buy, sell, fill_price=w(2000))
