"""Risk lab: ADL policies as interchangeable pure functions over one book (``policies``), the figures that compare
them (``metrics``), and the reconciliation of a run's ADL figures to the unit (``reconcile``). Pure Python, exact
integer math as the reference model; no web3. Definitions of every figure: ``docs/RISK_LAB.md``."""
from .metrics import EventMetrics, RunMetrics, event_metrics, gini, kendall_tau, run_metrics, top_k_overlap
from .policies import (POLICIES, Book, BookEntry, Fill, Outcome, dydx_sweep, pnl_leverage_queue, pro_rata,
                       protocol_queue, water_fill)

__all__ = [n for n in dir() if not n.startswith("_")]
