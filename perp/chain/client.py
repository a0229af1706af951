"""Typed reads of a deployment: the protocol, its lens and its collateral behind one object, returning the core's
types (``perp.core.Position``, ``perp.core.Fund``, ``perp.core.ProtocolState``) and the lens's views decoded by
their ABI names. Used by the audit, the replay, the keeper, the simulation and the ``perp`` command."""
from __future__ import annotations

from eth_utils import to_checksum_address

from ..core import Fund, MarketIndex, Position, ProtocolState, queue
from ..core.queue import ZERO
from .abi import load_abi
from .rpc import Contract, Rpc, RpcError, block_tag

PAGE = 800  # positions per eth_call: a page stays well inside a 30M-gas call


class PerpClient:
    """``PerpClient(w3_or_rpc, perpetual, lens)``; ``PerpClient.from_manifest(manifest, w3_or_rpc)``.

    ``block`` pins every read to one block (default ``"latest"``)."""

    def __init__(self, w3, perpetual: str, lens: str, collateral: str | None = None, block="latest"):
        self.rpc = w3 if isinstance(w3, Rpc) else Rpc(w3)
        self.block = block
        self.perp = Contract(self.rpc, perpetual, load_abi("Perpetual"))
        self.lens = Contract(self.rpc, lens, load_abi("PerpLens"))
        self._collateral = collateral
        self._token = None
        self._scale = None

    @classmethod
    def from_manifest(cls, manifest, w3) -> "PerpClient":
        return cls(w3, manifest.perpetual, manifest.lens, manifest.collateral)

    def at_block(self, block) -> "PerpClient":
        """The same deployment read at ``block``."""
        c = PerpClient(self.rpc, self.perp.address, self.lens.address, self._collateral, block)
        c._token, c._scale = self._token, self._scale
        return c

    # ------------------------------------------------------------------ basics

    def call(self, contract: Contract, name: str, *args, sender=None):
        return contract.call(name, *args, sender=sender, block=self.block)

    def calls(self, contract: Contract, name: str, arg_list: list) -> list:
        """Many calls of ``name`` in JSON-RPC batches (an entry is an ``RpcError`` when that call reverted)."""
        return self.read_many([(contract, name, args) for args in arg_list])

    def read_many(self, reads: list) -> list:
        """``[(contract, name, args)]`` read in JSON-RPC batches, decoded; an entry is an ``RpcError`` (its custom
        error decoded into the message, as ``call`` raises it) when that call reverted."""
        reqs = [("eth_call", [{"to": c.address, "data": c.data(n, *a)}, block_tag(self.block)]) for c, n, a in reads]
        out = []
        for (c, n, _), r in zip(reads, self.rpc.batch(reqs)):
            if isinstance(r, RpcError):
                out.append(RpcError(f"{n} reverted: {c.decode_error(r.data)}", r.data) if r.data else r)
            else:
                out.append(c.decode_output(n, r))
        return out

    @property
    def token(self) -> Contract:
        """The collateral, through the standard ERC-20 ABI (any token, not only the mock)."""
        if self._token is None:
            address = self._collateral or self.call(self.perp, "collateral")
            self._token = Contract(self.rpc, address, load_abi("ERC20"))
        return self._token

    @property
    def decimals(self) -> int:
        return 18 - len(str(self.scale)) + 1

    @property
    def scale(self) -> int:
        if self._scale is None:
            self._scale = 10 ** (18 - self.call(self.perp, "collateralDecimals"))
        return self._scale

    def market_ids(self) -> list:
        return list(range(1, self.call(self.perp, "marketCount") + 1))

    def market_info(self, market_id: int):
        """(name, oracle, params, paused), params as ``MarketParams`` named tuple."""
        return self.call(self.perp, "marketInfo", market_id)

    def mark_price(self, market_id: int) -> int | None:
        """The mark price (WAD), or None while the oracle is unusable (stale, non-positive)."""
        try:
            return self.call(self.perp, "markPrice", market_id)
        except RpcError:
            return None

    def free_collaterals(self, accounts: list) -> dict:
        """{account (lower case): free collateral} read in batches of 500 through the lens."""
        out = {}
        accounts = list(accounts)
        for i in range(0, len(accounts), 500):
            chunk = [to_checksum_address(a) for a in accounts[i : i + 500]]
            for a, v in zip(chunk, self.call(self.lens, "freeCollaterals", chunk)):
                out[a.lower()] = v
        return out

    def fund(self, market_id: int) -> Fund:
        return _fund(self.call(self.perp, "fundAccount", market_id))

    def market_index(self, market_id: int) -> MarketIndex:
        """The market's index state (``marketIndex``): side indices, open interest, index balance, the fund's
        snapshot, the reference price."""
        return MarketIndex(*self.call(self.perp, "marketIndex", market_id))

    def funding_state(self, market_id: int):
        """``fundingState``: params, rate, target, price, last accrual, and each side's index as of now."""
        return self.call(self.perp, "fundingState", market_id)

    def fund_view(self, market_id: int):
        """The lens's ``FundView`` (cash, size, open_notional, equity, net_notional, high_water_mark, drawdown,
        distressed) at mark."""
        return self.call(self.lens, "fundState", market_id)

    def position(self, market_id: int, account: str) -> Position:
        return _position(self.call(self.perp, "getPosition", market_id, to_checksum_address(account)))

    def position_view(self, market_id: int, account: str):
        """The lens's ``PositionView`` of one position at mark."""
        return self.call(self.lens, "positionInfo", market_id, to_checksum_address(account))

    def queue(self, market_id: int, account: str):
        """The lens's queue indicator: (score, rank, eligible, lights)."""
        return self.call(self.lens, "adlQueue", market_id, to_checksum_address(account))

    # ------------------------------------------------------------------ pages

    def side(self, market_id: int, is_long: bool, page: int = PAGE, first=None) -> list:
        """[(account, Position)] of one side in the queue's storage order (each tier, then the overflow list), read in
        pages (each page continues after the previous page's last account); ``first``: the first page, already
        read."""
        out, after, r = [], ZERO, first
        while True:
            if r is None:
                r = self.call(self.perp, "sidePositions", market_id, is_long, after, page)
            for a, p in zip(r.accounts, r.positions):
                out.append((a.lower(), _position(p)))
            after, r = r.next, None
            if int(after, 16) == 0:
                return out

    def queue_side(self, market_id: int, is_long: bool) -> queue.Side:
        """One side's ADL queue as stored: the bitmap of its lists and each list's head and head key."""
        return self.queue_sides([(market_id, is_long)])[0]

    def queue_sides(self, sides: list, bitmaps: list | None = None) -> list:
        """``queue_side`` of many ``(market_id, is_long)`` in two JSON-RPC batches (one when ``bitmaps``, the
        sides' ``queueSide`` results, are given)."""
        if bitmaps is None:
            bitmaps = self.calls(self.perp, "queueSide", sides)
        out, tiers = [], []
        for (mid, is_long), r in zip(sides, bitmaps):
            if isinstance(r, RpcError):
                raise r
            out.append(queue.Side(bitmap=r.bitmap))
            tiers += [(len(out) - 1, t) for t in range(queue.TIERS + 1) if r.bitmap >> t & 1]  # tiers and overflow
        heads = self.calls(self.perp, "queueTier", [(*sides[i], t) for i, t in tiers])
        for (i, t), head in zip(tiers, heads):
            if isinstance(head, RpcError):
                raise head
            out[i].heads[t] = [head.head.lower(), head.head_key]
        return out

    def position_views(self, market_id: int, page: int = PAGE) -> list:
        """Every open position of a market valued at mark (lens ``PositionView``s), both sides, read in pages."""
        out = []
        for is_long in (True, False):
            after = ZERO
            while True:
                r = self.call(self.lens, "positionsPage", market_id, is_long, after, page)
                out.extend(r.views)
                after = r.next
                if int(after, 16) == 0:
                    break
        return out

    # ------------------------------------------------------------------ the whole state

    def state(self, accounts=()) -> ProtocolState:
        """The protocol state the invariants check: every position (from ``sidePositions``) and each side's ADL
        queue, every fund, the marks, the free collateral of ``accounts`` plus every position holder, and the vault's
        token balance."""
        positions, funds, queues, marks, indices = {}, {}, {}, {}, {}
        mids = self.market_ids()
        sides = [(mid, is_long) for mid in mids for is_long in (True, False)]
        # one batch: each side's first page and queue bitmap, each market's fund, mark and index, the vault balance
        n, k = len(sides), len(mids)
        reads = self.read_many([(self.perp, "sidePositions", (m, s, ZERO, PAGE)) for m, s in sides]
                               + [(self.perp, "queueSide", side) for side in sides]
                               + [(self.perp, name, (m,)) for name in ("fundAccount", "markPrice", "marketIndex")
                                  for m in mids]
                               + [(self.token, "balanceOf", (self.perp.address,))])
        pages, bitmaps = reads[:n], reads[n : 2 * n]
        per_market = [reads[2 * n + j * k : 2 * n + (j + 1) * k] for j in range(3)]
        balance = reads[-1]
        if isinstance(balance, RpcError):
            raise balance
        for (mid, is_long), first in zip(sides, pages):
            if isinstance(first, RpcError):
                raise first
            for a, p in self.side(mid, is_long, first=first):
                positions[(mid, a)] = p
        for key, side in zip(sides, self.queue_sides(sides, bitmaps)):
            queues[key] = side
        for mid, f, mark, index in zip(mids, *per_market):
            for r in (f, index):
                if isinstance(r, RpcError):
                    raise r
            funds[mid] = _fund(f)
            marks[mid] = None if isinstance(mark, RpcError) else mark  # None while the oracle is unusable
            indices[mid] = MarketIndex(*index)
        everyone = {a.lower() for a in accounts} | {a for (_, a) in positions}
        free = self.free_collaterals(sorted(everyone)) if everyone else {}
        return ProtocolState(vault_balance=balance, free=free, positions=positions, funds=funds, queues=queues,
                             marks=marks, scale=self.scale, queue_known=True, indices=indices)


def _fund(f) -> Fund:
    """A decoded ``fundAccount`` struct as the core's Fund."""
    return Fund(f.cash, f.size, f.open_notional, f.high_water_mark, f.high_water_mark_timestamp, f.distressed)


def _position(p) -> Position:
    """A decoded ``Position`` struct as the core's Position (accounts in lower case)."""
    return Position(p.size, p.open_notional, p.margin, p.open_seq, p.tier, p.queued, p.next.lower(), p.key,
                    p.q_down, p.prev.lower(), p.index_snapshot)
