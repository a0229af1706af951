"""Every invariant of SPEC section 7, written once over the typed state (``perp.core.ProtocolState``), each a
function that returns findings (never ``assert``, which ``python -O`` strips). The model (``Model.check``), the
test suite (``tests/support.Env.check``), the simulation (after every step), the state audit and the replay
auditor all call these.

State invariants (``check_state`` runs them all):

- ``conservation``: the vault's token balance equals, to the unit, all free collateral + all position margins +
  every fund's cash - every signed cost basis (fund included) + every market's index balance (README, Accounting).
- ``balanced_book``: per market, the sum of long sizes equals the sum of short sizes (fund included), and equals
  the open interest the market keeps (where its index state was read).
- ``index_cover``: per market, the index balance covers, to the unit, what the positions are owed by the side
  indices (funding, socialized losses) and have not settled yet: ``balance * D + sum |size| * (I - I_0) >= 0`` over
  every position, fund included (what it holds beyond that is rounding, the fund's).
- ``fund_cash``: no fund's cash is negative (the one exception, a loss left in a market with no open interest to
  spread it over, is announced by ``LossUnsocialized``: README, "The loss waterfall").
- ``adl_queue``: the ADL queue holds exactly the open positions of each side, once each, at their current tier and
  key, each tier sorted and linked both ways (where the queue was read: ``ProtocolState.queue_known``).
- ``position_shape``: no stored position has size 0 or negative margin.
- ``no_bad_debt`` (after a keeper's pass): no trader position has equity < 0 at mark, except those the keeper has
  not been due to process yet.
- ``bystander``: an account that held only free collateral still holds exactly what it held at the start.

Transaction rules over a transaction's ADL events (``adl_fill``, used by the replay auditor, which the simulation
runs incrementally): trigger, side, eligibility, rank order, Type 1 at the bankruptcy price, Type 2 notional and
price cap at the fund's bankruptcy price.
"""
from __future__ import annotations

from dataclasses import dataclass

from .core import WAD, Fund, ProtocolState, book_value, equity, fill_notional, queue, settled_open_notional
from .core.valuation import fund_long_bankruptcy_price_up, fund_short_bankruptcy_price_down


@dataclass(frozen=True)
class Finding:
    """One violated invariant: its name, the subject (account, market, vault) and the numbers."""

    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.subject}: {self.detail}"


class InvariantViolation(AssertionError):
    """Raised by the ``assert_ok`` helpers with every finding in its message; ``.findings`` holds them."""

    def __init__(self, findings, prefix: str = "invariant violated"):
        self.findings = list(findings)
        super().__init__(f"{prefix}:\n  " + "\n  ".join(map(str, self.findings)))


def _side(is_long: bool) -> str:
    return "long" if is_long else "short"


# ----------------------------------------------------------------------------------------------- state invariants


def conservation(s: ProtocolState) -> list[Finding]:
    free_total = sum(s.free.values())
    margin_total = sum(p.margin for p in s.positions.values())
    cash_total = sum(f.cash for f in s.funds.values())
    cost_total = sum(p.open_notional for p in s.positions.values()) + sum(f.open_notional for f in s.funds.values())
    balances = [x.index_balance for x in s.indices.values()]
    expected = book_value(free_total, s.positions.values(), s.funds.values(), balances)
    if expected == s.vault_balance:
        return []
    return [Finding("conservation", "vault",
                    f"token balance {s.vault_balance} != free {free_total} + margins {margin_total} + fund cash "
                    f"{cash_total} - cost basis {cost_total} + index balances {sum(balances)} = {expected} "
                    f"(off by {s.vault_balance - expected})")]


def settled_on(s: ProtocolState, mid: int, p) -> int:
    """A position's cost basis with what it owes its side's index settled (as the protocol values it)."""
    x = s.indices.get(mid)
    if x is None:
        return p.open_notional
    return settled_open_notional(p.size, p.open_notional, x.side(p.size > 0), p.index_snapshot, s.scale)


def index_cover(s: ProtocolState) -> list[Finding]:
    out = []
    d = WAD * s.scale
    for mid, x in sorted(s.indices.items()):
        owed = sum(abs(p.size) * (x.side(p.size > 0) - p.index_snapshot)
                   for (m, _), p in s.positions.items() if m == mid)
        f = s.funds.get(mid)
        if f is not None and f.size != 0:
            owed += abs(f.size) * (x.side(f.size > 0) - x.fund_snapshot)
        if x.index_balance * d + owed < 0:
            out.append(Finding("index_cover", f"market {mid}",
                               f"index balance {x.index_balance} does not cover what positions are owed "
                               f"({-owed} / D): short by {-(x.index_balance * d + owed)} / D"))
    return out


def balanced_book(s: ProtocolState) -> list[Finding]:
    out = []
    for mid in s.market_ids:
        longs, shorts = s.open_interest(mid)
        if longs != shorts:
            out.append(Finding("balanced_book", f"market {mid}", f"longs {longs} != shorts {shorts}"))
        x = s.indices.get(mid)
        if x is not None and x.open_interest != longs:
            out.append(Finding("balanced_book", f"market {mid}", f"open interest {x.open_interest} != longs {longs}"))
    return out


def fund_cash(s: ProtocolState) -> list[Finding]:
    return [Finding("fund_cash", f"market {mid} fund", f"cash {f.cash} < 0")
            for mid, f in sorted(s.funds.items()) if f.cash < 0]


def adl_queue(s: ProtocolState) -> list[Finding]:
    """The ADL queue holds exactly the open positions of each side, each once: in the overflow list (after a partial
    ADL cut) or in the tier its margin per cost basis belongs to, at its current entry key; every tier sorted by key
    (longs ascending, shorts descending), every list linked both ways, with its head, head key and the side's
    bitmap in step.
    This is what makes the ADL engine's bounds, and so its fill order, exact."""
    out = []
    if not s.queue_known:
        return out
    for mid in s.market_ids:
        for is_long in (True, False):
            subject = f"market {mid} {_side(is_long)}"
            side = s.queues.get((mid, is_long))
            held = {a for (m, a), p in s.positions.items() if m == mid and (p.size > 0) == is_long}
            if side is None:
                if held:
                    out.append(Finding("adl_queue", subject, f"no queue, {len(held)} positions"))
                continue
            get = (lambda m: lambda a: s.positions.get((m, a)))(mid)
            ref_shift = s.indices[mid].ref_shift
            seen = []
            for t in side.lists_in_use():  # the sorted tiers, then the overflow list (unsorted, stale keys)
                name = "overflow list" if t == queue.OVERFLOW else f"tier {t}"
                head, head_key = side.head(t)
                if bool(side.bitmap >> t & 1) != (head != queue.ZERO):
                    out.append(Finding("adl_queue", subject, f"{name}: bitmap bit and head disagree"))
                prev, last, a, steps = queue.ZERO, None, head, 0
                while a != queue.ZERO and steps <= len(s.positions):
                    steps += 1
                    p = get(a)
                    if p is None or not p.queued or p.tier != t or p.prev != prev:
                        out.append(Finding("adl_queue", subject, f"{name}: {a} is not linked there"))
                        break
                    want_key = 0 if t == queue.OVERFLOW else p.key  # the overflow list keeps no head key
                    if prev == queue.ZERO and head_key != want_key:
                        out.append(Finding("adl_queue", subject, f"{name}: head key {head_key} != {want_key}"))
                    if t != queue.OVERFLOW:
                        if (p.tier, p.key, p.q_down) != queue.place(p, ref_shift, s.scale):
                            out.append(Finding("adl_queue", subject, f"{name}: {a} sits at a stale tier or key"))
                        if last is not None and queue.ahead(is_long, p.key, last):
                            out.append(Finding("adl_queue", subject, f"{name}: {a} out of key order"))
                    seen.append(a)
                    prev, last, a = a, p.key, p.next
            if sorted(seen) != sorted(held) or len(set(seen)) != len(seen):
                out.append(Finding("adl_queue", subject, f"queue holds {sorted(seen)}, positions {sorted(held)}"))
    return out


def position_shape(s: ProtocolState) -> list[Finding]:
    out = []
    for (mid, a), p in sorted(s.positions.items()):
        if p.size == 0:
            out.append(Finding("position_shape", f"{a} in market {mid}", "stored position with size 0"))
        if p.margin < 0:
            out.append(Finding("position_shape", f"{a} in market {mid}", f"margin {p.margin} < 0"))
    return out


def no_bad_debt(s: ProtocolState, exempt=frozenset()) -> list[Finding]:
    """Positions with equity < 0 at mark, other than ``exempt`` ((market, account) pairs the keeper has not been
    due to process yet). Markets without a usable mark are skipped."""
    out = []
    for (mid, a), p in sorted(s.positions.items()):
        price = s.marks.get(mid)
        if price is None or (mid, a) in exempt:
            continue
        e = equity(p.size, settled_on(s, mid, p), p.margin, price, s.scale)
        if e < 0:
            out.append(Finding("no_bad_debt", f"{a} in market {mid}", f"equity {e} < 0"))
    return out


def bystanders(start: dict, s: ProtocolState) -> list[Finding]:
    """SPEC 7.7: accounts that hold no position keep exactly the free collateral they had (``start``:
    account -> free collateral at the start)."""
    out = []
    for account, before in start.items():
        now = s.free.get(account.lower(), 0)
        if now != before:
            out.append(Finding("bystander", account, f"free collateral {now} != {before} at start"))
    return out


STATE_INVARIANTS = {
    "conservation": conservation,
    "balanced_book": balanced_book,
    "index_cover": index_cover,
    "fund_cash": fund_cash,
    "adl_queue": adl_queue,
    "position_shape": position_shape,
}


def check_state(s: ProtocolState, after_keeper: bool = False, exempt=frozenset(), skip=()) -> list[Finding]:
    """Every state invariant (but those named in ``skip``); ``no_bad_debt`` only ``after_keeper``."""
    out = []
    for name, check in STATE_INVARIANTS.items():
        if name not in skip:
            out += check(s)
    if after_keeper:
        out += no_bad_debt(s, exempt)
    return out


def assert_ok(s: ProtocolState, after_keeper: bool = False, exempt=frozenset()) -> ProtocolState:
    """``check_state`` that raises ``InvariantViolation`` on any finding (for tests)."""
    found = check_state(s, after_keeper, exempt)
    if found:
        raise InvariantViolation(found)
    return s


# ----------------------------------------------------------------------------------------------- ADL events


def adl_fill(fill: dict, size_before: int, last_fill: dict | None, liquidation: dict | None, refused: bool,
             fund_at_start: Fund | None, scale: int) -> list[tuple]:
    """The rules one ``AdlFill`` event must meet, as ``(invariant, detail)`` pairs (empty when it meets them).

    ``fill``: the event's args; ``size_before``: the counterparty's size before the fill; ``last_fill``: the previous
    fill of the same liquidation or Type 2 call; ``liquidation``: the ``Liquidated`` args of the liquidation in
    progress (None outside one) and ``refused`` whether the fund refused it; ``fund_at_start``: the fund as it was
    at the start of the transaction (Type 2 price cap)."""
    out = []
    typ, delta, m = fill["adlType"], fill["sizeDelta"], fill["marketId"]
    if size_before == 0 or delta == 0 or (size_before > 0) == (delta > 0) or abs(delta) > abs(size_before):
        out.append(("adl_side", f"fill of {delta} against a position of {size_before} (must reduce it)"))
    if fill["score"] <= 0:
        out.append(("adl_eligible", f"cut with score {fill['score']} (u <= 0)"))
    if last_fill is not None and last_fill["adlType"] == typ and (
            fill["rank"] <= last_fill["rank"] or fill["score"] > last_fill["score"]):
        out.append(("adl_order", f"score {fill['score']} cut after rank {last_fill['rank']} score "
                                 f"{last_fill['score']}"))
    if typ == 1:
        if liquidation is None or not refused or liquidation["marketId"] != m:
            out.append(("adl_trigger", "Type 1 fill without a liquidation the fund refused"))
            return out
        # a bankrupt position at its bankruptcy price; one that still had equity at mark (its equity to the fund)
        if liquidation["equity"] > 0:
            want, what = liquidation["markPrice"], "mark (the refused position still had equity)"
            if fill["notional"] != fill_notional(abs(delta), want, scale, seller=delta < 0):
                out.append(("adl_price", f"Type 1 notional {fill['notional']} for {abs(delta)} at mark {want}"))
        else:
            want, what = liquidation["bankruptcyPrice"], "bankruptcy price"
        if fill["price"] != want:
            out.append(("adl_price", f"Type 1 at {fill['price']} != {what} {want}"))
        if (delta > 0) != (liquidation["size"] > 0):
            out.append(("adl_side", f"Type 1 fill {delta} on the bankrupt position's side ({liquidation['size']})"))
    elif typ == 2:
        f = fund_at_start or Fund()
        if liquidation is not None:
            out.append(("adl_trigger", "Type 2 fill inside a liquidation"))
        if f.size == 0 or (delta > 0) != (f.size > 0):
            out.append(("adl_side", f"Type 2 fill {delta} against a fund of size {f.size}"))
        want = fill_notional(abs(delta), fill["price"], scale, seller=delta < 0)
        if fill["notional"] != want:
            out.append(("adl_price", f"Type 2 notional {fill['notional']} != {want} for {abs(delta)} at "
                                     f"{fill['price']}"))
        if f.size > 0:
            pfb = fund_long_bankruptcy_price_up(f.cash, f.size, f.open_notional, scale)
            if pfb is not None and fill["price"] < pfb:
                out.append(("adl_price", f"Type 2 at {fill['price']} below the fund's bankruptcy price {pfb}"))
        elif f.size < 0:
            pfb = fund_short_bankruptcy_price_down(f.cash, f.size, f.open_notional, scale)
            if fill["price"] > pfb:
                out.append(("adl_price", f"Type 2 at {fill['price']} above the fund's bankruptcy price {pfb}"))
    else:
        out.append(("adl_trigger", f"unknown ADL type {typ}"))
    return out


def counterparty_equity(size: int, open_notional: int, margin: int, mark: int, scale: int) -> list[tuple]:
    """SPEC 7.4: a counterparty hit by Type 1 keeps equity >= 0 at the liquidation's mark."""
    e = equity(size, open_notional, margin, mark, scale)
    if size != 0 and e < 0:
        return [("adl_counterparty_equity", f"equity {e} < 0 at mark {mark} after its Type 1 fill")]
    return []
