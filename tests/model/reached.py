"""What a differential or stateful run reached, and the check that it reached what it exists to reach.

``Coverage.observe`` is called by ``harness.Harness.act`` after every action, with the model's events of that action
(the harness has already asserted that they are the chain's, one for one), the revert (if any), and the distress
latches before and after. A run that ends with a required state at zero fails with the whole table, e.g.::

    coverage of the differential run (6 seeds x 40 actions):
      state                                      count  required
      liquidation accepted by the fund              12  yes
      ...
      Type 2 fill                                    0  yes   <- NOT REACHED
"""
from __future__ import annotations

REFUSAL = {1: "NegativeEquity", 2: "RiskLimit", 3: "Drawdown"}  # interfaces/IPerpetualTypes.sol RefusalReason

# (key, description), in the order of the table
STATES = (
    ("accepted", "liquidation accepted by the fund"),
    ("refused_NegativeEquity", "liquidation refused: NegativeEquity"),
    ("refused_RiskLimit", "liquidation refused: RiskLimit"),
    ("refused_Drawdown", "liquidation refused: Drawdown"),
    ("bankrupt_liquidated", "bankrupt position liquidated (equity < 0)"),
    ("type1_fill", "Type 1 fill"),
    ("type1_remainder", "Type 1 best-effort remainder to the fund"),
    ("type2_fill", "Type 2 fill"),
    ("type2_InsufficientAdlCapacity", "Type 2 revert: InsufficientAdlCapacity"),
    ("type2_FundNotDistressed", "Type 2 revert: FundNotDistressed"),
    ("type2_FundFlat", "Type 2 revert: FundFlat"),
    ("latch_set", "drawdown latch set"),
    ("latch_cleared", "drawdown latch cleared"),
    ("partial_fill", "partial fill (order left with a remainder)"),
    ("funding_accrued", "funding accrued into the side indices"),
    ("index_settled", "a position settled a nonzero index payment"),
)
ALL = tuple(k for k, _ in STATES)


class NotReached(AssertionError):
    pass


class Coverage:
    def __init__(self):
        self.counts = {k: 0 for k in ALL}
        self.actions = 0

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    def merge(self, other: "Coverage") -> "Coverage":
        for k, n in other.counts.items():
            self.counts[k] += n
        self.actions += other.actions
        return self

    def observe(self, label: str, events, err, latches_before: dict, latches_after: dict, partial_fills: int = 0):
        """One action: ``events`` as ``perp.model.Model.events`` (name, dict) pairs, ``err`` its revert string."""
        self.actions += 1
        if err:
            name = err.split(":")[0]
            if label.startswith("deleverageFund") and "type2_" + name in self.counts:
                self.add("type2_" + name)
            return
        for name, d in events:
            if name == "FundAccepted":
                self.add("accepted")
            elif name == "FundRefused":
                self.add("refused_" + REFUSAL[d["reason"]])
            elif name == "Liquidated" and d["equity"] < 0:
                self.add("bankrupt_liquidated")
            elif name == "AdlFill":
                self.add("type1_fill" if d["adlType"] == 1 else "type2_fill")
            elif name == "AdlRemainderToFund":
                self.add("type1_remainder")
            elif name == "FundingAccrued":
                self.add("funding_accrued")
            elif name == "IndexSettled" and d["amount"] != 0:
                self.add("index_settled")
        for mid, was in latches_before.items():
            now = latches_after[mid]
            if now and not was:
                self.add("latch_set")
            elif was and not now:
                self.add("latch_cleared")
        self.add("partial_fill", partial_fills)

    def table(self, title: str, required=ALL) -> str:
        lines = [f"coverage of {title} ({self.actions} actions):",
                 f"  {'state':<46}{'count':>7}  required"]
        for k, desc in STATES:
            need = k in required
            mark = "   <- NOT REACHED" if need and not self.counts[k] else ""
            lines.append(f"  {desc:<46}{self.counts[k]:>7}  {'yes' if need else 'no'}{mark}")
        return "\n".join(lines)

    def missing(self, required=ALL) -> list:
        return [k for k in required if not self.counts[k]]

    def assert_reached(self, title: str, required=ALL) -> None:
        """Prints the table; fails naming every required state that was reached zero times."""
        table = self.table(title, required)
        print("\n" + table)
        gone = self.missing(required)
        if gone:
            raise NotReached(f"{title} never reached: {', '.join(gone)}\n{table}")
