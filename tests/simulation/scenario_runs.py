"""Each shipped scenario's chain run in the reduced size of the simulation tests, run once per session and shared:
test_scenarios.py checks its outcome, test_backends.py compares it with the reference model. The chain state a
test may want from the run (each market's ``fundState`` at its end) is read right after it, because every test's
chain changes are reverted when the test ends (tests/conftest.py ``isolation``)."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from scripts.simulate import run

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
TRADERS = 60


@dataclass(frozen=True)
class ChainRun:
    report: dict
    sim: object  # perp.sim.Simulation, its deployment reverted away once the test that ran it ended
    funds: dict  # market name -> the lens's fundState tuple at the end of the run


_RUNS: dict[Path, ChainRun] = {}


def chain_run(path: Path) -> ChainRun:
    """The chain run of scenario ``path`` with ``TRADERS`` traders (run now if this session has not run it yet)."""
    path = Path(path).resolve()
    if path not in _RUNS:
        report, sim = run(str(path), out_dir=tempfile.mkdtemp(prefix="scenario-run-"), plots=False, quiet=True,
                          traders=TRADERS)
        funds = {name: tuple(sim.lens.call("fundState", mid)) for name, mid in sim.dep.market_ids.items()}
        _RUNS[path] = ChainRun(report, sim, funds)
    return _RUNS[path]
