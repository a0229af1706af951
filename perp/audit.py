"""State audit of a deployment, from on-chain state (web3.py only): reads the typed protocol state through
``perp.chain.PerpClient`` and runs the invariants of ``perp.invariants`` over it (conservation to the unit,
balanced book, no negative fund cash, side lists with their indexes, position shape, and after a keeper's pass
no bad debt). Works on any deployment, including one this tool did not make (``discover_accounts`` finds every
account from the protocol's logs).

    from perp.audit import Audit
    audit = Audit(w3, perp_address, lens_address)
    audit.discover_accounts()
    for finding in audit.findings():
        print(finding)            # [conservation] vault: token balance ... (off by -7)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .chain.abi import build_dir, load_abi  # noqa: F401  (re-exported: perp.audit.load_abi)
from .chain.client import PAGE, PerpClient
from .chain.logs import fetch_logs
from .core import ProtocolState
from .core.queue import ZERO
from .invariants import Finding, InvariantViolation, check_state

Snapshot = ProtocolState  # the state the audit reads (perp.core.ProtocolState)
BUILD = build_dir()

__all__ = ["Audit", "Finding", "InvariantViolation", "Snapshot", "all_positions", "load_abi"]


def all_positions(lens, market_id: int, page: int = PAGE) -> list:
    """Every open position of a market valued at mark (``PerpLens.PositionView`` named tuples), read in pages."""
    out = []
    for is_long in (True, False):
        after = ZERO
        while True:
            r = lens.call("positionsPage", market_id, is_long, after, page)
            out.extend(r.views)
            after = r.next
            if int(after, 16) == 0:
                break
    return out


@dataclass
class Audit:
    """Reads a deployment through web3 and checks the state invariants.

    ``accounts`` is the set of accounts whose free collateral is summed (position holders are always included);
    ``discover_accounts`` fills it from the protocol's events, for deployments this tool did not make. ``block``
    pins every read to one block."""

    w3: object
    perp_address: str
    lens_address: str
    accounts: set = field(default_factory=set)
    block: object = "latest"

    def __post_init__(self) -> None:
        self.client = PerpClient(self.w3, self.perp_address, self.lens_address, block=self.block)
        self.perp = self.client.perp
        self.lens = self.client.lens
        self.market_ids = self.client.market_ids()

    @property
    def token(self):
        return self.client.token

    def discover_accounts(self, from_block: int = 0) -> set:
        """Every account that ever held free collateral, from the protocol's logs (read in pages)."""
        to_block = self.client.rpc.block_number() if self.block == "latest" else int(self.block)
        for log in fetch_logs(self.client.rpc, self.perp.address, from_block, to_block):
            decoded = self.perp.decode_log(log)
            if decoded is None:
                continue
            name, args = decoded
            if name in ("Deposited", "PositionUpdated", "Withdrawn"):
                self.accounts.add(args["account"])
            elif name == "Liquidated":
                self.accounts.add(args["keeper"])
        return self.accounts

    def snapshot(self) -> ProtocolState:
        """The typed state (markets listed since the last read are included)."""
        self.market_ids = self.client.market_ids()
        state = self.client.state(self.accounts)
        self.accounts = {a.lower() for a in self.accounts} | set(state.free)
        return state

    def findings(self, snap: ProtocolState | None = None, after_keeper: bool = False, exempt=frozenset()) -> list:
        return check_state(snap or self.snapshot(), after_keeper=after_keeper, exempt=exempt)

    def assert_ok(self, snap: ProtocolState | None = None, after_keeper: bool = False) -> ProtocolState:
        s = snap or self.snapshot()
        found = self.findings(s, after_keeper=after_keeper)
        if found:
            raise InvariantViolation(found)
        return s
