"""Fixtures for the liquidation and insurance-fund tests: 6-decimal deployments with the reference fund seed
(`env6`) and with an empty fund (`env0`, which refuses every position arriving with negative equity). The shared
`env` fixture (6 and 18 decimals) is used where both must be covered. The hand-calculation helpers of the three
risk-engine folders live in risk_calc.py here."""
import pytest

from scripts.deploy import deploy_devnet
from risk_calc import assert_reference_params, fees_above_base_fee
from support import Env


@pytest.fixture(scope="session", autouse=True)
def _fees_above_base_fee():
    fees_above_base_fee()


@pytest.fixture(scope="module")
def env6(signers):
    env = Env(deploy_devnet(signers[0], decimals=6, quiet=True), list(signers))
    assert_reference_params(env)
    return env


@pytest.fixture(scope="module")
def env0(signers):
    env = Env(deploy_devnet(signers[0], decimals=6, quiet=True, fund_seed=0), list(signers))
    assert_reference_params(env)
    return env
