"""Fixtures for the multi-step stories of the risk engine (liquidation, insurance fund, Type 1 and Type 2 ADL)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "liquidation"))  # risk_calc.py

from risk_calc import assert_reference_params, fees_above_base_fee  # noqa: E402
from scripts.deploy import deploy_devnet  # noqa: E402
from support import Env  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _fees_above_base_fee():
    fees_above_base_fee()


@pytest.fixture(scope="module")
def env0(signers):
    """6-decimal collateral, empty insurance fund (it holds only the trading fees)."""
    env = Env(deploy_devnet(signers[0], decimals=6, quiet=True, fund_seed=0), list(signers))
    assert_reference_params(env)
    return env


@pytest.fixture(scope="module")
def env200(signers):
    """6-decimal collateral, insurance fund seeded with 200 units."""
    env = Env(deploy_devnet(signers[0], decimals=6, quiet=True, fund_seed=200 * 10**6), list(signers))
    assert_reference_params(env)
    return env


