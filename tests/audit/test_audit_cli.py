"""`python -m perp.audit_cli <manifest> --rpc URL` in a subprocess, against this test chain: exit 0 on a clean
deployment, 1 after a planted inconsistency (the finding printed on one line), 2 with a readable message on a
missing manifest, a dead RPC URL, a manifest of another chain or a node without the contract."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from brownie import web3

from audit_plant import account_slot, fund_cash_slot, plant, storage
from scripts.deploy import write_manifest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PERP_RPC_URL", None)
    return subprocess.run([sys.executable, "-m", "perp.audit_cli", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def manifest(story, tmp_path):
    env, _ = story
    return write_manifest(env.dep, tmp_path / "manifest.json")


def rpc_url():
    return web3.provider.endpoint_uri


def test_cli_exits_0_on_a_clean_deployment(manifest, story):
    env, _ = story
    r = cli(manifest, "--rpc", rpc_url())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "result: CLEAN" in r.stdout
    assert f"auditing {env.perp.address}" in r.stdout
    assert "replayed " in r.stdout and "state audit: vault" in r.stdout


def test_cli_exits_1_after_a_plant_and_prints_the_finding(manifest, story, alice):
    env, _ = story
    free = env.free(alice)
    key = account_slot(env.perp, alice, free)
    plant(env.perp.address, key, storage(env.perp.address, key) + 7)
    r = cli(manifest, "--rpc", rpc_url())
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert (f"[replay.free_collateral] {alice.address.lower()}: free collateral: events say {free}, "
            f"chain has {free + 7} (off by 7)") in lines
    assert any(line.startswith("[conservation] vault: ") and line.endswith("(off by -7)") for line in lines)
    assert "result: 2 finding(s): conservation 1, replay.free_collateral 1" in r.stdout


def test_cli_reports_a_planted_fund_cash(manifest, story):
    env, _ = story
    key = fund_cash_slot(env.perp, env.ETH)
    cash = env.perp.fundAccount(env.ETH)[0]
    plant(env.perp.address, key, cash - 1)
    r = cli(manifest, "--rpc", rpc_url(), "--page-size", "3")
    assert r.returncode == 1
    assert f"[replay.fund] market {env.ETH} fund: cash: events say {cash}, chain has {cash - 1} (off by -1)" in r.stdout


def test_cli_exits_2_on_a_missing_manifest(tmp_path):
    r = cli(tmp_path / "nowhere.json", "--rpc", rpc_url())
    assert r.returncode == 2
    assert "error: manifest not found" in r.stderr and "make deploy" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_exits_2_on_a_malformed_manifest(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = cli(bad, "--rpc", rpc_url())
    assert r.returncode == 2 and "is not readable JSON" in r.stderr


def test_cli_exits_2_on_a_dead_rpc_url(manifest):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli(manifest, "--rpc", f"http://127.0.0.1:{port}")
    assert r.returncode == 2
    assert f"error: cannot reach an Ethereum node at http://127.0.0.1:{port}" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_exits_2_on_a_manifest_of_another_chain(manifest, tmp_path):
    data = json.loads(Path(manifest).read_text())
    data["chain_id"] = 1
    other = tmp_path / "mainnet.json"
    other.write_text(json.dumps(data))
    r = cli(other, "--rpc", rpc_url())
    assert r.returncode == 2 and "the manifest is for chain id 1" in r.stderr


def test_cli_exits_2_when_the_contract_is_not_there(manifest, tmp_path):
    data = json.loads(Path(manifest).read_text())
    data["perpetual"] = "0x" + "12" * 20
    gone = tmp_path / "gone.json"
    gone.write_text(json.dumps(data))
    r = cli(gone, "--rpc", rpc_url())
    assert r.returncode == 2 and "no contract at" in r.stderr


def test_cli_usage_error_exits_2():
    r = cli()
    assert r.returncode == 2 and "usage:" in r.stderr
