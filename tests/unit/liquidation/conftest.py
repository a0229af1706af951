"""Fixtures for the liquidation and insurance-fund tests: 6-decimal deployments with the reference fund seed
(`env6`) and with an empty fund (`env0`, which refuses every position arriving with negative equity), and the
funding of the actors. The shared `env` fixture (6 and 18 decimals) is used where both must be covered."""
import pytest

from scripts.deploy import deploy_devnet
from risk_calc import fees_above_base_fee
from support import Env


@pytest.fixture(scope="session", autouse=True)
def _fees_above_base_fee():
    fees_above_base_fee()


@pytest.fixture(scope="module")
def env6(signers):
    return Env(deploy_devnet(signers[0], decimals=6, quiet=True), list(signers))


@pytest.fixture(scope="module")
def env0(signers):
    return Env(deploy_devnet(signers[0], decimals=6, quiet=True, fund_seed=0), list(signers))
