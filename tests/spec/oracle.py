"""An oracle of the protocol's risk engine written from ``../shared/SPEC.md`` (sections 3, 5 and 6), not from the
contracts or from ``perp/model.py``: exact rational arithmetic, no rounding anywhere, the rules in the SPEC's order
and words. The tests in this folder compare it with the reference model; every difference they allow is a rounding
the README documents, bounded per fill.

Units are human ones: a size in base units (``1`` = one ETH), a price in collateral per base unit, money in
collateral (``1`` = one USDC). All values are ``fractions.Fraction``.

Where the SPEC leaves a gap, the README's documented design choice fills it; those lines say ``README:``. Where the
SPEC is explicit and the README documents a different choice (its "Known limits"), ``Rules`` holds both: the SPEC's
rule is the default, the README's is the alternative that a test switches on to name a documented deviation.

Not covered (the contracts do not have them yet): trading itself (orders, fees, how margin is posted), the minimum
position notional, funding (SPEC 6a), the socialized-loss layer of the waterfall (6b), bounded ADL work per
transaction. To follow a redesign, change the rule here where the SPEC states it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction as Q

ZERO = Q(0)


def sign(x) -> int:
    return (x > 0) - (x < 0)


def exact(*values) -> None:
    """Refuses floats: they would carry binary rounding into exact arithmetic (write Q("0.6"), not Q(0.6))."""
    for v in values:
        if isinstance(v, float) or (isinstance(v, Q) and v.denominator & (v.denominator - 1) == 0 and
                                    v.denominator > 2**40):
            raise TypeError(f"{v!r} looks like a float; build Fractions from ints or strings")


class Revert(Exception):
    """The action is refused as a whole (nothing changes); ``name`` is the custom error's name."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Params:
    imr: Q  # initial margin ratio
    mmr: Q  # maintenance margin ratio
    mcr: Q  # margin-call ratio, mmr < mcr < imr
    reward_rate: Q  # keeper reward as a share of notional
    max_reward: Q  # keeper reward cap per liquidation (collateral)
    max_fund_notional: Q  # the fund's risk limit on its net notional
    drawdown_trigger: Q  # drawdown at which the fund is in distress
    drawdown_stop: Q  # drawdown at which the distress clears
    notional_stop: Q  # README: a risk-limit Type 2 brings the notional down to max_fund_notional * notional_stop
    hwm_window: int  # seconds


@dataclass(frozen=True)
class Rules:
    """The SPEC's rule (True, the default) or the README's documented alternative (False), where they differ."""

    # SPEC 5: the reward comes "from the position's remaining equity when it has any, otherwise from the fund
    # (capped per market)". README Known limits: "A bankrupt position pays no keeper reward".
    bankrupt_reward_from_fund: bool = True
    # SPEC 5: the fund "refuses a position whose acceptance would put its drawdown past the trigger line".
    # README Insurance fund: it refuses a position that would "arrive while it is in drawdown distress" (the latch).
    refuse_drawdown_after_acceptance: bool = True
    # SPEC 5: "a high-water mark that is a true maximum over its window". README Known limits: it "resets to the
    # current equity once its window has passed (it is not a rolling maximum)".
    rolling_high_water_mark: bool = True
    # SPEC 5: the mark is "sampled on every trade, liquidation and ADL". README Insurance fund: "Any account can
    # pokeFund to move the mark and the latch; liquidation and Type 2 do it too" (a trade does not).
    sample_on_trades: bool = True


SPEC_RULES = Rules()
README_RULES = Rules(False, False, False, False)


# ------------------------------------------------------------------------------------------ SPEC 3: positions

@dataclass(frozen=True)
class Position:
    size: Q  # signed, long > 0
    entry: Q
    margin: Q
    age: int = 0  # opening order: smaller is older

    def __post_init__(self):
        exact(self.size, self.entry, self.margin)

    def notional(self, mark: Q) -> Q:
        return abs(self.size) * mark

    def upnl(self, mark: Q) -> Q:
        return self.size * (mark - self.entry)

    def equity(self, mark: Q) -> Q:
        return self.margin + self.upnl(mark)

    def bankruptcy_price(self) -> Q:
        """The price where equity is zero, floored at 0."""
        return max(ZERO, self.entry - self.margin / self.size)

    def score(self, mark: Q):
        """SPEC 6: PnL% x EffectiveLeverage, for eligible positions only (u > 0); None otherwise."""
        u = self.upnl(mark)
        if u <= 0:
            return None
        pnl_pct = u / self.notional(mark)
        effective_leverage = self.notional(mark) / self.equity(mark)
        return pnl_pct * effective_leverage


STATES = ("healthy", "reduce_only", "margin_call", "liquidatable", "bankrupt")


def state(p: Position, mark: Q, params: Params) -> str:
    """The worst state that applies (SPEC 3; README: reduce-only below the initial margin)."""
    e, n = p.equity(mark), p.notional(mark)
    if e < 0:
        return "bankrupt"
    if e < n * params.mmr:
        return "liquidatable"
    if e < n * params.mcr:
        return "margin_call"
    if e < n * params.imr:  # README: "ReduceOnly (equity < IM)"
        return "reduce_only"
    return "healthy"


# ------------------------------------------------------------------------------------------ the insurance fund

@dataclass(frozen=True)
class Fund:
    cash: Q
    size: Q = ZERO
    entry: Q = ZERO

    def __post_init__(self):
        exact(self.cash, self.size, self.entry)

    def equity(self, mark: Q) -> Q:
        return self.cash + self.size * (mark - self.entry)

    def notional(self, mark: Q) -> Q:
        return abs(self.size) * mark

    def bankruptcy_price(self) -> Q:
        return max(ZERO, self.entry - self.cash / self.size)

    def take(self, q: Q, price: Q) -> "Fund":
        """The fund trades ``q`` (signed, + buys) at ``price``; a reduction realizes its PnL into cash."""
        if q == 0:
            return self
        new = self.size + q
        if self.size == 0 or sign(q) == sign(self.size):
            return replace(self, size=new, entry=(abs(self.size) * self.entry + abs(q) * price) / abs(new))
        closed = min(abs(q), abs(self.size))
        cash = self.cash + closed * (price - self.entry) * sign(self.size)
        entry = ZERO if new == 0 else self.entry if sign(new) == sign(self.size) else price
        return Fund(cash, new, entry)


def drawdown(hwm: Q, equity: Q) -> Q:
    """Drawdown from the high-water mark, as a share of it (0 when there is no positive mark to fall from)."""
    return (hwm - equity) / hwm if hwm > 0 and equity < hwm else ZERO


def latch(was: bool, dd: Q, params: Params) -> bool:
    """README: reaching the trigger line sets the distress; it clears when the drawdown is back at the stop line."""
    if dd >= params.drawdown_trigger:
        return True
    if dd <= params.drawdown_stop:
        return False
    return was


class HighWaterMark:
    """The fund's high-water mark and distress latch. Every trade, liquidation and ADL call (README: and pokeFund)
    samples the fund's equity at the moment it is called, before it acts. SPEC: the mark is the largest sample of
    the window that ends now. README: the mark is raised by a larger sample and reset to the sample once a whole
    window has passed since it was last set. The latch follows ``latch`` at every sample."""

    def __init__(self, params: Params, rules: Rules = SPEC_RULES):
        self.params, self.rules = params, rules
        self.samples = []  # (time, equity) within the window
        self.last, self.set_at = None, None  # README: the stored mark and when it was set
        self.latched = False

    def sample(self, now: int, equity: Q, action: str) -> None:
        """``action`` is "trade", "liquidation", "adl" or "poke"."""
        if action == "trade" and not self.rules.sample_on_trades:
            return
        window = self.params.hwm_window
        self.samples = [(t, e) for t, e in self.samples if t > now - window] + [(now, equity)]
        if self.last is None or equity > self.last or now - self.set_at >= window:
            self.last, self.set_at = equity, now
        self.latched = latch(self.latched, drawdown(self.value(), equity), self.params)

    def value(self) -> Q:
        if self.rules.rolling_high_water_mark:
            return max((e for _, e in self.samples), default=ZERO)
        return ZERO if self.last is None else self.last


# ------------------------------------------------------------------------------------------ SPEC 6: the ranking

@dataclass(frozen=True)
class Fill:
    account: str
    size: Q  # how much of the counterparty's position was closed (> 0)
    price: Q
    pnl: Q  # what the counterparty realized
    score: Q
    rank: int  # 1 = front of the queue, among the eligible positions on that side


def adl_queue(book: dict, long_side: bool, mark: Q) -> list:
    """Eligible positions (u > 0 at mark) of one side, highest score first; ties: larger, then older."""
    eligible = [(a, p) for a, p in book.items() if (p.size > 0) == long_side and p.score(mark) is not None]
    return sorted(eligible, key=lambda ap: (-ap[1].score(mark), -abs(ap[1].size), ap[1].age))


def capacity(p: Position, price: Q) -> Q:
    """How much of ``p`` an ADL fill at ``price`` may close: at most its size, and (README) at most what keeps its
    margin non-negative after it realizes its PnL at that price (SPEC: no counterparty left with negative equity)."""
    loss_per_unit = (p.entry - price) * sign(p.size)
    if loss_per_unit <= 0:
        return abs(p.size)
    return min(abs(p.size), p.margin / loss_per_unit)


def close_part(p: Position, q: Q, price: Q):
    """Closes ``q`` of ``p`` at ``price``: returns the rest (None when flat) and the realized PnL (into margin)."""
    pnl = q * (price - p.entry) * sign(p.size)
    rest = replace(p, size=p.size - sign(p.size) * q, margin=p.margin + pnl)
    return (rest if rest.size != 0 else None), pnl


def deleverage(book: dict, long_side: bool, need: Q, price: Q, mark: Q):
    """Cuts the ranked positions of one side at ``price`` until ``need`` is covered. Returns (new book, fills,
    uncovered size). No lower-ranked position is cut while a higher-ranked one still has capacity."""
    book, fills = dict(book), []
    for rank, (a, p) in enumerate(adl_queue(book, long_side, mark), start=1):
        if need == 0:
            break
        q = min(need, capacity(p, price))
        if q <= 0:
            continue
        rest, pnl = close_part(p, q, price)
        fills.append(Fill(a, q, price, pnl, p.score(mark), rank))
        need -= q
        if rest is None:
            del book[a]
        else:
            book[a] = rest
    return book, fills, need


# ------------------------------------------------------------------------------------------ SPEC 5: liquidation

@dataclass(frozen=True)
class Liquidation:
    reward: Q  # paid to the keeper
    reward_from_fund: bool
    bankruptcy_price: Q  # after the reward
    accepted: bool
    reasons: frozenset  # every refusal reason that holds: "equity", "cash", "risk_limit", "drawdown"
    fills: tuple  # Type 1 fills, in order
    remainder: Q  # size the fund took after the counterparties (Type 1 best-effort)
    book: dict
    fund: Fund


def liquidate(book: dict, fund: Fund, account: str, mark: Q, params: Params, hwm: Q, latched: bool,
              rules: Rules = SPEC_RULES) -> Liquidation:
    """Liquidation of ``account``'s position at ``mark``. ``hwm`` and ``latched``: the fund's high-water mark and
    distress latch once this call has sampled the fund's equity (``HighWaterMark``)."""
    p = book.get(account)
    if p is None:
        raise Revert("NoPosition")
    equity, notional = p.equity(mark), p.notional(mark)
    if not equity < notional * params.mmr:
        raise Revert("NotLiquidatable")
    bounded = min(notional * params.reward_rate, params.max_reward)
    if equity > 0:  # README: out of the margin, capped by the remaining equity (and the margin itself)
        reward, from_fund = min(bounded, equity, p.margin), False
        p = replace(p, margin=p.margin - reward)
    elif rules.bankrupt_reward_from_fund:  # SPEC: otherwise from the fund (never below zero cash)
        reward, from_fund = min(bounded, max(fund.cash, ZERO)), True
        fund = replace(fund, cash=fund.cash - reward)
    else:
        reward, from_fund = ZERO, False
    pb = p.bankruptcy_price()

    # The fund's decision: it accepts unless taking the position at Pb breaks one of its rules.
    after = fund.take(p.size, pb)
    reasons = set()
    if after.equity(mark) < 0:
        reasons.add("equity")
    if after.cash < 0:  # README: "(or its cash)"
        reasons.add("cash")
    if after.notional(mark) > params.max_fund_notional and after.notional(mark) > fund.notional(mark):
        reasons.add("risk_limit")  # "push its net notional above": a position that lowers it is no push
    if rules.refuse_drawdown_after_acceptance:
        if drawdown(max(hwm, after.equity(mark)), after.equity(mark)) >= params.drawdown_trigger:
            reasons.add("drawdown")
    elif latched:
        reasons.add("drawdown")
    book = {a: q for a, q in book.items() if a != account}
    if not reasons:
        return Liquidation(reward, from_fund, pb, True, frozenset(), (), ZERO, book, after)

    # Type 1: a bankrupt position is closed at Pb against the opposite side's ranking (its deficit is what the
    # counterparties pay for); one that still has equity (refused for the risk limit or the drawdown) at mark, its
    # remaining equity to the fund (README, issue finding 4: no windfall for the counterparties). The fund takes
    # what is left, at the same price.
    price = mark if equity > 0 else pb
    book, fills, left = deleverage(book, p.size < 0, abs(p.size), price, mark)
    fund = fund.take(sign(p.size) * left, price)
    if equity > 0:
        fund = replace(fund, cash=fund.cash + p.equity(mark))
    return Liquidation(reward, from_fund, pb, False, frozenset(reasons), tuple(fills), left, book, fund)


# ------------------------------------------------------------------------------------------ SPEC 6: Type 2

@dataclass(frozen=True)
class Type2:
    causes: frozenset  # "equity", "drawdown", "risk_limit"
    required: Q
    price: Q
    fills: tuple
    book: dict
    fund: Fund


def deleverage_fund(book: dict, fund: Fund, mark: Q, params: Params, hwm: Q, latched: bool) -> Type2:
    """Type 2: the distressed fund closes (part of) its position against the ranking, at mark capped at its own
    bankruptcy price; all-or-nothing. ``hwm`` and ``latched`` as in ``liquidate``."""
    if fund.size == 0:
        raise Revert("FundFlat")
    equity = fund.equity(mark)
    causes = set()
    if equity < 0:
        causes.add("equity")
    if latched:
        causes.add("drawdown")
    if fund.notional(mark) > params.max_fund_notional:
        causes.add("risk_limit")
    if not causes:
        raise Revert("FundNotDistressed")
    if causes & {"equity", "drawdown"}:  # README: flat when equity is negative or the latch is set
        required = abs(fund.size)
    else:  # README: down to max_fund_notional * notional_stop when the risk limit is the cause
        required = abs(fund.size) - params.max_fund_notional * params.notional_stop / mark
    if fund.cash < 0:  # README (differs from SPEC): a fund whose cash is already negative trades at mark
        price = mark
    elif fund.size > 0:  # a long fund sells: not below its bankruptcy price
        price = max(mark, fund.bankruptcy_price())
    else:  # a short fund buys back: not above its bankruptcy price
        price = min(mark, fund.bankruptcy_price())
    book, fills, left = deleverage(book, fund.size < 0, required, price, mark)
    if left > 0:
        raise Revert("InsufficientAdlCapacity")
    fund = fund.take(-sign(fund.size) * required, price)
    return Type2(frozenset(causes), required, price, tuple(fills), book, fund)
