"""Policy comparison on a scenario's ADL events, run on the reference model (no chain).

``crash_on_model(scenario)`` builds the scenario's population on ``perp.model.Model`` as the chain simulation does
(``perp.population``: deposits, entry rounds, the market maker's opposite fills at each round's price), drives its
price path, and keeps like the simulation's keeper (liquidate what has been liquidatable for ``latency`` steps, one
account at a time; poke the fund; Type 2 when the fund holds a position). Before every ADL it records the book as a
policy sees it (``perp.lab.policies.Book``), the size and the shortfall, and the protocol's fills that followed.

``compare(cases)`` runs every policy on every recorded book, **counterfactually per event**: each policy gets the
same book, size and price the protocol had at that moment (the path after it is the protocol's own), and the
figures of ``perp.lab.metrics`` are summed per policy. The protocol's queue policy must give the model's fills
exactly (``Comparison.queue_matches``).

This is a simplified model backend (one liquidation per call instead of the keeper's batches, no gas): the issue's
"one engine, two backends" is not done here, and its reports are not compared to the chain's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from ..core import WAD, ModelError, bankruptcy_notional
from ..core import queue_indicator
from .metrics import event_metrics, run_metrics
from .policies import POLICIES, Book, BookEntry

T0 = 1_700_000_000
ORACLE_DECIMALS = 8
ORDER_EXPIRY = 2**40
OPERATOR = "0x" + "00" * 19 + "01"
KEEPER = "0x" + "00" * 19 + "09"


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
    cases: list
    liquidations: int = 0
    accepted: int = 0
    refused: int = 0
    type2_calls: int = 0
    # the run as ``perp.sim.RunRecord`` holds it (``record()``): the model's events of the price steps (not those of
    # the entry rounds), one ``perp.sim.StepRecord`` per step, the final funds and accounts
    scenario: object = None
    market_ids: dict = field(default_factory=dict)
    scale: int = 1
    events: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    final_funds: dict = field(default_factory=dict)
    accounts: list = field(default_factory=list)
    transactions: int = 0

    def record(self):
        """The run as a ``perp.sim.RunRecord`` (gas 0: no chain), for ``perp.report.build`` and the HTML report."""
        from ..sim import RunRecord

        return RunRecord(self.scenario, dict(self.market_ids), self.scale, list(self.steps), list(self.events),
                         list(self.accounts), dict(self.final_funds), self.transactions, 0, ORACLE_DECIMALS,
                         extra={"backend": "model"})


def _entries(model, mid, is_long) -> list:
    index = model.markets[mid].side_index(is_long)
    return [BookEntry(a, p.size, p.open_notional, p.margin, p.open_seq, abs(p.size) * (index - p.index_snapshot))
            for (m, a), p in model.positions.items() if m == mid and (p.size > 0) == is_long]


def _answer(price: Decimal) -> int:
    return int(price * 10**ORACLE_DECIMALS)


def crash_on_model(scn, traders: int | None = None) -> ModelCrash:
    """Runs scenario ``scn`` (``perp.scenario.Scenario``) on the reference model; ``traders`` overrides its size."""
    from ..model import Model
    from ..orders import Order
    from ..model.storage import Match
    from ..params import default_params
    from ..population import build, opening_order
    from ..scenario import scaled
    from ..sim import StepRecord

    scn = scaled(scn, traders) if traders else scn
    model = Model(scn.decimals)
    scale = model.scale
    now = T0
    mids = {}
    for m in scn.markets:
        params = default_params(m.name, scn.decimals).with_(**m.params)
        mids[m.name] = model.create_market(params, _answer(Decimal(1)), now, ORACLE_DECIMALS)
        seed = int(m.fund_seed * 10**scn.decimals)
        if seed:
            model.top_up_fund(OPERATOR, mids[m.name], seed)
    pop = build(scn)
    for a in pop.everyone:
        model.deposit(a.address, a.deposit)
    maker = pop.maker
    run = ModelCrash([], scenario=scn, market_ids=dict(mids), scale=scale)

    def order(who, mid, is_buy, size, price, leverage):
        who.nonce += 1
        return Order(account=who.address, market_id=mid, is_buy=is_buy, size=size, limit_price=price,
                     leverage=leverage, nonce=who.nonce, expiry=ORDER_EXPIRY)

    p_ = scn.population
    for rnd in range(p_.entry_rounds):  # as perp.sim.Simulation._open_positions
        frac = 0.0 if p_.entry_rounds == 1 else -1 + 2 * rnd / (p_.entry_rounds - 1)
        for m in scn.markets:
            price = m.start_price * (1 + Decimal(str(p_.entry_spread * frac)))
            mid = mids[m.name]
            model.set_price(mid, _answer(price), now)
            cohort = [t for t in pop.traders if t.market == m.name and t.entry_round == rnd]
            p = int(price * WAD)
            sizes = {t.index: t.notional * scale * WAD // p for t in cohort}
            totals = {True: sum(sizes[t.index] for t in cohort if not t.is_long),
                      False: sum(sizes[t.index] for t in cohort if t.is_long)}
            maker_orders = {b: order(maker, mid, b, tot, p, maker.leverage) for b, tot in totals.items() if tot}
            for t in opening_order(cohort):
                if sizes[t.index]:
                    o = order(t, mid, t.is_long, sizes[t.index], p, t.leverage)
                    try:
                        model.settle(Match(maker_orders[not t.is_long], o, sizes[t.index], p), now)
                    except ModelError:
                        pass
    first_seen: dict = {}
    lights_before = {}
    for m in scn.markets:  # the queue lights before the crash, at the path's first price (as perp.sim records them)
        mid = mids[m.name]
        model.set_price(mid, _answer(m.path.points[0]), now)
        mark = _answer(m.path.points[0]) * 10 ** (18 - ORACLE_DECIMALS)
        for is_long in (True, False):
            for acct, (_, _, _, lights) in queue_indicator(_entries(model, mid, is_long), mark, scale).items():
                lights_before[acct] = lights

    def keep(step, label):  # the events of the call just made, as perp.sim records a transaction's logs
        run.transactions += 1
        for n, x in model.events:
            run.events.append({"step": step, "tx": label, "tx_index": run.transactions, "event": n, "args": dict(x)})

    for step in range(scn.steps + 1):
        now += 1
        rec = StepRecord(step, {m.name: str(m.path.points[step]) for m in scn.markets}, {}, {})
        first_event = len(run.events)
        for m in scn.markets:  # every step re-posts the price, so that the oracle never goes stale in the model
            model.set_price(mids[m.name], _answer(m.path.points[step]), now)
        for m in scn.markets:
            mid = mids[m.name]
            mark = _answer(m.path.points[step]) * 10 ** (18 - ORACLE_DECIMALS)
            holders = model.side_accounts(mid, True) + model.side_accounts(mid, False)
            liquidatable = [a for a in holders if model.is_liquidatable(mid, a, mark)]
            for a in liquidatable:
                first_seen.setdefault((mid, a), step)
            due = [a for a in liquidatable if step - first_seen[(mid, a)] >= scn.keeper.latency]
            for a in due:
                first_seen.pop((mid, a), None)
                pos = model.positions[(mid, a)].copy()
                book_side = _entries(model, mid, pos.size < 0)
                try:
                    model.liquidate(KEEPER, mid, a, now)
                except ModelError:
                    continue
                keep(step, f"liquidate {m.name}")
                run.liquidations += 1
                ev = model.events
                liq = next(x for n, x in ev if n == "Liquidated")
                if not any(n == "FundRefused" for n, _ in ev):
                    run.accepted += 1
                    continue
                run.refused += 1
                # the keeper's reward comes out of the margin only while the position has equity (else the fund pays it)
                from_margin = liq["keeperReward"] if liq["equity"] > 0 else 0
                nb = bankruptcy_notional(pos.size, pos.open_notional, pos.margin - from_margin)
                at_mark = liq["equity"] > 0  # a refused position that still has equity goes at mark
                book = Book.type1(book_side, pos.size < 0, mark, scale, nb, abs(pos.size), at_mark)
                fills = [(x["account"], abs(x["sizeDelta"]), x["notional"], x["rank"]) for n, x in ev if n == "AdlFill"]
                run.cases.append(AdlCase(step, m.name, 1, book, abs(pos.size), max(0, -liq["equity"]),
                                         0, fills))  # its remaining equity goes to the fund: nothing handed over
            try:
                model.poke_fund(KEEPER, mid, now)
                keep(step, f"pokeFund {m.name}")
            except ModelError:
                pass
            mk = model.markets[mid]
            if scn.keeper.type2 and mk.fund_size != 0:
                book = Book.type2(_entries(model, mid, mk.fund_size < 0), mk.fund_size < 0, mark, scale,
                                  model.fund_trade_price(mk, mark))
                deficit, fund_size = max(0, -model._fund_equity(mk, mark)), abs(mk.fund_size)
                try:
                    model.deleverage_fund(KEEPER, mid, now)
                except ModelError as exc:
                    if "InsufficientAdlCapacity" in str(exc):
                        rec.type2_reverts += 1
                        run.events.append({"step": step, "tx": f"deleverageFund {m.name}", "tx_index": None,
                                           "event": "Type2Reverted", "args": {"reason": str(exc)}})
                    continue
                keep(step, f"deleverageFund {m.name}")
                run.type2_calls += 1
                fills = [(x["account"], abs(x["sizeDelta"]), x["notional"], x["rank"])
                         for n, x in model.events if n == "AdlFill"]
                size = sum(f[1] for f in fills)  # the fund's deficit on the part it deleveraged: what the cap makes
                run.cases.append(AdlCase(step, m.name, 2, book, size, deficit * size // fund_size, 0, fills))  # pay
        for m in scn.markets:
            mid = mids[m.name]
            mk = model.markets[mid]
            mark = _answer(m.path.points[step]) * 10 ** (18 - ORACLE_DECIMALS)
            rec.funds[m.name] = _fund_view(model, mk, mark)
            longs = sum(p.size for (i, _), p in model.positions.items() if i == mid and p.size > 0)
            shorts = -sum(p.size for (i, _), p in model.positions.items() if i == mid and p.size < 0)
            rec.open_interest[m.name] = (longs + max(mk.fund_size, 0), shorts + max(-mk.fund_size, 0))
        rec.count(run.events[first_event:])
        run.steps.append(rec)
    last = scn.steps
    for m in scn.markets:
        mk = model.markets[mids[m.name]]
        v = _fund_view(model, mk, _answer(m.path.points[last]) * 10 ** (18 - ORACLE_DECIMALS))
        run.final_funds[m.name] = {"cash": v["cash"], "size": v["size"], "open_notional": mk.fund_open_notional,
                                   "equity": v["equity"]}
    for t in pop.everyone:
        key = t.address.lower()
        positions = {}
        for m in scn.markets:
            p = model.positions.get((mids[m.name], key)) or model.positions.get((mids[m.name], t.address))
            if p is not None and p.size != 0:
                mark = _answer(m.path.points[last]) * 10 ** (18 - ORACLE_DECIMALS)
                positions[m.name] = {"size": p.size, "open_notional": p.open_notional, "margin": p.margin,
                                     "equity": model.position_equity(mids[m.name], t.address, mark)}
        lights = lights_before.get(key, lights_before.get(t.address))
        run.accounts.append({"address": t.address, "role": t.role, "market": t.market,
                             "side": "long" if t.is_long else "short", "leverage": t.leverage, "deposit": t.deposit,
                             "free_collateral": model.free_collateral(t.address), "positions": positions,
                             "queue_lights_before": lights})
    return run


def _fund_view(model, mk, mark) -> dict:
    """The fund as ``PerpLens.fundView`` reports it (cash, size, equity at mark, net notional, drawdown, distress)."""
    from ..core import drawdown_down

    equity = model._fund_equity(mk, mark)
    return {"cash": mk.fund_cash, "size": mk.fund_size, "equity": equity, "net_notional": mk.fund_open_notional,
            "drawdown": drawdown_down(mk.fund_hwm, equity) if mk.fund_hwm > 0 else 0,
            "distressed": mk.fund_distressed}


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


def table(comp: Comparison, decimals: int, title: str = ""):
    """A ``rich`` table of ``comp``: one row per policy."""
    from rich.table import Table

    one = 10**decimals

    def money(x):
        return f"{x / one:,.2f}"

    def ratio(x, pct=False):
        if x is None:
            return "-"
        return f"{float(x) * 100:.1f}%" if pct else f"{float(x):.3f}"

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
