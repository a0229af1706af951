"""Type 1 with 18-decimal collateral and odd sizes: a capacity-limited counterparty that buys back at the
bankruptcy price must be cut (as far as its margin absorbs the loss) before any lower-ranked position is touched.

The capacity is computed at the bankruptcy price rounded down, pb = floor(nb / |S|), while the counterparty pays
ceil(nb * q / |S|); with 18 decimals one unit of collateral is 1 wei, so for a cut of tens of ETH the difference
(up to q / 1e18 units) exceeds the two units the capacity keeps back. The exact numbers below are computed by
hand from the accounting model.

Book (18 decimals, empty fund):
    at 2,000.34074897: alice buys L = 27.173999962354518015 at 2,000.34074896 from deployer (alice 20x, deployer 1x)
    at 1,800.31956996: carol sells c = 10.174435162566466288 at 1,800.31956997 to frank (carol 20x, frank 2x)
At 1,700 alice is bankrupt. Shorts: carol (u ~ 100 a unit on a margin of ~90: score ~0.53) ranks before deployer
(u ~ 300 on ~2,000: ~0.13). Closing carol at pb ~ 1,900.3 would lose ~100 a unit, more than her margin: she can
only be cut partly.
"""
import pytest

from risk_calc import (
    assert_reference_params,
    ADL_TYPE_BANKRUPT,
    REFUSE_NEGATIVE_EQUITY,
    WAD,
    ceil_div,
    events_named,
    margin_for,
    notional_down,
    notional_up,
    position,
    score,
    set_price_units,
    upnl,
)
from scripts.deploy import deploy_devnet
from support import Env

L = 27_173_999_962_354_518_015
C = 10_174_435_162_566_466_288
ENTRY_A = 2000 * WAD + 34_074_896 * 10**10
ENTRY_C = 1800 * WAD + 31_956_997 * 10**10
STEP = 10**10  # one step of the 8-decimal oracle


@pytest.fixture(scope="module")
def book(signers, deployer, alice, carol, frank):
    env = Env(deploy_devnet(signers[0], decimals=18, quiet=True, fund_seed=0), list(signers))
    assert_reference_params(env)
    env.fund(deployer, env.units(60_000))
    env.fund(alice, env.units(3_000))
    env.fund(carol, env.units(1_000))
    env.fund(frank, env.units(10_000))
    set_price_units(env, env.ETH, ENTRY_A + STEP)
    env.trade(alice, deployer, env.ETH, L, ENTRY_A, buyer_leverage=20 * WAD, seller_leverage=WAD)
    set_price_units(env, env.ETH, ENTRY_C - STEP)
    env.trade(frank, carol, env.ETH, C, ENTRY_C, buyer_leverage=2 * WAD, seller_leverage=20 * WAD)
    env.set_price(env.ETH, 1700)
    return env


def test_capacity_limited_counterparty_is_cut_before_lower_ranks(book, deployer, alice, carol, keeper):
    env = book
    mark = 1700 * WAD
    # alice
    n_a = notional_up(L, ENTRY_A, 1)  # alice bought: she paid the notional rounded up
    m_a = margin_for(n_a, 20 * WAD)
    nb = n_a - m_a
    pb = nb * WAD // L
    assert position(env, env.ETH, alice) == (L, n_a, m_a)
    # carol (short): cost basis -n_c, margin m_c
    n_c = notional_down(C, ENTRY_C, 1)
    m_c = margin_for(n_c, 20 * WAD)
    assert position(env, env.ETH, carol) == (-C, -n_c, m_c)
    # deployer (short L at 1x; the seller: received the notional rounded down)
    n_d = notional_down(L, ENTRY_A, 1)
    m_d = margin_for(n_d, WAD)
    s_carol = score(upnl(-C, -n_c, mark, 1), m_c)
    s_deployer = score(upnl(-L, -n_d, mark, 1), m_d)
    assert s_carol > s_deployer
    # carol's capacity at pb: (margin - 2) * |size| / loss of closing all at pb
    loss_all = notional_up(C, pb, 1) - n_c
    cap = (m_c - 2) * C // loss_all
    assert 0 < cap < C and cap < L
    # cutting exactly `cap` at ceil(nb * cap / |S|) would leave her margin at -4: the contract's own check refuses it
    n_cap = ceil_div(nb * cap, L)
    margin_after_cap = m_c + (-n_cap + n_c * cap // C)
    assert margin_after_cap == -4

    tx = env.perp.liquidate(env.ETH, alice, {"from": keeper})

    assert tx.events["FundRefused"]["reason"] == REFUSE_NEGATIVE_EQUITY
    fills = events_named(tx, "AdlFill")
    assert all(f["adlType"] == ADL_TYPE_BANKRUPT and f["price"] == pb for f in fills)
    # correct behaviour: rank 1 (carol) is cut as far as her margin allows (within rounding of the capacity),
    # and only the rest goes to deployer
    assert [f["account"] for f in fills] == [carol, deployer], (
        "carol (rank 1, capacity ~%d) was passed over for a 3-wei rounding shortfall; fills: %s"
        % (cap, [(f["account"], f["sizeDelta"], f["rank"]) for f in fills])
    )
    q_c = fills[0]["sizeDelta"]
    assert cap - cap // 10**6 <= q_c <= cap and fills[0]["rank"] == 1
    assert fills[1]["sizeDelta"] == L - q_c
    size, on, margin = position(env, env.ETH, carol)
    assert size == -(C - q_c) and margin >= 0 and margin + upnl(size, on, mark, 1) >= 0
