"""A keeper transaction the node accepted just before it went away (its receipt never read) is neither lost nor
counted twice: once the node answers again the keeper looks the receipt up and counts and logs the transaction like
any other; one the node came back without is logged as lost. Deterministic: the node "goes away" at the one moment
that matters (the receipt read after a send), which a real restart hits only sometimes (the CI failure of stop 18:
a liquidation mined at nonce 3 with no log line). Likewise a transaction the node took and mined while the answer
to the send itself was lost (found by the keeper's nonce), and one that was mined and reverted because another
keeper got in between the keeper's check and its transaction: each is named by its hash in exactly one line, so
the keeper's nonces are accounted for without a gap (the CI failure of stop 24: nonce 6 mined, named nowhere)."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from eth_account import Account

from perp.chain import PerpClient, Rpc, Sender, TxUnconfirmed, transaction_at
from perp.chain.rpc import Contract
from perp.chain.abi import load_abi
from perp.core import PositionState
from perp.devnet import Devnet
from perp.chain.tx import revert_reason
from perp.keeper import Keeper
from perp.scenario import load, scaled
from perp.sim import Simulation, deploy_for

ROOT = Path(__file__).resolve().parents[2]


class AwayAfterSend(Rpc):
    """An RPC whose node goes away (a connection error) on the first receipt read after each armed send."""

    def __init__(self, w3):
        super().__init__(w3)
        self.armed = 0
        self._away = False

    def request(self, method, params):
        if method == "eth_getTransactionReceipt" and self._away:
            self._away = False
            raise requests.exceptions.ConnectionError("connection refused (the node went away)")
        result = super().request(method, params)
        if method in ("eth_sendTransaction", "eth_sendRawTransaction") and self.armed:
            self.armed -= 1
            self._away = True
        return result


class AwayDuringSend(Rpc):
    """An RPC whose node takes (and mines) each armed send but goes away before it answers."""

    def __init__(self, w3):
        super().__init__(w3)
        self.armed = 0

    def request(self, method, params):
        result = super().request(method, params)
        if method in ("eth_sendTransaction", "eth_sendRawTransaction") and self.armed:
            self.armed -= 1
            raise requests.exceptions.ConnectionError("connection reset (the node went away before it answered)")
        return result


class RivalAfterEstimate(Rpc):
    """An RPC on which another keeper's ``deleverageFund`` lands right after this keeper estimated its own."""

    def __init__(self, w3, rival, perp, market_id):
        super().__init__(w3)
        self.rival, self.perp, self.market_id, self.armed = rival, perp, market_id, 0

    def request(self, method, params):
        result = super().request(method, params)
        if method == "eth_estimateGas" and self.armed and params[0]["data"] == self.perp.data("deleverageFund",
                                                                                           self.market_id):
            self.armed -= 1
            self.rival.transact(self.perp, "deleverageFund", self.market_id)
        return result


@pytest.fixture(scope="module")
def crashed():
    """A flash-crash book on its own node, the price moved down until positions are liquidatable."""
    node = Devnet().start()
    try:
        rpc = Rpc.http(node.url)
        operator, keeper = rpc.request("eth_accounts", [])[:2]
        scn = scaled(load(ROOT / "scenarios" / "flash_crash.yaml"), traders=16)
        dep = deploy_for(Sender(rpc, address=operator), scn, keeper)
        Simulation(rpc.w3, dep, scn).build_population()
        oracle = Contract(rpc, dep.oracles["ETH-PERP"], load_abi("MockAggregator"))
        Sender(rpc, address=operator).transact(oracle, "setPrice", int(min(scn.market("ETH-PERP").path.points) * 10**8))
        yield node, dep, keeper
    finally:
        node.stop()


def _keeper(node, dep, keeper, lines):
    rpc = AwayAfterSend(Rpc.http(node.url).w3)
    k = Keeper(PerpClient(rpc, dep.perp, dep.lens), Sender(rpc, address=keeper), type2=False, log=lines.append)
    return rpc, k


def _named(lines: list) -> list:
    """The transactions the keeper's lines name (``tx=0x...``), each exactly once."""
    named = [line.rsplit("tx=", 1)[1] for line in lines if "tx=0x" in line]
    assert len(named) == len(set(named))
    return named


def _nonces(rpc, hashes: list, start: int) -> list:
    """The sorted nonces of ``hashes`` from ``start`` on."""
    return sorted(n for n in (int(rpc.request("eth_getTransactionByHash", [h])["nonce"], 16) for h in hashes)
                  if n >= start)


def _mined_since(rpc, account: str, start: int) -> list:
    """Every nonce ``account`` used on chain from ``start`` on."""
    return list(range(start, int(rpc.request("eth_getTransactionCount", [account, "latest"]), 16)))


def _liquidatable(client, market_id):
    return [v.account for v in client.position_views(market_id) if v.state >= PositionState.LIQUIDATABLE]


def test_a_liquidation_mined_while_the_node_was_away_is_counted_and_logged_once(crashed):
    node, dep, keeper = crashed
    snap = Rpc.http(node.url).request("evm_snapshot", [])
    try:
        lines: list = []
        rpc, k = _keeper(node, dep, keeper, lines)
        eth = dep.market_ids["ETH-PERP"]
        due = _liquidatable(k.client, eth)
        assert due
        start_nonce = int(rpc.request("eth_getTransactionCount", [keeper, "latest"]), 16)
        rpc.armed = 1
        polls = iter(range(1000))  # at most about 10 s of polling
        k.run(poll=0.01, stop=lambda: k.counters["liquidated"] > 0 or next(polls) == 999)
        # the first transaction (a liquidation) was mined, its receipt read only after the "reconnect"
        assert any(" keeper error TxUnconfirmed: transaction 0x" in line for line in lines)
        assert k.counters["errors"] == 1 and k.counters["retries"] == 1
        sent = _named(lines)
        assert _nonces(rpc, sent, start_nonce) == _mined_since(rpc, keeper, start_nonce)  # each its line, none twice
        liquidated = sum(1 for h in sent for lg in rpc.request("eth_getTransactionReceipt", [h])["logs"]
                         if (k.client.perp.decode_log(lg) or ("",))[0] == "Liquidated")
        assert k.counters["liquidated"] == liquidated == len(due)
        assert k.counters["liquidation_txs"] == sum(1 for line in lines if " keeper liquidateBatch " in line)
        assert _liquidatable(k.client, eth) == []
    finally:
        Rpc.http(node.url).request("evm_revert", [snap])


def test_a_transaction_the_node_came_back_without_is_logged_as_lost_and_not_counted(crashed):
    node, dep, keeper = crashed
    plain = Rpc.http(node.url)
    snap = plain.request("evm_snapshot", [])
    try:
        lines: list = []
        rpc, k = _keeper(node, dep, keeper, lines)
        eth = dep.market_ids["ETH-PERP"]
        due = _liquidatable(k.client, eth)
        plain.request("evm_setAutomine", [False])
        rpc.armed = 1
        with pytest.raises(TxUnconfirmed) as raised:
            k.liquidate(eth, due)
        assert raised.value.nonce == int(plain.request("eth_getTransactionCount", [keeper, "latest"]), 16)
        plain.request("anvil_dropTransaction", [raised.value.tx_hash])  # the node "restarted" without it
        plain.request("evm_setAutomine", [True])
        k.settle_unconfirmed()
        assert lines[-1].endswith(f"error liquidateBatch market {eth} transaction {raised.value.tx_hash} "
                                  f"(nonce {raised.value.nonce}) lost: the node came back without it")
        assert k.counters["liquidated"] == 0 and k.counters["liquidation_txs"] == 0 and k.counters["errors"] == 1
        assert _liquidatable(k.client, eth) == due  # nothing happened on chain; the next pass liquidates them
        k._recover(RuntimeError("node restarted"), 0.0)
        assert k.process(eth) == len(due)
    finally:
        plain.request("evm_setAutomine", [True])
        plain.request("evm_revert", [snap])


def test_a_transaction_mined_while_the_answer_to_its_send_was_lost_is_found_by_nonce_logged_and_counted(crashed):
    node, dep, keeper = crashed
    plain = Rpc.http(node.url)
    snap = plain.request("evm_snapshot", [])
    try:
        lines: list = []
        rpc = AwayDuringSend(plain.w3)
        k = Keeper(PerpClient(rpc, dep.perp, dep.lens), Sender(rpc, address=keeper), type2=False, log=lines.append)
        eth = dep.market_ids["ETH-PERP"]
        due = _liquidatable(k.client, eth)
        assert due
        start_nonce = int(plain.request("eth_getTransactionCount", [keeper, "latest"]), 16)
        rpc.armed = 1
        polls = iter(range(1000))
        k.run(poll=0.01, stop=lambda: k.counters["liquidated"] > 0 or next(polls) == 999)
        assert any(f" keeper error TxUnconfirmed: transaction (nonce {start_nonce}) was sent, but the node did not "
                   "answer: ConnectionError" in line for line in lines)
        first = next(line for line in lines if " keeper liquidateBatch " in line)
        assert first.endswith(f"tx={transaction_at(plain, keeper, start_nonce)}")  # the lost answer, found by nonce
        assert _nonces(plain, _named(lines), start_nonce) == _mined_since(plain, keeper, start_nonce)
        assert k.counters["liquidated"] == len(due) and k.counters["errors"] == 1
        assert _liquidatable(k.client, eth) == []
    finally:
        plain.request("evm_revert", [snap])


def test_a_locally_signed_transaction_whose_send_got_no_answer_carries_its_hash(crashed):
    node, _dep, _keeper = crashed
    plain = Rpc.http(node.url)
    snap = plain.request("evm_snapshot", [])
    try:
        account = Account.create()
        plain.request("anvil_setBalance", [account.address, hex(10**18)])
        rpc = AwayDuringSend(plain.w3)
        rpc.armed = 1
        sender = Sender(rpc, private_key=account.key)
        with pytest.raises(TxUnconfirmed) as raised:
            sender.send(account.address, "0x", gas=21_000)
        assert raised.value.nonce == 0
        assert raised.value.tx_hash == transaction_at(plain, account.address, 0)
        assert int(plain.request("eth_getTransactionReceipt", [raised.value.tx_hash])["status"], 16) == 1
        assert sender.next_nonce() == 1  # read again from the node: the nonce it took is not used twice
    finally:
        plain.request("evm_revert", [snap])


def test_a_type2_that_reverts_because_another_keeper_got_first_is_named_and_the_keeper_goes_on(crashed):
    node, dep, keeper = crashed
    plain = Rpc.http(node.url)
    snap = plain.request("evm_snapshot", [])
    try:
        operator = plain.request("eth_accounts", [])[0]
        eth = dep.market_ids["ETH-PERP"]
        lines: list = []
        first = Keeper(PerpClient(plain, dep.perp, dep.lens), Sender(plain, address=keeper), log=lines.append)
        oracle = Contract(plain, dep.oracles["ETH-PERP"], load_abi("MockAggregator"))
        path = load(ROOT / "scenarios" / "flash_crash.yaml").market("ETH-PERP").path.points
        low = oracle.call("latestRoundData")[1]
        Sender(plain, address=operator).transact(oracle, "setPrice", int(path[0] * 10**8))  # before the crash
        first.poke(eth)  # the fund's high-water mark
        for price in (low, low * 9 // 10):  # the crash: the fund absorbs the losses, then loses on what it took
            Sender(plain, address=operator).transact(oracle, "setPrice", price)
            first.liquidate(eth, _liquidatable(first.client, eth))
            first.poke(eth)
        assert first.client.fund(eth).size != 0
        assert revert_reason(first.client.perp, "deleverageFund", (eth,), keeper) is None  # Type 2 would run now
        rpc = RivalAfterEstimate(plain.w3, Sender(plain, address=operator), first.client.perp, eth)
        k = Keeper(PerpClient(rpc, dep.perp, dep.lens), Sender(rpc, address=keeper), markets=[eth],
                   log=lines.append)
        rpc.armed = 1
        start_nonce = int(plain.request("eth_getTransactionCount", [keeper, "latest"]), 16)
        polls = iter(range(30))
        k.run(poll=0.01, stop=lambda: next(polls) == 29)
        reverted = [line for line in lines if " keeper error deleverageFund " in line]
        assert len(reverted) == 1 and k.counters["reverted"] == 1 and k.counters["retries"] == 0
        tx_hash = reverted[0].rsplit("tx=", 1)[1]
        assert int(plain.request("eth_getTransactionReceipt", [tx_hash])["status"], 16) == 0
        reason = revert_reason(first.client.perp, "deleverageFund", (eth,), keeper)
        assert reason == f"FundFlat({eth})"  # the rival's Type 2 shed the fund's whole position
        assert reverted[0].endswith(f"error deleverageFund market {eth} reverted: {reason} tx={tx_hash}")
        assert k.counters["type2_calls"] == 0  # the rival's Type 2 ran; this keeper's did not count
        assert _nonces(plain, _named(lines), start_nonce) == _mined_since(plain, keeper, start_nonce)
    finally:
        plain.request("evm_revert", [snap])
