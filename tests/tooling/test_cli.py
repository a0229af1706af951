"""The `perp` command as a user runs it: --help, the README's audit-a-separate-node flow against a stock `anvil`
(EIP-1559 base fee, no --base-fee 0): deploy, audit, queue, one keeper pass; and a readable error with exit status
2 for every bad input."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from perp.devnet import anvil_binary, free_port

ROOT = Path(__file__).resolve().parents[2]
ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def perp(*args, timeout=300, env=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT), PERP_DEVNET_PORTS="8620-8649", **(env or {}))
    e.pop("PERP_RPC_URL", None)
    return subprocess.run([sys.executable, "-m", "perp.cli", *map(str, args)], cwd=ROOT, env=e, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def stock_anvil():
    """`anvil --port P`, exactly as the README starts it (P: a free port of this machine's range)."""
    port = free_port("8620-8649")
    proc = subprocess.Popen([anvil_binary(), "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    import time
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield url
    os.killpg(proc.pid, 15)
    proc.wait(timeout=10)


def test_help_lists_every_command():
    r = perp("--help")
    assert r.returncode == 0
    for cmd in ("simulate", "audit", "keeper", "deploy", "queue"):
        assert f"  {cmd} " in r.stdout, r.stdout


def test_readme_flow_on_a_stock_anvil(stock_anvil, tmp_path):
    manifest = tmp_path / "development-31337.json"
    r = perp("deploy", "--rpc", stock_anvil, "--network", "development", "--out", manifest)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(manifest.read_text())
    assert data["chain_id"] == 31337 and set(data["markets"]) == {"ETH-PERP", "BTC-PERP"}
    assert f"manifest: {manifest}" in r.stdout
    block = json.loads(subprocess.run(["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json", "--data",
                                       '{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latest",false]}',
                                       stock_anvil], capture_output=True, text=True).stdout)["result"]
    assert int(block["baseFeePerGas"], 16) > 0  # a stock node: the deployment paid EIP-1559 fees
    r = perp("audit", manifest, "--rpc", stock_anvil)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "result: CLEAN" in r.stdout
    r = perp("queue", manifest, ALICE, "--rpc", stock_anvil)
    assert r.returncode == 0 and r.stdout.splitlines() == ["ETH-PERP: no position", "BTC-PERP: no position"]
    r = perp("queue", manifest, ALICE, "--rpc", stock_anvil, "--market", "ETH-PERP", "--json")
    assert json.loads(r.stdout) == [{"market": "ETH-PERP", "size": 0, "score": 0, "rank": 0, "eligible": 0,
                                     "lights": 0}]
    r = perp("keeper", manifest, "--rpc", stock_anvil, "--max-blocks", "1", "--poll", "0.05")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["blocks"] == 1


def _dead_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_inputs_get_one_readable_line_and_exit_2(tmp_path, stock_anvil):
    cases = [
        (("deploy", "--rpc", f"http://127.0.0.1:{_dead_port()}"), "error: cannot reach an Ethereum node at"),
        (("deploy", "--rpc", stock_anvil, "--key-env", "PERP_NO_SUCH_VAR"),
         "error: --key-env PERP_NO_SUCH_VAR: the environment variable PERP_NO_SUCH_VAR is not set"),
        (("deploy", "--rpc", stock_anvil, "--unlocked", "0x12"), "error: --unlocked 0x12: not an address"),
        (("deploy", "--rpc", stock_anvil, "--fund-seed", "1.0000001"), "error: --fund-seed 1.0000001: 1.0000001 has "
                                                                         "more than 6 decimals"),
        (("keeper", tmp_path / "missing.json"), "error: manifest not found:"),
        (("queue", tmp_path / "missing.json", ALICE), "error: manifest not found:"),
        (("queue", tmp_path / "missing.json", "alice"), "error: alice: not an address"),
        (("simulate", tmp_path / "nowhere.yaml"), "error: bad scenario:"),
        (("audit", tmp_path / "missing.json"), "error: manifest not found"),
    ]
    for args, message in cases:
        r = perp(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"chain_id": 31337, "perpetual": "0x" + "12" * 20, "lens": "0x" + "34" * 20,
                               "collateral": "0x" + "56" * 20}))
    r = perp("queue", bad, ALICE, "--rpc", stock_anvil)
    assert r.returncode == 2 and "error: no contract at" in r.stderr
