"""The confirmation path of scripts/brownie_compat.py against a live Anvil: Anvil's receipt window (the nonce has
moved, the receipt is not served yet) must not read as "dropped", and a real replacement still must."""
import json
from types import SimpleNamespace

import pytest
from brownie import accounts
import brownie.network.transaction as transaction  # (not `from brownie.network import`: Brownie hashes
# the modules a test imports, and brownie.network is a compiled extension it cannot read)
from brownie.network.web3 import web3
from web3.exceptions import TransactionNotFound

from scripts import brownie_compat

DROPPED, CONFIRMED = -2, 1


@pytest.fixture
def mined_transfer():
    """A plain transfer, mined; returns its hash and sender."""
    sender = accounts[0]
    tx = sender.transfer(accounts[1], 1, silent=True)
    return tx.txid, sender


def hide_receipt_for(monkeypatch, txid, looks):
    """Anvil's window, replayed: the first `looks` receipt requests for `txid` answer 'not found'."""
    real = web3.eth.get_transaction_receipt
    left = {"n": looks}

    def get_receipt(h):
        if left["n"] > 0 and bytes(h) == bytes.fromhex(txid[2:]):
            left["n"] -= 1
            raise TransactionNotFound("not yet")
        return real(h)

    monkeypatch.setattr(web3.eth, "get_transaction_receipt", get_receipt)
    return left


def test_receipt_window_after_the_nonce_moved_is_not_a_drop(monkeypatch, mined_transfer):
    txid, sender = mined_transfer
    left = hide_receipt_for(monkeypatch, txid, looks=5)
    receipt = transaction.TransactionReceipt(txid, sender=sender, silent=True)
    assert left["n"] == 0  # the window was really served
    assert receipt.status == CONFIRMED
    assert receipt.block_number == web3.eth.get_transaction(txid)["blockNumber"]


def test_brownie_unpatched_reads_the_same_window_as_a_drop(monkeypatch, mined_transfer):
    """The replay above bites: Brownie's own loop calls this mined transfer dropped."""
    txid, sender = mined_transfer
    hide_receipt_for(monkeypatch, txid, looks=1)
    monkeypatch.setattr(transaction.TransactionReceipt, "_await_confirmation",
                        brownie_compat._original_await_confirmation)
    receipt = transaction.TransactionReceipt(txid, sender=sender, silent=True)
    assert receipt.status == DROPPED


def test_wait_survives_the_window(monkeypatch, mined_transfer):
    txid, sender = mined_transfer
    receipt = transaction.TransactionReceipt(txid, sender=sender, silent=True)
    hide_receipt_for(monkeypatch, txid, looks=3)
    receipt.wait(1)
    assert receipt.status == CONFIRMED


def test_a_replaced_transaction_is_still_reported_dropped():
    """Automine off: two transactions with one nonce; the pool keeps the better-paid one, which is mined."""
    sender = accounts[0]
    nonce = sender.nonce
    web3.provider.make_request("evm_setAutomine", [False])
    try:
        first = web3.eth.send_transaction(
            {"from": str(sender), "to": str(accounts[1]), "value": 1, "nonce": nonce, "gasPrice": 10**9})
        second = web3.eth.send_transaction(
            {"from": str(sender), "to": str(accounts[2]), "value": 1, "nonce": nonce, "gasPrice": 10**10})
        web3.provider.make_request("evm_mine", [])
    finally:
        web3.provider.make_request("evm_setAutomine", [True])
    assert web3.eth.get_transaction_receipt(second)["status"] == 1
    # (the node has forgotten `first`, so Brownie cannot even build its receipt object: ask the waiter directly)
    pending = SimpleNamespace(txid=first.to_0x_hex(), sender=sender, nonce=nonce)
    assert brownie_compat._await_receipt(pending) is False


def test_rpc_methods_run_without_the_stack_inspecting_guard(monkeypatch):
    """Brownie's guard on `Rpc.snapshot/revert/sleep/mine` calls `inspect.stack()` (about 60 ms under pytest)."""
    import inspect

    from brownie import chain

    def no_stack(*a, **k):
        raise AssertionError("inspect.stack() was called")

    monkeypatch.setattr(inspect, "stack", no_stack)
    height = web3.eth.block_number
    chain.snapshot()
    accounts[0].transfer(accounts[1], 1, silent=True)
    chain.mine()
    assert web3.eth.block_number == height + 2
    chain.revert()
    assert web3.eth.block_number == height


def test_revert_without_full_gc_reverts_the_chain_and_brownies_history():
    from brownie import chain, history

    before = accounts[1].balance()
    seen = len(history)
    chain.snapshot()
    accounts[0].transfer(accounts[1], 7, silent=True)
    assert accounts[1].balance() == before + 7 and len(history) == seen + 1
    collect = brownie_compat.gc.collect
    assert brownie_compat.revert_without_full_gc() == web3.eth.block_number
    assert accounts[1].balance() == before and len(history) == seen
    assert brownie_compat.gc.collect is collect  # the collector is back for everyone else


def test_a_recorded_transaction_the_chain_no_longer_has_does_not_stall_the_next_one():
    """Brownie's `_pending_nonce` waits, without end, for the node's nonce to pass the last transaction in its
    history; one whose block was reverted away behind Brownie's back must be dropped, not waited for."""
    import threading

    from brownie import history

    sender = accounts[2]
    snap = web3.provider.make_request("evm_snapshot", [])["result"]
    gone = sender.transfer(accounts[3], 1, silent=True)
    web3.provider.make_request("evm_revert", [snap])  # the node forgets it; Brownie's history does not
    assert gone in history and web3.eth.get_transaction_count(str(sender)) == gone.nonce
    sent = {}
    worker = threading.Thread(target=lambda: sent.update(tx=sender.transfer(accounts[3], 1, silent=True)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the next transaction is stuck in Brownie's nonce loop"
    assert (sent["tx"].nonce, sent["tx"].status) == (gone.nonce, 1) and gone not in history


def test_a_contract_read_is_one_request_to_the_node(monkeypatch):
    """web3 alone asks for the chain id before and after every eth_call; the connected provider caches it."""
    import requests

    web3.eth.chain_id  # the one chain id request of the connection (cached from here on)
    seen = []
    real = requests.Session.request

    def spy(self, method, url, *args, **kwargs):
        body = kwargs.get("data")
        seen.append(json.loads(body)["method"] if body else method)
        return real(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    assert web3.eth.call({"to": str(accounts[1]), "data": "0x"}) == b""
    assert web3.eth.chain_id == 31337
    assert seen == ["eth_call"]
