"""``ModelHarness``: ``harness.Harness`` without a chain. Every helper the driver and the state machine use works the
same (orders, matches, deposits, liquidations, Type 2, prices, parameters, time), but only on ``perp.model.Model``,
so a run of the default size takes a fraction of a second instead of a minute. The differential harness has shown
that the model and the contracts agree on these actions; this one is for what does not need the chain again: tuning
the generators (which states a seed reaches) and testing the coverage check itself (``test_reached.py``)."""
from __future__ import annotations

from types import SimpleNamespace

from harness import Harness
from perp.model import ModelError, reference_model
from perp.orders import order_digest
from reached import Coverage

T0 = 1_700_000_000


class Signer(SimpleNamespace):
    """An account the way the harness uses a Brownie signer: ``.address``, printable, comparable."""

    def __str__(self):
        return self.address

    def __hash__(self):
        return hash(self.address)

    def __eq__(self, other):
        return getattr(other, "address", None) == self.address


class ModelHarness(Harness):
    def __init__(self, decimals: int, fund_seed: int, traders=None):
        """A model of ``scripts.deploy.deploy_devnet`` (both markets, each fund seeded with ``fund_seed`` whole
        units), ten accounts like the Anvil signers: 0 deploys, 1-8 trade, 9 keeps."""
        self.decimals, self.scale, self.one = decimals, 10 ** (18 - decimals), 10**decimals
        self.signers = [Signer(address="0x" + f"{i + 1:040x}") for i in range(10)]
        self.addrs = [s.address.lower() for s in self.signers]
        self.by_addr = {s.address.lower(): s for s in self.signers}
        self.deployer, self.keeper = self.signers[0], self.signers[9]
        self.traders = traders or self.signers[1:9]
        self.preminted, self.defer_compare = True, False
        self.hasher = lambda order: order_digest(order, 31337, "0x" + "ab" * 20)
        self.model = reference_model(decimals, fund_seed=fund_seed * self.one, now=T0, hasher=self.hasher)
        self.markets = {mid: (str(mid), None, m.params) for mid, m in self.model.markets.items()}
        self.now, self.nonce = T0 + 1, 10**6
        self.orders_used, self.step_orders, self.log, self.adl_fills, self.negative_cash = {}, {}, [], [], []
        self.steps = self.reverts = 0
        self.coverage = Coverage()

    def sign(self, order, signer=None):
        return b""  # the model takes a match's signers as given (None: the order's own account)

    def _pin_time(self):
        pass

    def compare(self, label="", all_orders=False):
        pass

    def mint(self, account, amount):
        pass

    def act(self, label, chain_call, model_call):
        self.tick(1)
        latches = {mid: mk.fund_distressed for mid, mk in self.model.markets.items()}
        err = None
        try:
            model_call(self.now)
        except ModelError as exc:
            err = exc.revert_string()
        self.steps += 1
        self.log.append((label, err))
        if err:
            self.reverts += 1
        else:
            self.adl_fills.extend(d for n, d in self.model.events if n == "AdlFill")
        self.observe(label, err, latches)
        self.step_orders = {}
        return None, None, err

    def set_price(self, mid, answer):
        self.tick(1)
        self.model.set_price(mid, answer, self.now)
        self.log.append((f"setPrice({mid}, {answer})", None))

    def set_paused(self, mid, paused):
        self.tick(1)
        self.model.set_paused(mid, paused)
        self.log.append((f"setPaused({mid}, {paused})", None))
