"""How a position and a fund are valued at a mark price: equity, margin requirements, the graduated state, the
bankruptcy price, and the fund's Type 2 price cap. One home for these rules: the model, the lens mirror, the
invariants, the audit, the replay, the keeper and the reports all call these. Pure Python; money in collateral
units, prices WAD, ``scale = 10**(18 - decimals)``."""
from __future__ import annotations

from dataclasses import dataclass

from .fixed import (WAD, bankruptcy_notional, drawdown_down, mul_div_signed_up, mul_div_up, notional_down,
                    notional_up, price_of_down, unrealized_pnl_down, wad_mul_up)
from .types import PositionState


def index_owed_up(size: int, index: int, snapshot: int, scale: int) -> int:
    """What a position owes its side's index since its snapshot, in collateral units, rounded against the holder
    (up; negative: it receives, rounded down) (``PerpBase._indexOwedUp``)."""
    if index == snapshot or size == 0:
        return 0
    return mul_div_signed_up(index - snapshot, abs(size), WAD * scale)


def settled_open_notional(size: int, open_notional: int, index: int, snapshot: int, scale: int) -> int:
    """The cost basis once what the position owes its side's index is settled (``PerpBase._settledOpenNotional``)."""
    return open_notional + index_owed_up(size, index, snapshot, scale)


def equity(size: int, open_notional: int, margin: int, price: int, scale: int) -> int:
    """Margin balance at mark: ``margin + uPnL``."""
    return margin + unrealized_pnl_down(size, open_notional, price, scale)


def maintenance_margin_up(size: int, price: int, scale: int, mmr: int) -> int:
    return wad_mul_up(notional_up(abs(size), price, scale), mmr)


def initial_margin_up(size: int, price: int, scale: int, imr: int) -> int:
    return wad_mul_up(notional_up(abs(size), price, scale), imr)


def is_liquidatable(size: int, open_notional: int, margin: int, price: int, scale: int, mmr: int) -> bool:
    """``E < MM`` (LiquidationModule's test)."""
    return equity(size, open_notional, margin, price, scale) < maintenance_margin_up(size, price, scale, mmr)


def position_state(equity_: int, notional_up_: int, params) -> PositionState:
    """PerpLens._state: Healthy >= IM > ReduceOnly >= N*mcr > MarginCall >= MM > Liquidatable >= 0 > Bankrupt."""
    if equity_ < 0:
        return PositionState.BANKRUPT
    if equity_ < wad_mul_up(notional_up_, params.mmr):
        return PositionState.LIQUIDATABLE
    if equity_ < wad_mul_up(notional_up_, params.mcr):
        return PositionState.MARGIN_CALL
    if equity_ < wad_mul_up(notional_up_, params.imr):
        return PositionState.REDUCE_ONLY
    return PositionState.HEALTHY


@dataclass(frozen=True)
class Valuation:
    """A position valued at mark (the figures of ``PerpLens.PositionView``)."""

    entry_price: int
    notional: int
    unrealized_pnl: int
    equity: int
    bankruptcy_price: int
    state: PositionState


def value_position(size: int, open_notional: int, margin: int, price: int, scale: int, params) -> Valuation:
    """PerpLens._view: every SPEC figure of a position at ``price``."""
    if size == 0:
        return Valuation(0, 0, 0, 0, 0, PositionState.NONE)
    abs_size = abs(size)
    notional = notional_up(abs_size, price, scale)
    u = unrealized_pnl_down(size, open_notional, price, scale)
    e = margin + u
    return Valuation(
        entry_price=price_of_down(abs(open_notional), abs_size, scale),
        notional=notional,
        unrealized_pnl=u,
        equity=e,
        bankruptcy_price=price_of_down(bankruptcy_notional(size, open_notional, margin), abs_size, scale),
        state=position_state(e, notional, params),
    )


def fund_equity(cash: int, size: int, open_notional: int, price: int, scale: int) -> int:
    """The insurance fund's equity at mark: cash plus the uPnL of the position it holds."""
    return cash + unrealized_pnl_down(size, open_notional, price, scale)


def fund_drawdown(hwm: int, equity_: int) -> int:
    return drawdown_down(hwm, equity_)


def fund_long_bankruptcy_price_up(cash: int, size: int, open_notional: int, scale: int) -> int | None:
    """For a long fund: the lowest price at which selling its whole position keeps its cash >= 0 (rounded up);
    None when its cash already covers its cost basis (no cap)."""
    owed = open_notional - cash
    if owed <= 0:
        return None
    return mul_div_up(owed, WAD * scale, size)


def fund_short_bankruptcy_price_down(cash: int, size: int, open_notional: int, scale: int) -> int:
    """For a short fund: the highest price at which buying back its whole position keeps its cash >= 0."""
    covered = cash - open_notional
    return price_of_down(covered, -size, scale) if covered > 0 else 0


def fund_trade_price(cash: int, size: int, open_notional: int, mark: int, scale: int) -> int:
    """The price of the fund's Type 2 fills (AdlModule._fundTradePrice): mark, capped at the fund's bankruptcy
    price so that its cash never goes negative; no cap once its cash is already negative."""
    if cash < 0:
        return mark
    if size > 0:
        pfb = fund_long_bankruptcy_price_up(cash, size, open_notional, scale)
        return pfb if pfb is not None and pfb > mark else mark
    pfb = fund_short_bankruptcy_price_down(cash, size, open_notional, scale)
    return pfb if pfb < mark else mark


def fill_notional(abs_size: int, price: int, scale: int, seller: bool) -> int:
    """An ADL fill's notional, rounded against the counterparty: a seller receives it rounded down, a buyer pays it
    rounded up."""
    return notional_down(abs_size, price, scale) if seller else notional_up(abs_size, price, scale)


def book_value(free_total: int, positions, funds, index_balances=()) -> int:
    """What the vault must hold (README, Conservation): free collateral + position margins + fund cash - every
    signed cost basis (the cash model's form of PnL in transit) + each market's index balance (what positions have
    settled into their cost bases minus the losses socialized). ``positions``/``funds``: iterables of objects
    with ``margin, open_notional`` / ``cash, open_notional``."""
    return free_total + sum(p.margin - p.open_notional for p in positions) + sum(
        f.cash - f.open_notional for f in funds) + sum(index_balances)
