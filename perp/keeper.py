"""The keeper: finds liquidatable positions through the lens (in pages), liquidates them in batches that fit the
block, pokes the fund's high-water mark, and calls Type 2 ADL when the fund is in distress. One implementation for
the crash simulation (which drives it step by step, with a latency) and for live deployments (``Keeper.run``
follows new blocks for any manifest and RPC: ``perp keeper deployments/x.json --rpc URL``).

    from perp.chain import PerpClient, Rpc, Sender
    from perp.keeper import Keeper

    rpc = Rpc.http("http://127.0.0.1:8545")
    keeper = Keeper(PerpClient(rpc, manifest.perpetual, manifest.lens), Sender(rpc, private_key=KEY))
    keeper.run()                    # until interrupted; keeper.counters holds what it did

Robustness of ``run``: an RPC error (node down, restarting, timing out) is logged and retried with exponential
backoff; after any error the sender re-reads its nonce from the node, so a nonce is never used twice; a node that
comes back (restarted with its state, or a new chain where the contract is missing) is picked up where it is. A
transaction sent just before the node went away (accepted, receipt not read, or sent without an answer) is looked
up when the node answers again (by its hash, or by the keeper's nonce): mined, it is counted and logged then, like
any other; gone with the node, it is logged as lost. A transaction that was mined and reverted (another keeper or
a price update got in between the keeper's check and its transaction) is logged as an error naming its
transaction and reason, and the keeper goes on. Every action is one log line, and every transaction that used a
nonce is named in exactly one line (``tx=0x...``); ``counters`` counts blocks, liquidations, transactions, pokes,
Type 2 calls, reverted transactions and errors.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .chain.client import PerpClient
from .chain.rpc import RpcError
from .chain.tx import Sender, TxError, TxUnconfirmed, revert_reason, transaction_at, wait_for_receipt
from .core import PositionState

COUNTERS = ("blocks", "scans", "liquidated", "liquidation_txs", "batch_splits", "pokes", "type2_calls",
            "type2_refused", "reverted", "errors", "retries")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Keeper:
    """``client``: the deployment; ``sender``: the keeper's account. ``batch_size`` accounts per liquidateBatch
    (halved while a batch would not fit ``max_gas``, default 95% of the block gas limit); ``type2``: call
    ``deleverageFund`` when the fund is in distress; ``gas``: a fixed gas limit per transaction (None: estimate);
    ``on_receipt(receipt, label)``: called for every mined transaction; ``log``: one line per action."""

    client: PerpClient
    sender: Sender
    batch_size: int = 100
    type2: bool = True
    max_gas: int | None = None
    gas: int | None = None
    markets: list | None = None
    on_receipt: object = None
    log: object = print
    counters: dict = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    _marks: dict = field(default_factory=dict)
    _unconfirmed: list = field(default_factory=list)  # (tx hash, nonce, label, then) sent, receipt not read yet

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")

    # ------------------------------------------------------------------ one market

    def _say(self, message: str) -> None:
        if self.log:
            self.log(f"{_now()} keeper {message}")

    def _block_gas(self) -> int:
        if self.max_gas is None:
            limit = int(self.client.rpc.request("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16)
            self.max_gas = limit * 95 // 100
        return self.max_gas

    def _send(self, fn: str, *args, label: str, then):
        """Sends ``fn(*args)`` and returns ``then(receipt)`` (which counts and logs the action). When the node goes
        away before the receipt is read, the transaction is kept and ``then`` runs when its receipt is found
        (``settle_unconfirmed``): every mined transaction is counted and logged exactly once. One that was mined
        and reverted raises ``TxError`` after its line (``_reverted``)."""
        try:
            receipt = self.sender.transact(self.client.perp, fn, *args, gas=self.gas)
        except TxUnconfirmed as exc:
            self._unconfirmed.append((exc.tx_hash, exc.nonce, label, then))
            raise
        except TxError as exc:
            if exc.receipt is not None:
                self._reverted(label, f"reverted: {exc.reason}", exc.tx_hash)
            raise
        return self._mined(receipt, label, then)

    def _reverted(self, label: str, reason: str, tx_hash: str) -> None:
        self.counters["reverted"] += 1
        self.counters["errors"] += 1
        self._say(f"error {label} {reason} tx={tx_hash}")

    def _mined(self, receipt: dict, label: str, then):
        if self.on_receipt:
            self.on_receipt(receipt, label)
        return then(receipt)

    def settle_unconfirmed(self) -> None:
        """The transactions sent before the node went away, in order: a mined one is counted and logged now (as if
        its receipt had come at once), a reverted one is logged as an error, one the node no longer knows (it came
        back without it) is logged as lost; one still pending is awaited."""
        rpc = self.client.rpc
        while self._unconfirmed:
            tx_hash, nonce, label, then = self._unconfirmed[0]
            if tx_hash is None:  # sent without an answer from an unlocked account: the node names it, if it has it
                tx_hash = transaction_at(rpc, self.sender.address, nonce)
            receipt = None if tx_hash is None else rpc.request("eth_getTransactionReceipt", [tx_hash])
            if receipt is None and tx_hash and rpc.request("eth_getTransactionByHash", [tx_hash]) is not None:
                receipt = wait_for_receipt(rpc, tx_hash, self.sender.address, nonce, self.sender.timeout)
            self._unconfirmed.pop(0)
            if receipt is None:
                self.counters["errors"] += 1
                self._say(f"error {label} transaction {tx_hash or '(not named)'} (nonce {nonce}) lost: the node "
                          "came back without it")
            elif int(receipt["status"], 16) != 1:
                self._reverted(label, f"reverted (nonce {nonce})", tx_hash)
            else:
                self._mined(receipt, label, then)

    def liquidatable(self, market_id: int) -> list:
        """Accounts whose position is liquidatable (E < MM) at mark, from the lens in pages; [] while the oracle is
        unusable."""
        self.counters["scans"] += 1
        try:
            views = self.client.position_views(market_id)
        except RpcError:
            return []
        return [v.account for v in views if v.state >= PositionState.LIQUIDATABLE]

    def liquidate(self, market_id: int, accounts: list) -> int:
        """Liquidates ``accounts`` in batches of ``batch_size``, each split in halves while it would not fit the
        block (Type 1 ADL scans the opposite side for every refused position). Returns how many were liquidated."""
        done = 0
        for i in range(0, len(accounts), self.batch_size):
            done += self._liquidate_chunk(market_id, list(accounts[i : i + self.batch_size]))
        return done

    def _liquidate_chunk(self, market_id: int, chunk: list) -> int:
        perp = self.client.perp
        try:
            gas = self.client.rpc.estimate(perp.address, perp.data("liquidateBatch", market_id, chunk),
                                           self.sender.address)
        except RpcError:  # out of gas at the block limit, or a genuine revert (then the send reports it)
            gas = self._block_gas() + 1
        if gas > self._block_gas() and len(chunk) > 1:
            self.counters["batch_splits"] += 1
            half = len(chunk) // 2
            return self._liquidate_chunk(market_id, chunk[:half]) + self._liquidate_chunk(market_id, chunk[half:])

        def mined(receipt: dict) -> int:
            count = sum(1 for lg in receipt["logs"] if (perp.decode_log(lg) or ("",))[0] == "Liquidated")
            self.counters["liquidation_txs"] += 1
            self.counters["liquidated"] += count
            self._say(f"liquidateBatch market={market_id} accounts={len(chunk)} liquidated={count} "
                      f"gas={int(receipt['gasUsed'], 16)} tx={receipt['transactionHash']}")
            return count

        return self._send("liquidateBatch", market_id, chunk, label=f"liquidateBatch {self._name(market_id)}",
                          then=mined)

    def poke(self, market_id: int) -> dict:
        """``pokeFund``: moves the fund's high-water mark and distress latch to the current equity."""

        def mined(receipt: dict) -> dict:
            self.counters["pokes"] += 1
            self._say(f"pokeFund market={market_id} gas={int(receipt['gasUsed'], 16)} tx={receipt['transactionHash']}")
            return receipt

        return self._send("pokeFund", market_id, label=f"pokeFund {self._name(market_id)}", then=mined)

    def deleverage(self, market_id: int) -> str | None:
        """Type 2 when the fund holds a position and ``deleverageFund`` would succeed now. Returns None when it ran,
        else the reason it would revert (``FundNotDistressed(...)``, ``InsufficientAdlCapacity(...)``, ...)."""
        perp = self.client.perp
        reason = revert_reason(perp, "deleverageFund", (market_id,), self.sender.address)
        if reason is not None:
            if reason.startswith("InsufficientAdlCapacity"):
                self.counters["type2_refused"] += 1
                self._say(f"deleverageFund market={market_id} refused: {reason}")
            return reason

        def mined(receipt: dict) -> None:
            fills = sum(1 for lg in receipt["logs"] if (perp.decode_log(lg) or ("",))[0] == "AdlFill")
            self.counters["type2_calls"] += 1
            self._say(f"deleverageFund market={market_id} fills={fills} gas={int(receipt['gasUsed'], 16)} "
                      f"tx={receipt['transactionHash']}")

        return self._send("deleverageFund", market_id, label=f"deleverageFund {self._name(market_id)}", then=mined)

    def _name(self, market_id: int) -> str:
        names = getattr(self, "names", None) or {}
        return names.get(market_id, f"market {market_id}")

    def process(self, market_id: int, due: list | None = None, poke: bool | None = None) -> int:
        """One pass over a market: liquidate ``due`` (default: everything liquidatable now), poke the fund when its
        equity can have moved (``poke``; default: when the mark changed or anything was liquidated), then Type 2 if
        the fund holds a position and is in distress. Returns how many positions were liquidated."""
        if due is None:
            due = self.liquidatable(market_id)
        done = self.liquidate(market_id, due) if due else 0
        mark = self.client.mark_price(market_id)
        if poke is None:
            poke = bool(due) or (mark is not None and self._marks.get(market_id) != mark)
        if poke and mark is not None:
            self.poke(market_id)
        self._marks[market_id] = mark
        if self.type2 and mark is not None and self.client.fund(market_id).size != 0:
            self.deleverage(market_id)
        return done

    # ------------------------------------------------------------------ following the chain

    def step(self) -> int:
        """One pass over every market (``markets``, default all listed)."""
        done = 0
        for mid in self.markets or self.client.market_ids():
            done += self.process(mid)
        return done

    def run(self, poll: float = 1.0, max_backoff: float = 30.0, stop=None, max_blocks: int | None = None,
            status_file: str | Path | None = None) -> dict:
        """Follows new blocks until ``stop()`` is true (or ``max_blocks`` new heads were processed): one ``step``
        per new head; RPC errors retried with exponential backoff. Returns the counters (also written to
        ``status_file`` as JSON after every pass)."""
        last, backoff, seen = None, poll, 0
        self._say(f"started for {self.client.perp.address} as {self.sender.address}")
        while not (stop and stop()):
            try:
                head = self.client.rpc.block_number()
                self.settle_unconfirmed()
                if head != last:
                    if self.client.rpc.code(self.client.perp.address) in ("0x", "0x0"):
                        raise RpcError(f"no contract at {self.client.perp.address} (node restarted without state?)")
                    self.counters["blocks"] += 1
                    self.step()
                    last = self.client.rpc.block_number()  # our own transactions' blocks are already processed
                    seen += 1
                    self._status(status_file)
                    if max_blocks is not None and seen >= max_blocks:
                        break
                backoff = poll
                time.sleep(poll)
            except Exception as exc:  # noqa: BLE001 - RPC and transaction errors, requests' ConnectionError and friends
                if isinstance(exc, TxError) and exc.receipt is not None:
                    # mined and reverted (its line is written, its nonce spent): the pass is redone next poll
                    self._status(status_file)
                    time.sleep(poll)
                    continue
                if not isinstance(exc, (RpcError, TxError, OSError, ValueError)) and \
                        type(exc).__module__.split(".")[0] not in ("requests", "urllib3", "http"):
                    raise
                self._recover(exc, backoff)
                self._status(status_file)
                time.sleep(backoff)
                backoff = min(backoff * 2, max_backoff)
        self._say(f"stopped: {json.dumps(self.counters)}")
        return self.counters

    def _status(self, status_file) -> None:
        if status_file:
            tmp = Path(f"{status_file}.tmp")
            tmp.write_text(json.dumps(self.counters) + "\n")
            tmp.replace(status_file)

    def _recover(self, exc: Exception, backoff: float) -> None:
        self.counters["errors"] += 1
        self.counters["retries"] += 1
        self._say(f"error {type(exc).__name__}: {str(exc)[:200]}; retrying in {backoff:.1f} s")
        self.sender._nonce = None  # the next transaction reads the node's nonce again
        self.sender._chain_id = None
        self.max_gas = None
