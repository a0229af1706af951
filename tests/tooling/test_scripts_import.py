"""Every Brownie script imports: a script that no test runs (the benchmarks) must not be left behind by a change to
the library it imports (scripts/bench_sim.py once imported a `deploy_for` that had moved to perp.sim)."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

SCRIPTS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "scripts").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_imports(name):
    module = importlib.import_module(f"scripts.{name}")
    assert module.__name__ == f"scripts.{name}"
