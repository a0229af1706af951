"""The event replay auditor (perp/replay.py, SPEC section 7 invariant 8): after a realistic history it rebuilds
the chain's state exactly and reports nothing; an inconsistency planted in storage is reported with the right
invariant or mismatch, the subject and both numbers."""
from brownie import web3

from audit_plant import account_slot, fund_cash_slot, plant, position_slot, storage
from perp.audit import Finding
from perp.replay import Replay, fetch_logs
from perp.rpc import RpcError
from perp.units import WAD


def replay(env, **kw) -> Replay:
    r = Replay(web3, env.perp.address, env.lens.address, **kw)
    r.run()
    return r


def kinds(findings) -> set:
    return {f.invariant for f in findings}


def test_replay_rebuilds_the_chain_exactly_after_the_story(story, alice, bob, carol, dave, erin, frank, grace, keeper):
    env, _ = story
    r = replay(env, after_keeper=True)
    assert r.findings == []
    s = r.state
    # every kind of event of the story was replayed
    for name in ("Deposited", "Withdrawn", "PositionUpdated", "Trade", "FundUpdated", "FundToppedUp", "Liquidated",
                 "FundAccepted", "FundRefused", "AdlFill", "AdlRemainderToFund", "OrderCancelled", "OrderEpochBumped",
                 "FundWatermarkUpdated", "MarketCreated", "MarketParamsUpdated", "OracleUpdated", "MarketPauseSet"):
        assert s.counts.get(name, 0) > 0, name
    # the rebuilt numbers are the chain's, account by account
    for a in (alice, bob, carol, dave, erin, frank, grace, keeper):
        assert s.free.get(a.address.lower(), 0) == env.free(a)
        assert s.epoch.get(a.address.lower(), 0) == env.perp.orderEpoch(a)
    for m in (env.ETH, env.BTC):
        assert (s.funds[m].cash, s.funds[m].size, s.funds[m].open_notional) == tuple(env.perp.fundAccount(m)[:3])
        for (mm, a), p in s.positions.items():
            if mm == m:
                assert (p.size, p.open_notional, p.margin, p.open_seq) == tuple(env.perp.getPosition(m, a)[:4])
    assert s.free[erin.address.lower()] == 0 and s.epoch[frank.address.lower()] >= 2
    assert s.inflow == env.token.balanceOf(env.perp)
    assert r.snapshot.vault_balance == s.inflow


def test_replay_in_one_block_pages_gives_the_same_state(story):
    env, _ = story
    whole = replay(env)
    paged = replay(env, page=1)
    assert paged.findings == [] and paged.pages > whole.pages
    assert paged.state.free == whole.state.free and paged.state.positions == whole.state.positions
    assert paged.state.funds == whole.state.funds


def test_fetch_logs_halves_a_page_the_node_refuses():
    class Node:
        def __init__(self):
            self.asked = []

        def request(self, method, params):
            lo, hi = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
            self.asked.append((lo, hi))
            if hi - lo + 1 > 3:
                raise RpcError("query returned more than 10000 results")
            return [{"blockNumber": hex(b), "logIndex": "0x0"} for b in range(lo, hi + 1)]

    node = Node()
    logs = fetch_logs(node, "0x" + "11" * 20, 5, 20, page=16)
    assert [int(lg["blockNumber"], 16) for lg in logs] == list(range(5, 21))
    assert node.asked[0] == (5, 20) and len(node.asked) > 6


def test_planted_free_collateral_is_a_replay_mismatch_and_breaks_conservation(story, alice):
    env, _ = story
    free = env.free(alice)
    key = account_slot(env.perp, alice, free)
    plant(env.perp.address, key, storage(env.perp.address, key) + 7)
    found = replay(env).findings
    assert kinds(found) == {"replay.free_collateral", "conservation"}, found
    mismatch = next(f for f in found if f.invariant == "replay.free_collateral")
    assert mismatch == Finding("replay.free_collateral", alice.address.lower(),
                               f"free collateral: events say {free}, chain has {free + 7} (off by 7)")
    assert "(off by -7)" in next(f for f in found if f.invariant == "conservation").detail


def test_planted_position_size_is_a_replay_mismatch_and_unbalances_the_book(story, frank):
    env, _ = story
    size = env.perp.getPosition(env.ETH, frank)[0]
    assert size < 0
    key = position_slot(env.perp, env.ETH, frank)
    raw = storage(env.perp.address, key)
    planted = size - WAD  # one more unit short
    plant(env.perp.address, key, (raw >> 128 << 128) | (planted % 2**128))
    assert env.perp.getPosition(env.ETH, frank)[0] == planted
    found = replay(env).findings
    # (the planted size also leaves frank's queue key stale: the state audit's ADL queue check sees it too)
    assert kinds(found) == {"replay.position", "balanced_book", "adl_queue"}, found
    assert Finding("replay.position", f"{frank.address.lower()} in market {env.ETH}",
                   f"size: events say {size}, chain has {planted} (off by {-WAD})") in found


def test_planted_position_margin_is_a_replay_mismatch_and_breaks_conservation(story, grace):
    env, _ = story
    size, on, margin, *_ = env.perp.getPosition(env.BTC, grace)
    assert size > 0
    key = position_slot(env.perp, env.BTC, grace)
    key1 = (int.from_bytes(key, "big") + 1).to_bytes(32, "big")  # margin (low 96 bits), openSeq, tier, ...
    raw = storage(env.perp.address, key1)
    assert raw & (2**96 - 1) == margin
    plant(env.perp.address, key1, raw - 3)
    found = replay(env).findings
    assert kinds(found) == {"replay.position", "conservation"}, found
    assert Finding("replay.position", f"{grace.address.lower()} in market {env.BTC}",
                   f"margin: events say {margin}, chain has {margin - 3} (off by -3)") in found


def test_planted_fund_cash_is_a_replay_mismatch_and_breaks_conservation(story):
    env, _ = story
    cash = env.perp.fundAccount(env.ETH)[0]
    key = fund_cash_slot(env.perp, env.ETH)
    plant(env.perp.address, key, cash + 11)
    found = replay(env).findings
    assert kinds(found) == {"replay.fund", "conservation"}, found
    assert Finding("replay.fund", f"market {env.ETH} fund",
                   f"cash: events say {cash}, chain has {cash + 11} (off by 11)") in found


def test_negative_planted_fund_cash_is_also_a_fund_cash_violation(story):
    env, _ = story
    key = fund_cash_slot(env.perp, env.BTC)
    cash = env.perp.fundAccount(env.BTC)[0]
    plant(env.perp.address, key, -5)
    found = replay(env).findings
    assert {"replay.fund", "fund_cash", "conservation"} <= kinds(found)
    assert Finding("fund_cash", f"market {env.BTC} fund", "cash -5 < 0") in found
    assert Finding("replay.fund", f"market {env.BTC} fund",
                   f"cash: events say {cash}, chain has -5 (off by {-5 - cash})") in found


def test_a_closed_position_planted_back_is_reported(story, alice):
    """alice was liquidated: her slots are empty and she is in no side list; a planted size there is not seen by
    the side-list scan but the replay reads every account that ever held a position."""
    env, _ = story
    assert env.perp.getPosition(env.ETH, alice)[0] == 0
    from eth_abi import encode
    from eth_utils import keccak

    dave = env.signers[4]  # still holds ETH: his slot gives the mapping's base slot
    dave_key = position_slot(env.perp, env.ETH, dave)
    for base in range(64):
        outer = keccak(encode(["uint256", "uint256"], [env.ETH, base]))
        if keccak(encode(["address"], [dave.address]) + outer) == dave_key:
            break
    key = keccak(encode(["address"], [alice.address]) + keccak(encode(["uint256", "uint256"], [env.ETH, base])))
    plant(env.perp.address, key, WAD)
    found = replay(env).findings
    assert Finding("replay.position", f"{alice.address.lower()} in market {env.ETH}",
                   f"size: events say 0, chain has {WAD} (off by {WAD})") in found


def test_replay_matches_a_crash_simulation(tmp_path):
    """A simulated flash crash (reduced size): batched deposits and fills, keeper liquidation batches, Type 1."""
    from scripts.simulate import run

    report, sim = run("scenarios/flash_crash.yaml", out_dir=str(tmp_path), plots=False, quiet=True, traders=60)
    r = Replay(web3, sim.dep.perp, sim.dep.lens)
    assert r.run() == []
    assert r.state.counts.get("Liquidated", 0) > 0 and r.state.counts.get("AdlFill", 0) > 0
    assert len(r.state.free) >= 60


def test_replay_matches_a_slow_cascade_with_type2(tmp_path):
    from scripts.simulate import run

    report, sim = run("scenarios/slow_cascade.yaml", out_dir=str(tmp_path), plots=False, quiet=True, traders=60)
    r = Replay(web3, sim.dep.perp, sim.dep.lens)
    assert r.run() == []
    fills = [e for e in sim.events if e["event"] == "AdlFill"]
    assert {e["args"]["adlType"] for e in fills} >= {2}, {e["args"]["adlType"] for e in fills}


def test_replay_and_state_audit_read_the_same_pinned_block(story, erin):
    """--to-block: events after it are not replayed and the chain is read at that block, audit included."""
    env, _ = story
    height = web3.eth.block_number
    balance = env.token.balanceOf(env.perp)
    env.fund(erin, env.units(77))
    r = replay(env, to_block=height)
    assert r.findings == []
    assert r.snapshot.vault_balance == balance == r.state.inflow
    assert r.state.free[erin.address.lower()] == 0
    assert replay(env).state.free[erin.address.lower()] == env.units(77)
