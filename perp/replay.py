"""Event replay auditor (SPEC section 7, invariant 8: the state can be rebuilt from the events alone).

``Replay`` reads every log of a deployment with ``eth_getLogs`` (paged by block range, the page halved when a
node refuses a range), rebuilds from the events alone

- every account's free collateral and order epoch,
- every position (size, cost basis, margin, opening sequence number) and its place in the ADL queue (each side's
  tiers, their order and the overflow list: the queue is a deterministic function of the changes the events record,
  so the replay applies ``perp.core.queue`` exactly as the contract does),
- every insurance fund (cash, size, cost basis, high-water mark and its timestamp, distress latch),
- every market (name, oracle, parameters, pause flag) and every order's filled amount,
- the vault's expected token balance (deposits + top-ups - withdrawals),

checks the events against each other while it goes (a deposit's free collateral after is the one before plus
the amount, a fill moves a position by the fill's size, every transaction conserves value and keeps the book
balanced, ADL trigger / side / price / rank order / counterparty equity, the bystander rule), then compares the
rebuilt state with the chain and runs the state audit of ``perp.audit`` (plus invariant 9: every account can
withdraw its free collateral, as an ``eth_call``) on the chain state.

Every problem is a ``perp.audit.Finding`` naming the invariant or the mismatch, the account or market and both
numbers. Findings from the rebuilt-vs-chain comparison start with ``replay.``, findings about the events
themselves with ``events.``, ADL rules with ``adl_``; the state audit keeps its own names (``conservation``,
``balanced_book``, ``fund_cash``, ``adl_queue``, ``no_bad_debt``) and adds ``withdrawable``.

web3.py (as a provider) and eth-abi only, through ``perp.rpc``::

    from perp.replay import Replay
    found = Replay(w3, perp_address, lens_address).run()      # list[Finding]
"""
from __future__ import annotations

from dataclasses import dataclass, field

from eth_utils import to_checksum_address

from .audit import Audit
from .chain.abi import load_abi
from .chain.logs import LOG_PAGE, deployment_block, fetch_logs, group_by_transaction
from .chain.rpc import Contract, Rpc, RpcError
from .core import Fund, MarketIndex
from .core import Position, book_value, notional_down, notional_up, queue
from .invariants import Finding, adl_fill, counterparty_equity

MAX_UINT = 2**256 - 1
SIDE_PAGE = 800  # positions per sidePositions call

__all__ = ["Replay", "Rebuilt", "Pos", "Fund", "MarketRec", "fetch_logs", "deployment_block", "batch_request"]


def batch_request(rpc: Rpc, requests: list) -> list:
    """Results of many JSON-RPC requests (``Rpc.batch``)."""
    return rpc.batch(requests)


# ---------------------------------------------------------------------------------------------------- state


Pos = Position  # a rebuilt position is the core's Position (every stored field, the ADL queue's included)


@dataclass
class MarketRec:
    name: str
    oracle: str
    params: tuple
    paused: bool = False


@dataclass
class Rebuilt:
    """The state rebuilt from the events. Account keys are lower-case hex."""

    free: dict = field(default_factory=dict)
    epoch: dict = field(default_factory=dict)
    positions: dict = field(default_factory=dict)  # (market, account) -> Pos
    queues: dict = field(default_factory=dict)  # (market, is_long) -> perp.core.queue.Side
    funds: dict = field(default_factory=dict)  # market -> Fund
    indices: dict = field(default_factory=dict)  # market -> MarketIndex (open interest: summed when compared)
    markets: dict = field(default_factory=dict)  # market -> MarketRec
    filled: dict = field(default_factory=dict)  # order hash (bytes) -> filled amount
    open_seq: int = 0
    inflow: int = 0  # deposits + top-ups - withdrawals
    touched: set = field(default_factory=set)  # (market, account) that ever held a position
    events: int = 0
    transactions: int = 0
    counts: dict = field(default_factory=dict)  # event name -> how many were replayed

    def value(self) -> int:
        """Free + margins + fund cash - cost bases + index balances: what the vault must hold (README, Conservation)."""
        return book_value(sum(self.free.values()), self.positions.values(), self.funds.values(),
                          [x.index_balance for x in self.indices.values()])


def _a(x) -> str:
    return str(x).lower()


def _sub(market: int, account: str) -> str:
    return f"{account} in market {market}"


def _mismatch(what: str, events, chain) -> str:
    off = f" (off by {chain - events})" if isinstance(events, int) and isinstance(chain, int) and not isinstance(
        events, bool) else ""
    return f"{what}: events say {events}, chain has {chain}{off}"


class Replay:
    """Rebuilds a deployment's state from its events and checks it (see the module docstring)."""

    def __init__(self, w3, perp_address: str, lens_address: str, from_block: int | None = None,
                 to_block: int | None = None, page: int = LOG_PAGE, after_keeper: bool = False,
                 check_withdrawals: bool = True):
        self.w3 = w3
        self.rpc = Rpc(w3)
        self.perp = Contract(self.rpc, perp_address, load_abi("Perpetual"))
        self.lens_address = lens_address
        self.lens = Contract(self.rpc, lens_address, load_abi("PerpLens"))
        self.from_block = from_block
        self.to_block = to_block
        self.page = page
        self.after_keeper = after_keeper
        self.check_withdrawals = check_withdrawals
        self.state = Rebuilt()
        self.findings: list[Finding] = []
        self.scale = 1
        self.pages = 0
        self.logs_read = 0

    # ------------------------------------------------------------------------------------------ entry points

    def run(self) -> list[Finding]:
        """Replays the events, compares with the chain, runs the state audit; returns every finding."""
        self.findings = []
        latest = int(self.rpc.request("eth_blockNumber", []), 16)
        self.to_block = latest if self.to_block is None else self.to_block
        if self.from_block is None:
            self.from_block = deployment_block(self.rpc, self.perp.address, self.to_block)
        self.scale = 10 ** (18 - self._call("collateralDecimals"))
        self.replay()
        self.compare()
        self.audit_chain()
        return self.findings

    def prime(self) -> list[Finding]:
        """Replays the history up to the latest block (no comparison with the chain yet), so that later
        transactions can be fed one by one to ``apply_logs``; returns the findings so far."""
        self.to_block = int(self.rpc.request("eth_blockNumber", []), 16)
        if self.from_block is None:
            self.from_block = deployment_block(self.rpc, self.perp.address, self.to_block)
        self.scale = 10 ** (18 - self._call("collateralDecimals"))
        self.replay()
        return list(self.findings)

    def replay(self) -> Rebuilt:
        """Rebuilds the state from the logs (and checks the events against each other)."""

        def count_page(*_):
            self.pages += 1

        logs = fetch_logs(self.rpc, self.perp.address, self.from_block, self.to_block, self.page, count_page)
        self.apply_logs(logs)
        return self.state

    def apply_logs(self, logs: list) -> list[Finding]:
        """Replays more logs (in chain order, whole transactions); returns the findings they raised. The simulation
        feeds every receipt's logs here, so its per-step ADL and event checks are this auditor's."""
        first = len(self.findings)
        self.logs_read += len(logs)
        for tx_logs in group_by_transaction(logs):
            items = []
            for log in tx_logs:
                decoded = self.perp.decode_log(log)
                if decoded is not None:
                    items.append((log, decoded[0], decoded[1]))
            if items:
                self._apply_tx(items)
        return self.findings[first:]

    # ------------------------------------------------------------------------------------------ replay

    def _report(self, invariant: str, subject: str, detail: str, tx: str | None = None) -> None:
        where = f" (tx {tx}, block {self._block})" if tx else ""
        self.findings.append(Finding(invariant, subject, detail + where))

    def _apply_tx(self, items: list) -> None:
        s = self.state
        txh = items[0][0]["transactionHash"]
        self._tx = txh
        self._block = int(items[0][0]["blockNumber"], 16)
        s.transactions += 1
        # Only what this transaction's events name can change: measure value and books over those before and
        # after (exact, and cheap on long histories).
        accounts, markets = set(), set()
        names = set()
        for _, name, args in items:
            names.add(name)
            for k in ("account", "buyer", "seller", "keeper"):
                if k in args:
                    accounts.add(_a(args[k]))
            if "marketId" in args:
                markets.add(args["marketId"])
        value0, inflow0 = self._value(accounts, markets), s.inflow
        books0 = self._books(accounts, markets)
        risky = bool(names & {"Liquidated", "AdlFill"})
        free0 = {a: s.free.get(a, 0) for a in accounts if not self._holds(a)} if risky else {}
        ctx = {
            "tx": txh,
            "expect": {},  # (market, account) -> expected size after the pending fill
            "fund_expect": {},  # market -> expected fund size at its next FundUpdated
            "cash_expect": {},  # market -> expected fund cash at its next FundUpdated (top-ups)
            "liquidation": None,
            "refused": False,
            "last_adl": None,
            "adl_check": {},  # (market, account) -> mark price, for the Type 1 counterparty-equity check
            "type2_fund": {},  # market -> the fund at the tx start (for the Type 2 price cap)
            "adl_cut": set(),  # (market, account) whose next PositionUpdated follows an ADL fill
        }
        for _, name, args in items:
            s.events += 1
            s.counts[name] = s.counts.get(name, 0) + 1
            handler = getattr(self, f"_on_{name}", None)
            if handler is not None:
                handler(args, ctx)
        for (m, a), size in ctx["expect"].items():
            self._report("events.position", _sub(m, a), f"a fill expected size {size} but no PositionUpdated followed",
                         txh)
        for m, size in ctx["fund_expect"].items():
            self._report("events.fund", f"market {m} fund",
                         f"fills expected fund size {size} but no FundUpdated followed", txh)
        # Every transaction conserves value and keeps every book balanced.
        value1 = self._value(accounts, markets)
        moved = (value1 - value0) - (s.inflow - inflow0)
        if moved:
            self._report("events.conservation", "vault",
                         f"free + margins + fund cash - cost bases moved by {value1 - value0} while collateral in "
                         f"minus out was {s.inflow - inflow0} (off by {moved})", txh)
        books1 = self._books(accounts, markets)
        for m in markets:
            if books1.get(m, 0) != books0.get(m, 0):
                self._report("events.balanced_book", f"market {m}",
                             f"long minus short size moved by {books1.get(m, 0) - books0.get(m, 0)}", txh)
        # Invariant 7: an account with no position does not lose free collateral to a liquidation or ADL.
        for a, before in free0.items():
            if s.free.get(a, 0) < before:
                self._report("bystander", a,
                             f"free collateral {before} -> {s.free.get(a, 0)} in a liquidation/ADL transaction "
                             f"while it held no position", txh)

    def _holds(self, account: str) -> bool:
        return any((m, account) in self.state.positions for m in self.state.markets)

    def _value(self, accounts: set, markets: set) -> int:
        """The conservation sum (perp.core.book_value) over what one transaction can have touched."""
        s = self.state
        positions = [s.positions[(m, a)] for m in markets for a in accounts if (m, a) in s.positions]
        funds = [s.funds[m] for m in markets if m in s.funds]
        balances = [s.indices[m].index_balance for m in markets if m in s.indices]
        return book_value(sum(s.free.get(a, 0) for a in accounts), positions, funds, balances)

    def _books(self, accounts: set, markets: set) -> dict:
        s = self.state
        out = {}
        for m in markets:
            f = s.funds.get(m)
            out[m] = (f.size if f else 0) + sum(s.positions[(m, a)].size for a in accounts if (m, a) in s.positions)
        return out

    # -- markets

    def _on_MarketCreated(self, a, ctx):
        m = a["marketId"]
        self.state.markets[m] = MarketRec(a["name"], _a(a["oracle"]), tuple(a["params"]))
        self.state.funds.setdefault(m, Fund())
        self.state.indices.setdefault(m, MarketIndex())

    def _on_ReferencePriceSet(self, a, ctx):
        self.state.indices.setdefault(a["marketId"], MarketIndex()).reference_price = a["referencePrice"]

    def _index(self, m: int) -> MarketIndex:
        return self.state.indices.setdefault(m, MarketIndex())

    def _on_IndexSettled(self, a, ctx):
        """A position (or the fund: address(0)) settles its side's index: the amount moves between
        its cost basis and the index balance, and its snapshot moves to the side's index."""
        m, acct, amount = a["marketId"], _a(a["account"]), a["amount"]
        x = self._index(m)
        x.index_balance += amount
        if acct == queue.ZERO:  # the market's insurance fund
            f = self.state.funds.setdefault(m, Fund())
            f.open_notional += amount
            x.fund_snapshot = x.side(f.size > 0)
            return
        pos = self.state.positions.get((m, acct))
        if pos is None:
            liq = ctx["liquidation"]
            if liq is not None and liq["marketId"] == m and _a(liq["account"]) == acct:
                return  # the liquidated position settles as it closes (the replay closed it at `Liquidated`)
            self._report("events.index", _sub(m, acct), "index settled for a position the events do not have",
                         ctx["tx"])
            return
        pos.open_notional += amount
        pos.index_snapshot = x.side(pos.size > 0)

    def _on_FundingAccrued(self, a, ctx):
        """Funding moves both side indices by the same step per unit of size (zero-sum): the event carries both."""
        m = a["marketId"]
        x = self._index(m)
        step = a["longIndex"] - x.long_index
        if x.short_index - a["shortIndex"] != step:
            self._report("events.funding", f"market {m}", f"long index moved by {step}, short index by "
                                                          f"{a['shortIndex'] - x.short_index}: not zero-sum",
                         ctx["tx"])
        x.long_index, x.short_index = a["longIndex"], a["shortIndex"]

    def _on_LossSocialized(self, a, ctx):
        """The waterfall's last layer: the paying side's index rises, the loss leaves the index balance for the
        fund's cash (whose FundUpdated follows)."""
        m = a["marketId"]
        x = self._index(m)
        before = x.side(a["longsPay"])
        if a["index"] != before + a["indexDelta"]:
            self._report("events.index", f"market {m}", f"index {before} + {a['indexDelta']} != {a['index']}",
                         ctx["tx"])
        if a["longsPay"]:
            x.long_index = a["index"]
        else:
            x.short_index = a["index"]
        x.index_balance -= a["amount"]
        self.state.funds.setdefault(m, Fund()).cash += a["amount"]

    def _on_MarketParamsUpdated(self, a, ctx):
        if a["marketId"] in self.state.markets:
            self.state.markets[a["marketId"]].params = tuple(a["params"])

    def _on_OracleUpdated(self, a, ctx):
        if a["marketId"] in self.state.markets:
            self.state.markets[a["marketId"]].oracle = _a(a["oracle"])

    def _on_MarketPauseSet(self, a, ctx):
        if a["marketId"] in self.state.markets:
            self.state.markets[a["marketId"]].paused = a["paused"]

    # -- free collateral and epochs

    def _set_free(self, account: str, value: int) -> None:
        self.state.free[account] = value
        self.state.epoch.setdefault(account, 0)

    def _on_Deposited(self, a, ctx):
        acct = _a(a["account"])
        before = self.state.free.get(acct, 0)
        if before + a["amount"] != a["freeCollateral"]:
            self._report("events.free_collateral", acct,
                         f"deposit of {a['amount']} onto {before} reported free collateral {a['freeCollateral']} "
                         f"(expected {before + a['amount']})", ctx["tx"])
        self.state.inflow += a["amount"]
        self._set_free(acct, a["freeCollateral"])

    def _on_Withdrawn(self, a, ctx):
        acct = _a(a["account"])
        before = self.state.free.get(acct, 0)
        if before - a["amount"] != a["freeCollateral"]:
            self._report("events.free_collateral", acct,
                         f"withdrawal of {a['amount']} from {before} reported free collateral {a['freeCollateral']} "
                         f"(expected {before - a['amount']})", ctx["tx"])
        self.state.inflow -= a["amount"]
        self._set_free(acct, a["freeCollateral"])

    def _on_OrderEpochBumped(self, a, ctx):
        acct = _a(a["account"])
        before = self.state.epoch.get(acct, 0)
        if a["newEpoch"] != before + 1:
            self._report("events.order_epoch", acct, f"epoch bumped from {before} to {a['newEpoch']}", ctx["tx"])
        self.state.epoch[acct] = a["newEpoch"]
        self.state.free.setdefault(acct, 0)

    def _on_OrderCancelled(self, a, ctx):
        self.state.filled[bytes(a["orderHash"])] = MAX_UINT
        self.state.epoch.setdefault(_a(a["account"]), 0)
        self.state.free.setdefault(_a(a["account"]), 0)

    # -- positions

    def _on_Trade(self, a, ctx):
        m, size = a["marketId"], a["size"]
        s = self.state
        for acct, delta in ((_a(a["buyer"]), size), (_a(a["seller"]), -size)):
            before = s.positions.get((m, acct), Pos()).size
            ctx["expect"][(m, acct)] = before + delta
        for h in (bytes(a["buyOrderHash"]), bytes(a["sellOrderHash"])):
            s.filled[h] = s.filled.get(h, 0) + size
        paid, received = a["buyerNotional"], a["sellerNotional"]
        if (paid, received) != (notional_up(size, a["price"], self.scale), notional_down(size, a["price"], self.scale)):
            self._report("events.trade", f"market {m}",
                         f"the buyer must pay size x price rounded up and the seller receive it rounded down; the "
                         f"event says {paid} and {received}", ctx["tx"])
        if m in s.funds:
            # the fees and the rounding difference go to fund cash without a FundUpdated
            s.funds[m].cash += a["buyerFee"] + a["sellerFee"] + paid - received
        else:
            self._report("events.market", f"market {m}", "trade in a market never created", ctx["tx"])

    def _on_PositionUpdated(self, a, ctx):
        m, acct = a["marketId"], _a(a["account"])
        s = self.state
        key = (m, acct)
        pos = s.positions.get(key, Pos())
        new_size = a["size"]
        expected = ctx["expect"].pop(key, None)
        if expected is not None and expected != new_size:
            self._report("events.position", _sub(m, acct),
                         f"fill should have left size {expected}, PositionUpdated says {new_size}", ctx["tx"])
        if pos.size != 0 and (new_size == 0 or (pos.size > 0) != (new_size > 0)):
            self._close(m, acct, pos.size > 0)
        if new_size != 0 and (pos.size == 0 or (pos.size > 0) != (new_size > 0)):
            s.open_seq += 1
            pos = Pos(open_seq=s.open_seq)
            s.touched.add(key)
        if new_size == 0:
            s.positions.pop(key, None)
            ctx["adl_cut"].discard(key)
        else:
            pos.size, pos.open_notional, pos.margin = new_size, a["openNotional"], a["margin"]
            # every change of a position settles its side's index first (a new or flipped one starts at it)
            pos.index_snapshot = self._index(m).side(new_size > 0)
            s.positions[key] = pos
            # the queue move the contract made just before this event: a cut by ADL waits in the overflow list,
            # any other change (a fill of a trade, margin added or removed) re-sorts the position in its tier
            side = self._queue(m, new_size > 0)
            if key in ctx["adl_cut"]:
                ctx["adl_cut"].discard(key)
                queue.to_overflow(side, self._book(m), acct)
            else:
                queue.requeue(side, self._book(m), acct, new_size > 0, queue.ZERO, self.scale, self._index(m).ref_shift)
        if new_size == 0 and (a["openNotional"] != 0 or a["margin"] != 0):
            self._report("events.position", _sub(m, acct),
                         f"closed with cost basis {a['openNotional']} and margin {a['margin']} left", ctx["tx"])
        self._set_free(acct, a["freeCollateral"])
        # SPEC 4: a counterparty hit by Type 1 keeps equity >= 0 (at the liquidation's mark price).
        mark = ctx["adl_check"].pop(key, None)
        if mark is not None:
            for rule, detail in counterparty_equity(new_size, a["openNotional"], a["margin"], mark, self.scale):
                self._report(rule, _sub(m, acct), detail, ctx["tx"])

    def _queue(self, m: int, is_long: bool) -> queue.Side:
        return self.state.queues.setdefault((m, is_long), queue.Side())

    def _book(self, m: int):
        return lambda a: self.state.positions.get((m, a))

    def _close(self, m: int, acct: str, is_long: bool) -> None:
        """Out of the ADL queue, as PerpBase._closePosition."""
        pos = self.state.positions.get((m, acct))
        if pos is None or not pos.queued:
            self._report("events.queue", _sub(m, acct), "closing a position that is not in its side's ADL queue",
                         getattr(self, "_tx", None))
            return
        queue.remove_closing(self._queue(m, is_long), self._book(m), acct)

    def _on_PositionRequeued(self, a, ctx):
        m, acct = a["marketId"], _a(a["account"])
        pos = self.state.positions.get((m, acct))
        if pos is None or not pos.queued or pos.tier != queue.OVERFLOW:
            self._report("events.queue", _sub(m, acct), "re-queued a position that was not in the overflow list",
                         ctx["tx"])
            return
        queue.requeue(self._queue(m, pos.size > 0), self._book(m), acct, pos.size > 0, queue.ZERO, self.scale,
                      self._index(m).ref_shift)

    # -- liquidation and ADL

    def _on_Liquidated(self, a, ctx):
        m, acct, keeper = a["marketId"], _a(a["account"]), _a(a["keeper"])
        s = self.state
        pos = s.positions.get((m, acct))
        if pos is None or pos.size != a["size"]:
            self._report("events.position", _sub(m, acct),
                         f"liquidated with size {a['size']}, events had {pos.size if pos else 0}", ctx["tx"])
        if a["keeperReward"]:
            s.free[keeper] = s.free.get(keeper, 0) + a["keeperReward"]
            s.epoch.setdefault(keeper, 0)
            if a["equity"] <= 0:  # a position with no equity: its keeper is paid from the fund's cash
                s.funds.setdefault(m, Fund()).cash -= a["keeperReward"]
            elif pos is not None:
                pos.margin -= a["keeperReward"]
        # The position is closed before any ADL fill (its PositionUpdated comes last): close it now, so that
        # the side lists see the same order of removals as the contract.
        if pos is not None and pos.size:
            self._close(m, acct, pos.size > 0)
            s.positions.pop((m, acct), None)
        ctx["expect"][(m, acct)] = 0
        ctx["liquidation"] = dict(a, marketId=m)
        ctx["refused"] = False
        ctx["last_adl"] = None

    def _on_FundAccepted(self, a, ctx):
        m = a["marketId"]
        f = self.state.funds.setdefault(m, Fund())
        base = ctx["fund_expect"].get(m, f.size)
        ctx["fund_expect"][m] = base + a["size"]

    def _on_FundRefused(self, a, ctx):
        ctx["refused"] = True

    def _on_AdlRemainderToFund(self, a, ctx):
        m = a["marketId"]
        f = self.state.funds.setdefault(m, Fund())
        ctx["fund_expect"][m] = ctx["fund_expect"].get(m, f.size) + a["size"]

    def _on_AdlFill(self, a, ctx):
        m, acct, typ = a["marketId"], _a(a["account"]), a["adlType"]
        s = self.state
        who = f"{acct} in market {m} (type {typ}, rank {a['rank']})"
        pos = s.positions.get((m, acct), Pos())
        delta = a["sizeDelta"]
        ctx["expect"][(m, acct)] = pos.size + delta
        f = s.funds.setdefault(m, Fund())
        if typ == 2:
            ctx["type2_fund"].setdefault(m, Fund(f.cash, f.size, f.open_notional))
        for rule, detail in adl_fill(a, pos.size, ctx["last_adl"], ctx["liquidation"], ctx["refused"],
                                     ctx["type2_fund"].get(m), self.scale):
            self._report(rule, who, detail, ctx["tx"])
        ctx["last_adl"] = a
        ctx["adl_cut"].add((m, acct))
        liq = ctx["liquidation"]
        if typ == 1 and liq is not None and ctx["refused"] and liq["marketId"] == m:
            ctx["adl_check"][(m, acct)] = liq["markPrice"]
        elif typ == 2:
            ctx["fund_expect"][m] = ctx["fund_expect"].get(m, f.size) - delta

    # -- insurance fund

    def _on_FundToppedUp(self, a, ctx):
        m = a["marketId"]
        f = self.state.funds.setdefault(m, Fund())
        self.state.inflow += a["amount"]
        ctx["cash_expect"][m] = ctx["cash_expect"].get(m, f.cash) + a["amount"]

    def _on_FundUpdated(self, a, ctx):
        m = a["marketId"]
        f = self.state.funds.setdefault(m, Fund())
        want_size = ctx["fund_expect"].pop(m, f.size)
        if a["size"] != want_size:
            self._report("events.fund", f"market {m} fund", f"fills should have left size {want_size}, FundUpdated "
                                                             f"says {a['size']}", ctx["tx"])
        want_cash = ctx["cash_expect"].pop(m, None)
        if want_cash is not None and a["cash"] != want_cash:
            self._report("events.fund", f"market {m} fund",
                         f"top-up should have left cash {want_cash}, FundUpdated says {a['cash']}", ctx["tx"])
        if f.size != a["size"] and a["size"] != 0 and (f.size == 0 or (f.size > 0) != (a["size"] > 0)):
            self._index(m).fund_snapshot = self._index(m).side(a["size"] > 0)  # a new or flipped fund position
        f.cash, f.size, f.open_notional = a["cash"], a["size"], a["openNotional"]

    def _on_FundWatermarkUpdated(self, a, ctx):
        f = self.state.funds.setdefault(a["marketId"], Fund())
        f.hwm, f.hwm_ts, f.distressed = a["highWaterMark"], a["highWaterMarkTimestamp"], a["distressed"]

    # ------------------------------------------------------------------------------------------ chain reads

    def _call(self, name: str, *args, contract: Contract | None = None, sender: str | None = None):
        return (contract or self.perp).call(name, *args, sender=sender, block=self.to_block)

    def _calls(self, name: str, arg_list: list, contract: Contract | None = None, senders: list | None = None) -> list:
        return (contract or self.perp).calls(name, arg_list, senders=senders, block=self.to_block)

    # ------------------------------------------------------------------------------------------ compare

    def compare(self) -> None:
        """Compares the rebuilt state with the chain, field by field."""
        s = self.state
        accounts = sorted(set(s.free) | set(s.epoch))
        # free collateral and order epochs
        for i in range(0, len(accounts), 500):
            chunk = accounts[i : i + 500]
            frees = self._call("freeCollaterals", [to_checksum_address(a) for a in chunk], contract=self.lens)
            for acct, chain in zip(chunk, frees):
                if s.free.get(acct, 0) != chain:
                    self.findings.append(Finding("replay.free_collateral", acct,
                                                 _mismatch("free collateral", s.free.get(acct, 0), chain)))
        epochs = self._calls("orderEpoch", [(to_checksum_address(a),) for a in accounts])
        for acct, chain in zip(accounts, epochs):
            if not isinstance(chain, RpcError) and s.epoch.get(acct, 0) != chain:
                self.findings.append(Finding("replay.order_epoch", acct, _mismatch("order epoch", s.epoch.get(acct, 0),
                                                                                   chain)))
        # markets
        count = self._call("marketCount")
        if count != len(s.markets):
            self.findings.append(Finding("replay.market", "markets", _mismatch("market count", len(s.markets), count)))
        for m in range(1, count + 1):
            rec = s.markets.get(m)
            info = self._call("marketInfo", m)
            if rec is None:
                self.findings.append(Finding("replay.market", f"market {m}",
                                             f"listed on chain ({info.name}) but no MarketCreated event was replayed"))
            else:
                for what, ev, ch in (("name", rec.name, info.name), ("oracle", rec.oracle, _a(info.oracle)),
                                     ("parameters", rec.params, tuple(info.params)), ("paused", rec.paused,
                                                                                      info.paused)):
                    if ev != ch:
                        self.findings.append(Finding("replay.market", f"market {m}", _mismatch(what, ev, ch)))
            self._compare_positions(m)
            self._compare_fund(m)
        # filled amounts of every order seen
        hashes = sorted(s.filled)
        got = self._calls("filledAmount", [(h,) for h in hashes])
        for h, chain in zip(hashes, got):
            if not isinstance(chain, RpcError) and chain != s.filled[h]:
                self.findings.append(Finding("replay.filled_amount", "order 0x" + h.hex(),
                                             _mismatch("filled amount", s.filled[h], chain)))
        # the vault: collateral in - out, against the token balance
        token = Contract(self.rpc, self._call("collateral"), load_abi("ERC20"))
        balance = self._call("balanceOf", self.perp.address, contract=token)
        if balance != s.inflow:
            self.findings.append(Finding("replay.vault", "vault",
                                         _mismatch("collateral deposited + topped up - withdrawn", s.inflow, balance)))
        if s.value() != s.inflow:
            self.findings.append(Finding("events.conservation", "vault",
                                         f"rebuilt free + margins + fund cash - cost bases {s.value()} != collateral "
                                         f"in - out {s.inflow} (off by {s.inflow - s.value()})"))

    def _side(self, m: int, is_long: bool) -> list:
        out, after = [], queue.ZERO
        while True:
            r = self._call("sidePositions", m, is_long, after, SIDE_PAGE)
            out.extend((_a(a), p) for a, p in zip(r.accounts, r.positions))
            after = r.next
            if int(after, 16) == 0:
                return out

    def _compare_positions(self, m: int) -> None:
        s = self.state
        on_chain = set()
        for is_long in (True, False):
            side = self._side(m, is_long)
            label = f"market {m} {'long' if is_long else 'short'}"
            rebuilt = self._queue(m, is_long)
            rebuilt_walk = rebuilt.walk(self._book(m))
            chain_list = [a for a, _ in side]
            if chain_list != rebuilt_walk:
                missing = sorted(set(rebuilt_walk) - set(chain_list))
                extra = sorted(set(chain_list) - set(rebuilt_walk))
                detail = (f"events queue {len(rebuilt_walk)} accounts, chain {len(chain_list)}"
                          + (f"; only in events: {missing}" if missing else "")
                          + (f"; only on chain: {extra}" if extra else "")
                          + ("; same accounts, different order" if not missing and not extra else ""))
                self.findings.append(Finding("replay.queue", label, detail))
            chain_side = self._call("queueSide", m, is_long)
            if chain_side.bitmap != rebuilt.bitmap:
                self.findings.append(Finding("replay.queue", label, _mismatch("list bitmap", rebuilt.bitmap,
                                                                              chain_side.bitmap)))
            for acct, p in side:
                on_chain.add(acct)
                self._compare_position(m, acct, p)
        # every account that ever held a position here and is flat now: its slots are cleared
        flat = sorted(a for (mm, a) in s.touched if mm == m and a not in on_chain)
        got = self._calls("getPosition", [(m, to_checksum_address(a)) for a in flat])
        for acct, p in zip(flat, got):
            if not isinstance(p, RpcError):
                self._compare_position(m, acct, p)

    def _compare_position(self, m: int, acct: str, chain) -> None:
        """``chain``: the contract's ``Position`` struct (named tuple); every field, the ADL queue's included."""
        pos = self.state.positions.get((m, acct), Pos())
        fields = [("size", pos.size, chain.size), ("cost basis", pos.open_notional, chain.open_notional),
                  ("margin", pos.margin, chain.margin), ("open sequence", pos.open_seq, chain.open_seq),
                  ("queue tier", pos.tier, chain.tier), ("queued", pos.queued, chain.queued),
                  ("queue key", pos.key, chain.key), ("queue q", pos.q_down, chain.q_down),
                  ("queue next", pos.next, _a(chain.next)), ("queue prev", pos.prev, _a(chain.prev)),
                  ("index snapshot", pos.index_snapshot, chain.index_snapshot)]
        for what, ev, ch in fields:
            if ev != ch:
                self.findings.append(Finding("replay.position", _sub(m, acct), _mismatch(what, ev, ch)))

    def _compare_fund(self, m: int) -> None:
        f = self.state.funds.get(m, Fund())
        c = self._call("fundAccount", m)
        for what, ev, ch in (("cash", f.cash, c.cash), ("size", f.size, c.size),
                             ("cost basis", f.open_notional, c.open_notional),
                             ("high-water mark", f.hwm, c.high_water_mark),
                             ("high-water-mark timestamp", f.hwm_ts, c.high_water_mark_timestamp),
                             ("distressed", f.distressed, c.distressed)):
            if ev != ch:
                self.findings.append(Finding("replay.fund", f"market {m} fund", _mismatch(what, ev, ch)))
        x = self._index(m)
        c = self._call("marketIndex", m)
        longs = sum(p.size for (mm, _), p in self.state.positions.items() if mm == m and p.size > 0) + max(f.size, 0)
        for what, ev, ch in (("long index", x.long_index, c.long_index), ("short index", x.short_index, c.short_index),
                             ("open interest", longs, c.open_interest), ("index balance", x.index_balance,
                                                                        c.index_balance),
                             ("fund index snapshot", x.fund_snapshot, c.fund_index_snapshot),
                             ("reference price", x.reference_price, c.reference_price)):
            if ev != ch:
                self.findings.append(Finding("replay.index", f"market {m}", _mismatch(what, ev, ch)))

    # ------------------------------------------------------------------------------------------ chain audit

    def audit_chain(self) -> None:
        """The state audit of perp.audit on the chain state at ``to_block`` (accounts from the replay), and
        invariant 9."""
        s = self.state
        audit = Audit(self.w3, self.perp.address, self.lens_address, set(s.free) | set(s.epoch), block=self.to_block)
        snap = audit.snapshot()
        self.snapshot = snap
        self.findings.extend(audit.findings(snap, after_keeper=self.after_keeper))
        if not self.check_withdrawals:
            return
        # Invariant 9: every account's free collateral can be withdrawn (simulated with eth_call from it).
        holders = [(a, v) for a, v in sorted(snap.free.items()) if v > 0]
        results = self._calls("withdraw", [(v,) for _, v in holders],
                              senders=[to_checksum_address(a) for a, _ in holders])
        for (acct, amount), r in zip(holders, results):
            if isinstance(r, RpcError):
                self.findings.append(Finding("withdrawable", acct, f"withdraw({amount}) of its free collateral reverts: "
                                                                   f"{self.perp.decode_error(r.data)}"))

    # ------------------------------------------------------------------------------------------ summary

    def summary(self) -> str:
        s = self.state
        return (
            f"replayed {s.events} events in {s.transactions} transactions from blocks {self.from_block}..{self.to_block} "
            f"({self.pages} log pages): {len(set(s.free) | set(s.epoch))} accounts, {len(s.positions)} open positions, "
            f"{len(s.markets)} markets, {len(s.filled)} orders"
        )
