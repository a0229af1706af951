"""The protocol core in pure Python (no web3): fixed-point math with the rounding direction in every name
(``fixed``), the exact ADL ranking and queue lights (``ranking``), the ADL queue's tiers and lists (``queue``), typed positions, funds and protocol state
(``types``), valuation at mark (``valuation``) and the custom errors (``errors``).

Everything above it imports these: the reference model (``perp.model``), the invariants (``perp.invariants``),
the chain client, the audit, the replay auditor, the keeper, the simulation and its reports.
"""
from .errors import ERROR_NAMES, ModelError, fail, format_error_arg
from .fixed import (BPS, UINT64_MAX, UINT128_MAX, UINT256_MAX, WAD, bankruptcy_notional, bps_down, bps_up, div_up,
                    drawdown_down, mul_div_down, mul_div_signed_up, mul_div_up, notional_down, notional_up,
                    position_value_down, price_of_down, unrealized_pnl_down, wad_div_down, wad_div_up, wad_mul_up)
from . import queue
from .ranking import (Candidate, ahead, bound, candidate, frame_price, lights, queue_indicator, ranked, score_down,
                      u_times_d)
from .types import AdlType, DistressReason, Fund, MarketIndex, Position, PositionState, ProtocolState, RefusalReason
from .valuation import (Valuation, book_value, equity, fill_notional, fund_drawdown, fund_equity, fund_trade_price,
                        index_owed_up, initial_margin_up, is_liquidatable, maintenance_margin_up, position_state,
                        settled_open_notional, value_position)

__all__ = [n for n in dir() if not n.startswith("_")]
