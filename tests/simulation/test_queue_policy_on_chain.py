"""The lab's protocol policy (``perp.lab.protocol_queue``) reproduces the contracts' ADL fills exactly, on-chain.

For each seed a random book is built by real trades on a deployment (6- and 18-decimal collateral): the
counterparty side opens in four rounds while the price walks away from the victims (a crash: long victims against a
short book; a pump: the mirror image), so that at the ADL event the book holds

- positions in profit that can be cut fully (rounds A and B, entered before or early in the move),
- **ties**: two pairs of positions whose scores are exactly equal (same entry and leverage, whole-cent sizes and
  whole-dollar prices, so that margins and PnL are exact multiples): one pair of equal size (the older ranks first),
  one of sizes s and 2s (the larger first),
- positions in profit at mark that **cannot be cut fully** at the fill price (round C: entered late at high
  leverage, so that the bankrupt victim's price costs them more than their margin, ``AdlModule._adlCapacity``),
- positions at a loss at mark (round D: not eligible).

Then ADL runs on the chain. For each event the book is read from the chain just before it (``sidePositions`` through
``perp.chain.PerpClient``, the mark, the refused position or the fund), the policy runs on it, and its fills
(account, size, notional, rank, in order) must equal the chain's ``AdlFill`` events to the unit:

- Type 1 (``liquidate``, the fund refusing by its risk limit lowered to 1 unit): a bankrupt victim (at its
  bankruptcy price; round-C positions capacity-bound; in one seed a remainder to the fund), a second bankrupt victim
  on the book the first left (partially cut positions wait in the overflow list), and a refused victim that still has
  equity (closed at mark); one seed of 76 positions in profit (70 of them small) stops at ``MAX_FILLS`` = 64 fills;
- Type 2 (``deleverageFund``): the fund accepts a solvent victim, the price moves on, and the distressed fund
  deleverages at mark (its drawdown past the trigger line, equity still positive) or at its bankruptcy-price cap
  above mark (negative equity: round-C positions capacity-bound).

Each test also asserts that its events reached what its book was built for (ties filled in tie-break order,
capacity-bound fills, remainders, the fill bound), so that a change of the builder cannot quietly empty the check.
Seeded: the same books, prices and fills on every run."""
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from brownie import web3

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "liquidation"))  # risk_calc.py

from risk_calc import fees_above_base_fee  # noqa: E402
from perp.chain import PerpClient  # noqa: E402
from perp.core import (WAD, bankruptcy_notional, drawdown_down, equity, fund_equity, fund_trade_price,  # noqa: E402
                       price_of_down, score_down, u_times_d)
from perp.lab import Book, BookEntry, protocol_queue  # noqa: E402
from perp.model.adl import MAX_FILLS  # noqa: E402
from scripts.bench_gas import Bench  # noqa: E402
from scripts.deploy import deploy_devnet  # noqa: E402

P0 = 2_000  # ETH-PERP's price before the move (whole dollars: every mark and entry below is a whole dollar)
CENT = WAD // 100  # sizes are whole cents of ETH
TIE_LEVERAGE = 16  # 16 and the low leverages divide every notional of a whole-cent size at a whole-dollar price
LOW_LEVERAGES = (2, 4, 5, 8, 10)
LATE_LEVERAGES = (12, 16, 19, 19, 19)  # round C
VICTIM_LEVERAGE = 19
ROUNDS = {"A": 0.0, "B": 0.04, "C": 0.13, "D": 0.20}  # how far along the move each round opens
ACCOUNTS = 100  # per deployment: the largest book (76) and its victims; every test reuses them (the chain reverts)
MIN_ROW = 5 * CENT


@pytest.fixture(scope="module", autouse=True)
def _fees():
    fees_above_base_fee()


@pytest.fixture(scope="module", params=[6, 18], ids=["dec6", "dec18"])
def chain_env(request, signers, _fees):
    dep = deploy_devnet(signers[0], decimals=request.param, quiet=True, fund_seed=0)
    b = Bench(dep)
    accts = b.new_accounts(ACCOUNTS)
    big = b.new_accounts(1)[0]
    b.token.approve(b.perp, 2**256 - 1, {"from": b.owner})  # depositForMany and the fund top-ups pull from the owner
    b.deposit_many(accts, 200_000 * b.one)
    b.deposit_many([big], 50_000_000 * b.one)
    return b, PerpClient(web3, dep.perp.address, dep.lens.address), accts, big


def price_at(direction: int, frac: float) -> int:
    """The whole-dollar price ``frac`` of the way along the move from P0 (crash: down, pump: up)."""
    return round(P0 * (1 + direction * frac))


@dataclass
class Plan:
    """A seeded book: each round's rows ``[account index, size, entry, leverage]`` in opening order, the victims
    (name -> (round, size, leverage WAD)) and the tie pairs ``(ranked first, ranked second)`` by account index."""

    direction: int  # -1 a crash (long victims, a short book), +1 a pump (short victims, a long book)
    rows: dict
    victims: dict
    ties: list

    def total(self, *rounds) -> int:
        return sum(r[1] for n in rounds for r in self.rows[n])


def plan(seed: int, direction: int, counts: dict, victims: dict) -> Plan:
    """``counts``: round -> number of positions; ``victims``: name -> (round, size as a function of the plan's
    round totals, leverage WAD). The book side enters where it starts in profit: shorts at or above the round's
    mark, longs at or below (within 1%); a last round-D row makes the book at least as large as the victims, so that
    ``big`` (every trade's other side) ends on the victims' side, outside the book."""
    rng = random.Random(seed)
    rows, n = {}, 0
    for name, frac in ROUNDS.items():
        mark = price_at(direction, frac)
        rows[name] = []
        k = counts.get(name, 0)
        for _ in range(k):
            size = rng.randint(5, 20 if k >= 40 else 300) * CENT
            off = rng.randint(0, mark // 100)
            entry = mark + off if direction < 0 else mark - off
            lev = rng.choice(LATE_LEVERAGES if name == "C" else LOW_LEVERAGES)
            rows[name].append([n, size, entry, lev])
            n += 1
    ties = []
    if len(rows["A"]) >= 4:  # two tie pairs at A's most profitable entry and highest leverage: the front of the queue
        mark = price_at(direction, 0.0)
        top = mark + mark // 100 if direction < 0 else mark - mark // 100
        s = rng.randint(20, 150) * CENT
        for row, size in zip(rows["A"][:4], (s, s, s, 2 * s)):
            row[1], row[2], row[3] = size, top, TIE_LEVERAGE
        ties = [(rows["A"][0][0], rows["A"][1][0]), (rows["A"][3][0], rows["A"][2][0])]
    p = Plan(direction, rows, {}, ties)
    for name, (rnd, size_of, lev) in victims.items():
        p.victims[name] = (rnd, size_of(p, rng) // CENT * CENT, lev)
    short = sum(v[1] for v in p.victims.values()) - p.total(*ROUNDS)
    mark = price_at(direction, ROUNDS["D"])
    rows["D"].append([n, max(MIN_ROW, short + WAD), mark, 2])
    return p


@dataclass
class Built:
    plan: Plan
    accounts: dict  # plan index -> account (lower case)
    victims: dict  # name -> account (lower case)

    def ties(self) -> list:
        return [(self.accounts[a], self.accounts[b]) for a, b in self.plan.ties]


def build(b: Bench, accts, big, p: Plan) -> Built:
    """Opens the plan's rows round by round (each round at its own mark), with the round's victims after them;
    ``big`` (2x) is every trade's other side."""
    M = b.ETH
    victims_of = {r: [(name, v) for name, v in p.victims.items() if v[0] == r] for r in ROUNDS}
    n_rows = sum(len(r) for r in p.rows.values())
    victim_accts = iter(accts[n_rows:])
    built = Built(p, {}, {})
    for name, frac in ROUNDS.items():
        b.set_price(M, price_at(p.direction, frac))
        b.tick()
        matches = []
        for i, size, entry, lev in p.rows[name]:
            a = accts[i]
            built.accounts[i] = str(a).lower()
            if p.direction > 0:
                matches.append(b.pair(a, big, M, size, entry * WAD, buyer_lev=lev * WAD, seller_lev=2 * WAD))
            else:
                matches.append(b.pair(big, a, M, size, entry * WAD, buyer_lev=2 * WAD, seller_lev=lev * WAD))
        for i in range(0, len(matches), 60):
            b.settle_batch(matches[i : i + 60])
        mark = price_at(p.direction, frac) * WAD
        for vname, (_, size, lev) in victims_of[name]:
            v = next(victim_accts)
            if p.direction > 0:  # the victim sells to big: a short
                b.settle(b.pair(big, v, M, size, mark, buyer_lev=2 * WAD, seller_lev=lev))
            else:
                b.settle(b.pair(v, big, M, size, mark, buyer_lev=lev, seller_lev=2 * WAD))
            built.victims[vname] = str(v).lower()
    return built


# ---------------------------------------------------------------------------------------------- one ADL event


@dataclass
class Seen:
    """What one test's events reached."""

    events: int = 0
    fills: int = 0
    capacity_bound: int = 0  # fills smaller than both what was left and the position's whole size
    passed_over: int = 0  # ranks without a fill before the last fill (no capacity, or its margin could not pay)
    remainders: int = 0
    fill_bound: int = 0  # events that stopped at MAX_FILLS
    at_mark: int = 0  # Type 1 events at mark (a refused position with equity)
    ties_in_order: int = 0  # tie pairs both filled, in the tie-break's order
    ranks: dict = field(default_factory=dict)  # account -> rank in the last event

    def reached(self) -> set:
        """The names of what was reached at least once (both tie pairs for "ties")."""
        return {name for name, hit in (("capacity_bound", self.capacity_bound), ("passed_over", self.passed_over),
                                       ("remainder", self.remainders), ("fill_bound", self.fill_bound),
                                       ("ties", self.ties_in_order == 2)) if hit}


def book_now(client: PerpClient, mid: int, is_long: bool) -> list:
    """The chain's positions of one side, as the policies' book entries."""
    return [BookEntry(a, p.size, p.open_notional, p.margin, p.open_seq) for a, p in client.side(mid, is_long)]


def chain_fills(tx) -> list:
    if "AdlFill" not in tx.events:
        return []
    return [(str(f["account"]).lower(), abs(int(f["sizeDelta"])), int(f["notional"]), int(f["rank"]))
            for f in tx.events["AdlFill"]]


def policy_fills(outcome) -> list:
    return [(f.account, f.size, f.notional, f.rank) for f in outcome.fills]


def compare(tx, book: Book, outcome, adl_type: int, seen: Seen) -> None:
    """The policy's fills are the chain's, to the unit and in order; and each chain fill's type, price (the book's
    fill price) and score (``score_down`` of the position read before) are what the book says."""
    assert policy_fills(outcome) == chain_fills(tx)
    entries = {e.account: e for e in book.entries}
    for f in tx.events["AdlFill"] if "AdlFill" in tx.events else []:
        e = entries[str(f["account"]).lower()]
        assert int(f["adlType"]) == adl_type
        assert int(f["price"]) == book.price_num * book.d // book.price_den
        assert int(f["score"]) == score_down(u_times_d(e.size, e.open_notional, book.mark, book.d), e.margin, book.d)
    seen.events += 1
    seen.fills += len(outcome.fills)
    ranks = [f.rank for f in outcome.fills]
    seen.passed_over += (max(ranks) - len(ranks)) if ranks else 0
    left = outcome.requested
    for f in outcome.fills:
        if f.size < min(left, abs(entries[f.account].size)):
            seen.capacity_bound += 1
        left -= f.size
    seen.fill_bound += len(outcome.fills) == MAX_FILLS and outcome.filled < outcome.requested
    seen.ranks = {f.account: f.rank for f in outcome.fills}


def tie_order(seen: Seen, built: Built) -> None:
    for first, second in built.ties():
        if first in seen.ranks and second in seen.ranks:
            assert seen.ranks[first] < seen.ranks[second]
            seen.ties_in_order += 1


def type1(b: Bench, client: PerpClient, victim: str, seen: Seen):
    """Liquidates ``victim`` (the fund refuses) and compares the policy, on the book read just before, with the
    chain's fills. A refused position with equity is closed at mark, a bankrupt one at its bankruptcy notional (its
    keeper reward is the fund's, not its margin's)."""
    M = b.ETH
    mark, scale = client.mark_price(M), client.scale
    pos = client.position(M, victim)
    e = equity(pos.size, pos.open_notional, pos.margin, mark, scale)
    nb = bankruptcy_notional(pos.size, pos.open_notional, pos.margin)
    book = Book.type1(book_now(client, M, pos.size < 0), pos.size < 0, mark, scale, nb, abs(pos.size), e > 0)
    outcome = protocol_queue(book, abs(pos.size))
    tx = b.perp.liquidate(M, victim, {"from": b.submitter})
    assert "FundRefused" in tx.events
    assert int(tx.events["Liquidated"][0]["equity"]) == e
    compare(tx, book, outcome, 1, seen)
    rest = sum(abs(int(r["size"])) for r in tx.events["AdlRemainderToFund"]) if "AdlRemainderToFund" in tx.events else 0
    assert outcome.filled + rest == abs(pos.size)
    seen.remainders += rest > 0
    seen.at_mark += e > 0
    return outcome


def set_price(b: Bench, price: int) -> None:
    b.set_price(b.ETH, price)
    b.tick()


def just_inside_bankruptcy(client: PerpClient, mid: int, victim: str, dollars: int) -> int:
    """A whole-dollar price ``dollars`` on the safe side of the victim's bankruptcy price (solvent, liquidatable)."""
    pos = client.position(mid, victim)
    pb = price_of_down(bankruptcy_notional(pos.size, pos.open_notional, pos.margin), abs(pos.size), client.scale)
    return pb // WAD + dollars if pos.size > 0 else pb // WAD - dollars


# ---------------------------------------------------------------------------------------------- Type 1

def _first_share(share):
    return lambda p, rng: int(p.total("A", "B", "C") * share)


TYPE1 = [
    # seed, direction, counts per round, the first victim's size as a share of A + B + C, what the events must reach
    (1, -1, {"A": 8, "B": 6, "C": 5, "D": 3}, 0.97, {"capacity_bound", "remainder", "ties"}),
    (2, +1, {"A": 10, "B": 5, "C": 6, "D": 2}, 0.95, {"capacity_bound", "remainder", "ties"}),
    (3, -1, {"A": 6, "B": 4, "C": 6, "D": 3}, 1.0, {"capacity_bound", "ties", "remainder"}),
    (4, +1, {"A": 5, "B": 7, "C": 4, "D": 2}, 0.5, {"ties"}),
    (5, -1, {"A": 70, "B": 3, "C": 3}, 1.0, {"capacity_bound", "passed_over", "ties", "fill_bound", "remainder"}),
]


@pytest.mark.parametrize("seed,direction,counts,share,reach", TYPE1, ids=[f"seed{t[0]}" for t in TYPE1])
def test_type1_fills_equal_the_queue_policy(chain_env, seed, direction, counts, share, reach):
    b, client, accts, big = chain_env
    rng = random.Random(seed + 1000)
    p = plan(seed, direction, counts, {
        "first": ("A", _first_share(share), VICTIM_LEVERAGE * WAD),
        "second": ("B", lambda p_, r: r.randint(100, 500) * CENT, VICTIM_LEVERAGE * WAD),
        "solvent": ("A", lambda p_, r: r.randint(100, 500) * CENT, rng.randint(60, 75) * WAD // 10),  # 6x-7.5x
    })
    built = build(b, accts, big, p)
    b.set_max_fund_notional(b.ETH, 1)  # the fund refuses every hand-over: Type 1 runs inside each liquidation
    seen = Seen()

    set_price(b, price_at(direction, rng.randint(140, 160) / 1000))  # both 19x victims are bankrupt
    type1(b, client, built.victims["first"], seen)
    tie_order(seen, built)
    type1(b, client, built.victims["second"], seen)
    set_price(b, just_inside_bankruptcy(client, b.ETH, built.victims["solvent"], rng.randint(1, 3)))
    type1(b, client, built.victims["solvent"], seen)

    assert seen.events == 3 and seen.fills > 0 and seen.at_mark == 1
    assert seen.reached() >= reach, seen


# ---------------------------------------------------------------------------------------------- Type 2

TYPE2 = [
    # seed, direction, counts, where the fund deleverages, what the event must reach
    (11, -1, {"A": 7, "B": 5, "C": 6, "D": 2}, "cap", {"capacity_bound", "ties"}),
    (12, +1, {"A": 8, "B": 4, "C": 5, "D": 2}, "cap", {"capacity_bound", "ties"}),
    (13, -1, {"A": 9, "B": 6, "C": 3, "D": 2}, "mark", {"ties"}),
    (14, +1, {"A": 6, "B": 6, "C": 3, "D": 2}, "mark", {"ties"}),
]


@pytest.mark.parametrize("seed,direction,counts,where,reach", TYPE2, ids=[f"seed{t[0]}" for t in TYPE2])
def test_type2_fills_equal_the_queue_policy(chain_env, seed, direction, counts, where, reach):
    b, client, accts, big = chain_env
    M = b.ETH
    # at the cap the fund must shed more than A + B (into the capacity-bound round C); at mark C is at a loss
    size_of = ((lambda p_, rng: p_.total("A", "B") + p_.total("C") * rng.randint(20, 40) // 100) if where == "cap"
               else (lambda p_, rng: p_.total("A", "B") * rng.randint(50, 90) // 100))
    p = plan(seed, direction, counts, {"victim": ("A", size_of, VICTIM_LEVERAGE * WAD)})
    rng = random.Random(seed + 1000)
    built = build(b, accts, big, p)
    # a small fund at the cap (its bankruptcy price near the victim's, far from mark: round C capacity-bound)
    seed_cash = rng.randint(100, 400) * b.one if where == "cap" else rng.randint(500, 3000) * b.one
    b.token.faucet(b.owner, seed_cash, {"from": b.owner})
    b.perp.topUpFund(M, seed_cash, {"from": b.owner})
    victim = built.victims["victim"]
    set_price(b, just_inside_bankruptcy(client, M, victim, rng.randint(1, 3)))
    liq = b.perp.liquidate(M, victim, {"from": b.submitter})
    assert "FundAccepted" in liq.events

    f = client.fund(M)
    scale = client.scale
    if where == "cap":
        price = price_at(direction, rng.randint(140, 150) / 1000)
    else:  # equity at half the high-water mark: drawdown 50%, past the 30% trigger, equity still positive
        target = f.hwm // 2
        price = (target - f.cash + f.open_notional) * WAD * scale // f.size // WAD  # size * P - cost = target - cash
    set_price(b, price)
    mark = client.mark_price(M)
    f = client.fund(M)
    eq = fund_equity(f.cash, f.size, f.open_notional, mark, scale)
    if where == "cap":
        assert eq < 0
    else:
        assert eq > 0 and drawdown_down(f.hwm, eq) > 3 * WAD // 10
    tp = fund_trade_price(f.cash, f.size, f.open_notional, mark, scale)
    book = Book.type2(book_now(client, M, f.size < 0), f.size < 0, mark, scale, tp)
    outcome = protocol_queue(book, abs(f.size))  # drawdown distress: the fund sheds its whole position
    seen = Seen()
    tx = b.perp.deleverageFund(M, {"from": b.submitter})
    compare(tx, book, outcome, 2, seen)
    tie_order(seen, built)
    assert client.fund(M).size == 0 and outcome.filled == abs(f.size)
    assert (tp != mark) == (where == "cap")
    assert seen.reached() >= reach, seen

