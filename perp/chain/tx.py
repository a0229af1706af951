"""Sending transactions with web3.py and eth-account alone: from a local private key (signed here) or from an
account the node holds unlocked (a devnet), with EIP-1559 fees on nodes that have a base fee (a stock Anvil, a
testnet) and legacy pricing on nodes without one, one nonce per transaction (never reused), and receipts awaited
correctly: Anvil commits a block's state (so the sender's nonce) a moment before it serves the block's receipts,
so a moved nonce without a receipt means "mined, receipt not stored yet", never "dropped". A transaction is taken
as replaced only when the node names another transaction for the same sender and nonce."""
from __future__ import annotations

import time
from dataclasses import dataclass

from eth_account import Account
from eth_utils import to_checksum_address

from .rpc import Rpc, RpcError

DEFAULT_TIP = 10**9  # 1 gwei, when the node does not suggest a priority fee


class TxError(RuntimeError):
    """A transaction that reverted, was replaced, or was not mined in time; ``receipt`` when it was mined."""

    def __init__(self, message: str, receipt: dict | None = None, tx_hash: str | None = None,
                 reason: str | None = None):
        super().__init__(message)
        self.receipt = receipt
        self.tx_hash = tx_hash
        self.reason = reason  # a revert's decoded custom error, when known


class TxUnconfirmed(TxError):
    """A transaction that may be on chain although its receipt was not read (``tx_hash``, ``nonce``): the node went
    away while the receipt was awaited, or while the transaction itself was being sent (then the node may have
    taken and mined it without answering; ``tx_hash`` is None when it is not known before the node names it, as
    for an unlocked account). Look it up once the node answers again (``transaction_at`` finds it by nonce)."""

    def __init__(self, message: str, tx_hash: str | None, nonce: int):
        super().__init__(message, tx_hash=tx_hash)
        self.nonce = nonce


@dataclass
class Fees:
    """Gas pricing of one transaction: EIP-1559 (``max_fee``/``tip``) or legacy (``gas_price``)."""

    max_fee: int | None = None
    tip: int | None = None
    gas_price: int | None = None

    def fields(self) -> dict:
        if self.gas_price is not None:
            return {"gasPrice": self.gas_price}
        return {"maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": self.tip}


def suggest_fees(rpc: Rpc) -> Fees:
    """EIP-1559 when the latest block has a base fee: ``max fee = 2 x base fee + tip`` (room for a few blocks of
    base-fee growth), ``tip`` from ``eth_maxPriorityFeePerGas`` (at most the base fee on a devnet); zero fees on a
    chain whose base fee is 0 (a zero-fee devnet); legacy ``eth_gasPrice`` on a node without EIP-1559."""
    block = rpc.request("eth_getBlockByNumber", ["latest", False])
    base = block.get("baseFeePerGas")
    if base is None:
        return Fees(gas_price=int(rpc.request("eth_gasPrice", []), 16))
    base = int(base, 16)
    if base == 0:
        return Fees(max_fee=0, tip=0)
    try:
        tip = int(rpc.request("eth_maxPriorityFeePerGas", []), 16)
    except RpcError:
        tip = DEFAULT_TIP
    return Fees(max_fee=2 * base + tip, tip=tip)


def wait_for_receipt(rpc: Rpc, tx_hash: str, sender: str, nonce: int, timeout: float = 120.0,
                     poll: float = 0.02) -> dict:
    """The receipt of ``tx_hash``, however long the node takes to serve it after committing the nonce. Raises
    ``TxError`` when another transaction provably took (sender, nonce), or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        receipt = rpc.request("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return receipt
        if time.monotonic() > deadline:
            raise TxError(f"transaction {tx_hash} not mined within {timeout:.0f} s", tx_hash=tx_hash)
        if int(rpc.request("eth_getTransactionCount", [sender, "latest"]), 16) > nonce:
            # The nonce moved: mined (receipt about to be served), or replaced by another transaction.
            try:
                holder = rpc.request("eth_getTransactionBySenderAndNonce", [sender, hex(nonce)])
            except RpcError:
                holder = None  # a node without the method: the timeout decides
            if holder and holder.get("hash") and holder["hash"].lower() != tx_hash.lower():
                raise TxError(f"transaction {tx_hash} (nonce {nonce}) was replaced by {holder['hash']}",
                              tx_hash=tx_hash)
        time.sleep(poll)


def transaction_at(rpc: Rpc, sender: str, nonce: int, blocks: int = 256) -> str | None:
    """The hash of the transaction the node holds (mined or pending) for ``sender`` at ``nonce``, or None. Asks
    ``eth_getTransactionBySenderAndNonce``; on a node without it, reads the last ``blocks`` blocks."""
    try:
        tx = rpc.request("eth_getTransactionBySenderAndNonce", [sender, hex(nonce)])
        return tx["hash"] if tx else None
    except RpcError:
        pass
    head = int(rpc.request("eth_blockNumber", []), 16)
    for number in range(head, max(head - blocks, -1), -1):
        for tx in rpc.request("eth_getBlockByNumber", [hex(number), True])["transactions"]:
            if tx["from"].lower() == sender.lower() and int(tx["nonce"], 16) == nonce:
                return tx["hash"]
    return None


class Sender:
    """Sends transactions from one account: ``Sender(rpc, private_key=...)`` signs locally (eth-account);
    ``Sender(rpc, address=...)`` uses an account the node holds unlocked (``eth_sendTransaction``).

    Nonces: the sender keeps its own counter, starting from the node's pending count, and gives each transaction
    the next one; after an error that may have consumed none (the node refused the transaction) it re-reads the
    node's count, so a nonce is never used twice and never skipped. Every ``send`` waits for its receipt; when the
    node goes away while it waits, ``send`` raises ``TxUnconfirmed`` with the hash and nonce (the transaction may be
    mined: its receipt can be looked up once the node answers again), and likewise when it goes away while the
    transaction itself is being sent (the node may have taken it without answering)."""

    def __init__(self, rpc: Rpc, private_key=None, address: str | None = None, fees: Fees | None = None,
                 gas_margin: float = 1.25, timeout: float = 120.0):
        if (private_key is None) == (address is None):
            raise ValueError("Sender needs exactly one of private_key (local signing) or address (unlocked account)")
        self.rpc = rpc
        self.account = Account.from_key(private_key) if private_key is not None else None
        self.address = to_checksum_address(self.account.address if self.account else address)
        self.fixed_fees = fees
        self.gas_margin = gas_margin
        self.timeout = timeout
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self.sent = 0
        self.gas_used = 0

    def __repr__(self) -> str:
        return f"Sender({self.address}, {'local key' if self.account else 'unlocked'})"

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.rpc.chain_id()
        return self._chain_id

    def resync(self) -> int:
        """Forgets the local nonce counter; the next transaction reads the node's pending count."""
        self._nonce = None
        self._chain_id = None
        return int(self.rpc.request("eth_getTransactionCount", [self.address, "pending"]), 16)

    def next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = int(self.rpc.request("eth_getTransactionCount", [self.address, "pending"]), 16)
        return self._nonce

    def estimate(self, to: str | None, data: str, value: int = 0) -> int:
        tx = {"from": self.address, "data": data, "value": hex(value)}
        if to:
            tx["to"] = to
        return int(self.rpc.request("eth_estimateGas", [tx]), 16)

    def send(self, to: str | None, data: str, gas: int | None = None, value: int = 0,
             check: bool = True) -> dict:
        """Sends one transaction (``to=None`` creates a contract) and returns its receipt; raises ``TxError`` when
        it reverted (``check``), with the receipt attached."""
        if gas is None:
            block_gas = int(self.rpc.request("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16)
            gas = min(int(self.estimate(to, data, value) * self.gas_margin), block_gas)
        fees = self.fixed_fees or suggest_fees(self.rpc)
        nonce = self.next_nonce()
        tx = {"from": self.address, "data": data, "gas": gas, "value": value, "nonce": nonce, **fees.fields()}
        if to:
            tx["to"] = to_checksum_address(to)
        if self.account is not None:
            tx["chainId"] = self.chain_id
            if "maxFeePerGas" in tx:
                tx["type"] = 2
            signed = self.account.sign_transaction({k: v for k, v in tx.items() if k != "from"})
            known_hash = "0x" + bytes(signed.hash).hex()
            method, params = "eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()]
        else:
            known_hash = None  # the node names it
            method, params = "eth_sendTransaction", [{k: (hex(v) if isinstance(v, int) else v) for k, v in tx.items()}]
        try:
            tx_hash = self.rpc.request(method, params)
        except RpcError:
            self._nonce = None  # refused: the node did not take this nonce; read it again next time
            raise
        except Exception as exc:  # noqa: BLE001 - the node went away mid-request: it may have taken and mined it
            self._nonce = None
            raise TxUnconfirmed(f"transaction{' ' + known_hash if known_hash else ''} (nonce {nonce}) was sent, but "
                                f"the node did not answer: {type(exc).__name__}: {str(exc)[:200]}",
                                known_hash, nonce) from exc
        self._nonce = nonce + 1
        try:
            receipt = wait_for_receipt(self.rpc, tx_hash, self.address, nonce, self.timeout)
        except TxError:
            raise
        except Exception as exc:  # noqa: BLE001 - RpcError, requests' ConnectionError and friends: the node is away
            raise TxUnconfirmed(f"transaction {tx_hash} (nonce {nonce}) was sent, but its receipt could not be read: "
                                f"{type(exc).__name__}: {str(exc)[:200]}", tx_hash, nonce) from exc
        self.sent += 1
        self.gas_used += int(receipt["gasUsed"], 16)
        if check and int(receipt["status"], 16) != 1:
            raise TxError(f"transaction {tx_hash} reverted", receipt=receipt, tx_hash=tx_hash)
        return receipt

    def transact(self, contract, fn: str, *args, gas: int | None = None, check: bool = True) -> dict:
        """``contract.fn(*args)`` as a transaction; a revert's custom error is decoded into the message."""
        data = contract.data(fn, *args)
        try:
            return self.send(contract.address, data, gas=gas, check=check)
        except TxError as exc:
            if exc.receipt is None:  # replaced, not mined in time, or unconfirmed (TxUnconfirmed): as raised
                raise
            reason = revert_reason(contract, fn, args, self.address)
            raise TxError(f"{fn} reverted: {reason}", receipt=exc.receipt, tx_hash=exc.tx_hash, reason=reason) from None
        except RpcError as exc:
            raise TxError(f"{fn} refused by the node: {contract.decode_error(exc.data) if exc.data else exc}") from None


def revert_reason(contract, fn: str, args: tuple, sender: str) -> str | None:
    """None when ``fn(*args)`` from ``sender`` would succeed now, else its decoded custom error."""
    try:
        contract.call(fn, *args, sender=sender)
        return None
    except RpcError as exc:
        return contract.decode_error(exc.data) if exc.data else str(exc)
