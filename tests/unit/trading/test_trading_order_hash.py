"""The Python client's EIP-712 digest (perp.orders.order_digest) against the contract's `hashOrder`, and the
domain separator and type hash computed independently from the EIP-712 definition."""
import dataclasses

import pytest
from eth_abi import encode
from eth_utils import keccak

from perp.orders import DOMAIN_NAME, DOMAIN_VERSION, ORDER_TYPES, Order, order_digest
from trading_calc import UINT256_MAX, X, w

ORDER_TYPE = (
    "Order(address account,uint256 marketId,bool isBuy,uint256 size,uint256 limitPrice,uint256 leverage,"
    "bool reduceOnly,bool isMaker,uint256 nonce,uint256 epoch,uint256 expiry)"
)
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"


def orders(env, alice, bob):
    return [
        env.order(alice, env.ETH, True, w(1), w(2000), is_maker=True),
        env.order(bob, env.ETH, False, w("0.123456789012345678"), w("1999.99"), leverage=X(20), reduce_only=True),
        env.order(alice, env.BTC, False, 1, 1, leverage=X(1), nonce=2**255, expiry=UINT256_MAX, epoch=7),
        Order(account=str(bob), market_id=UINT256_MAX, is_buy=True, size=UINT256_MAX, limit_price=0, leverage=0,
              nonce=0, expiry=0),
    ]


@pytest.mark.parametrize("index", range(4), ids=["plain_buy", "reduce_only_sell", "large_nonce", "extremes"])
def test_client_digest_equals_contract_hash_order(env, alice, bob, index):
    order = orders(env, alice, bob)[index]
    assert order_digest(order, env.chain_id, env.perp.address) == bytes(env.perp.hashOrder(order.as_tuple()))


def test_digest_changes_with_every_field(env, alice):
    base = env.order(alice, env.ETH, True, w(1), w(2000), nonce=1, expiry=10**10)
    variants = {
        "account": "0x" + "11" * 20,
        "market_id": env.BTC,
        "is_buy": False,
        "size": w(2),
        "limit_price": w(2001),
        "leverage": X(6),
        "reduce_only": True,
        "is_maker": True,
        "nonce": 2,
        "epoch": 1,
        "expiry": 10**10 + 1,
    }
    digests = {bytes(env.perp.hashOrder(base.as_tuple()))}
    for field, value in variants.items():
        changed = dataclasses.replace(base, **{field: value})
        d = bytes(env.perp.hashOrder(changed.as_tuple()))
        assert d == order_digest(changed, env.chain_id, env.perp.address), field
        digests.add(d)
    assert len(digests) == 1 + len(variants)


def test_order_typehash_matches_the_struct_definition(env):
    fields = ",".join(f"{f['type']} {f['name']}" for f in ORDER_TYPES["Order"])
    assert f"Order({fields})" == ORDER_TYPE
    assert bytes(env.perp.ORDER_TYPEHASH()) == keccak(text=ORDER_TYPE)


def test_domain_separator_binds_name_version_chain_and_contract(env):
    expected = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [keccak(text=DOMAIN_TYPE), keccak(text=DOMAIN_NAME), keccak(text=DOMAIN_VERSION), env.chain_id,
             env.perp.address],
        )
    )
    assert bytes(env.perp.domainSeparator()) == expected


def test_digest_is_the_eip191_hash_of_domain_and_struct(env, alice):
    order = env.order(alice, env.ETH, True, w(1), w(2000))
    struct_hash = keccak(
        encode(
            ["bytes32", "address", "uint256", "bool", "uint256", "uint256", "uint256", "bool", "bool", "uint256",
             "uint256", "uint256"],
            [keccak(text=ORDER_TYPE), *order.as_tuple()],
        )
    )
    digest = keccak(b"\x19\x01" + bytes(env.perp.domainSeparator()) + struct_hash)
    assert order_digest(order, env.chain_id, env.perp.address) == digest
    assert bytes(env.perp.hashOrder(order.as_tuple())) == digest


def test_digest_depends_on_chain_id_and_verifying_contract(env, alice):
    order = env.order(alice, env.ETH, True, w(1), w(2000))
    here = order_digest(order, env.chain_id, env.perp.address)
    assert order_digest(order, 1, env.perp.address) != here
    assert order_digest(order, env.chain_id, env.lens.address) != here
