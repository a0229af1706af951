"""Differential test: seeded random action sequences applied to the contracts and to ``perp.model.Model``,
comparing every free collateral, position, fund, filled amount, ADL fill and revert after every step (see
conftest.py for what is compared and how to size the run)."""
import os
import time

import pytest

import perp.model

from driver import Driver
from harness import Harness

# Actions per seed (documented with DIFF_SEEDS in conftest.py; read here because `conftest` is not an importable
# module name once several test folders are collected together).
DIFF_STEPS = int(os.environ.get("DIFF_STEPS", "40"))


def test_random_actions_match_the_model(menv, diff_seed):
    h = Harness(menv)
    d = Driver(h, diff_seed * 7919 + menv.decimals)
    t0 = time.time()
    d.setup()
    for _ in range(DIFF_STEPS):
        d.step()
    h.model.check()
    h.compare("the last action", all_orders=True)
    errs = {}
    for _, e in h.log:
        if e:
            errs[e.split(":")[0]] = errs.get(e.split(":")[0], 0) + 1
    types = {}
    for f in h.adl_fills:
        types[f["adlType"]] = types.get(f["adlType"], 0) + 1
    print(f"\nerrors {errs} adl types {types}")
    if h.negative_cash:
        print(f"\nNEGATIVE FUND CASH seed {diff_seed}: {h.negative_cash[:3]}")
    print(f"\nseed {diff_seed}: {h.steps} actions ({h.reverts} reverted), {len(h.adl_fills)} ADL fills, "
          f"{time.time() - t0:.1f}s, kinds {d.kinds}")


def test_harness_detects_a_wrong_model(menv, monkeypatch):
    """Sensitivity check: with fees rounded down instead of up in the model, the harness reports a mismatch."""
    from harness import Mismatch

    monkeypatch.setattr(perp.model, "bps_up", perp.model.bps_down)
    h = Harness(menv)
    d = Driver(h, 12345)
    with pytest.raises(Mismatch, match="differs|events differ|model"):
        d.setup()
        for _ in range(200):
            d.do_trade()
