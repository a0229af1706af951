"""Fixtures for the audit tooling: a deployment with a small insurance fund (200 units, as in the crash story)
driven through a realistic history (audit_story.py); the storage-planting helpers are in audit_plant.py."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "liquidation"))  # risk_calc.py

from risk_calc import fees_above_base_fee  # noqa: E402
from scripts.deploy import deploy_devnet  # noqa: E402
from support import Env  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit_story import run_story  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _fees_above_base_fee():
    fees_above_base_fee()


@pytest.fixture(scope="module")
def story(decimals, signers):
    """A deployment (collateral decimals 6 and 18) after the whole story of `audit_story.py`; returns (env, facts)."""
    env = Env(deploy_devnet(signers[0], decimals=decimals, quiet=True, fund_seed=200 * 10**decimals), list(signers))
    facts = run_story(env, signers)
    return env, facts
