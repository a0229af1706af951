"""The ADL order over many counterparties (eight longs, so that the contract's selection runs well past its first
picks), with both tie-breaks and every light bucket 1..5, against one bankrupt short. Empty fund, 6 decimals.

All longs buy at 2,000; at mark 2,200 each has u = 200 per unit and score u / (margin + u), which depends only
on its leverage (sizes chosen so that every margin is exact):
    opened  name  lev  size  score
      1     L1     3   1.5   300 / 1,300
      2     L2    20   0.5   100 / 150
      3     L3    15   0.6   120 / 200
      4     L4     2   1.5   300 / 1,800     (1.1 bought from dave, 0.4 from deployer at 2x)
      5     L5    10   0.7   140 / 280
      6     L6    15   1.2   240 / 400       (ties L3: larger first)
      7     L7     5   0.9   180 / 540
      8     L8     3   1.5   300 / 1,300     (ties L1 on score and size: older first)
dave is short 8 at 20x (margin 800): at 2,200 his equity is -800; nb = 800 + 16,000 = 16,800 (2,100 a unit).
"""
import pytest

from risk_calc import (
    ADL_TYPE_BANKRUPT,
    events_named,
    fund_raw,
    lights,
    new_trader,
    position,
    queue,
    score,
    w,
)

U = 10**6
LONGS = (  # name, leverage, size (WAD), margin (units)
    ("L1", 3, w("1.5"), 1000 * U),
    ("L2", 20, w("0.5"), 50 * U),
    ("L3", 15, w("0.6"), 80 * U),
    ("L4", 2, w("1.5"), 1500 * U),
    ("L5", 10, w("0.7"), 140 * U),
    ("L6", 15, w("1.2"), 160 * U),
    ("L7", 5, w("0.9"), 360 * U),
    ("L8", 3, w("1.5"), 1000 * U),
)
EXPECTED_ORDER = ["L2", "L6", "L3", "L5", "L7", "L1", "L8", "L4"]


@pytest.fixture(scope="module")
def book(env0, deployer, dave):
    env = env0
    env.fund(dave, 2000 * U)
    env.fund(deployer, 2000 * U)
    env.longs = {}
    for name, lev, size, _ in LONGS:
        acct = new_trader(env, 4000 * U)
        env.longs[name] = acct
        if name == "L4":
            env.trade(acct, dave, env.ETH, w("1.1"), w(2000), buyer_leverage=w(lev), seller_leverage=w(20))
            env.trade(acct, deployer, env.ETH, w("0.4"), w(2000), buyer_leverage=w(lev), seller_leverage=w(2))
        else:
            env.trade(acct, dave, env.ETH, size, w(2000), buyer_leverage=w(lev), seller_leverage=w(20))
    env.set_price(env.ETH, 2200)
    return env


def hand_scores():
    return {name: score(size * 200 // 10**18 * U, margin) for name, _, size, margin in LONGS}


def test_book_is_as_built(book, dave):
    env = book
    for name, _, size, margin in LONGS:
        assert position(env, env.ETH, env.longs[name]) == (size, size * 2000 // 10**18 * U, margin)
    assert position(env, env.ETH, dave) == (-w(8), -16_000 * U, 800 * U)
    s = hand_scores()
    assert s["L3"] == s["L6"] and s["L1"] == s["L8"]


def test_queue_ranks_and_lights_for_eight_positions(book):
    env = book
    s = hand_scores()
    for rank, name in enumerate(EXPECTED_ORDER, start=1):
        assert queue(env, env.ETH, env.longs[name]) == (s[name], rank, 8, lights(rank, 8)), name
    assert [lights(r, 8) for r in range(1, 9)] == [5, 5, 4, 4, 3, 2, 2, 1]


def test_type1_cuts_eight_counterparties_in_queue_order(book, dave, deployer, keeper):
    env = book
    s = hand_scores()
    free = {name: env.free(a) for name, a in env.longs.items()}
    cash = fund_raw(env, env.ETH)[0]
    deployer_before, free_keeper = position(env, env.ETH, deployer), env.free(keeper)

    tx = env.perp.liquidate(env.ETH, dave, {"from": keeper})

    nb, S = 16_800 * U, w(8)
    sizes = {name: size for name, _, size, _ in LONGS}
    expected, left = [], S
    for rank, name in enumerate(EXPECTED_ORDER, start=1):
        q = min(sizes[name], left)
        left -= q
        expected.append((env.longs[name], -q, nb * q // S, s[name], rank))
    assert expected[-1][1] == -w("1.1")  # L4, last, only partly
    fills = events_named(tx, "AdlFill")
    assert [(f["account"], f["sizeDelta"], f["notional"], f["score"], f["rank"]) for f in fills] == expected
    assert all(f["adlType"] == ADL_TYPE_BANKRUPT and f["price"] == w(2100) for f in fills)
    # every fully cut long realizes +100 a unit on its margin; L4 keeps 0.4 (released basis 2,200 of 3,000)
    for name, lev, size, margin in LONGS:
        acct = env.longs[name]
        if name == "L4":
            margin_after = margin + (2310 * U - 2200 * U)
            freed = margin_after * w("1.1") // w("1.5")
            assert position(env, env.ETH, acct) == (w("0.4"), 800 * U, margin_after - freed)
            assert env.free(acct) == free[name] + freed
        else:
            assert position(env, env.ETH, acct) == (0, 0, 0)
            assert env.free(acct) == free[name] + margin + size * 100 // 10**18 * U
    assert position(env, env.ETH, deployer) == deployer_before
    # dave is bankrupt: the fund pays his keeper 0.5% of the notional (8 x 2,200 = 17,600: 88), bounded by its cash
    assert nb == sum(e[2] for e in expected) and cash < 88 * U
    assert tx.events["Liquidated"]["keeperReward"] == cash and env.free(keeper) == free_keeper + cash
    assert fund_raw(env, env.ETH) == (0, 0, 0)
    env.check(after_keeper=True)


def test_side_pages_from_any_cursor_with_an_unbounded_count_read_to_the_end(book):
    """`sidePositions` and `PerpLens.positionsPage` page by cursor: a count of 2**256 - 1 from any account means "to
    the end" (no overflow), and the pages of any size join up to the whole side, each account once."""
    env, ZERO, MAX = book, "0x" + "00" * 20, 2**256 - 1
    everyone, _, end = env.perp.sidePositions(env.ETH, True, ZERO, MAX)
    assert sorted(everyone) == sorted(str(a) for a in env.longs.values()) and end == ZERO
    for k in range(len(everyone)):
        rest, positions, end = env.perp.sidePositions(env.ETH, True, everyone[k], MAX)
        assert (list(rest), end) == (list(everyone[k + 1:]), ZERO)
        assert [p[0] for p in positions] == [position(env, env.ETH, a)[0] for a in rest]
        views, next_ = env.lens.positionsPage(env.ETH, True, everyone[k], MAX)
        assert (len(views), next_) == (len(rest), ZERO)
    paged, cursor = [], ZERO
    while True:
        page, _, cursor = env.perp.sidePositions(env.ETH, True, cursor, 3)
        paged += list(page)
        if cursor == ZERO:
            break
    assert paged == list(everyone)
