"""Differential test: seeded random action sequences applied to the contracts and to ``perp.model.Model``,
comparing every free collateral, position, fund, filled amount, ADL fill and revert after every step (see
conftest.py for what is compared and how to size the run).

The run proves what it reached: every seed's harness counts the states of ``coverage.STATES`` (liquidations
accepted and refused by reason, bankrupt liquidations, Type 1 fills and remainders, Type 2 fills and each of its
reverts, the drawdown latch set and cleared, partial fills), and ``test_differential_run_reached_every_state``, which
runs after the last seed, fails with the coverage table when one of them was reached zero times. After every
step the SPEC oracle values every position and names its state, against ``PerpLens.allPositions``
(``oracle_views.py``); the run must have compared positions in each of the five states."""
import os
import time

import pytest

import perp.model

from driver import Driver
from harness import Harness
from oracle_views import OracleViews
from reached import Coverage

# Actions per seed (documented with DIFF_SEEDS in conftest.py; read here because `conftest` is not an importable
# module name once several test folders are collected together).
DIFF_STEPS = int(os.environ.get("DIFF_STEPS", "40"))
DIFF_SEEDS = int(os.environ.get("DIFF_SEEDS", "3"))
DIFF_SEED_BASE = int(os.environ.get("DIFF_SEED_BASE", "0"))
RUN = {"coverage": Coverage(), "ran": set(), "fills": {1: 0, 2: 0}, "seconds": 0.0, "states": {}, "views": 0,
       "borderline": 0}


def test_random_actions_match_the_model(menv, diff_seed):
    h = Harness(menv)
    d = Driver(h, diff_seed * 7919 + menv.decimals)
    print(f"\nseed {diff_seed} (deployment with {menv.decimals}-decimal collateral; replay with "
          f"DIFF_SEED_BASE={diff_seed} DIFF_SEEDS=1)")
    t0 = time.time()
    d.setup()
    views = OracleViews(h)  # the SPEC oracle's valuation and state of every position against PerpLens's
    for i in range(DIFF_STEPS):
        d.step()
        views.check(f"step {i + 1}")
    h.model.check()
    h.compare("the last action", all_orders=True)
    errs = {}
    for _, e in h.log:
        if e:
            errs[e.split(":")[0]] = errs.get(e.split(":")[0], 0) + 1
    types = {}
    for f in h.adl_fills:
        types[f["adlType"]] = types.get(f["adlType"], 0) + 1
        RUN["fills"][f["adlType"]] += 1
    RUN["coverage"].merge(h.coverage)
    RUN["ran"].add((menv.decimals, diff_seed))
    RUN["seconds"] += time.time() - t0
    for k, n in views.states.items():
        RUN["states"][k] = RUN["states"].get(k, 0) + n
    RUN["views"] += views.positions
    RUN["borderline"] += views.borderline
    print(f"errors {errs} adl types {types}")
    if h.negative_cash:
        print(f"NEGATIVE FUND CASH seed {diff_seed}: {h.negative_cash[:3]}")
    print(f"seed {diff_seed}: {h.steps} actions ({h.reverts} reverted), {len(h.adl_fills)} ADL fills, "
          f"{time.time() - t0:.1f}s, kinds {d.kinds}")


@pytest.mark.after_module
def test_differential_run_reached_every_state():
    """Runs after every seed of both deployments (tests/model/conftest.py moves it there); a partial run (one
    seed replayed, ``-k``) is not the run this check is about, so it skips and says why."""
    want = {(d, s) for d in (6, 18) for s in range(DIFF_SEED_BASE, DIFF_SEED_BASE + DIFF_SEEDS)}
    if RUN["ran"] != want:
        pytest.skip(f"coverage is checked on the whole run: {len(RUN['ran'])} of {len(want)} seeds ran")
    cov = RUN["coverage"]
    print(f"\ndifferential run: {cov.actions} actions, ADL fills {RUN['fills'][1]} Type 1 and {RUN['fills'][2]} "
          f"Type 2, {RUN['seconds']:.0f}s in the seeds")
    print(f"oracle vs PerpLens: {RUN['views']} position views, states {RUN['states']}, {RUN['borderline']} within "
          f"rounding of a state line")
    cov.assert_reached(f"the differential run ({DIFF_SEEDS} seeds x {DIFF_STEPS} actions x 2 deployments)")
    assert all(RUN["states"].values()), f"the oracle compared no position in some state: {RUN['states']}"


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
