"""Typed protocol state shared by every layer: enums of ``interfaces/IPerpetualTypes.sol``, a position, an
insurance fund, and a whole-protocol snapshot that the invariants (``perp.invariants``) check. Pure Python."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class PositionState(IntEnum):
    """Graduated health of a position (``PositionState`` in IPerpetualTypes.sol), safest first."""

    NONE = 0
    HEALTHY = 1
    REDUCE_ONLY = 2
    MARGIN_CALL = 3
    LIQUIDATABLE = 4
    BANKRUPT = 5

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


class RefusalReason(IntEnum):
    """Why the insurance fund refused an incoming position."""

    NONE = 0
    NEGATIVE_EQUITY = 1
    RISK_LIMIT = 2
    DRAWDOWN = 3  # accepting would put the drawdown at or past the trigger line

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


class DistressReason(IntEnum):
    """Why the fund is in distress (Type 2 allowed), in order of precedence."""

    NONE = 0
    NEGATIVE_EQUITY = 1
    DRAWDOWN = 2
    RISK_LIMIT = 3


class AdlType(IntEnum):
    BANKRUPT = 1  # Type 1: a refused bankrupt position, at its bankruptcy price
    FUND = 2  # Type 2: the distressed fund's own position, at mark capped at the fund's bankruptcy price


ZERO = "0x0000000000000000000000000000000000000000"


@dataclass(slots=True)
class Position:
    """An isolated position (``Position`` struct, field for field): signed size (WAD), signed cost basis
    ``open_notional`` (collateral units; long paid > 0, short received < 0), margin, opening sequence number, and
    its place in the ADL queue (``perp.core.queue``): its list (tier, or 242 the overflow list), whether it is
    linked, its neighbours, its key (frame entry) and its margin per unit of size over the market's reference price
    rounded down (``q_down``), and its side's index when it was last settled (``index_snapshot``)."""

    size: int = 0
    open_notional: int = 0
    margin: int = 0
    open_seq: int = 0
    tier: int = 0
    queued: bool = False
    next: str = ZERO
    key: int = 0
    q_down: int = 0
    prev: str = ZERO
    index_snapshot: int = 0

    def copy(self) -> "Position":
        p = self
        return Position(p.size, p.open_notional, p.margin, p.open_seq, p.tier, p.queued, p.next, p.key, p.q_down,
                        p.prev, p.index_snapshot)

    def as_tuple(self) -> tuple:
        """The fields in the contract struct's order (``getPosition``, ``sidePositions``)."""
        return (self.size, self.open_notional, self.margin, self.open_seq, self.tier, self.queued,
                self.index_snapshot, self.next, self.key, self.q_down, self.prev)

    @property
    def is_long(self) -> bool:
        return self.size > 0


@dataclass(slots=True)
class MarketIndex:
    """A market's index state (``marketIndex``): each side's cumulative index (WAD price units per unit of size
    that its holders pay), the open interest (sum of long sizes, fund included), the index balance (collateral
    units settled into cost bases minus losses socialized), the fund position's snapshot and the reference price."""

    long_index: int = 0
    short_index: int = 0
    open_interest: int = 0
    index_balance: int = 0
    fund_snapshot: int = 0
    reference_price: int = 1

    def as_tuple(self) -> tuple:
        return (self.long_index, self.short_index, self.open_interest, self.index_balance, self.fund_snapshot,
                self.reference_price)

    def side(self, is_long: bool) -> int:
        return self.long_index if is_long else self.short_index

    @property
    def ref_shift(self) -> int:
        return self.reference_price.bit_length() - 1


@dataclass(slots=True)
class Fund:
    """A market's insurance fund (``fundAccount``): signed cash, the position it holds, its high-water mark with
    the mark's timestamp, and the distress latch."""

    cash: int = 0
    size: int = 0
    open_notional: int = 0
    hwm: int = 0
    hwm_ts: int = 0
    distressed: bool = False

    def as_tuple(self) -> tuple:
        return (self.cash, self.size, self.open_notional, self.hwm, self.hwm_ts, self.distressed)


@dataclass
class ProtocolState:
    """Everything the state invariants need, read once (from the chain, the model or a replay).

    Account keys are lower-case hex. ``marks`` holds each market's mark price (WAD), or ``None`` where the oracle
    is unusable (then equity-based checks skip that market). ``queues`` holds each side's ADL queue
    (``perp.core.queue.Side``) when it was read; ``queue_known`` says whether the positions' queue fields and the
    queues were read too (the model and the chain client know them, a lens view does not)."""

    vault_balance: int
    free: dict = field(default_factory=dict)  # account -> free collateral
    positions: dict = field(default_factory=dict)  # (market_id, account) -> Position
    funds: dict = field(default_factory=dict)  # market_id -> Fund
    queues: dict = field(default_factory=dict)  # (market_id, is_long) -> perp.core.queue.Side
    marks: dict = field(default_factory=dict)  # market_id -> mark price or None
    scale: int = 1
    queue_known: bool = False
    indices: dict = field(default_factory=dict)  # market_id -> MarketIndex (when read)

    @property
    def market_ids(self) -> list:
        return sorted(self.funds)

    def open_interest(self, market_id: int) -> tuple:
        """(long, short) open interest of a market, fund included, summed from the positions."""
        longs = sum(p.size for (m, _), p in self.positions.items() if m == market_id and p.size > 0)
        shorts = -sum(p.size for (m, _), p in self.positions.items() if m == market_id and p.size < 0)
        f = self.funds.get(market_id)
        if f is not None:
            longs += max(f.size, 0)
            shorts += max(-f.size, 0)
        return (longs, shorts)
