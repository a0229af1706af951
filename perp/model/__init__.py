"""Executable reference model of the protocol, in plain Python (no web3, no chain).

What it is
----------
``Model`` holds the whole protocol state the contracts keep (free collateral and order epoch per account,
positions with ``openSeq`` and list index, the per-market side lists in their swap-and-pop order, the
``openSeq`` counter, filled amounts by order hash, each market's oracle answer, pause flag, parameters and
insurance fund: cash, size, open notional, high-water mark with its timestamp, drawdown latch) and applies
every user and keeper action with the same integer math and the same rounding as the Solidity code:

=========================  =================================================================================
model method               contract function
=========================  =================================================================================
``deposit``/``deposit_for``  ``deposit``/``depositFor`` (MarginModule)
``withdraw``               ``withdraw``
``add_margin``             ``addMargin`` (works on a paused market)
``remove_margin``          ``removeMargin`` (IM check, then the leverage check, after the write)
``settle``/``settle_batch``  ``settle``/``settleBatch`` (TradingModule: ``_useOrder``, ``_fillTrader``, fees)
``cancel_order``/``cancel_all``  ``cancelOrder``/``cancelAllOrders``
``liquidate``/``liquidate_batch``  LiquidationModule (reward caps, fund refusal, Type 1 ADL)
``deleverage_fund``        ``deleverageFund`` (Type 2: reasons, targets, bankruptcy-price cap, all-or-nothing)
``top_up_fund``/``poke_fund``  InsuranceFundModule (high-water mark window, drawdown latch)
``set_price``/``set_paused``   mock oracle ``setPrice``/``setPriceAt``, owner ``setPaused``
=========================  =================================================================================

Every action is atomic: a failing action raises a ``ModelError`` and leaves the state exactly as before (as a
reverted transaction does). ``ModelError`` has one subclass per custom error of ``IPerpetualErrors`` (e.g.
``InsufficientFreeCollateral``), carries the same arguments in the same order, and the checks run in the
contract's order so that the same error wins. ``str(exc)`` (or ``exc.revert_string()``) is the string Brownie
reports and ``tests/support.err(name, *args)`` builds: ``"InsufficientFreeCollateral: 0xabc..., 0, 5"``.
Failures the contracts reach only with absurd amounts are modelled where cheap: OpenZeppelin's SafeCast errors
for the int128/uint128 storage fields (``SafeCastOverflowedUintDowncast(128, value)``), a division by zero or an
underflow as ``ModelError("Panic", code)``; checked-multiplication overflows of 256-bit products are not.

Inputs the model cannot compute by itself, and how to supply them:

- order hashes (EIP-712 digests): pass ``hasher=lambda order: perp.orders.order_digest(order, chain_id,
  perp_address)`` to get the exact ``bytes32`` (errors then print exactly like the chain's); the default hasher
  returns a tuple of the order's fields, unique per order, which is enough for pure-Python runs;
- signatures: a ``Match`` names the address each signature recovers to (``maker_signer``/``taker_signer``,
  default the order's own account; ``ZERO`` for an unrecoverable signature);
- time: every time-dependent action takes ``now`` (``block.timestamp``): oracle staleness, order expiry and the
  high-water-mark window.

Accounts are normalised to lower-case hex strings (any object whose ``str()`` is an address works).
Orders are any object with the attributes of ``perp.orders.Order`` (``account, market_id, is_buy, size,
limit_price, leverage, reduce_only, nonce, epoch, expiry``).

Outputs besides the state: each action returns its result (``liquidate_batch`` the count) and leaves the
events that matter for the differential tests in ``model.events`` (reset at the start of every action):
``("AdlFill", {...})`` with account, market, type, sizeDelta, price, notional, score and rank exactly as the
``AdlFill`` event, and ``Liquidated``, ``FundAccepted``, ``FundRefused``, ``AdlRemainderToFund``,
``FundWatermarkUpdated``, ``Trade``.

The ADL queue (``perp.core.queue``, mirroring ``AdlQueue.sol``): every open position sits in its side's queue, in
the tier of its margin per cost basis at its entry key, or in the overflow list after a partial ADL cut; the model
applies every insertion, re-sort and removal exactly as the contract does (same walk, same place among equal keys),
so that each position's ``tier, queued, overflowIndex, next, key, prev`` and each side's bitmap, heads and overflow
list equal the chain's, and the differential tests compare them after every action. The ADL engine (``adl.py``)
mirrors the contract's best-first merge step for step, so the same positions are examined and the same work bound
is met; ``Model.ranked`` is the SPEC's order by a plain sort, which the engine's fills must follow.

Speed: ``python -m perp.model`` runs random pure-model scenarios with the invariants checked after every step and
prints how many per minute (see ``random_scenario``).

Also here: ``Model.state()`` (the typed ``perp.core.ProtocolState``), ``Model.findings()`` and ``Model.check()``
(the state invariants of ``perp.invariants``: conservation including the cost-basis term, balanced book, the ADL
queue, position shape; ``check`` raises ``InvariantViolation``, an
``AssertionError``), ``Model.fund_equity``, ``Model.position_equity`` and ``Model.snapshot()`` (plain tuples, for
comparisons).

Layout: one file per contract file, so that a contract change lands in one place: ``storage.py``
(PerpStorage), ``base.py`` (PerpBase), ``margin.py``, ``market.py``, ``trading.py``, ``liquidation.py``,
``insurance_fund.py``, ``adl.py`` (the modules); the math, ranking key, valuation and errors are the pure core
(``perp.core``). Every name the tests import from ``perp.model`` is re-exported here, and setting one of them on
``perp.model`` (``monkeypatch.setattr(perp.model, "bps_up", ...)``) sets it where the model uses it.
"""
from __future__ import annotations

import sys as _sys
import types as _types

from ..core import (BPS, ERROR_NAMES, UINT64_MAX, UINT128_MAX, UINT256_MAX, WAD, Fund, MarketIndex, ModelError, Position,
                    ProtocolState, bankruptcy_notional, bps_down, bps_up, div_up, drawdown_down, fail,
                    format_error_arg, mul_div_down, mul_div_signed_up, mul_div_up, notional_down, notional_up,
                    position_value_down, price_of_down, queue, score_down, unrealized_pnl_down, wad_mul_up)
from ..core.errors import ERRORS as _ERRORS
from ..invariants import InvariantViolation, check_state
from .adl import MAX_EXAMINED, MAX_FILLS, AdlModule
from .base import PerpBase, wad_div_up
from .insurance_fund import InsuranceFundModule
from .liquidation import LiquidationModule
from .margin import MarginModule
from .market import MarketModule
from .scenarios import ScenarioStats, SimpleOrder, benchmark, random_scenario, reference_model
from .storage import (ADL_TYPE_BANKRUPT, ADL_TYPE_FUND, DISTRESS_DRAWDOWN, DISTRESS_NEGATIVE_EQUITY, DISTRESS_NONE,
                      DISTRESS_RISK_LIMIT, REFUSE_DRAWDOWN, REFUSE_NEGATIVE_EQUITY, REFUSE_NONE, REFUSE_RISK_LIMIT,
                      ZERO, Market, Match, _int128, _uint128, addr, default_hasher, reduction)
from .trading import TradingModule

globals().update(_ERRORS)  # one exception class per custom error: perp.model.InsufficientFreeCollateral, ...

# The names of the single-file model, kept for its users (the core names say their rounding direction).
ceil_div = div_up
mul_div = mul_div_down
position_value = position_value_down
unrealized_pnl = unrealized_pnl_down
drawdown = drawdown_down
mul_div_signed_ceil = mul_div_signed_up
price_of = price_of_down
score = score_down


class Model(AdlModule, LiquidationModule, InsuranceFundModule, TradingModule, MarginModule, MarketModule, PerpBase):
    """The protocol state and its actions (``contracts/Perpetual.sol`` assembled from its modules).
    ``decimals``: collateral decimals (0..18)."""

    def state(self) -> ProtocolState:
        """The model's state as the typed ``ProtocolState`` the invariants check (marks from the oracle answers)."""
        marks = {}
        for mid, m in self.markets.items():
            price = m.answer * 10 ** (18 - m.oracle_decimals) if m.answer > 0 else None
            marks[mid] = price
        funds = {mid: Fund(m.fund_cash, m.fund_size, m.fund_open_notional, m.fund_hwm, m.fund_hwm_ts,
                           m.fund_distressed) for mid, m in self.markets.items()}
        indices = {mid: MarketIndex(*m.index_tuple()) for mid, m in self.markets.items()}
        return ProtocolState(vault_balance=self.vault, free=self.free, positions=self.positions, funds=funds,
                             queues=self.queues, marks=marks, scale=self.scale, queue_known=True, indices=indices)

    def findings(self, after_keeper: bool = False, skip=("fund_cash",)) -> list:
        """Every violated state invariant (``perp.invariants.check_state``) but those named in ``skip``.
        ``fund_cash`` is skipped by default: a Type 1 in a market left with no open interest keeps its loss in the
        fund's cash (``LossUnsocialized``, README "The loss waterfall"), and the model must reproduce that; the
        property tests check that nothing else does."""
        return check_state(self.state(), after_keeper=after_keeper, skip=skip)

    def check(self) -> None:
        """Raises ``InvariantViolation`` (an ``AssertionError``) naming every violated state invariant."""
        found = self.findings()
        if found:
            raise InvariantViolation(found)


class _ModelPackage(_types.ModuleType):
    """Setting a re-exported name on ``perp.model`` rebinds it in the model's files that use it, so that patching
    ``perp.model.bps_up`` changes what the trading module computes (and undoing the patch restores it)."""

    def __setattr__(self, name, value):
        missing = object()
        old = self.__dict__.get(name, missing)
        super().__setattr__(name, value)
        if old is missing or callable(old) is False:
            return
        prefix = self.__name__ + "."
        for modname, mod in list(_sys.modules.items()):
            if modname.startswith(prefix) and mod is not None and mod.__dict__.get(name, missing) is old:
                mod.__dict__[name] = value


_sys.modules[__name__].__class__ = _ModelPackage
