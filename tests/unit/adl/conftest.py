"""Fixtures for the ADL tests: 6-decimal deployments with an empty insurance fund (`env0`: it refuses any
position arriving with negative equity, so liquidations of bankrupt positions run Type 1 ADL) and with a small
fund of 1,000 units (`env1k`: it accepts timely liquidations, then can fall into distress for Type 2)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "liquidation"))  # risk_calc.py

from risk_calc import assert_reference_params, fees_above_base_fee  # noqa: E402
from scripts.deploy import deploy_devnet  # noqa: E402
from support import Env  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _fees_above_base_fee():
    fees_above_base_fee()


@pytest.fixture(scope="module")
def env0(signers):
    env = Env(deploy_devnet(signers[0], decimals=6, quiet=True, fund_seed=0), list(signers))
    assert_reference_params(env)
    return env


@pytest.fixture(scope="module")
def env1k(signers):
    env = Env(deploy_devnet(signers[0], decimals=6, quiet=True, fund_seed=1000 * 10**6), list(signers))
    assert_reference_params(env)
    return env


