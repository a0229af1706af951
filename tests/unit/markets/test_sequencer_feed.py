"""L2 deployments: a market listed with a `SequencerGuardedFeed` (contracts/oracle/) reads no mark price while the
sequencer is down, or within its grace period after it came back (Chainlink's sequencer-uptime convention: the
uptime feed answers 0 when up, 1 when down, and `startedAt` says since when), so trades, margin changes,
liquidations and Type 2 all stop there, changing nothing; once the grace period has passed everything works again.
The uptime feed here is a MockAggregator (its `startedAt` is the posted time)."""
import brownie
import pytest
from brownie import MockAggregator, SequencerGuardedFeed, web3

from perp.params import default_params
from support import err

WAD = 10**18
GRACE = 3600
ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture
def l2(checked, deployer, alice, bob):
    """SOL-PERP at 150 behind a guard whose sequencer has been up for two hours; alice long 10 from bob."""
    env = checked
    now = web3.eth.get_block("latest").timestamp
    price = MockAggregator.deploy(8, "SOL / USD (mock)", 150 * 10**8, deployer, {"from": deployer})
    uptime = MockAggregator.deploy(0, "L2 sequencer uptime (mock)", 0, deployer, {"from": deployer})
    uptime.setPriceAt(0, now - 7200, {"from": deployer})
    guard = SequencerGuardedFeed.deploy(price, uptime, GRACE, {"from": deployer})
    params = default_params("SOL-PERP", env.decimals)
    tx = env.perp.createMarket("SOL-PERP", guard, params.as_tuple(), {"from": deployer})
    mid = tx.events["MarketCreated"]["marketId"]
    for a in (alice, bob):
        env.fund(a, env.units(10_000))
    env.trade(alice, bob, mid, 10 * WAD, 150 * WAD)
    env.l2 = (mid, price, uptime, guard)
    return env


def test_the_guard_forwards_the_price_feed_while_the_sequencer_is_up(l2):
    env = l2
    mid, price, uptime, guard = env.l2
    assert guard.latestRoundData() == price.latestRoundData()
    assert (guard.decimals(), guard.description(), guard.version()) == (8, "SOL / USD (mock)", 4)
    assert guard.getRoundData(1) == price.getRoundData(1)
    assert (guard.priceFeed(), guard.sequencerUptimeFeed(), guard.gracePeriod()) == (price, uptime, GRACE)
    assert env.perp.markPrice(mid) == 150 * WAD


def test_sequencer_down_stops_every_action_that_needs_the_mark(l2, deployer, alice, bob, keeper):
    env = l2
    mid, price, uptime, guard = env.l2
    down_at = web3.eth.get_block("latest").timestamp
    uptime.setPriceAt(1, down_at, {"from": deployer})
    price.setPrice(100 * 10**8, {"from": deployer})  # alice would be liquidatable at this price
    before = (tuple(env.perp.getPosition(mid, alice)), env.free(alice), tuple(env.perp.fundAccount(mid)))
    down = err("SequencerDown", uptime, down_at)
    with brownie.reverts(down):
        env.perp.markPrice(mid)
    with brownie.reverts(down):
        env.perp.liquidate(mid, alice, {"from": keeper})
    with brownie.reverts(down):
        env.perp.deleverageFund(mid, {"from": keeper})
    with brownie.reverts(down):
        env.perp.removeMargin(mid, 1, {"from": bob})
    with brownie.reverts(down):
        env.trade(alice, bob, mid, WAD, 100 * WAD)
    assert (tuple(env.perp.getPosition(mid, alice)), env.free(alice), tuple(env.perp.fundAccount(mid))) == before
    # the other markets are untouched
    assert env.perp.markPrice(env.ETH) > 0


def test_prices_wait_out_the_grace_period_after_the_sequencer_comes_back(l2, deployer, alice, keeper):
    env = l2
    mid, price, uptime, guard = env.l2
    up_at = web3.eth.get_block("latest").timestamp
    uptime.setPriceAt(0, up_at, {"from": deployer})
    with brownie.reverts(err("SequencerGracePeriod", uptime, up_at, GRACE)):
        env.perp.markPrice(mid)
    brownie.chain.sleep(GRACE + 1)
    brownie.chain.mine()
    price.setPrice(100 * 10**8, {"from": deployer})  # a fresh answer, after the grace period
    assert env.perp.markPrice(mid) == 100 * WAD
    tx = env.perp.liquidate(mid, alice, {"from": keeper})
    assert tx.events["Liquidated"]["markPrice"] == 100 * WAD


def test_an_uptime_feed_without_a_status_counts_as_down(l2, deployer):
    env = l2
    mid, price, uptime, guard = env.l2
    uptime.setPriceAt(0, 0, {"from": deployer})
    with brownie.reverts(err("SequencerDown", uptime, 0)):
        env.perp.markPrice(mid)


@pytest.mark.parametrize("which", ["priceFeed", "sequencerUptimeFeed", "gracePeriod"])
def test_the_guard_rejects_a_missing_feed_or_a_grace_period_above_a_day(checked, deployer, which):
    feed = MockAggregator.deploy(8, "X / USD (mock)", 10**8, deployer, {"from": deployer})
    args = {"priceFeed": (ZERO, feed, GRACE), "sequencerUptimeFeed": (feed, ZERO, GRACE),
            "gracePeriod": (feed, feed, 86_401)}[which]
    with brownie.reverts(err("InvalidParameter", which, 86_401 if which == "gracePeriod" else 0)):
        SequencerGuardedFeed.deploy(*args, {"from": deployer})
