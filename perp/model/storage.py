"""Reference model: what ``contracts/base/PerpStorage.sol`` stores (a market with its insurance fund; positions are
``perp.core.Position``), the SafeCast checks of its packed fields, and ``PerpBase._reduction``'s arithmetic."""
from __future__ import annotations

from dataclasses import dataclass

from ..core import Position, fail, mul_div_signed_up
from ..core.types import AdlType, DistressReason, RefusalReason

ZERO = "0x0000000000000000000000000000000000000000"

# enums (interfaces/IPerpetualTypes.sol), as the plain ints the events carry
REFUSE_NONE, REFUSE_NEGATIVE_EQUITY, REFUSE_RISK_LIMIT, REFUSE_DRAWDOWN = (int(r) for r in RefusalReason)
DISTRESS_NONE, DISTRESS_NEGATIVE_EQUITY, DISTRESS_DRAWDOWN, DISTRESS_RISK_LIMIT = (int(r) for r in DistressReason)
ADL_TYPE_BANKRUPT, ADL_TYPE_FUND = int(AdlType.BANKRUPT), int(AdlType.FUND)

__all__ = ["Position", "Market", "Match", "ZERO", "addr", "default_hasher", "reduction"]


def reduction(size: int, open_notional: int, abs_delta: int, notional: int):
    """PerpBase._reduction: (closed, closeNotional, released, pnl)."""
    abs_size = abs(size)
    closed = abs_delta if abs_delta < abs_size else abs_size
    close_notional = notional if closed == abs_delta else notional * closed // abs_delta
    released = mul_div_signed_up(open_notional, closed, abs_size)
    pnl = close_notional - released if size > 0 else -close_notional - released
    return closed, close_notional, released, pnl


def _int128(x: int) -> int:
    """OpenZeppelin SafeCast.toInt128."""
    if not -(2**127) <= x < 2**127:
        fail("SafeCastOverflowedIntDowncast", 128, x)
    return x


def _uint_bits(x: int, bits: int) -> int:
    """OpenZeppelin SafeCast.toUint<bits> (a negative input is an underflow panic in the contract)."""
    if x < 0:
        fail("Panic", 0x11)
    if x >= 1 << bits:
        fail("SafeCastOverflowedUintDowncast", bits, x)
    return x


def _uint96(x: int) -> int:
    """SafeCast.toUint96: a position's margin."""
    return _uint_bits(x, 96)


def _uint128(x: int) -> int:
    """SafeCast.toUint128: free collateral and the open interest."""
    return _uint_bits(x, 128)


def addr(a) -> str:
    """An account as a lower-case hex string (any object whose ``str()`` or ``.address`` is an address)."""
    if hasattr(a, "address"):
        a = a.address
    return str(a).lower()


class Market:
    __slots__ = ("market_id", "params", "oracle_decimals", "answer", "updated_at", "paused", "fund_cash",
                 "fund_size", "fund_open_notional", "fund_hwm", "fund_hwm_ts", "fund_distressed", "fund_samples",
                 "ref_shift", "fund_index_snapshot", "long_index", "short_index", "open_interest", "index_balance",
                 "funding_period", "funding_last", "funding_rate", "funding_target", "funding_max_rate",
                 "funding_max_change", "funding_price")

    def __init__(self, market_id, params, oracle_decimals, answer, updated_at):
        self.market_id = market_id
        self.params = params
        self.oracle_decimals = oracle_decimals
        self.answer = answer
        self.updated_at = updated_at
        self.paused = False
        self.fund_cash = 0
        self.fund_size = 0
        self.fund_open_notional = 0
        self.fund_hwm = 0
        self.fund_hwm_ts = 0
        self.fund_distressed = False
        # the high-water mark's monotonic queue (libraries/FundWatermark.sol): (time, equity), times increasing,
        # equities strictly decreasing; its head is (fund_hwm_ts, fund_hwm)
        self.fund_samples = []
        # the side indices (PerpStorage.Market): the reference price's log2, the fund's snapshot, each side's
        # cumulative index, the open interest (long sizes, fund included) and the index balance
        self.ref_shift = 0
        self.fund_index_snapshot = 0
        self.long_index = 0
        self.short_index = 0
        self.open_interest = 0
        self.index_balance = 0
        # funding (PerpStorage.Market): period (0: none), last accrual, rate and target (WAD per period), bounds,
        # the price the rate applies to
        self.funding_period = 0
        self.funding_last = 0
        self.funding_rate = 0
        self.funding_target = 0
        self.funding_max_rate = 0
        self.funding_max_change = 0
        self.funding_price = 0

    def side_index(self, is_long: bool) -> int:
        return self.long_index if is_long else self.short_index

    def index_tuple(self) -> tuple:
        """As ``marketIndex``: (longIndex, shortIndex, openInterest, indexBalance, fundIndexSnapshot, referencePrice)."""
        return (self.long_index, self.short_index, self.open_interest, self.index_balance, self.fund_index_snapshot,
                1 << self.ref_shift)

    def copy(self) -> "Market":
        m = Market.__new__(Market)
        for s in Market.__slots__:
            setattr(m, s, getattr(self, s))
        m.fund_samples = list(self.fund_samples)
        return m

    def fund_tuple(self) -> tuple:
        """(cash, size, openNotional, highWaterMark, highWaterMarkTimestamp, distressed) as ``fundAccount``."""
        return (self.fund_cash, self.fund_size, self.fund_open_notional, self.fund_hwm, self.fund_hwm_ts,
                self.fund_distressed)


@dataclass
class Match:
    """One matched pair: both orders, the fill, and the addresses their signatures recover to."""

    maker: object
    taker: object
    fill_size: int
    fill_price: int
    maker_signer: str | None = None  # None: the order's own account (a valid signature)
    taker_signer: str | None = None
    maker_hint: str = ZERO  # ADL queue hints (Match.makerHint / takerHint)
    taker_hint: str = ZERO


def default_hasher(order) -> tuple:
    return ("order", addr(order.account), order.market_id, bool(order.is_buy), order.size, order.limit_price,
            order.leverage, bool(order.reduce_only), bool(order.is_maker), order.nonce, order.epoch, order.expiry)
