"""Real ADL events from the reference model (no chain): a random book built by trades, a price move, one
liquidation that the fund refuses, and the book as the policies see it just before it."""
from __future__ import annotations

import random
from dataclasses import dataclass

from perp.core import WAD, ModelError, bankruptcy_notional
from perp.lab import Book, BookEntry
from perp.model import Match, SimpleOrder, reference_model

U = 10**6
T0 = 1_700_000_000
MID = 1
KEEPER = "0x" + "ff" * 20


@dataclass
class Type1Event:
    book: Book
    amount: int  # |size| of the refused position
    shortfall: int  # max(0, -equity) at mark
    events: list  # the model's events of the liquidation
    model: object
    engine_order: list  # the model's ADL engine order of the counterparty side just before the liquidation


def random_book_model(seed: int, n: int = 12, trades: int = 40, risk_limit: bool = False):
    """A reference model (6-decimal collateral, no fees, an empty fund) whose ETH-PERP holds the positions of ``trades``
    random trades between ``n`` accounts at random prices within 4% of 2,000."""
    rng = random.Random(seed)
    model = reference_model(6, fund_seed=0, now=T0)
    params = model.markets[MID].params.with_(maker_fee_bps=0, taker_fee_bps=0)
    if risk_limit:
        params = params.with_(max_fund_notional=1)
    model.set_params(MID, params)
    accts = [f"0x{i:040x}" for i in range(1, n + 1)]
    for a in accts:
        model.deposit(a, 10**7 * U)
    now, nonce = T0, 0
    for _ in range(trades):
        now += 1
        answer = 2000 * 10**8 * rng.randint(9600, 10400) // 10000
        model.set_price(MID, answer, now)
        mark = answer * 10**10
        b, s = rng.sample(accts, 2)
        size = rng.randint(10, 5000) * 10**15
        nonce += 2
        mk = SimpleOrder(b, MID, True, size, mark, rng.randint(1, 20) * WAD, nonce, now + 3600, False,
                         model.order_epoch(b), True)
        tk = SimpleOrder(s, MID, False, size, mark, rng.randint(1, 20) * WAD, nonce + 1, now + 3600, False,
                         model.order_epoch(s))
        try:
            model.settle(Match(mk, tk, size, mark), now)
        except ModelError:
            pass
    return model, accts, now, rng


def entries(model, is_long: bool) -> list:
    return [BookEntry(a, p.size, p.open_notional, p.margin, p.open_seq)
            for (m, a), p in model.positions.items() if m == MID and (p.size > 0) == is_long]


def random_type1_event(seed: int, solvent: bool = False, n: int = 12, trades: int = 40) -> Type1Event | None:
    """The most leveraged long (or short, by the seed) is liquidated after the price moves past its bankruptcy price
    (``solvent``: to just above it, and the fund refuses by its risk limit): the fund refuses and Type 1 runs."""
    model, accts, now, rng = random_book_model(seed, n, trades, risk_limit=solvent)
    victim_long = rng.random() < 0.5
    side = [(a, p) for (m, a), p in model.positions.items() if m == MID and (p.size > 0) == victim_long]
    if not side:
        return None
    victim, pos = max(side, key=lambda ap: (abs(ap[1].open_notional) * WAD // ap[1].margin, ap[0]))
    pb = bankruptcy_notional(pos.size, pos.open_notional, pos.margin) * WAD * model.scale // abs(pos.size)
    bps = rng.randint(10, 40) if solvent else -rng.randint(10, 2500)  # solvent: E small and positive
    bps = bps if victim_long else -bps
    answer = max(1, pb * (10000 + bps) // 10000 // 10**10)
    now += 1
    model.set_price(MID, answer, now)
    mark = answer * 10**10
    book_side = entries(model, not victim_long)
    pos = model.positions[(MID, victim)].copy()
    engine_order = model.engine_order(MID, not victim_long, mark)
    model.liquidate(KEEPER, MID, victim, now)
    ev = model.events
    liq = next(a for name, a in ev if name == "Liquidated")
    if not any(name == "FundRefused" for name, _ in ev):
        return None
    from_margin = liq["keeperReward"] if liq["equity"] > 0 else 0  # a bankrupt position's reward is not its margin's
    nb = bankruptcy_notional(pos.size, pos.open_notional, pos.margin - from_margin)
    book = Book.type1(book_side, not victim_long, mark, model.scale, nb, abs(pos.size), at_mark=liq["equity"] > 0)
    return Type1Event(book, abs(pos.size), max(0, -liq["equity"]), list(ev), model, engine_order)


def model_run(seed: int, n: int = 30, trades: int = 120, steps: int = 12, fund_seed: int = 3_000 * U,
              max_fund_notional: int = 20_000 * U):
    """A small crash run on the reference model, recorded as a simulation records it: random positions, then
    ``steps`` price moves (a random walk with a downward or upward drift), each followed by a keeper pass
    (``liquidate_batch`` over everyone, then a Type 2 call). Returns ``(events, marks, model)``: events as
    ``{"step", "tx_index", "event", "args"}`` and each step's mark (WAD)."""
    model, accts, now, rng = random_book_model(seed, n, trades)
    m = model.markets[MID]
    model.set_params(MID, m.params.with_(max_fund_notional=max_fund_notional))
    model.top_up_fund("0x" + "00" * 19 + "01", MID, fund_seed)
    events, marks, tx = [], {}, 0
    drift = rng.choice((-1, 1))
    answer = m.answer
    for step in range(1, steps + 1):
        now += 1
        answer = max(1, answer * (10000 + drift * rng.randint(0, 600) - rng.randint(-150, 150)) // 10000)
        model.set_price(MID, answer, now)
        marks[step] = answer * 10**10
        for action in (lambda: model.liquidate_batch(KEEPER, MID, accts, now),
                       lambda: model.deleverage_fund(KEEPER, MID, now)):
            try:
                action()
            except ModelError:
                continue
            tx += 1
            events += [{"step": step, "tx_index": tx, "event": name, "args": dict(args)} for name, args in model.events]
    return events, marks, model
