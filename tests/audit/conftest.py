"""Fixtures for the audit tooling: a deployment with a small insurance fund (200 units, as in the crash story)
driven through a realistic history, and helpers that plant inconsistencies in storage with anvil_setStorageAt."""
import sys
from pathlib import Path

import pytest
from brownie import web3
from eth_abi import encode
from eth_utils import keccak

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "liquidation"))  # risk_calc.py

from risk_calc import fees_above_base_fee  # noqa: E402
from scripts.deploy import deploy_devnet  # noqa: E402
from support import Env  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from story import run_story  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _fees_above_base_fee():
    fees_above_base_fee()


@pytest.fixture(scope="session")
def frank(signers):
    return signers[6]


@pytest.fixture(scope="session")
def grace(signers):
    return signers[7]


@pytest.fixture(scope="module")
def story(decimals, signers):
    """A deployment (collateral decimals 6 and 18) after the whole story of `story.py`; returns (env, facts)."""
    env = Env(deploy_devnet(signers[0], decimals=decimals, quiet=True, fund_seed=200 * 10**decimals), list(signers))
    facts = run_story(env, signers)
    return env, facts


# ------------------------------------------------------------------------------------------ storage planting


def storage(address, key) -> int:
    return int.from_bytes(web3.eth.get_storage_at(address, key), "big")


def plant(address, key, value: int) -> None:
    web3.provider.make_request(
        "anvil_setStorageAt", [address, "0x" + bytes(key).hex(), "0x" + (value % 2**256).to_bytes(32, "big").hex()]
    )


def account_slot(perp, account, free):
    """The key of `_accounts[account]` (free collateral in the low 128 bits), found by probing the base slot."""
    for base in range(64):
        key = keccak(encode(["address", "uint256"], [str(account), base]))
        value = storage(perp.address, key)
        if value and value & (2**128 - 1) == free:
            return key
    raise AssertionError("free-collateral slot not found")


def position_slot(perp, market_id, account):
    """The key of `_positions[market][account]` slot 0 (size low 128 bits, openNotional high 128 bits)."""
    size = perp.getPosition(market_id, account)[0]
    for base in range(64):
        outer = keccak(encode(["uint256", "uint256"], [market_id, base]))
        key = keccak(encode(["address"], [str(account)]) + outer)
        raw = storage(perp.address, key)
        if raw and raw & (2**128 - 1) == size % 2**128:
            return key
    raise AssertionError("position slot not found")


def fund_cash_slot(perp, market_id):
    """The key of `_markets[market].fundCash`, found where three consecutive slots hold cash, size, cost basis."""
    cash, size, on = perp.fundAccount(market_id)[:3]
    for base in range(64):
        start = int.from_bytes(keccak(encode(["uint256", "uint256"], [market_id, base])), "big")
        for offset in range(16):
            key = (start + offset).to_bytes(32, "big")
            if storage(perp.address, key) != cash % 2**256:
                continue
            nxt = (start + offset + 1).to_bytes(32, "big")
            nxt2 = (start + offset + 2).to_bytes(32, "big")
            if storage(perp.address, nxt) == size % 2**256 and storage(perp.address, nxt2) == on % 2**256:
                return key
    raise AssertionError("fund cash slot not found")
