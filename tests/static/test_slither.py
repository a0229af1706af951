"""Static analysis gate: Slither on the project's own contracts (mocks, OpenZeppelin and tests excluded) must
report no high or medium finding that docs/slither-triage.md does not list with a written reason.
Runs through the same compiler bridge Brownie uses (see tools/slither_check.py for why not the Brownie
platform). About 30 s."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import slither_check  # noqa: E402


@pytest.fixture(scope="module")
def results():
    if slither_check.slither_executable() is None:
        pytest.skip(f"slither is not installed (pip install {slither_check.SLITHER_PIN}): static analysis skipped")
    return slither_check.run_slither()


def test_slither_ran_on_the_projects_own_contracts(results):
    files = {e["source_mapping"]["filename_relative"] for r in results for e in r["elements"] if "source_mapping" in e}
    assert any(f.startswith("contracts/") for f in files)
    firsts = {r["elements"][0]["source_mapping"]["filename_relative"] for r in results}
    assert not any("node_modules" in f or "mocks" in f or f.startswith("tests") for f in firsts), firsts


def test_every_high_or_medium_finding_is_triaged(results):
    missing = slither_check.untriaged(results, slither_check.parse_triage())
    assert not missing, "Slither findings not triaged in docs/slither-triage.md (add a row with a reason, or fix):\n" + \
        "\n".join(f"  {impact} {check} `{loc}`: {first}" for impact, check, loc, first in missing)


def test_the_triage_file_has_a_reason_for_every_row():
    triage = slither_check.parse_triage()
    assert triage, "docs/slither-triage.md has no triage rows"
    short = [k for k, reason in triage.items() if len(reason.strip()) < 20]
    assert not short, f"rows without a real reason: {short}"


def test_an_unlisted_finding_fails_the_gate():
    fake = {"check": "reentrancy-eth", "impact": "High", "elements": [],
            "description": "Perpetual.withdraw(uint256) (contracts/modules/MarginModule.sol#45-51) sends eth\n"}
    listed = {"check": "unused-return", "impact": "Medium", "elements": [],
              "description": "PerpLens.fundState(uint256) (contracts/PerpLens.sol#125-131) ignores return value\n"}
    missing = slither_check.untriaged([fake, listed], slither_check.parse_triage())
    assert [m[:3] for m in missing] == [("High", "reentrancy-eth", "Perpetual.withdraw(uint256)")]
