"""The Python mirrors of the ADL queue and engine use the contracts' constants: a mismatch (for example tiers per
octave changed on one side only) would make the model, the replay and the audit disagree with the chain about where a
position sits, long before a differential run happened to show it."""
import re
from pathlib import Path

import pytest

from perp.core import queue
from perp.model import adl

ROOT = Path(__file__).resolve().parents[2]


def _solidity_constants(path: str) -> dict:
    text = (ROOT / path).read_text()
    found = {}
    for name, expr in re.findall(r"uint256 (?:internal|public) constant (\w+) = ([^;]+);", text):
        found[name] = eval(expr, {}, dict(found))  # only integer literals and earlier constants appear
    return found


QUEUE = _solidity_constants("contracts/libraries/AdlQueue.sol")
ENGINE = _solidity_constants("contracts/modules/AdlModule.sol")


@pytest.mark.parametrize("name", ["STEP_BITS", "STEPS", "OCTAVES", "Q_BITS", "TOP_TIER", "TIERS", "OVERFLOW",
                                  "MAX_WALK", "KEY_SHIFT", "Q_DOWN_BITS"])
def test_queue_constant_matches_the_library(name):
    assert getattr(queue, name) == QUEUE[name], f"perp.core.queue.{name} != AdlQueue.{name}"


@pytest.mark.parametrize("name", ["MAX_EXAMINED", "MAX_FILLS"])
def test_engine_constant_matches_the_module(name):
    assert getattr(adl, name) == ENGINE[name], f"perp.model.adl.{name} != AdlModule.{name}"
