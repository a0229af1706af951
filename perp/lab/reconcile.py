"""The ADL figures of a run, defined once and reconciled to the unit: a pure function of the run's events.

``ledger(events, scale, type2_mark)`` reads the events of a run in order (``{"event", "args", "step", ...}`` as a
``perp.sim.RunRecord`` holds them; the reference model's ``(name, args)`` pairs work too) and returns a ``Ledger``:

- every liquidation's **shortfall** ``S = max(0, -E)``, ``E`` its equity at the ``Liquidated`` event's mark; the
  run's **bad debt** is their sum, split three ways: the shortfall of positions the fund **accepted** (the fund took
  it), the part of refused positions **covered by Type 1** (``covered = floor(S * filled / |size|)`` per event, once,
  ``filled`` the size its ADL fills took) and the part **left to the fund** with the remainder (``S - covered``);
- every ADL fill's **haircut** ``h`` = the PnL the account would have realized at mark minus the PnL it realized at
  the fill price (a seller: ``notional_down(q, mark) - notional``, a buyer: ``notional - notional_up(q, mark)``;
  mark: the liquidation's for Type 1, the step's for Type 2). ``h > 0`` is a **haircut**, ``h < 0`` a **windfall**
  (a refused position that was still solvent, closed at its bankruptcy price, hands its remaining equity to its
  counterparties). Haircuts and windfalls are kept apart, never netted, per event and per account;
- per Type 1 event of a refused position that was still solvent: its **surplus** ``max(0, E - keeperReward)`` (the
  equity left after the keeper's reward) and the part of it **handed** to the counterparties with the filled size,
  ``handed = floor(surplus * filled / |size|)`` when it was closed at its bankruptcy price (the windfalls pay it
  out); the protocol closes such a position at mark and gives the surplus to the fund, so then ``handed = 0``;
- per Type 1 event: ``excess = haircuts - windfalls - (covered - handed)``, ``overshoot = max(0, excess)`` (the
  counterparties paid more than the shortfall they covered, or received less than the surplus handed over) and
  ``undershoot = max(0, -excess)``, so ``haircuts - windfalls = covered - handed + overshoot - undershoot`` exactly.
  At the bankruptcy price they are rounding only: at most one unit per fill plus two (``Ledger.checks`` asserts it).

``Ledger.checks()`` lists every identity that fails (empty when the figures reconcile): bad debt = accepted + covered
+ left to the fund; per event, filled + remainder (``AdlRemainderToFund``) = the refused size, covered + left = S,
the excess identity and its rounding bound; the per-account totals of haircuts and of windfalls, by type, equal
the per-event totals.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core import fill_notional


def fill_haircut(size_delta: int, notional: int, mark: int, scale: int) -> int:
    """PnL at mark minus PnL realized at the fill (``size_delta < 0``: the account sold)."""
    selling = size_delta < 0
    at_mark = fill_notional(abs(size_delta), mark, scale, seller=selling)
    return (at_mark - notional) if selling else (notional - at_mark)


@dataclass
class Type1Event:
    """One refused liquidation and its Type 1 fills."""

    market_id: int
    account: str  # the liquidated account
    step: object
    size: int  # its signed size
    equity: int  # at mark, before the liquidation
    mark: int
    reward: int = 0  # the keeper's reward, taken from the margin before the bankruptcy price is set
    shortfall: int = 0  # max(0, -equity)
    surplus: int = 0  # max(0, equity - reward)
    handed: int = 0  # floor(surplus * filled / |size|)
    filled: int = 0  # sum of |sizeDelta| of its fills
    remainder: int = 0  # |size| of its AdlRemainderToFund, 0 if none
    covered: int = 0
    left_to_fund: int = 0
    haircuts: int = 0  # sum of the positive fill haircuts
    windfalls: int = 0  # sum of the negative fill haircuts, as a positive number
    overshoot: int = 0
    undershoot: int = 0
    fills: list = field(default_factory=list)  # (account, sizeDelta, notional, haircut)
    at_mark: bool = False  # filled at the liquidation's mark (a refused position that still had equity)

    def close(self) -> None:
        abs_size = abs(self.size)
        self.shortfall = max(0, -self.equity)
        self.covered = self.shortfall * self.filled // abs_size if abs_size else 0
        self.left_to_fund = self.shortfall - self.covered
        self.surplus = max(0, self.equity - self.reward)
        # at mark (the protocol's rule for a position that still has equity) the surplus goes to the fund's cash
        self.handed = 0 if self.at_mark or not abs_size else self.surplus * self.filled // abs_size
        excess = self.haircuts - self.windfalls - (self.covered - self.handed)
        self.overshoot = max(0, excess)
        self.undershoot = max(0, -excess)


@dataclass
class AccountCuts:
    market_id: int
    type1_haircut: int = 0
    type1_windfall: int = 0
    type2_haircut: int = 0
    type2_windfall: int = 0

    @property
    def net(self) -> int:
        """Every haircut minus every windfall, both types (the report's per-account ``haircut``)."""
        return self.type1_haircut - self.type1_windfall + self.type2_haircut - self.type2_windfall


@dataclass
class Ledger:
    liquidations: int = 0
    bad_debt: int = 0
    bad_debt_fund_accepted: int = 0
    type1: list = field(default_factory=list)  # Type1Event
    type2_haircuts: int = 0
    type2_windfalls: int = 0
    type2_fills: int = 0
    accounts: dict = field(default_factory=dict)  # account -> AccountCuts
    problems: list = field(default_factory=list)  # events out of their expected order

    def total(self, name: str) -> int:
        return sum(getattr(e, name) for e in self.type1)

    def checks(self) -> list:
        """Every identity that does not hold, as a sentence naming the numbers (empty: reconciled to the unit)."""
        out = list(self.problems)
        covered, left = self.total("covered"), self.total("left_to_fund")
        if self.bad_debt != self.bad_debt_fund_accepted + covered + left:
            out.append(f"bad debt {self.bad_debt} != accepted {self.bad_debt_fund_accepted} + covered by Type 1 "
                       f"{covered} + left to the fund {left}")
        for e in self.type1:
            where = f"Type 1 of {e.account} (market {e.market_id}, step {e.step})"
            if e.filled + e.remainder != abs(e.size):
                out.append(f"{where}: filled {e.filled} + remainder {e.remainder} != size {abs(e.size)}")
            if e.covered + e.left_to_fund != e.shortfall:
                out.append(f"{where}: covered {e.covered} + left {e.left_to_fund} != shortfall {e.shortfall}")
            if e.haircuts - e.windfalls != e.covered - e.handed + e.overshoot - e.undershoot:
                out.append(f"{where}: haircuts {e.haircuts} - windfalls {e.windfalls} != covered {e.covered} - "
                           f"handed {e.handed} + overshoot {e.overshoot} - undershoot {e.undershoot}")
            if max(e.overshoot, e.undershoot) > len(e.fills) + 2:
                out.append(f"{where}: overshoot {e.overshoot} / undershoot {e.undershoot} beyond rounding "
                           f"({len(e.fills)} fills)")
        for name, per_event in (("type1_haircut", self.total("haircuts")), ("type1_windfall", self.total("windfalls")),
                                ("type2_haircut", self.type2_haircuts), ("type2_windfall", self.type2_windfalls)):
            per_account = sum(getattr(a, name) for a in self.accounts.values())
            if per_account != per_event:
                out.append(f"per-account {name} {per_account} != per-event {per_event}")
        return out


def _name_args(e):
    if isinstance(e, dict):
        return e["event"], e["args"], e.get("step")
    return e[0], e[1], None


def ledger(events, scale: int, type2_mark=None) -> Ledger:
    """The ``Ledger`` of ``events`` (a run's, in order). ``type2_mark(step, market_id) -> WAD`` prices Type 2 fills
    at mark (required only if there are any)."""
    led = Ledger()
    liq = None  # the last Liquidated event's args
    current = None  # the open Type1Event
    for raw in events:
        name, a, step = _name_args(raw)
        if name == "Liquidated":
            led.liquidations += 1
            liq = a
            current = None
            led.bad_debt += max(0, -a["equity"])
        elif name == "FundAccepted":
            if liq is None or liq["account"] != a["account"]:
                led.problems.append(f"FundAccepted for {a['account']} without its Liquidated event")
                continue
            led.bad_debt_fund_accepted += max(0, -liq["equity"])
        elif name == "FundRefused":
            if liq is None or liq["account"] != a["account"]:
                led.problems.append(f"FundRefused for {a['account']} without its Liquidated event")
                continue
            current = Type1Event(a["marketId"], a["account"], step, liq["size"], liq["equity"], liq["markPrice"],
                                 liq.get("keeperReward", 0))
            led.type1.append(current)
        elif name == "AdlRemainderToFund" and current is not None and a["account"] == current.account:
            current.remainder = abs(a["size"])
        elif name == "AdlFill":
            acct = led.accounts.setdefault(a["account"], AccountCuts(a["marketId"]))
            if a["adlType"] == 1:
                if current is None or current.market_id != a["marketId"]:
                    led.problems.append(f"Type 1 fill of {a['account']} outside a refused liquidation")
                    continue
                h = fill_haircut(a["sizeDelta"], a["notional"], current.mark, scale)
                current.at_mark = current.equity > 0 and a["price"] == current.mark
                current.fills.append((a["account"], a["sizeDelta"], a["notional"], h))
                current.filled += abs(a["sizeDelta"])
                if h >= 0:
                    current.haircuts += h
                    acct.type1_haircut += h
                else:
                    current.windfalls -= h
                    acct.type1_windfall -= h
            else:
                h = fill_haircut(a["sizeDelta"], a["notional"], type2_mark(step, a["marketId"]), scale)
                led.type2_fills += 1
                if h >= 0:
                    led.type2_haircuts += h
                    acct.type2_haircut += h
                else:
                    led.type2_windfalls -= h
                    acct.type2_windfall -= h
    for e in led.type1:
        e.close()
    return led
