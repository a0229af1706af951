"""The protocol-queue policy reproduces the reference model's Type 1 fills exactly (account, size, notional, rank)
on random books built by trades in the model, for bankrupt and for solvent refused positions. (The model mirrors the
contract step for step and the differential suite checks it against the chain, tests/model.)"""
import pytest

from perp.lab import protocol_queue

from model_events import MID, random_type1_event

SEEDS = range(40)


@pytest.mark.parametrize("solvent", [False, True], ids=["bankrupt", "solvent"])
def test_protocol_queue_equals_the_model_type1_fills(solvent):
    compared = 0
    for seed in SEEDS:
        ev = random_type1_event(seed, solvent=solvent)
        if ev is None:
            continue
        want = [(a["account"], abs(a["sizeDelta"]), a["notional"], a["rank"])
                for name, a in ev.events if name == "AdlFill"]
        got = [(f.account, f.size, f.notional, f.rank) for f in protocol_queue(ev.book, ev.amount).fills]
        assert got == want, seed
        compared += 1
    assert compared >= 30


def test_protocol_queue_order_is_the_model_engine_order():
    """The policy ranks by the plain sort (perp.core.ranking.ranked); the model's engine (the contract's best-first
    merge of the queue's tiers) hands the positions out in the same order, on the same books."""
    from perp.core import ranked

    for seed in SEEDS:
        ev = random_type1_event(seed)
        if ev is None:
            continue
        assert [c.account for c in ranked(ev.book.entries, ev.book.mark, ev.book.scale)] == ev.engine_order, seed


def _trade(model, buyer, seller, size, answer, lev_buyer, lev_seller, now, nonce):
    from perp.core import WAD
    from perp.model import Match, SimpleOrder

    model.set_price(MID, answer, now)
    price = answer * 10**10
    mk = SimpleOrder(buyer, MID, True, size, price, lev_buyer * WAD, nonce, now + 3600, False, model.order_epoch(buyer),
                     True)
    tk = SimpleOrder(seller, MID, False, size, price, lev_seller * WAD, nonce + 1, now + 3600, False,
                     model.order_epoch(seller))
    model.settle(Match(mk, tk, size, price), now)


def _type1_against_policy(model, victim, answer, now):
    from perp.core import bankruptcy_notional
    from perp.lab import Book
    from model_events import KEEPER, entries

    model.set_price(MID, answer, now)
    pos = model.positions[(MID, victim)].copy()
    book = Book.type1(entries(model, pos.size < 0), pos.size < 0, answer * 10**10, model.scale,
                      bankruptcy_notional(pos.size, pos.open_notional, pos.margin), abs(pos.size))
    model.liquidate(KEEPER, MID, victim, now)
    want = [(a["account"], abs(a["sizeDelta"]), a["notional"], a["rank"]) for n, a in model.events if n == "AdlFill"]
    got = [(f.account, f.size, f.notional, f.rank) for f in protocol_queue(book, abs(pos.size)).fills]
    return got, want, [n for n, _ in model.events]


def test_equal_when_capacity_is_short_and_the_rest_goes_to_the_fund():
    # V long 10 ETH from 2,000 at 20x (margin 1,000 U, Pb 1,900); the only short, S, opened at 1,750 at 20x (margin
    # 875 U). At 1,700 V is bankrupt; S is in profit at mark but loses 150 U per ETH at 1,900: its capacity is
    # (875 U - 2) / 150 U per ETH = 5.83 ETH, the other 4.17 ETH go to the fund.
    from perp.core import WAD
    from model_events import random_book_model

    model, _, now, _ = random_book_model(0, n=0, trades=0)
    V, M, S = (f"0x{i:040x}" for i in (101, 102, 103))
    for a in (V, M, S):
        model.deposit(a, 10**6 * 10**6)
    _trade(model, V, M, 10 * WAD, 2000 * 10**8, 20, 1, now + 1, 1)
    _trade(model, M, S, 10 * WAD, 1750 * 10**8, 1, 20, now + 2, 3)  # M closes its short, S opens one
    got, want, names = _type1_against_policy(model, V, 1700 * 10**8, now + 3)
    assert got == want and len(got) == 1 and got[0][0] == S and got[0][1] < 6 * WAD
    assert "AdlRemainderToFund" in names


def test_equal_at_the_fill_bound():
    # 70 shorts of 1 ETH each against one long of 70 ETH: the contract stops after MAX_FILLS = 64 fills, so does the
    # policy, and the other 6 ETH go to the fund.
    from perp.core import WAD
    from perp.model.adl import MAX_FILLS
    from model_events import random_book_model

    model, _, now, _ = random_book_model(0, n=0, trades=0)
    V = f"0x{200:040x}"
    shorts = [f"0x{300 + i:040x}" for i in range(70)]
    for a in [V] + shorts:
        model.deposit(a, 10**6 * 10**6)
    for i, s in enumerate(shorts):
        _trade(model, V, s, WAD, 2000 * 10**8, 20, 1 + i % 20, now + 1, 2 * i + 1)
    got, want, names = _type1_against_policy(model, V, 1700 * 10**8, now + 2)
    assert got == want and len(got) == MAX_FILLS
    assert "AdlRemainderToFund" in names and "AdlWorkLimitReached" in names


def test_type2_at_the_fund_cap_equals_the_model_and_pays_the_fund_deficit():
    # The fund (100 U of cash) accepts V's long of 10 ETH at 1,905 (V had 50 U of equity, paid to the keeper: its
    # bankruptcy notional 20,000 - 950 = 19,050 U is the mark value, Pb = 1,905). At 1,800 the fund's equity is
    # 100 + 10 * (1,800 - 1,905) = -950 U: distress. Type 2 sells its 10 ETH at its bankruptcy price
    # (19,050 - 100) / 10 = 1,895 (> mark) to S, short 10 from 2,000: S pays 95 U per ETH above mark, a haircut of
    # 950 U = the fund's deficit.
    from perp.core import WAD
    from perp.lab import Book, event_metrics
    from model_events import KEEPER, U, entries, random_book_model

    model, _, now, _ = random_book_model(0, n=0, trades=0)
    model.top_up_fund("0x" + "00" * 19 + "01", MID, 100 * U)
    V, S = f"0x{401:040x}", f"0x{402:040x}"
    for a in (V, S):
        model.deposit(a, 10**6 * U)
    _trade(model, V, S, 10 * WAD, 2000 * 10**8, 20, 2, now + 1, 1)
    model.set_price(MID, 1905 * 10**8, now + 2)
    model.liquidate(KEEPER, MID, V, now + 2)
    assert any(n == "FundAccepted" for n, _ in model.events)
    model.set_price(MID, 1800 * 10**8, now + 3)
    m = model.markets[MID]
    mark = 1800 * WAD
    trade_price = model.fund_trade_price(m, mark)
    assert trade_price == 1895 * WAD
    deficit = -model._fund_equity(m, mark)
    assert deficit == 950 * U
    book = Book.type2(entries(model, False), False, mark, model.scale, trade_price)
    model.deleverage_fund(KEEPER, MID, now + 3)
    want = [(a["account"], abs(a["sizeDelta"]), a["notional"], a["rank"]) for n, a in model.events if n == "AdlFill"]
    out = protocol_queue(book, 10 * WAD)
    assert [(f.account, f.size, f.notional, f.rank) for f in out.fills] == want == [(S, 10 * WAD, 18_950 * U, 1)]
    ev = event_metrics(out, shortfall=deficit)
    assert (ev.haircut_total, ev.covered, ev.overshoot, ev.undershoot) == (950 * U, 950 * U, 0, 0)
