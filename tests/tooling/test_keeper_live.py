"""The long-running keeper (`perp keeper`) against an Anvil started separately (a stock node: EIP-1559 base fee),
while another process plays a crash price path into the oracle; the node is stopped and restarted (with its state)
in the middle. The keeper must liquidate every position that became liquidatable, survive the restart, never reuse
a nonce, log one line per action, and leave a state in which every invariant holds."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perp.audit import Audit
from perp.chain import PerpClient, Rpc
from perp.chain.tx import Sender
from perp.core import PositionState
from perp.devnet import Devnet
from perp.scenario import load, scaled
from perp.sim import Simulation, deploy_for

ROOT = Path(__file__).resolve().parents[2]

PLAYER = """
import sys, time
from perp.chain import Rpc, Sender, Contract, load_abi
rpc = Rpc.http(sys.argv[1])
op = Sender(rpc, address=sys.argv[2])
oracle = Contract(rpc, sys.argv[3], load_abi("MockAggregator"))
for answer in sys.argv[4:]:
    op.transact(oracle, "setPrice", int(answer))
    print("price", answer, flush=True)
    time.sleep(0.4)
"""


def _perp_env():
    return dict(os.environ, PYTHONPATH=str(ROOT), PERP_DEVNET_PORTS="8620-8649")


@pytest.fixture
def node(tmp_path):
    os.environ.setdefault("PERP_DEVNET_PORTS", "8620-8649")
    n = Devnet(state=tmp_path / "anvil-state.json").start()
    yield n
    n.stop()


def test_keeper_follows_a_crash_played_from_another_process_and_survives_a_node_restart(node, tmp_path):
    rpc = Rpc.http(node.url)
    operator, keeper = rpc.request("eth_accounts", [])[:2]
    scn = scaled(load(ROOT / "scenarios" / "flash_crash.yaml"), traders=40)
    dep = deploy_for(Sender(rpc, address=operator), scn, keeper)
    sim = Simulation(rpc.w3, dep, scn)
    sim.build_population()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"chain_id": 31337, "perpetual": dep.perp, "lens": dep.lens,
                                    "collateral": dep.token, "collateral_decimals": scn.decimals,
                                    "markets": {n: {"id": i, "oracle": dep.oracles[n]} for n, i in
                                                dep.market_ids.items()}}))
    client = PerpClient(rpc, dep.perp, dep.lens)
    eth = dep.market_ids["ETH-PERP"]
    assert not [v for v in client.position_views(eth) if v.state >= PositionState.LIQUIDATABLE]
    status = tmp_path / "status.json"
    keeper_log = open(tmp_path / "keeper.log", "w")
    kp = subprocess.Popen([sys.executable, "-m", "perp.cli", "keeper", str(manifest), "--rpc", node.url,
                           "--unlocked", keeper, "--poll", "0.1", "--status-file", str(status)],
                          cwd=ROOT, env=_perp_env(), stdout=keeper_log, stderr=subprocess.STDOUT)
    try:
        path = [int(p * 10**8) for p in scn.market("ETH-PERP").path.points]
        first, second = path[:12], path[12:20]
        subprocess.run([sys.executable, "-c", PLAYER, node.url, operator, dep.oracles["ETH-PERP"], *map(str, first)],
                       cwd=ROOT, env=_perp_env(), check=True, capture_output=True, timeout=120)
        _wait(lambda: _liquidatable(client, eth) == [] and _counters(status).get("liquidated", 0) > 0, 60)
        done_before = _counters(status)["liquidated"]
        # the node goes away and comes back with its state, on the same port
        node.stop()
        time.sleep(1.5)
        node.start()
        _wait(lambda: _counters(status).get("errors", 0) > 0, 30)
        subprocess.run([sys.executable, "-c", PLAYER, node.url, operator, dep.oracles["ETH-PERP"],
                        *map(str, second)], cwd=ROOT, env=_perp_env(), check=True, capture_output=True, timeout=120)
        crash = [str(int(path[12] * 70 // 100))]  # a further leg down after the restart: more to liquidate
        subprocess.run([sys.executable, "-c", PLAYER, node.url, operator, dep.oracles["ETH-PERP"], *crash], cwd=ROOT,
                       env=_perp_env(), check=True, capture_output=True, timeout=60)
        _wait(lambda: _liquidatable(client, eth) == [] and _counters(status)["liquidated"] > done_before, 60)
    finally:
        kp.terminate()
        kp.wait(timeout=30)
        keeper_log.close()
    log = (tmp_path / "keeper.log").read_text().splitlines()
    counters = _counters(status)
    # every liquidation transaction is one log line; the restart shows up as errors and retries
    assert sum(1 for line in log if " keeper liquidateBatch " in line) == counters["liquidation_txs"]
    assert any(" keeper error " in line for line in log) and counters["retries"] >= 1
    # no nonce was used twice or skipped: every transaction the keeper's nonce took is named in exactly one line,
    # an action line for a successful one, an error line for one that reverted (the price player's update can land
    # between the keeper's check and its transaction)
    named = {line.rsplit("tx=", 1)[1]: " keeper error " in line for line in log if "tx=0x" in line}
    sent = list(named)
    assert len(sent) == sum(1 for line in log if "tx=0x" in line)
    receipts = {h: rpc.request("eth_getTransactionReceipt", [h]) for h in sent}
    assert all(r is not None and int(r["status"], 16) == (0 if named[h] else 1) for h, r in receipts.items())
    assert counters["reverted"] == sum(named.values())
    nonces = sorted(int(rpc.request("eth_getTransactionByHash", [h])["nonce"], 16) for h in sent)
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces)))
    assert int(rpc.request("eth_getTransactionCount", [keeper, "latest"]), 16) == nonces[-1] + 1
    # nothing liquidatable is left, and the state invariants hold (no bad debt after the keeper's pass)
    assert _liquidatable(client, eth) == []
    audit = Audit(rpc.w3, dep.perp, dep.lens, {t.address for t in sim.traders + sim.bystanders + list(sim.makers)}
                  | {keeper, operator})
    assert audit.findings(after_keeper=True) == []


def _liquidatable(client, market_id):
    return [v.account for v in client.position_views(market_id) if v.state >= PositionState.LIQUIDATABLE]


def _counters(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _wait(cond, seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if cond():
                return
        except Exception:  # noqa: BLE001 - the node may be restarting
            pass
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {seconds} s")
