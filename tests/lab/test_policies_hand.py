"""Each policy on a small book whose fills and haircuts were computed by hand (the arithmetic is in the comments).

Units: 6-decimal collateral (U = 10**6 units = 1 token, scale = 10**12), sizes and prices in WAD. The bankrupt
position is a short of 3 ETH whose bankruptcy notional is 5,550 U (Pb = 1,850); the mark is 2,000, so its deficit
(shortfall) is 3 * 2,000 - 5,550 = 450 U, and every fill of q costs floor(5,550 U * q / 3) and cuts
notional_down(q, 2,000) - that = 150 U per ETH (up to rounding)."""
import hashlib
from fractions import Fraction

from perp.core import WAD
from perp.lab import (Book, BookEntry, dydx_sweep, event_metrics, pnl_leverage_queue, pro_rata, protocol_queue,
                      water_fill)
from perp.lab.policies import pnl_leverage_score, sweep_start

U = 10**6
SCALE = 10**12
MARK = 2000 * WAD

# Long counterparties (the bankrupt position is short):
#   a: 2 ETH from 1,000 (cost 2,000 U), margin 1,000 U: u = 4,000 - 2,000 = 2,000 U, E = 3,000 U
#   b: 1 ETH from 1,800 (cost 1,800 U), margin   180 U: u =   200 U, E = 380 U
#   c: 3 ETH from 1,900 (cost 5,700 U), margin   100 U: u =   300 U, E = 400 U
#   d: 1 ETH from 2,100 (cost 2,100 U), margin   210 U: u = -100 U: not eligible, never touched
A = BookEntry("a", 2 * WAD, 2000 * U, 1000 * U, 1)
B = BookEntry("b", 1 * WAD, 1800 * U, 180 * U, 2)
C = BookEntry("c", 3 * WAD, 5700 * U, 100 * U, 3)
D = BookEntry("d", 1 * WAD, 2100 * U, 210 * U, 4)
BOOK = Book.type1([A, B, C, D], True, MARK, SCALE, nb=5550 * U, abs_size=3 * WAD)
AMOUNT = 3 * WAD
SHORTFALL = 450 * U

# c's capacity: at Pb = 1,850 it loses 50 U per ETH against its 1,900 entry, and its margin keeps 2 units of rounding:
#   (100 U - 2) * (3 WAD * 3 WAD) // (5,700 U * 3 WAD - 5,550 U * 3 WAD) = 99,999,998 * 2 * 10**10
C_CAP = 99_999_998 * 2 * 10**10  # = 1.99999996 ETH


def fills(outcome):
    return [(f.account, f.size, f.notional, f.haircut) for f in outcome.fills]


def test_capacities_by_hand():
    assert C_CAP == 1_999_999_960_000_000_000
    assert [BOOK.capacity(e) for e in (A, B, C)] == [2 * WAD, WAD, C_CAP]  # a, b profitable at Pb: their size
    assert [e.account for e in BOOK.eligible()] == ["a", "b", "c"]


def test_protocol_queue_by_hand():
    # Score u / E: a 2,000/3,000 = 0.667, b 200/380 = 0.526, c 300/400 = 0.75 -> c, a, b.
    # c: q = min(3, C_CAP) = C_CAP; n = floor(5,550 U * 1.99999996 / 3) = 3,699,999,926;
    #    h = floor(1.99999996 * 2,000 U) - n = 3,999,999,920 - 3,699,999,926 = 299,999,994.
    # a: q = 3 - 1.99999996 = 1.00000004 ETH; n = 5,550,000,222 / 3 = 1,850,000,074;
    #    h = 2,000,000,080 - 1,850,000,074 = 150,000,006.   Sum of haircuts = 450,000,000 = the shortfall.
    out = protocol_queue(BOOK, AMOUNT)
    assert fills(out) == [("c", C_CAP, 3_699_999_926, 299_999_994),
                          ("a", 1_000_000_040_000_000_000, 1_850_000_074, 150_000_006)]
    assert [f.rank for f in out.fills] == [1, 2]
    assert out.filled == AMOUNT


def test_pnl_leverage_queue_by_hand():
    # Score (u / cost) * (N / margin): a (2,000/2,000) * (4,000/1,000) = 4; b (200/1,800) * (2,000/180) = 100/81;
    # c (300/5,700) * (6,000/100) = 60/19 = 3.16 -> a, c, b (the protocol's order is c, a, b).
    assert [pnl_leverage_score(BOOK, e) for e in (A, B, C)] == [Fraction(4), Fraction(100, 81), Fraction(60, 19)]
    # a: q = 2; n = 5,550 U * 2 / 3 = 3,700 U; h = 4,000 U - 3,700 U = 300 U.
    # c: q = 1 (< C_CAP); n = 1,850 U; h = 2,000 U - 1,850 U = 150 U.
    out = pnl_leverage_queue(BOOK, AMOUNT)
    assert fills(out) == [("a", 2 * WAD, 3700 * U, 300 * U), ("c", WAD, 1850 * U, 150 * U)]


def test_pro_rata_by_hand():
    # Weights u: a 2,000, b 200, c 300 (sum 2,500). a's share 3 * 2,000/2,500 = 2.4 >= its size 2: a gives 2.
    # The last 1 ETH by 200 : 300: b 0.4, c 0.6 (exact, no units left over).
    # a: n = 3,700 U, h = 300 U; b: n = floor(5,550 U * 0.4 / 3) = 740 U, h = 800 - 740 = 60 U;
    # c: n = 1,110 U, h = 1,200 - 1,110 = 90 U.        Sum 450 U.
    out = pro_rata(BOOK, AMOUNT)
    assert fills(out) == [("a", 2 * WAD, 3700 * U, 300 * U), ("b", 4 * WAD // 10, 740 * U, 60 * U),
                          ("c", 6 * WAD // 10, 1110 * U, 90 * U)]


def test_pro_rata_leftover_units_go_to_the_largest_fractions():
    # Three equal weights and 10 units: 3 each (floor), 1 unit left; equal fractions -> the oldest (open_seq 1).
    es = [BookEntry(x, WAD, 1000 * U, 1000 * U, i) for i, x in ((2, "y"), (1, "x"), (3, "z"))]
    book = Book.type2(es, True, MARK, SCALE, MARK)
    out = pro_rata(book, 10)
    assert out.sizes == {"y": 3, "x": 4, "z": 3}


def test_dydx_sweep_by_hand():
    # Pool in opening order a, b, c; the start is sha256(seed as 32 bytes) mod 3. Seed 9 starts at b (seeds 0-8 start at a or c):
    seed = 9
    assert int.from_bytes(hashlib.sha256(seed.to_bytes(32, "big")).digest(), "big") % 3 == 1 == sweep_start(seed, 3)
    # b: q = 1; n = 1,850 U; h = 150 U.  c: q = C_CAP, n = 3,699,999,926, h = 299,999,994 (as in the queue).
    # a: q = 3 - 1 - 1.99999996 = 0.00000004 ETH = 4 * 10**10; n = floor(5,550 U * 4e10 / 3e18) = floor(74) = 74;
    #    h = floor(4e10 * 2,000 / 1e12) - 74 = 80 - 74 = 6.       Sum 150,000,000 + 299,999,994 + 6 = 450 U.
    out = dydx_sweep(BOOK, AMOUNT, seed=seed)
    assert fills(out) == [("b", WAD, 1850 * U, 150 * U), ("c", C_CAP, 3_699_999_926, 299_999_994),
                          ("a", 4 * 10**10, 74, 6)]


# Water-filling at mark (Type 2, no haircut): three longs, each with equity 1,000 U:
#   a: 4 ETH from 1,900 (cost 7,600 U), margin 600 U: u = 400, E = 1,000, N = 8,000: leverage 8
#   b: 2 ETH from 1,800 (cost 3,600 U), margin 600 U: u = 400, E = 1,000, N = 4,000: leverage 4
#   c: 1 ETH from 1,500 (cost 1,500 U), margin 500 U: u = 500, E = 1,000, N = 2,000: leverage 2
WA = BookEntry("a", 4 * WAD, 7600 * U, 600 * U, 1)
WB = BookEntry("b", 2 * WAD, 3600 * U, 600 * U, 2)
WC = BookEntry("c", 1 * WAD, 1500 * U, 500 * U, 3)
WBOOK = Book.type2([WA, WB, WC], True, MARK, SCALE, MARK)


def test_water_fill_by_hand():
    # Deleverage 3 ETH: a alone down to b's level 4 takes 2 ETH; then a and b together: cuts (4 - L/2) + (2 - L/2)
    # = 3 -> L = 3: a keeps 1.5 (cut 2.5), b keeps 1.5 (cut 0.5); c (leverage 2) is untouched. At the level
    # 3 * 10**36 / 10**36 the kept sizes floor(level * E * D / (K * P)) = 1.5 ETH exactly, nothing left over.
    out = water_fill(WBOOK, 3 * WAD)
    assert fills(out) == [("a", 25 * WAD // 10, 5000 * U, 0), ("b", WAD // 2, 1000 * U, 0)]
    m = event_metrics(out)  # leverages in WAD, each rounded down, the mean rounded down
    assert (m.leverage_before_max, m.leverage_before_mean) == (8 * WAD, 14 * WAD // 3)  # (8 + 4 + 2) / 3
    assert (m.leverage_after_max, m.leverage_after_mean) == (3 * WAD, 8 * WAD // 3)  # (3 + 3 + 2) / 3


def test_water_fill_takes_everything_when_capacity_is_short():
    out = water_fill(WBOOK, 10 * WAD)
    assert out.sizes == {"a": 4 * WAD, "b": 2 * WAD, "c": WAD}


def test_protocol_queue_metrics_by_hand():
    m = event_metrics(protocol_queue(BOOK, AMOUNT), SHORTFALL)
    assert (m.covered, m.haircut_total, m.windfall_total, m.overshoot, m.undershoot) == (450 * U, 450 * U, 0, 0, 0)
    assert (m.accounts_hit, m.eligible, m.order) == (2, 3, ["c", "a"])
    # Gini of (0, 150,000,006, 299,999,994) over the 3 eligible accounts: sum_i i x_(i) = 2 * 150,000,006
    # + 3 * 299,999,994 = 1,199,999,994; G = 2 * 1,199,999,994 / (3 * 450,000,000) - 4/3 = 599,999,988 / 1,350,000,000.
    assert m.gini == Fraction(599_999_988, 1_350_000_000)
    assert m.top1_share == Fraction(299_999_994, 450_000_000) and m.top10_share == 1
    assert m.max_equity_share == Fraction(299_999_994, 400 * U)  # c: its haircut over its 400 U of equity
    # Leverage before (WAD, rounded down): a 4,000/3,000, b 2,000/380 = 100/19, c 6,000/400 = 15.
    la0, lb0 = 4 * WAD // 3, 100 * WAD // 19
    assert (la0, lb0) == (1_333_333_333_333_333_333, 5_263_157_894_736_842_105)
    assert m.leverage_before_max == 15 * WAD
    assert m.leverage_before_mean == (la0 + lb0 + 15 * WAD) // 3 == 7_198_830_409_356_725_146
    # After: c keeps 1.00000004 ETH (2,000.00008 U) on 400 - 299.999994 = 100.000006 U; a keeps 0.99999996 ETH
    # (1,999.99992 U) on 3,000 - 150.000006 = 2,849.999994 U; b untouched.
    lc = 2_000_000_080 * WAD // 100_000_006
    la = 1_999_999_920 * WAD // 2_849_999_994
    # 2,000,000,080 / 100,000,006 = 20 * 100,000,004 / 100,000,006 = 20 - 40 / 100,000,006 = 19.99999960000024...:
    # c's 15x became 20x (its haircut ate most of its equity).
    assert lc == 19_999_999_600_000_023_999
    assert m.leverage_after_max == lc
    assert m.leverage_after_mean == (lc + la + lb0) // 3


def test_windfall_of_a_solvent_refused_position():
    # A refused short that was still solvent: bankruptcy notional 6,150 U for 3 ETH (Pb = 2,050 > mark 2,000).
    # Its surplus: valued 6,000 U at mark against 6,150 U of bankruptcy notional: E = 150 U (no keeper reward).
    # The longs sell at 2,050: c first (score 0.75) takes all 3 ETH (profitable at 2,050 against its 1,900 entry),
    # receives 6,150 U for what is worth 6,000 U at mark: haircut -150 U, a windfall.
    book = Book.type1([A, B, C, D], True, MARK, SCALE, nb=6150 * U, abs_size=3 * WAD)
    m = event_metrics(protocol_queue(book, 3 * WAD), shortfall=0, surplus=150 * U)
    assert m.haircuts == {"c": -150 * U}
    # handed = 150 U * 3 / 3: the windfall pays out exactly the surplus.
    assert (m.covered, m.handed, m.haircut_total, m.windfall_total, m.gini) == (0, 150 * U, 0, 150 * U, None)
    assert (m.overshoot, m.undershoot) == (0, 0)
