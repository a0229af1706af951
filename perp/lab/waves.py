"""The policy comparison per wave of a crash (``perp lab compare SCENARIO --per-wave``).

A scenario may name **waves**, spans of its price steps (``perp.scenario.Wave``; ``scenarios/README.md``). The run
and the per-event comparison are those of ``perp.lab.compare`` (every policy on every recorded book,
counterfactually per event); this module only groups the events by the wave their step falls in and sums the
figures of ``perp.lab.metrics.run_metrics`` over each group, so that a wave's row is the run figures of that wave's
events: haircuts and overshoot summed over its events, concentration (Gini, top-1 and top-10 share) over the
accounts eligible in any of its events, the largest haircut over equity and the largest leverage left after any of
its events. Events at a step outside every wave get a row of their own (``OUTSIDE``); the ``ALL`` row is the whole
run (``Comparison.per_policy``), so the waves' money figures sum to it exactly.

The shape follows the per-policy tables of Chitra (arXiv 2512.01112) and of Campbell, Hey, Moallemi and Nutz
(arXiv 2603.15963); the numbers are this protocol's, on the scenario's synthetic paths.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..core import WAD
from .compare import money_text, ratio_text
from .metrics import RunMetrics, run_metrics

OUTSIDE = "outside the waves"
ALL = "all waves"


@dataclass
class WaveRow:
    wave: str
    steps: tuple  # (first, last) step of the wave; () for OUTSIDE and ALL
    events: int
    type1: int  # Type 1 events (a refused liquidation)
    type2: int  # Type 2 events (the fund deleveraging)
    shortfall: int  # collateral units: the events' shortfalls (perp.lab.metrics), the same for every policy
    deleveraged: int  # collateral units: notional of the protocol's own fills (the model's), the ADL volume
    per_policy: dict  # policy -> RunMetrics over the wave's events


def per_wave(cases: list, comp, waves, k: int = 10) -> list[WaveRow]:
    """One row per wave (in the scenario's order), then ``OUTSIDE`` when some event falls outside every wave, then
    ``ALL``. ``cases`` are the recorded events (``perp.lab.compare.AdlCase``) and ``comp`` their ``compare``."""
    if comp.cases != len(cases):
        raise ValueError(f"the comparison covers {comp.cases} events, not the {len(cases)} cases given")
    groups = []
    for w in waves:
        groups.append((w.name, (w.start, w.end), [i for i, c in enumerate(cases) if w.holds(c.step)]))
    inside = {i for _, _, idx in groups for i in idx}
    outside = [i for i in range(len(cases)) if i not in inside]
    if outside:
        groups.append((OUTSIDE, (), outside))
    rows = [_row(name, steps, idx, cases, comp, k) for name, steps, idx in groups]
    everything = _row(ALL, (), list(range(len(cases))), cases, comp, k)
    everything.per_policy = dict(comp.per_policy)
    rows.append(everything)
    return rows


def _row(name, steps, idx, cases, comp, k) -> WaveRow:
    sub = [cases[i] for i in idx]
    eligible = {e.account for c in sub for e in c.book.eligible()}
    keys = [(c.market, c.book.is_long) for c in sub]
    per = {n: run_metrics([evs[i] for i in idx], eligible, k, groups=keys) for n, evs in comp.events.items()}
    return WaveRow(name, steps, len(sub), sum(c.adl_type == 1 for c in sub), sum(c.adl_type == 2 for c in sub),
                   sum(c.shortfall for c in sub), sum(f[2] for c in sub for f in c.model_fills), per)


COLUMNS = ("wave", "policy", "events (T1/T2)", "ADL notional", "shortfall", "haircuts", "overshoot (units)", "hit",
           "Gini", "Gini event", "top-1", "top-10", "max h/E", "max lev. after")


def cells(row: WaveRow, policy: str, r: RunMetrics, decimals: int, first: bool) -> list[str]:
    """The table's cells of one policy in one wave: money in collateral tokens (2 decimals), overshoot in units,
    shares in %, leverage in x (3 decimals); the wave's own columns only on its first line."""
    def money(x):
        return money_text(x, decimals)

    ratio = ratio_text
    lev = None if r.leverage_after_max is None else Fraction(r.leverage_after_max, WAD)
    head = [row.wave, policy, f"{row.events} ({row.type1}/{row.type2})", money(row.deleveraged),
            money(row.shortfall)] if first else ["", policy, "", "", ""]
    return head + [money(r.haircut_total), str(r.overshoot), str(r.accounts_hit), ratio(r.gini),
                   ratio(r.gini_event_mean), ratio(r.top1_share, True), ratio(r.top10_share, True),
                   ratio(r.max_equity_share, True), ratio(lev)]


def lines(rows: list[WaveRow], decimals: int) -> list[list[str]]:
    out = []
    for row in rows:
        for j, (name, r) in enumerate(row.per_policy.items()):
            out.append(cells(row, name, r, decimals, j == 0))
    return out


def table(rows: list[WaveRow], decimals: int, title: str = ""):
    """A ``rich`` table: one line per wave and policy."""
    from rich.table import Table

    t = Table(title=title or "ADL policies per wave (counterfactual per event)")
    for c in COLUMNS:
        t.add_column(c, justify="left" if c in ("wave", "policy") else "right")
    for row in rows:
        for j, (name, r) in enumerate(row.per_policy.items()):
            t.add_row(*cells(row, name, r, decimals, j == 0), end_section=j == len(row.per_policy) - 1)
    return t


def markdown(rows: list[WaveRow], decimals: int) -> str:
    """The same table in Markdown (docs/RISK_LAB.md holds one)."""
    right = [c not in ("wave", "policy") for c in COLUMNS]
    out = ["| " + " | ".join(COLUMNS) + " |", "| " + " | ".join("--:" if r else "---" for r in right) + " |"]
    out += ["| " + " | ".join(line) + " |" for line in lines(rows, decimals)]
    return "\n".join(out) + "\n"
