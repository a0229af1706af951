"""Model-based tests: the executable reference model (``perp/model.py``) against the contracts.

Run on a private network: ``brownie test tests/model --network dev2``.

Files
-----
- ``harness.py``: ``Harness`` drives one deployment and one ``perp.model.Model`` in lock-step. Each action runs
  on the chain first (the next block's timestamp pinned with ``evm_setNextBlockTimestamp``, so the model gets the
  same ``block.timestamp``), then on the model; both must succeed, or both fail with the same custom error (the
  decoded revert string against ``ModelError.revert_string()``, i.e. ``tests/support.err`` formatting). After
  every action the whole state is compared: every free collateral and order epoch of the 10 signers, every
  position (size, openNotional, margin, openSeq, listIndex) and the side lists in their swap-and-pop storage order,
  both funds (cash, size, openNotional, high-water mark, its timestamp, distress latch), the vault's token
  balance, the filled amount of every order used so far, and the events ``AdlFill`` (account, type, size delta,
  price, notional, score, rank), ``Liquidated``, ``FundAccepted``, ``FundRefused``, ``AdlRemainderToFund``,
  ``FundWatermarkUpdated`` one for one.
- ``test_model_pure.py``: the model alone (no chain): random scenarios with its own invariants and the speed
  floor; hand-checked numbers from docs/TESTING.md.
- ``test_differential.py``: seeded random sequences of every user and keeper action (deposits, trades between
  random accounts with random sizes, leverages and prices within (and sometimes outside) the band, partial fills,
  reduce-only, flips, batches, forged signatures, stale epochs, expired and cancelled orders, oracle moves and
  crashes, stale oracles, the high-water-mark window passing, pauses, liquidations and batches, Type 2 calls,
  top-ups, pokes, margin adds/removes, withdrawals, cancels). Deterministic per seed.
- ``test_findings.py``: two contract behaviours that break properties the README states, reproduced through the
  harness (chain and model agree at every step): a Type 1 remainder that flattens the fund leaves its cash
  negative for good (Type 2 reverts ``FundFlat``; the last account cannot withdraw), and Type 2 of a short fund
  whose deficit exceeds its short proceeds runs at price 0. Each has a passing ``test_finding_*`` pinning the
  numbers and an ``xfail(strict=True)`` ``test_property_*`` that flips once the contract is fixed.
- ``test_stateful.py``: a hypothesis state machine (``run_machine``) over the same actions, each rule applied through the
  harness (so every rule either succeeds and updates the model, or asserts the exact revert), with invariants
  (conservation via ``perp/audit.py``, balanced book, no negative fund cash, the bystander rule, ADL order and
  type rules) and a teardown that closes every solvent position and withdraws everything, leaving the vault
  holding exactly the funds' cash (minus what the fund still owes/is owed on its open position).

Deployments (module-scoped, both markets, the 10 Anvil signers; traders are signers 1..8, the keeper is signer 9):
``dec6-fund0`` (6-decimal collateral, empty insurance funds: bankrupt liquidations run Type 1) and
``dec18-fund500`` (18 decimals, funds seeded with 500 units: timely liquidations go to the fund, which can fall
into distress for Type 2).

Sizes (environment variables)
-----------------------------
- ``DIFF_SEEDS`` (default 3): seeds per deployment for the differential test; ``DIFF_STEPS`` (default 40) actions
  per seed. Deep run: ``DIFF_SEEDS=200 DIFF_STEPS=80 brownie test tests/model/test_differential.py --network dev2``.
- ``DIFF_SEED_BASE`` (default 0): first seed (to replay one: ``DIFF_SEED_BASE=17 DIFF_SEEDS=1``).
- ``STATEFUL_PROFILE=long`` (or ``STATEFUL_EXAMPLES``/``STATEFUL_STEPS``): the state machine's size; the default
  (CI) is 16 examples of exactly 20 rules per deployment (derandomized); ``long`` is 300 x 40.
- Both runs count the states they reached (``reached.py``) and fail, printing the table, on any at zero
  (``test_reached.py`` shows that check biting); ``model_harness.py`` runs the harness on the model alone.
- ``MODEL_SCENARIOS`` (default 2000): pure-model scenarios in ``test_model_pure.py``.
"""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripts.deploy import deploy_devnet  # noqa: E402
from support import Env  # noqa: E402

DIFF_SEEDS = int(os.environ.get("DIFF_SEEDS", "3"))
DIFF_STEPS = int(os.environ.get("DIFF_STEPS", "40"))
DIFF_SEED_BASE = int(os.environ.get("DIFF_SEED_BASE", "0"))
CONFIGS = {"dec6-fund0": (6, 0), "dec18-fund500": (18, 500)}


@pytest.fixture(scope="session", autouse=True)
def _fees_above_base_fee():
    """Legacy zero-price transactions need a node without a base fee; dev1..dev4 may have one."""
    from brownie import web3
    from brownie._config import CONFIG

    settings = CONFIG.active_network["settings"]
    base_fee = web3.eth.get_block("latest").get("baseFeePerGas") or 0
    if base_fee and not settings.get("gas_price") and not settings.get("max_fee"):
        settings["max_fee"] = 1000 * 10**9
        settings["priority_fee"] = 1


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def menv(request, signers):
    decimals, seed = CONFIGS[request.param]
    return Env(deploy_devnet(signers[0], decimals=decimals, quiet=True, fund_seed=seed * 10**decimals),
               list(signers))


def pytest_configure(config):
    config.addinivalue_line("markers", "after_module: runs after the other tests of its module (a run's coverage "
                                       "check)")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Moves each ``after_module`` test behind the last other test of its module (pytest groups a module's tests
    by their module-scoped parameters, so the definition order alone does not put it last)."""
    for item in [i for i in items if i.get_closest_marker("after_module")]:
        items.remove(item)
        same = [k for k, i in enumerate(items) if i.module is item.module]
        items.insert(same[-1] + 1 if same else len(items), item)


def pytest_generate_tests(metafunc):
    if "diff_seed" in metafunc.fixturenames:
        seeds = list(range(DIFF_SEED_BASE, DIFF_SEED_BASE + DIFF_SEEDS))
        metafunc.parametrize("diff_seed", seeds, ids=[f"seed{s}" for s in seeds])
