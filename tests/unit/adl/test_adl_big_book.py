"""The ADL order on a big random book: 1,000 short positions of random size (0.05-3 ETH), entry (half 2,000-2,090 at mark 2,000, half 1,900-1,990 after a fall to
1,900) and
entry leverage (1x-20x) against one long counterparty, a crash to a random mark, then a bankrupt long of 40 ETH.
The victim
opened at 2,000 before the second half of the book. Type 1 (inside the liquidation, the fund refusing on its risk limit) and Type 2 (the fund shedding the position it
took) must cut the shorts exactly in the order of a plain Python sort of the book, read from the chain just before,
by the SPEC's key: eligible (u > 0 at mark) first by Score = u / (margin + u), then larger, then older. u is the
unrealized PnL as the contract values it, in collateral units (a short's notional rounded up, against the holder),
and scores are compared as exact fractions, so the sort has no rounding of its own.
Seeded: the same book and mark on every run."""
import random
from fractions import Fraction

import pytest

from perp.orders import match_tuple
from scripts.bench_gas import Bench
from scripts.deploy import deploy_devnet
from support import Env

WAD = 10**18
ZERO = "0x" + "00" * 20
N = 1_000
CHUNK = 120  # pairs per settleBatch (each under a 30M-gas block)
SEED = 20261202
VICTIM = 40 * WAD  # the bankrupt long: about 25-30 fills, within one call's 64


@pytest.fixture(scope="module")
def book(signers):
    env = Env(deploy_devnet(signers[0], decimals=6, quiet=True, fund_seed=100_000 * 10**6), list(signers))
    b = Bench(env.dep)
    rng = random.Random(SEED)
    M = b.ETH
    b.token.approve(b.perp, 2**256 - 1, {"from": b.owner})  # depositForMany pulls from the owner
    big, victim = b.new_accounts(2)
    shorts = b.new_accounts(N)
    b.deposit_many([big], 20_000_000 * b.one)
    b.deposit_many([victim], 10_000 * b.one)
    b.deposit_many(shorts, 7_000 * b.one)
    # half the book opens at mark 2,000 (entries 2,000-2,090), the victim too; the other half after a fall to 1,900
    # (entries 1,900-1,990); a short never enters below the mark (it would start under initial margin)
    for half, (mark_then, low, high) in enumerate([(2_000, 200_000, 209_000), (1_900, 190_000, 199_000)]):
        if half == 1:
            b.settle(b.pair(victim, big, M, VICTIM, 2_000 * WAD, buyer_lev=20 * WAD, seller_lev=3 * WAD))
            b.set_price(M, mark_then)
        for i in range(half * N // 2, (half + 1) * N // 2, CHUNK):
            part = shorts[i : min(i + CHUNK, (half + 1) * N // 2)]
            sizes = [rng.randint(5, 300) * WAD // 100 for _ in part]
            big_o, big_sig = b.order(big, M, True, sum(sizes), 2_100 * WAD, 3 * WAD, is_maker=True)
            matches = []
            for acct, size in zip(part, sizes):
                price = rng.randint(low, high) * 10**16
                o, sig = b.order(acct, M, False, size, price, rng.randint(1, 20) * WAD)
                matches.append(match_tuple(big_o, big_sig, o, sig, size, price))
            b.settle_batch(matches)
    # the crash: the victim (20x from 2,000) is below maintenance, still solvent; the shorts that entered below the
    # mark are at a loss (not eligible)
    mark = rng.randint(1_935, 1_955)
    b.set_price(M, mark)
    b.tick()
    return b, env, victim, mark


def spec_order(b, mark) -> list:
    """The short side as stored, sorted in Python by the SPEC's key (eligible positions only)."""
    accounts, positions, end = b.perp.sidePositions(b.ETH, False, ZERO, 2**256 - 1)
    assert end == ZERO and len(accounts) == N
    scale = 10 ** (18 - b.decimals)
    keyed = []
    for a, p in zip(accounts, positions):
        size, open_notional, margin, open_seq = int(p[0]), int(p[1]), int(p[2]), int(p[3])
        notional_up = -(size * mark * WAD // (WAD * scale))  # ceil(|size| * P): size < 0, floor of a negative
        u = -open_notional - notional_up  # |openNotional| - ceil(|size| * P)
        if u > 0:
            keyed.append(((-Fraction(u, margin + u), size, open_seq), str(a)))  # size < 0: larger |size| first
    return [a for _, a in sorted(keyed)]


def fills_of(tx, adl_type) -> list:
    fills = list(tx.events["AdlFill"])
    assert all(int(f["adlType"]) == adl_type for f in fills)
    assert [int(f["rank"]) for f in fills] == list(range(1, len(fills) + 1))
    assert sum(int(f["sizeDelta"]) for f in fills) == VICTIM
    return [str(f["account"]) for f in fills]


def test_type1_cuts_the_big_book_in_the_spec_order(book):
    b, env, victim, mark = book
    expected = spec_order(b, mark)
    assert len(expected) > 600  # most shorts are in profit at the crash, some are not (entries below the mark)
    b.set_max_fund_notional(b.ETH, 1)  # the fund refuses on its risk limit: Type 1 runs inside the liquidation
    tx = b.perp.liquidate(b.ETH, victim, {"from": b.submitter})
    assert "FundRefused" in tx.events and "AdlRemainderToFund" not in tx.events
    got = fills_of(tx, 1)
    assert 10 < len(got) < 64 and got == expected[: len(got)]


def test_type2_cuts_the_big_book_in_the_spec_order(book):
    b, env, victim, mark = book
    liq = b.perp.liquidate(b.ETH, victim, {"from": b.submitter})
    assert "FundAccepted" in liq.events
    expected = spec_order(b, mark)  # after the hand-over: the fund's long is what Type 2 sheds
    b.set_max_fund_notional(b.ETH, 1)  # fund above its risk limit: distressed, target flat
    b.tick()
    tx = b.perp.deleverageFund(b.ETH, {"from": b.submitter})
    got = fills_of(tx, 2)
    assert 10 < len(got) < 64 and got == expected[: len(got)]
    assert b.perp.fundAccount(b.ETH)[1] == 0
