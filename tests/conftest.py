"""Fixtures (Curve / token-mix style): actors, a module-scoped deployment parametrized over collateral
decimals, chain isolation after every test, and the invariant audit after every state-changing test."""
import os

import brownie
import pytest
from brownie import accounts

import scripts.brownie_compat  # Brownie's "Tx dropped" race on Anvil, and its slow isolation
from scripts.deploy import deploy_devnet
from support import ANVIL_MNEMONIC, Env


@pytest.fixture(scope="session", autouse=True)
def _launched_node():
    """A local network's tests run on the node Brownie launched for them. When a node already listens on the
    network's port (a stale Anvil that an interrupted run left behind), Brownie attaches to it without a word, and
    its state (nonces, snapshots, deployments) leaks into the run. `make test` refuses that on 8545 before it starts;
    this refuses it on every local network, dev1..dev4 included. ATTACH=1 says the node is meant."""
    # (brownie.network.rpc by attribute: Brownie hashes each conftest's imports and cannot read a compiled module)
    rpc = brownie.network.rpc
    if rpc.is_active() and not rpc.is_child() and os.environ.get("ATTACH") != "1":
        pytest.exit(f"error: a node was already listening at {brownie.web3.provider.endpoint_uri} (a stale Anvil?) and "
                    "Brownie attached to it; stop it, or set ATTACH=1 to use it", returncode=2)


@pytest.fixture(scope="session")
def signers():
    # The same keys as Anvil's unlocked dev accounts, but with private keys for EIP-712 signing.
    return accounts.from_mnemonic(ANVIL_MNEMONIC, count=10)


@pytest.fixture(scope="session")
def deployer(signers):
    return signers[0]


@pytest.fixture(scope="session")
def alice(signers):
    return signers[1]


@pytest.fixture(scope="session")
def bob(signers):
    return signers[2]


@pytest.fixture(scope="session")
def carol(signers):
    return signers[3]


@pytest.fixture(scope="session")
def dave(signers):
    return signers[4]


@pytest.fixture(scope="session")
def erin(signers):
    return signers[5]


@pytest.fixture(scope="session")
def frank(signers):
    """An account that no module fixture funds."""
    return signers[6]


@pytest.fixture(scope="session")
def grace(signers):
    return signers[7]


@pytest.fixture(scope="session")
def outsider(signers):
    return signers[8]


@pytest.fixture(scope="session")
def keeper(signers):
    return signers[9]


@pytest.fixture(scope="module", params=[6, 18], ids=["dec6", "dec18"])
def decimals(request):
    return request.param


@pytest.fixture(scope="module")
def env(decimals, signers):
    dep = deploy_devnet(signers[0], decimals=decimals, quiet=True)
    return Env(dep, list(signers))


@pytest.fixture(autouse=True)
def isolation(module_isolation):
    """Brownie's `fn_isolation` (a snapshot after the module's fixtures, reverted after each test), with the revert
    made cheap (scripts/brownie_compat.py: Brownie's full garbage collection on every revert skipped)."""
    brownie.chain.snapshot()
    yield
    if not brownie._config.CONFIG.argv["interrupt"]:
        scripts.brownie_compat.revert_without_full_gc()


@pytest.fixture
def checked(env):
    """Runs the invariant audit after the test body (use in every state-changing test)."""
    yield env
    env.check()
