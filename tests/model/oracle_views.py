"""The SPEC oracle (tests/spec/oracle.py) against the contracts' own view of every position, ``PerpLens.allPositions``,
during the differential run. The reference model has no position states (only the lens computes them), so this is
where the oracle's states meet the contracts': healthy, reduce-only (equity < IM), margin call, liquidatable,
bankrupt. Allowed: the lens's equity is the exact one rounded down by less than 1 unit (docs/TESTING.md); a state
may differ only when the exact equity is within 2 units of the threshold between the two states (equity rounded
down, IM/MM/margin-call line rounded up); the lens's bankruptcy price is the exact one rounded down, by < 1 wei."""
from __future__ import annotations

import sys
from fractions import Fraction as Q
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "spec"))

import oracle as O  # noqa: E402
from model_bridge import params_of  # noqa: E402

WAD = 10**18
STATES = {1: "healthy", 2: "reduce_only", 3: "margin_call", 4: "liquidatable", 5: "bankrupt"}  # PositionState


class OracleViews:
    def __init__(self, h):
        self.h = h
        self.states = {s: 0 for s in STATES.values()}
        self.borderline = 0
        self.positions = 0

    def check(self, label: str) -> None:
        h, one = self.h, self.h.one
        u = Q(1, one)
        for mid in h.markets:
            try:
                views = h.L.call("allPositions", mid)
            except Exception:  # a stale or unusable oracle price: the lens cannot value anything now
                continue
            mark = Q(h.mark(mid), WAD)
            params = params_of(h.model.markets[mid].params, one)
            for account, size, on, margin, _, _, _, equity, pb, state, seq in views:
                p = O.Position(Q(size, WAD), Q(on, one) / Q(size, WAD), Q(margin, one), seq)
                exact = p.equity(mark)
                where = f"after {label}: {account} in market {mid}"
                if not exact - u < Q(equity, one) <= exact:
                    raise AssertionError(f"{where}: lens equity {equity}, oracle {float(exact / u)} units")
                if not p.bankruptcy_price() - Q(1, WAD) < Q(pb, WAD) <= p.bankruptcy_price():
                    raise AssertionError(f"{where}: lens bankruptcy price {pb}, oracle {float(p.bankruptcy_price())}")
                want, got = O.state(p, mark, params), STATES[state]
                self.positions += 1
                self.states[want] += 1
                if got != want:
                    n = p.notional(mark)
                    lines = [0, n * params.mmr, n * params.mcr, n * params.imr]
                    if not any(abs(exact - line) < 2 * u for line in lines):
                        raise AssertionError(f"{where}: lens state {got}, oracle {want} (equity {float(exact)}, "
                                             f"notional {float(n)})")
                    self.borderline += 1
