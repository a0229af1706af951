"""A fix for Brownie 1.22 on Anvil: "Tx dropped without known replacement" on transactions that were mined.

`TransactionReceipt.wait` first waits until the sender's nonce has moved past the transaction, then asks the node
for the transaction once; Anvil can answer "not found" for a moment after the nonce has moved (seen under load,
about once in 400 transactions on this 2-core machine), and Brownie then declares the transaction dropped. This
version asks again for up to 5 s before concluding the same way, and polls the nonce every 50 ms instead of every
second. Imported by tests/conftest.py and scripts/deploy.py (so by every script that deploys).
"""
import time

from brownie.network import transaction as _transaction
from brownie.network.web3 import web3
from web3.exceptions import TransactionNotFound

_ATTEMPTS = 100
_PAUSE = 0.05


def _wait(self, required_confs: int) -> None:
    if required_confs < 1:
        return
    if self.confirmations > required_confs:
        print(f"This transaction already has {self.confirmations} confirmations.")
        return
    if self.nonce is not None:
        while web3.eth.get_transaction_count(str(self.sender)) <= self.nonce:
            time.sleep(_PAUSE)
    for attempt in range(_ATTEMPTS):
        try:
            tx: dict = web3.eth.get_transaction(self.txid)
            break
        except TransactionNotFound:
            if self.nonce is not None and attempt == _ATTEMPTS - 1:
                self.status = _transaction.Status(-2)
                self._confirmed.set()
                return
            time.sleep(_PAUSE)
    else:  # pragma: no cover - only without a known nonce, as Brownie does: keep waiting
        while True:
            try:
                tx = web3.eth.get_transaction(self.txid)
                break
            except TransactionNotFound:
                time.sleep(_PAUSE)
    self._await_confirmation(tx["blockNumber"], required_confs)


_transaction.TransactionReceipt.wait = _wait
