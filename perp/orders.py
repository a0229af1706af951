"""EIP-712 signed orders, built and signed exactly as ``TradingModule.hashOrder`` verifies them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from eth_account import Account
from eth_account.messages import encode_typed_data

DOMAIN_NAME = "ADL Perpetual"
DOMAIN_VERSION = "1"

ORDER_TYPES = {
    "Order": [
        {"name": "account", "type": "address"},
        {"name": "marketId", "type": "uint256"},
        {"name": "isBuy", "type": "bool"},
        {"name": "size", "type": "uint256"},
        {"name": "limitPrice", "type": "uint256"},
        {"name": "leverage", "type": "uint256"},
        {"name": "reduceOnly", "type": "bool"},
        {"name": "isMaker", "type": "bool"},
        {"name": "nonce", "type": "uint256"},
        {"name": "epoch", "type": "uint256"},
        {"name": "expiry", "type": "uint256"},
    ]
}

UINT256_MAX = 2**256 - 1


class OrderError(ValueError):
    """A malformed order, refused before anything is signed or sent."""


@dataclass(frozen=True)
class Order:
    """A limit order. ``size``, ``limit_price`` and ``leverage`` are WAD integers."""

    account: str
    market_id: int
    is_buy: bool
    size: int
    limit_price: int
    leverage: int
    nonce: int
    expiry: int
    reduce_only: bool = False
    epoch: int = 0
    is_maker: bool = False  # the signer's role (and fee): a maker order can only be a match's maker, a taker its taker

    def __post_init__(self) -> None:
        for name in ("market_id", "size", "limit_price", "leverage", "nonce", "expiry", "epoch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise OrderError(f"order.{name} must be an integer, got {value!r}")
            if value < 0:
                raise OrderError(f"order.{name} must not be negative, got {value}")
            if value > UINT256_MAX:
                raise OrderError(f"order.{name} does not fit in uint256")
        if self.size == 0:
            raise OrderError("order.size must be positive, got 0")
        if self.market_id == 0:
            raise OrderError("order.market_id must be a listed market id (they start at 1)")

    def message(self) -> dict:
        """The EIP-712 message (field names as in the Solidity struct)."""
        return {
            "account": self.account,
            "marketId": self.market_id,
            "isBuy": self.is_buy,
            "size": self.size,
            "limitPrice": self.limit_price,
            "leverage": self.leverage,
            "reduceOnly": self.reduce_only,
            "isMaker": self.is_maker,
            "nonce": self.nonce,
            "epoch": self.epoch,
            "expiry": self.expiry,
        }

    def as_tuple(self) -> tuple:
        """The order as the contract's ABI tuple, in struct field order."""
        m = self.message()
        return tuple(m[f["name"]] for f in ORDER_TYPES["Order"])


def domain(chain_id: int, verifying_contract: str) -> dict:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": verifying_contract,
    }


def typed_data(order: Order, chain_id: int, verifying_contract: str) -> dict:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **ORDER_TYPES,
        },
        "primaryType": "Order",
        "domain": domain(chain_id, verifying_contract),
        "message": order.message(),
    }


def order_digest(order: Order, chain_id: int, verifying_contract: str) -> bytes:
    """The 32-byte EIP-712 digest the contract recovers the signer from."""
    from eth_account.messages import _hash_eip191_message  # noqa: PLC0415  (private but stable helper)

    return _hash_eip191_message(encode_typed_data(full_message=typed_data(order, chain_id, verifying_contract)))


def sign_order(order: Order, private_key, chain_id: int, verifying_contract: str) -> bytes:
    """Signs ``order`` with ``private_key``; returns the 65-byte signature (r, s, v)."""
    signable = encode_typed_data(full_message=typed_data(order, chain_id, verifying_contract))
    signed = Account.sign_message(signable, private_key)
    return bytes(signed.signature)


@dataclass
class Signer:
    """Signs orders for one account on one deployment and hands out fresh nonces."""

    private_key: object
    chain_id: int
    verifying_contract: str
    next_nonce: int = field(default=1)

    @property
    def address(self) -> str:
        return Account.from_key(self.private_key).address

    def order(self, **kwargs) -> Order:
        kwargs.setdefault("nonce", self.next_nonce)
        self.next_nonce = max(self.next_nonce, kwargs["nonce"]) + 1
        return Order(account=self.address, **kwargs)

    def sign(self, order: Order) -> bytes:
        return sign_order(order, self.private_key, self.chain_id, self.verifying_contract)


ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def match_tuple(maker: Order, maker_sig: bytes, taker: Order, taker_sig: bytes, fill_size: int, fill_price: int,
                maker_hint: str = ZERO_ADDRESS, taker_hint: str = ZERO_ADDRESS):
    """A ``Match`` struct as an ABI tuple for ``settle`` / ``settleBatch`` (the maker order signed with
    ``is_maker=True``, the taker's with ``is_maker=False``). The hints are ADL queue hints (the
    account after which each side's position belongs in its tier; the zero address lets the contract search from
    the position's old place or the tier's head, fine for markets of a few hundred positions per tier)."""
    if fill_size <= 0:
        raise OrderError(f"fill size must be positive, got {fill_size}")
    if fill_price <= 0:
        raise OrderError(f"fill price must be positive, got {fill_price}")
    if not maker.is_maker:
        raise OrderError("the maker order was signed as a taker (is_maker=False): the contract would revert "
                         "OrderRoleMismatch; sign the resting order with is_maker=True")
    if taker.is_maker:
        raise OrderError("the taker order was signed as a maker (is_maker=True): the contract would revert "
                         "OrderRoleMismatch; sign the incoming order with is_maker=False")
    return (maker.as_tuple(), maker_sig, taker.as_tuple(), taker_sig, fill_size, fill_price, maker_hint, taker_hint)


__all__ = [
    "Order",
    "OrderError",
    "Signer",
    "asdict",
    "domain",
    "match_tuple",
    "order_digest",
    "sign_order",
    "typed_data",
]
