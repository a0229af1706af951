"""The pure-Python order client (perp/orders.py): validation with readable errors, the Match tuple, signing.
No chain and no fixture is needed (the digest-vs-contract check is in test_trading_order_hash.py)."""
import dataclasses

import pytest
from eth_account import Account

from perp.orders import (
    ORDER_TYPES,
    UINT256_MAX,
    Order,
    OrderError,
    Signer,
    match_tuple,
    order_digest,
    sign_order,
    typed_data,
)

WAD = 10**18
ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # Anvil dev account 1
KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # its well-known dev key
CONTRACT = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
CHAIN_ID = 31337

VALID = dict(account=ACCOUNT, market_id=1, is_buy=True, size=WAD, limit_price=2000 * WAD, leverage=5 * WAD,
             nonce=1, expiry=2_000_000_000)


def order(**changes) -> Order:
    return Order(**{**VALID, **changes})


def refused(message: str, **changes) -> None:
    with pytest.raises(OrderError) as info:
        order(**changes)
    assert str(info.value) == message


# ------------------------------------------------------------------------------------------------ validation


def test_valid_order_is_accepted_with_defaults():
    o = order()
    assert (o.reduce_only, o.epoch) == (False, 0)


def test_order_error_is_a_value_error():
    assert issubclass(OrderError, ValueError)


def test_negative_size_is_refused():
    refused("order.size must not be negative, got -1", size=-1)


def test_zero_size_is_refused():
    refused("order.size must be positive, got 0", size=0)


@pytest.mark.parametrize("name", ["limit_price", "leverage", "nonce", "expiry", "epoch", "market_id"])
def test_negative_value_is_refused_for_every_integer_field(name):
    refused(f"order.{name} must not be negative, got -5", **{name: -5})


def test_float_size_is_refused():
    refused("order.size must be an integer, got 1.5", size=1.5)


def test_integral_float_is_refused_too():
    refused("order.limit_price must be an integer, got 2000.0", limit_price=2000.0)


def test_string_amount_is_refused():
    refused("order.size must be an integer, got '1'", size="1")


@pytest.mark.parametrize("name", ["market_id", "size", "limit_price", "leverage", "nonce", "expiry", "epoch"])
def test_bool_where_an_integer_is_expected_is_refused(name):
    refused(f"order.{name} must be an integer, got True", **{name: True})


def test_bool_false_as_nonce_is_refused():
    refused("order.nonce must be an integer, got False", nonce=False)


def test_market_id_zero_is_refused():
    refused("order.market_id must be a listed market id (they start at 1)", market_id=0)


def test_value_above_uint256_is_refused():
    refused("order.size does not fit in uint256", size=UINT256_MAX + 1)


def test_uint256_max_is_accepted():
    assert order(size=UINT256_MAX, expiry=UINT256_MAX).size == UINT256_MAX


def test_order_is_immutable():
    o = order()
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.size = 2 * WAD


# ------------------------------------------------------------------------------------------------ encoding


def test_as_tuple_follows_the_solidity_struct_order():
    o = order(reduce_only=True, epoch=3, is_maker=True)
    assert [f["name"] for f in ORDER_TYPES["Order"]] == [
        "account", "marketId", "isBuy", "size", "limitPrice", "leverage", "reduceOnly", "isMaker", "nonce", "epoch",
        "expiry",
    ]
    assert o.as_tuple() == (ACCOUNT, 1, True, WAD, 2000 * WAD, 5 * WAD, True, True, 1, 3, 2_000_000_000)
    assert order().is_maker is False  # an order is a taker's unless signed otherwise


def test_typed_data_names_the_domain():
    td = typed_data(order(), CHAIN_ID, CONTRACT)
    assert td["domain"] == {"name": "ADL Perpetual", "version": "1", "chainId": CHAIN_ID, "verifyingContract": CONTRACT}
    assert td["primaryType"] == "Order"


# ------------------------------------------------------------------------------------------------ match tuple


def test_match_tuple_layout():
    maker, taker = order(is_maker=True), order(is_buy=False, nonce=2)
    zero = "0x0000000000000000000000000000000000000000"
    m = match_tuple(maker, b"\x01" * 65, taker, b"\x02" * 65, WAD, 2000 * WAD)
    assert m == (maker.as_tuple(), b"\x01" * 65, taker.as_tuple(), b"\x02" * 65, WAD, 2000 * WAD, zero, zero)
    hinted = match_tuple(maker, b"\x01" * 65, taker, b"\x02" * 65, WAD, 2000 * WAD, "0x" + "11" * 20, "0x" + "22" * 20)
    assert hinted[6:] == ("0x" + "11" * 20, "0x" + "22" * 20)


@pytest.mark.parametrize("fill_size", [0, -1])
def test_match_tuple_refuses_a_non_positive_fill_size(fill_size):
    with pytest.raises(OrderError) as info:
        match_tuple(order(is_maker=True), b"", order(is_buy=False), b"", fill_size, 2000 * WAD)
    assert str(info.value) == f"fill size must be positive, got {fill_size}"


@pytest.mark.parametrize("fill_price", [0, -2000 * WAD])
def test_match_tuple_refuses_a_non_positive_fill_price(fill_price):
    with pytest.raises(OrderError) as info:
        match_tuple(order(is_maker=True), b"", order(is_buy=False), b"", WAD, fill_price)
    assert str(info.value) == f"fill price must be positive, got {fill_price}"


def test_match_tuple_refuses_orders_in_the_role_they_were_not_signed_for():
    with pytest.raises(OrderError) as info:
        match_tuple(order(), b"", order(is_buy=False), b"", WAD, 2000 * WAD)
    assert str(info.value) == ("the maker order was signed as a taker (is_maker=False): the contract would revert "
                               "OrderRoleMismatch; sign the resting order with is_maker=True")
    with pytest.raises(OrderError) as info:
        match_tuple(order(is_maker=True), b"", order(is_buy=False, is_maker=True), b"", WAD, 2000 * WAD)
    assert str(info.value) == ("the taker order was signed as a maker (is_maker=True): the contract would revert "
                               "OrderRoleMismatch; sign the incoming order with is_maker=False")


# ------------------------------------------------------------------------------------------------ signing


def test_signature_recovers_to_the_signing_account():
    o = order()
    sig = sign_order(o, KEY, CHAIN_ID, CONTRACT)
    assert len(sig) == 65
    assert Account._recover_hash(order_digest(o, CHAIN_ID, CONTRACT), signature=sig) == ACCOUNT


def test_signature_for_another_chain_recovers_to_someone_else():
    o = order()
    sig = sign_order(o, KEY, 1, CONTRACT)
    assert Account._recover_hash(order_digest(o, CHAIN_ID, CONTRACT), signature=sig) != ACCOUNT


def test_digest_differs_between_chains_and_contracts():
    o = order()
    d = order_digest(o, CHAIN_ID, CONTRACT)
    assert len(d) == 32
    assert d != order_digest(o, 1, CONTRACT)
    assert d != order_digest(o, CHAIN_ID, "0x" + "22" * 20)


def test_signer_hands_out_increasing_nonces():
    s = Signer(KEY, CHAIN_ID, CONTRACT)
    kw = dict(market_id=1, is_buy=True, size=WAD, limit_price=2000 * WAD, leverage=5 * WAD, expiry=2_000_000_000)
    first, second = s.order(**kw), s.order(**kw)
    assert (first.nonce, second.nonce) == (1, 2)
    assert s.order(nonce=10, **kw).nonce == 10
    assert s.order(**kw).nonce == 11
    assert first.account == ACCOUNT == s.address


def test_signer_signs_like_sign_order():
    s = Signer(KEY, CHAIN_ID, CONTRACT)
    o = s.order(market_id=1, is_buy=False, size=WAD, limit_price=WAD, leverage=WAD, expiry=1)
    assert s.sign(o) == sign_order(o, KEY, CHAIN_ID, CONTRACT)
