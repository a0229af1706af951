"""The figures that compare ADL policies, per ADL event (``event_metrics``) and per run (``run_metrics``).

Money is in collateral units (integers); ratios are exact ``Fraction``s (``None`` where undefined, e.g. a share of a
zero total); leverages are exact ``N / E`` at mark. Every figure is defined in its field's comment and in
``docs/RISK_LAB.md``.

Per event, from the policy's ``Outcome`` on its ``Book``, the event's **shortfall** ``S`` (the deficit the ADL is
meant to cover: the bankrupt position's negative equity at mark, ``max(0, -E)``, for its whole size; 0 for Type 2 or
a refused position that was still solvent) and its **surplus** (a refused position that was still solvent: its
equity left after the keeper's reward, ``max(0, E - reward)``, which its closing at the bankruptcy price hands over):

- ``covered = floor(S * filled / requested)``: the share of the shortfall on the size the fills took (the rest is
  left to the fund); ``handed = floor(surplus * filled / requested)`` likewise;
- ``haircuts``: per-account signed haircut (``perp.lab.policies``: PnL at mark minus PnL at the fill price);
- ``haircut_total = sum(max(h_a, 0))``, ``windfall_total = sum(max(-h_a, 0))``; ``net = haircut_total - windfall_total``;
- ``overshoot = max(0, net - (covered - handed))``: what the counterparties lost beyond the shortfall the fills
  covered (or received short of the surplus handed over); ``undershoot = max(0, (covered - handed) - net)``, so
  ``net = covered - handed + overshoot - undershoot`` exactly (``perp.lab.reconcile`` uses the same definitions);
- concentration over the **eligible accounts of the book** (``u > 0``; those not hit count as 0), of the positive
  haircuts ``x_a = max(h_a, 0)``: ``gini`` (``sum_i sum_j |x_i - x_j| / (2 n sum x)``), ``top1_share`` and
  ``top10_share`` (the largest, and the ten largest, over ``haircut_total``), ``max_equity_share`` (the largest
  ``h_a / E_a`` over the accounts hit, ``E_a`` the account's equity at mark before the event);
- leverage over the eligible positions, in WAD, each position's rounded down (``floor(N * WAD / E)`` from the exact
  ``N`` and ``E``), the mean rounded down: ``leverage_before_max/mean`` (``N / E`` at mark before), and
  ``leverage_after_max/mean`` over the eligible positions still open after the fills, ``(|s| - q) * P / (E - h)``
  (the notional kept over what the account is worth after its haircut, released margin included);
- ``accounts_hit``: accounts with a fill; ``order``: the accounts hit, largest haircut first (ties in fill order),
  the order the rank-stability figures compare.

Rank stability between two consecutive events (of one market and side): ``top_k_overlap`` (the share of the first
event's ``k`` most-cut accounts that are also among the second's ``k`` most-cut, over ``min(k, |A|, |B|)``) and
``kendall_tau`` (Kendall's tau-a between the two events' orders, over the accounts both hit; ``None`` below two).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ..core import WAD
from .policies import Book, BookEntry, Outcome


def leverage_wad(book: Book, e: BookEntry, cut: int = 0, haircut: int = 0) -> int:
    """``floor(WAD * (|size| - cut) * mark / (E - haircut))`` with the exact (unrounded) notional and equity at mark:
    the effective leverage in WAD, rounded down. ``E - haircut`` must be > 0."""
    return WAD * (abs(e.size) - cut) * book.mark // ((e.margin * book.d + book.u_d(e)) - haircut * book.d)


def gini(values) -> Fraction | None:
    """Gini coefficient of non-negative ``values``: ``sum_i sum_j |x_i - x_j| / (2 n^2 mean)``, computed exactly as
    ``(2 sum_i i x_(i)) / (n sum x) - (n + 1) / n`` with ``x`` sorted ascending, ``i`` from 1. ``None`` when the sum is 0
    (nobody cut: no concentration to measure). 0: all equal; ``(n - 1) / n``: one holds everything."""
    xs = sorted(values)
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0:
        return None
    if xs[0] < 0:
        raise ValueError("gini of negative values")
    return Fraction(2 * sum(i * x for i, x in enumerate(xs, 1)), n * total) - Fraction(n + 1, n)


def top_share(values, k: int) -> Fraction | None:
    """The ``k`` largest of non-negative ``values`` over their sum (``None`` when the sum is 0)."""
    xs = sorted(values, reverse=True)
    total = sum(xs)
    return Fraction(sum(xs[:k]), total) if total else None


def top_k_overlap(a: list, b: list, k: int = 10) -> Fraction | None:
    """``|top_k(a) & top_k(b)| / min(k, |a|, |b|)`` of two orders (lists of accounts, first = most cut); ``None``
    when either is empty."""
    ta, tb = a[:k], b[:k]
    m = min(k, len(ta), len(tb))
    return Fraction(len(set(ta) & set(tb)), m) if m else None


def kendall_tau(a: list, b: list) -> Fraction | None:
    """Kendall's tau-a of two orders over the items in both: ``(concordant - discordant) / (m (m - 1) / 2)``;
    ``None`` when fewer than two items are common. 1: same relative order; -1: reversed. (Discordant pairs are the
    inversions of b's positions read in a's order, counted by merge sort.)"""
    in_b = set(b)
    pos_b = {x: i for i, x in enumerate(b)}
    seq = [pos_b[x] for x in a if x in in_b]
    m = len(seq)
    if m < 2:
        return None
    pairs = m * (m - 1) // 2
    d = _inversions(seq)
    return Fraction(pairs - 2 * d, pairs)


def _inversions(xs: list) -> int:
    if len(xs) < 2:
        return 0
    mid = len(xs) // 2
    left, right = xs[:mid], xs[mid:]
    count = _inversions(left) + _inversions(right)
    i = j = 0
    for k in range(len(xs)):
        if j == len(right) or (i < len(left) and left[i] <= right[j]):
            xs[k] = left[i]
            i += 1
        else:
            xs[k] = right[j]
            j += 1
            count += len(left) - i
    return count


@dataclass
class EventMetrics:
    policy: str
    requested: int  # WAD size the event asked for
    filled: int  # WAD size the fills took
    shortfall: int  # S, collateral units (input)
    covered: int  # floor(S * filled / requested)
    surplus: int  # input: a solvent refused position's equity after the keeper's reward
    handed: int  # floor(surplus * filled / requested)
    haircuts: dict  # account -> signed haircut
    haircut_total: int  # sum of the positive per-account haircuts
    windfall_total: int  # sum of the negative per-account haircuts, as a positive number
    overshoot: int  # max(0, net - (covered - handed))
    undershoot: int  # max(0, (covered - handed) - net)
    accounts_hit: int
    eligible: int  # eligible positions in the book
    gini: Fraction | None
    top1_share: Fraction | None
    top10_share: Fraction | None
    max_equity_share: Fraction | None
    leverage_before_max: int | None  # WAD
    leverage_before_mean: int | None  # WAD, rounded down
    leverage_after_max: int | None
    leverage_after_mean: int | None
    order: list = field(default_factory=list)

    @property
    def net(self) -> int:
        return self.haircut_total - self.windfall_total


def _max_mean(xs):
    xs = list(xs)
    return (max(xs), sum(xs) // len(xs)) if xs else (None, None)


def event_metrics(outcome: Outcome, shortfall: int = 0, surplus: int = 0) -> EventMetrics:
    """Every per-event figure of ``outcome`` (see the module docstring); ``shortfall`` is the event's ``S``,
    ``surplus`` a solvent refused position's equity after the keeper's reward."""
    book = outcome.book
    cuts = outcome.haircuts
    sizes = outcome.sizes
    eligible = book.eligible()
    requested, filled = outcome.requested, outcome.filled
    covered = shortfall * filled // requested if requested else 0
    handed = surplus * filled // requested if requested else 0
    pos = [max(cuts.get(e.account, 0), 0) for e in eligible]
    haircut_total = sum(max(h, 0) for h in cuts.values())
    windfall_total = sum(max(-h, 0) for h in cuts.values())
    net = haircut_total - windfall_total
    equity_d = {e.account: e.margin * book.d + book.u_d(e) for e in eligible}  # E times D, exact
    shares = [Fraction(h * book.d, equity_d[a]) for a, h in cuts.items() if h > 0 and a in equity_d]
    before = [leverage_wad(book, e) for e in eligible]
    after = []
    for e in eligible:
        q, h = sizes.get(e.account, 0), cuts.get(e.account, 0)
        if q < abs(e.size) and equity_d[e.account] - h * book.d > 0:
            after.append(leverage_wad(book, e, q, h))
    lb, la = _max_mean(before), _max_mean(after)
    first_fill = {}
    for i, f in enumerate(outcome.fills):
        first_fill.setdefault(f.account, i)
    order = sorted(first_fill, key=lambda a: (-cuts[a], first_fill[a]))
    return EventMetrics(
        policy=outcome.policy, requested=requested, filled=filled, shortfall=shortfall, covered=covered,
        surplus=surplus, handed=handed, haircuts=cuts, haircut_total=haircut_total, windfall_total=windfall_total,
        overshoot=max(0, net - (covered - handed)), undershoot=max(0, (covered - handed) - net),
        accounts_hit=len(first_fill),
        eligible=len(eligible), gini=gini(pos), top1_share=top_share(pos, 1), top10_share=top_share(pos, 10),
        max_equity_share=max(shares) if shares else None,
        leverage_before_max=lb[0], leverage_before_mean=lb[1], leverage_after_max=la[0], leverage_after_mean=la[1],
        order=order)


@dataclass
class RunMetrics:
    policy: str
    events: int
    shortfall: int  # sum of S
    covered: int  # sum of covered
    handed: int  # sum of handed
    haircut_total: int  # sum over events of haircut_total
    windfall_total: int
    overshoot: int  # sum over events (an event's overshoot is not netted against another's undershoot)
    undershoot: int
    accounts_hit: int  # distinct accounts hit in any event
    haircuts: dict  # account -> signed haircut summed over events
    gini: Fraction | None  # over every account eligible in some event, of max(summed haircut, 0)
    gini_event_mean: Fraction | None  # the mean of the per-event Gini (events where it is defined)
    top1_share: Fraction | None
    top10_share: Fraction | None
    max_equity_share: Fraction | None  # the largest per-event max_equity_share
    leverage_after_max: int | None  # WAD: the largest per-event leverage_after_max
    top_k_overlap_mean: Fraction | None  # mean over consecutive event pairs where defined
    kendall_tau_mean: Fraction | None


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs, Fraction(0)) / len(xs) if xs else None


def run_metrics(events: list, eligible_accounts=None, k: int = 10, groups=None) -> RunMetrics:
    """Per-run figures over ``events`` (``EventMetrics`` of one policy, in time order). ``eligible_accounts``: the
    population for the run's Gini (default: every account hit). ``groups``: a key per event (e.g. market and side);
    rank stability compares consecutive events of the same group only (default: all events are one group)."""
    haircuts: dict = {}
    for ev in events:
        for a, h in ev.haircuts.items():
            haircuts[a] = haircuts.get(a, 0) + h
    pop = set(eligible_accounts) if eligible_accounts is not None else set(haircuts)
    pos = [max(haircuts.get(a, 0), 0) for a in sorted(pop | set(haircuts))]
    keys = list(groups) if groups is not None else [0] * len(events)
    last: dict = {}
    pairs = []
    for key, ev in zip(keys, events):
        if key in last:
            pairs.append((last[key], ev))
        last[key] = ev
    shares = [ev.max_equity_share for ev in events if ev.max_equity_share is not None]
    lev = [ev.leverage_after_max for ev in events if ev.leverage_after_max is not None]
    return RunMetrics(
        policy=events[0].policy if events else "", events=len(events),
        shortfall=sum(ev.shortfall for ev in events), covered=sum(ev.covered for ev in events),
        handed=sum(ev.handed for ev in events),
        haircut_total=sum(ev.haircut_total for ev in events), windfall_total=sum(ev.windfall_total for ev in events),
        overshoot=sum(ev.overshoot for ev in events), undershoot=sum(ev.undershoot for ev in events),
        accounts_hit=len(haircuts), haircuts=haircuts,
        gini=gini(pos), gini_event_mean=_mean(ev.gini for ev in events), top1_share=top_share(pos, 1),
        top10_share=top_share(pos, k), max_equity_share=max(shares) if shares else None,
        leverage_after_max=max(lev) if lev else None,
        top_k_overlap_mean=_mean(top_k_overlap(a.order, b.order, k) for a, b in pairs),
        kendall_tau_mean=_mean(kendall_tau(a.order, b.order) for a, b in pairs))
