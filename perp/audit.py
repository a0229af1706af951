"""Invariant audit of a deployment, from on-chain state (web3.py only).

Checks, each naming the invariant, the account or market and the numbers when it fails:

- ``conservation``: the vault's token balance equals, to the unit, all free collateral + all position margins
  + every fund's cash - the sum of every position's signed cost basis (fund included). The last term is the
  cash-model form of "unrealized PnL in transit": short proceeds not yet paid out minus long costs not yet
  recovered (see README, Accounting).
- ``balanced_book``: per market, the sum of long sizes equals the sum of short sizes (fund included).
- ``fund_cash``: no fund's cash is negative.
- ``no_bad_debt`` (optional, after a keeper has processed a step): no trader position has equity < 0.
- ``side_lists``: every account the ADL scan sees has a position on that side, and no position is missing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .rpc import Contract, Rpc, RpcError

BUILD = Path(__file__).resolve().parent.parent / "build" / "contracts"


class InvariantViolation(AssertionError):
    """Raised by ``Audit.assert_ok`` with every finding in its message."""


@dataclass(frozen=True)
class Finding:
    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.subject}: {self.detail}"


PAGE = 800  # positions per eth_call: a page stays well inside a 30M-gas call


def all_positions(lens, market_id: int) -> list:
    """Every open position of a market valued at mark (PerpLens.PositionView tuples), read in pages."""
    out = []
    for is_long in (True, False):
        start = 0
        while True:
            views, total = lens.call("positionsPage", market_id, is_long, start, PAGE)
            out.extend(views)
            start += PAGE
            if start >= total:
                break
    return out


def load_abi(name: str) -> list:
    return json.loads((BUILD / f"{name}.json").read_text())["abi"]


@dataclass
class Snapshot:
    """Everything the invariants need, read once. Account keys are lower-case hex (as eth-abi decodes them)."""

    vault_balance: int
    free: dict  # account -> free collateral
    positions: dict  # (market_id, account) -> (size, open_notional, margin, equity)
    funds: dict  # market_id -> (cash, size, open_notional)
    open_interest: dict  # market_id -> (long, short)
    side_lists: dict  # (market_id, is_long) -> [accounts]


@dataclass
class Audit:
    """Reads a deployment through web3 and checks the invariants.

    ``accounts`` is the set of accounts whose free collateral is summed. ``discover_accounts`` fills it from
    the protocol's events (deposits, position updates, keeper rewards), for deployments this tool did not make.
    """

    w3: object
    perp_address: str
    lens_address: str
    accounts: set = field(default_factory=set)

    def __post_init__(self) -> None:
        rpc = Rpc(self.w3)
        self.perp = Contract(rpc, self.perp_address, load_abi("Perpetual"))
        self.lens = Contract(rpc, self.lens_address, load_abi("PerpLens"))
        self.token = Contract(rpc, self.perp.call("collateral"), load_abi("MockStablecoin"))
        self.market_ids = list(range(1, self.perp.call("marketCount") + 1))

    def discover_accounts(self, from_block: int = 0) -> set:
        """Every account that ever held free collateral, from the protocol's logs."""
        logs = self.perp.rpc.request(
            "eth_getLogs", [{"address": self.perp.address, "fromBlock": hex(from_block), "toBlock": "latest"}]
        )
        for log in logs:
            decoded = self.perp.decode_log(log)
            if decoded is None:
                continue
            name, args = decoded
            if name in ("Deposited", "PositionUpdated", "Withdrawn"):
                self.accounts.add(args["account"])
            elif name == "Liquidated":
                self.accounts.add(args["keeper"])
        return self.accounts

    def snapshot(self) -> Snapshot:
        self.market_ids = list(range(1, self.perp.call("marketCount") + 1))  # markets listed since are included
        positions, funds, oi, sides = {}, {}, {}, {}
        for mid in self.market_ids:
            views = self._all_positions(mid)
            for v in views:
                positions[(mid, v[0])] = (v[1], v[2], v[3], v[7])
            for is_long in (True, False):
                sides[(mid, is_long)] = list(self.perp.call("sideAccounts", mid, is_long))
            cash, size, on, *_ = self.perp.call("fundAccount", mid)
            funds[mid] = (cash, size, on)
            oi[mid] = self._open_interest(views, size)
        self.accounts = {a.lower() for a in self.accounts} | {a for (_, a) in positions}
        accounts = sorted(self.accounts)
        free = dict(zip(accounts, self.lens.call("freeCollaterals", accounts))) if accounts else {}
        balance = self.token.call("balanceOf", self.perp_address)
        return Snapshot(balance, free, positions, funds, oi, sides)

    @staticmethod
    def _open_interest(views, fund_size: int) -> tuple:
        """Long and short open interest, fund included, summed from the positions (as PerpLens.openInterest)."""
        longs = sum(v[1] for v in views if v[1] > 0) + max(fund_size, 0)
        shorts = -sum(v[1] for v in views if v[1] < 0) + max(-fund_size, 0)
        return (longs, shorts)

    def _all_positions(self, market_id: int) -> list:
        try:
            return all_positions(self.lens, market_id)
        except RpcError:  # oracle unusable: value without equity from raw storage
            out = []
            for is_long in (True, False):
                for a in self.perp.call("sideAccounts", market_id, is_long):
                    size, on, margin, *_ = self.perp.call("getPosition", market_id, a)
                    out.append((a, size, on, margin, 0, 0, 0, None))
            return out

    def findings(self, snap: Snapshot | None = None, after_keeper: bool = False) -> list[Finding]:
        s = snap or self.snapshot()
        out: list[Finding] = []
        free_total = sum(s.free.values())
        margin_total = sum(p[2] for p in s.positions.values())
        cash_total = sum(f[0] for f in s.funds.values())
        cost_total = sum(p[1] for p in s.positions.values()) + sum(f[2] for f in s.funds.values())
        expected = free_total + margin_total + cash_total - cost_total
        if expected != s.vault_balance:
            out.append(
                Finding(
                    "conservation",
                    "vault",
                    f"token balance {s.vault_balance} != free {free_total} + margins {margin_total} + fund cash "
                    f"{cash_total} - cost basis {cost_total} = {expected} (off by {s.vault_balance - expected})",
                )
            )
        for mid in self.market_ids:
            longs = sum(p[0] for (m, _), p in s.positions.items() if m == mid and p[0] > 0)
            shorts = -sum(p[0] for (m, _), p in s.positions.items() if m == mid and p[0] < 0)
            fsize = s.funds[mid][1]
            longs += max(fsize, 0)
            shorts += max(-fsize, 0)
            if longs != shorts:
                out.append(Finding("balanced_book", f"market {mid}", f"longs {longs} != shorts {shorts}"))
            if s.funds[mid][0] < 0:
                out.append(Finding("fund_cash", f"market {mid} fund", f"cash {s.funds[mid][0]} < 0"))
            for is_long in (True, False):
                listed = s.side_lists[(mid, is_long)]
                held = sorted(a for (m, a), p in s.positions.items() if m == mid and (p[0] > 0) == is_long)
                if sorted(listed) != held or len(set(listed)) != len(listed):
                    out.append(
                        Finding("side_lists", f"market {mid} {'long' if is_long else 'short'}", f"{listed} vs {held}")
                    )
        if after_keeper:
            for (mid, account), p in s.positions.items():
                if p[3] is not None and p[3] < 0:
                    out.append(Finding("no_bad_debt", f"{account} in market {mid}", f"equity {p[3]} < 0"))
        return out

    def assert_ok(self, snap: Snapshot | None = None, after_keeper: bool = False) -> Snapshot:
        s = snap or self.snapshot()
        found = self.findings(s, after_keeper=after_keeper)
        if found:
            raise InvariantViolation("invariant violated:\n  " + "\n  ".join(map(str, found)))
        return s
