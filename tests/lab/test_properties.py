"""Properties of every policy on random books: the fills sum exactly to the requested size (or to the whole
capacity), no fill exceeds a position's capacity or size, only eligible positions are touched, every fill leaves its
margin >= 0, and the notionals are rounded against the counterparty."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perp.core import WAD
from perp.lab import POLICIES, Book, BookEntry, event_metrics

SCALE = 10**12
U = 10**6


@st.composite
def books(draw):
    is_long = draw(st.booleans())
    mark = draw(st.integers(500, 4000)) * WAD
    n = draw(st.integers(1, 8))
    entries = []
    for i in range(n):
        size = draw(st.integers(1, 10**4)) * 10**15
        entry = mark * draw(st.integers(7000, 13000)) // 10000
        cost = size * entry // (WAD * SCALE)
        margin = draw(st.integers(0, max(1, cost)))
        entries.append(BookEntry(f"0x{i:02x}", size if is_long else -size, cost if is_long else -cost, margin,
                                 draw(st.integers(1, 10**6))))
    if draw(st.booleans()):  # Type 1 at a bankruptcy price within 20% of mark
        abs_size = draw(st.integers(1, 2 * 10**4)) * 10**15
        pb = mark * draw(st.integers(8000, 12000)) // 10000
        book = Book.type1(entries, is_long, mark, SCALE, abs_size * pb // (WAD * SCALE), abs_size)
        amount = abs_size
    else:
        book = Book.type2(entries, is_long, mark, SCALE, mark * draw(st.integers(9000, 11000)) // 10000)
        amount = draw(st.integers(1, 2 * 10**4)) * 10**15
    return book, amount, draw(st.integers(0, 2**32))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_every_policy_conserves_size_and_respects_capacity(case):
    book, amount, seed = case
    eligible = {e.account: e for e in book.eligible()}
    caps = {a: book.capacity(e) for a, e in eligible.items()}
    for a, e in eligible.items():  # the contract's capacity is sound: a cut at capacity leaves margin >= 0
        assert caps[a] == 0 or book.survives(e, caps[a])
    for name, policy in POLICIES.items():
        out = policy(book, amount, seed=seed) if name == "dydx_sweep" else policy(book, amount)
        sizes = out.sizes
        assert out.filled == min(amount, sum(caps.values())), name
        for f in out.fills:
            e = eligible[f.account]  # only eligible positions
            assert 0 < f.size <= caps[f.account] <= abs(e.size), name
            assert book.survives(e, f.size), name
            exact = f.size * book.price_num
            assert f.notional == (exact // book.price_den if book.is_long else -((-exact) // book.price_den))
        assert all(sizes[a] <= caps[a] for a in sizes), name
        m = event_metrics(out, shortfall=0)
        assert m.haircut_total - m.windfall_total == sum(f.haircut for f in out.fills)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_pro_rata_cuts_in_proportion_to_profit(case):
    """Two positions that neither reached their capacity are cut in proportion to their unrealized profit, to one
    unit of size each: |q_i u_j - q_j u_i| <= u_i + u_j."""
    from perp.lab import pro_rata

    book, amount, _ = case
    out = pro_rata(book, amount)
    sizes = out.sizes
    free = [e for e in book.eligible() if 0 < book.capacity(e) and sizes.get(e.account, 0) < book.capacity(e)]
    for i in free:
        for j in free:
            qi, qj, ui, uj = sizes.get(i.account, 0), sizes.get(j.account, 0), book.u_d(i), book.u_d(j)
            assert abs(qi * uj - qj * ui) <= ui + uj


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_water_fill_leaves_no_uncut_position_above_the_level(case):
    """Water-filling: every position left uncut has a leverage (N / E before) at most the level, and every position cut
    short of its capacity ends at the level (its kept notional over its equity before), to two units of size."""
    from fractions import Fraction

    from perp.lab import water_fill

    book, amount, _ = case
    out = water_fill(book, amount)
    sizes = out.sizes
    pool = [e for e in book.eligible() if book.capacity(e) > 0]
    ed = {e.account: e.margin * book.d + book.u_d(e) for e in pool}
    cut = [e for e in pool if 0 < sizes.get(e.account, 0) < book.capacity(e)]
    uncut = [e for e in pool if sizes.get(e.account, 0) == 0]
    for i in cut:
        kept = abs(i.size) - sizes[i.account]
        after = Fraction(kept * book.mark, ed[i.account])
        slack = Fraction(2 * book.mark, ed[i.account])
        for j in uncut:
            assert Fraction(abs(j.size) * book.mark, ed[j.account]) <= after + slack
