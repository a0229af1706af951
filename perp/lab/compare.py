"""Policy comparison on a scenario's ADL events, run on the reference model (no chain).

``crash_on_model(scenario)`` runs the scenario with the crash simulation engine on its reference-model backend
(``perp.sim.ModelSimulation``: the chain simulation's population, keeper, batches, clock and audit, and the same
report as the chain run, to the unit) on a ``BookModel``, which records before every ADL event the book as a policy
sees it (``perp.lab.policies.Book``), the size and the shortfall, and the protocol's fills that followed.

``compare(cases)`` runs every policy on every recorded book, **counterfactually per event**: each policy gets the
same book, size and price the protocol had at that moment (the path after it is the protocol's own), and the
figures of ``perp.lab.metrics`` are summed per policy. The protocol's queue policy must give the model's fills
exactly (``Comparison.queue_matches``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

from ..core import WAD, ModelError, bankruptcy_notional
from ..model import Model
from .metrics import event_metrics, run_metrics
from .policies import POLICIES, Book, BookEntry


@dataclass
class AdlCase:
    """One ADL event as recorded before it happened."""

    step: int
    market: str
    adl_type: int  # 1 or 2
    book: Book
    amount: int  # WAD size to deleverage
    shortfall: int  # collateral units (Type 1: the refused position's max(0, -E); Type 2: the fund's deficit at mark,
    # max(0, -equity), on the share of its position deleveraged: at the fund's bankruptcy-price cap the counterparties
    # pay it through their haircuts)
    surplus: int  # Type 1 of a solvent position: max(0, E - keeper reward); else 0
    model_fills: list  # (account, size, notional, rank) the model made


@dataclass
class ModelCrash:
    """A scenario's run on the reference model (``perp.sim.ModelSimulation``) with the ADL books recorded."""

    cases: list
    liquidations: int = 0
    accepted: int = 0
    refused: int = 0
    type2_calls: int = 0
    run: object = None  # the perp.sim.RunRecord

    scenario = property(lambda self: self.run.scenario)
    market_ids = property(lambda self: self.run.market_ids)
    scale = property(lambda self: self.run.scale)
    events = property(lambda self: self.run.events)
    steps = property(lambda self: self.run.steps)
    final_funds = property(lambda self: self.run.final_funds)
    accounts = property(lambda self: self.run.accounts)
    transactions = property(lambda self: self.run.transactions)

    def record(self):
        """The run as a ``perp.sim.RunRecord`` (gas 0: no chain), for ``perp.report.build`` and the HTML report."""
        return self.run


def _entries(model, mid, is_long) -> list:
    index = model.markets[mid].side_index(is_long)
    return [BookEntry(a, p.size, p.open_notional, p.margin, p.open_seq, abs(p.size) * (index - p.index_snapshot))
            for (m, a), p in model.positions.items() if m == mid and (p.size > 0) == is_long]


class BookModel(Model):
    """The reference model that also records, before every ADL event, the book as a policy sees it, the size, the
    shortfall and the protocol's fills that followed (``cases``: ``AdlCase``, with ``step`` the model time and
    ``market`` the market id until ``crash_on_model`` names them). A case of a liquidation inside a batch that
    reverts is dropped with it. Only observes: every action and its result are the model's."""

    def __init__(self, decimals: int = 6, **kw):
        super().__init__(decimals, **kw)
        self.cases: list = []

    def _tx(self, fn, *args):
        mark = len(self.cases)
        try:
            return super()._tx(fn, *args)
        except ModelError:
            del self.cases[mark:]
            raise

    def _liquidate(self, mid, m, account, price, keeper, now):
        pos = self.positions[(mid, account)].copy()
        book_side = _entries(self, mid, pos.size < 0)
        start = len(self.events)
        done = super()._liquidate(mid, m, account, price, keeper, now)
        ev = self.events[start:]
        if done and any(n == "FundRefused" for n, _ in ev):
            liq = next(x for n, x in ev if n == "Liquidated")
            # the keeper's reward comes out of the margin only while the position has equity (else the fund pays it)
            from_margin = liq["keeperReward"] if liq["equity"] > 0 else 0
            nb = bankruptcy_notional(pos.size, pos.open_notional, pos.margin - from_margin)
            at_mark = liq["equity"] > 0  # a refused position that still has equity goes at mark
            book = Book.type1(book_side, pos.size < 0, price, self.scale, nb, abs(pos.size), at_mark)
            fills = [(x["account"], abs(x["sizeDelta"]), x["notional"], x["rank"]) for n, x in ev if n == "AdlFill"]
            # its remaining equity goes to the fund: nothing handed over
            self.cases.append(AdlCase(now, mid, 1, book, abs(pos.size), max(0, -liq["equity"]), 0, fills))
        return done

    def deleverage_fund(self, sender, mid: int, now: int, max_size: int | None = None) -> None:
        mk = self.markets.get(mid)
        try:
            price = self.mark_price(mid, now)
        except ModelError:
            price = None
        if mk is None or price is None or mk.fund_size == 0:
            return super().deleverage_fund(sender, mid, now, max_size)
        book = Book.type2(_entries(self, mid, mk.fund_size < 0), mk.fund_size < 0, price, self.scale,
                          self.fund_trade_price(mk, price))
        deficit, fund_size = max(0, -self._fund_equity(mk, price)), abs(mk.fund_size)
        super().deleverage_fund(sender, mid, now, max_size)
        fills = [(x["account"], abs(x["sizeDelta"]), x["notional"], x["rank"]) for n, x in self.events if n == "AdlFill"]
        size = sum(f[1] for f in fills)  # the fund's deficit on the part it deleveraged: what the cap makes them pay
        self.cases.append(AdlCase(now, mid, 2, book, size, deficit * size // fund_size, 0, fills))


def crash_on_model(scn, traders: int | None = None) -> ModelCrash:
    """Runs scenario ``scn`` (``perp.scenario.Scenario``) on the reference model with the simulation engine
    (``perp.sim.ModelSimulation``, the engine of ``perp simulate``: the same population, keeper, clock and audit as
    on the chain), recording every ADL event's book; ``traders`` overrides its size."""
    from ..scenario import scaled
    from ..sim import ModelSimulation

    scn = scaled(scn, traders) if traders else scn
    model = BookModel(scn.decimals)
    sim = ModelSimulation(scn, model=model)
    sim.run()
    return crash_of(sim)


def crash_of(sim) -> ModelCrash:
    """The ``ModelCrash`` of a finished ``ModelSimulation`` that ran on a ``BookModel``."""
    names = {mid: name for name, mid in sim.market_ids.items()}
    cases = []
    for c in sim.model.cases:
        cases.append(replace(c, step=c.step - sim.clock_start - 1 if c.step > sim.clock_start else None,
                             market=names[c.market]))
    run = sim.record()
    count = {n: sum(1 for e in run.events if e["event"] == n) for n in ("Liquidated", "FundAccepted", "FundRefused")}
    return ModelCrash(cases, count["Liquidated"], count["FundAccepted"], count["FundRefused"], sim.type2_calls, run)


@dataclass
class Comparison:
    cases: int
    per_policy: dict  # policy -> RunMetrics
    events: dict  # policy -> [EventMetrics], in case order
    queue_matches: bool  # the queue policy gave the model's fills on every case
    mismatches: list = field(default_factory=list)


def compare(cases: list, policies=None, seed: int = 0, k: int = 10) -> Comparison:
    """Every policy on every case (see the module docstring); ``seed`` feeds ``dydx_sweep`` (case ``i`` uses
    ``seed + i``)."""
    names = list(policies or POLICIES)
    events = {n: [] for n in names}
    mismatches = []
    groups = [(c.market, c.book.is_long) for c in cases]
    for i, c in enumerate(cases):
        for n in names:
            fn = POLICIES[n]
            out = fn(c.book, c.amount, seed=seed + i) if n == "dydx_sweep" else fn(c.book, c.amount)
            if n == "queue":
                got = [(f.account, f.size, f.notional, f.rank) for f in out.fills]
                if got != c.model_fills:
                    mismatches.append(i)
            events[n].append(event_metrics(out, c.shortfall, c.surplus))
    eligible = {e.account for c in cases for e in c.book.eligible()}
    per = {n: run_metrics(events[n], eligible, k, groups=groups) for n in names}
    return Comparison(len(cases), per, events, not mismatches, mismatches)


def money_text(x: int, decimals: int) -> str:
    """Collateral units as tokens, 2 decimals, thousands separated (the tables' money)."""
    return f"{x / 10**decimals:,.2f}"


def ratio_text(x, pct: bool = False) -> str:
    """A ratio as the tables show it: a percentage with one decimal, or 3 decimals; "-" when undefined."""
    if x is None:
        return "-"
    return f"{float(x) * 100:.1f}%" if pct else f"{float(x):.3f}"


def table(comp: Comparison, decimals: int, title: str = ""):
    """A ``rich`` table of ``comp``: one row per policy."""
    from rich.table import Table

    def money(x):
        return money_text(x, decimals)

    ratio = ratio_text

    t = Table(title=title or f"ADL policies on {comp.cases} recorded events (counterfactual per event)")
    cols = ("policy", "hit", "haircuts", "windfalls", "overshoot (units)", "Gini run", "Gini event", "top-1",
            "top-10", "max h/E", "max lev. after", "top-10 overlap", "Kendall tau")
    for c in cols:
        t.add_column(c, justify="left" if c == "policy" else "right")
    for name, r in comp.per_policy.items():
        t.add_row(name, str(r.accounts_hit), money(r.haircut_total), money(r.windfall_total), str(r.overshoot),
                  ratio(r.gini), ratio(r.gini_event_mean), ratio(r.top1_share, True), ratio(r.top10_share, True),
                  ratio(r.max_equity_share, True), ratio(None if r.leverage_after_max is None else Fraction(r.leverage_after_max, WAD)), ratio(r.top_k_overlap_mean),
                  ratio(r.kendall_tau_mean))
    return t
