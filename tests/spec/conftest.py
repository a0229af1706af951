"""The SPEC oracle (``oracle.py``) and its comparison with the reference model. Pure Python: no test here uses the
chain (Brownie still starts one for the suite's autouse isolation fixture, which these tests do not need).

Files
-----
- ``oracle.py``: the protocol's risk engine written from ``../shared/SPEC.md`` in exact rationals (``Fraction``):
  position views and states, the fund's refusal rule and high-water mark, the ADL ranking, Type 1, Type 2.
- ``model_bridge.py``: the model's integer state read as the oracle's exact values.
- ``oracle_vs_model.py``: ``Scenario``, seeded random books and price paths on ``perp.model.Model`` with the
  oracle's prediction checked before/after every liquidation and Type 2 call, and every position's views and both
  ADL queues after every action; the rounding bounds it allows are listed at its top.
- ``test_oracle.py``: the oracle alone, on hand-computed numbers.
- ``test_oracle_vs_model.py``: the random comparison (it also counts what it reached, and fails on a zero), the
  README alternatives that explain each documented deviation, and the sensitivity of the comparison.
- ``test_spec_findings.py``: where the model (and the contracts, ``tests/model/test_findings_oracle.py``) disagree with
  the SPEC beyond a rounding: each pinned with exact numbers, with an ``xfail(strict=True)`` property test.

Size: ``ORACLE_SEEDS`` (default 40) seeds per configuration; ``ORACLE_SEED_BASE`` (default 0) the first one; each
scenario is 60 actions. Deep run: ``ORACLE_SEEDS=1000 brownie test tests/spec --network dev3``.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
