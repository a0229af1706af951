"""Differential harness: one deployment and one ``perp.model.Model`` driven in lock-step.

``Harness.act(label, chain_call, model_call)`` runs an action on the chain (a Brownie transaction, with the
next block's timestamp pinned to ``Harness.now`` through ``evm_setNextBlockTimestamp`` so the model sees the
same ``block.timestamp``), then the same action on the model, and asserts that both succeed or both fail with the
same custom error (Brownie's decoded revert string against ``ModelError.revert_string()``, the format of
``tests/support.err``), that the events that matter agree (``AdlFill`` one by one: account, type, size, price,
notional, score, rank; ``Liquidated``, ``FundRefused``, ``AdlRemainderToFund``), and then ``compare()``s the whole
state: every free collateral and order epoch, every position (every stored field, the ADL queue's included)
with the side lists in storage order, every fund (cash, size, openNotional, high-water mark and its timestamp,
distress latch), the vault's token balance and the filled amounts of every order used so far.
Reads go through ``perp.rpc`` (raw eth-abi calls), which is several times faster than Brownie's contract layer.
"""
from __future__ import annotations

import dataclasses

import functools

import brownie
from brownie import web3

from perp.audit import load_abi
from perp.core.queue import ZERO
from perp.model import ModelError, Model, addr
from perp.orders import Order, order_digest, sign_order
from perp.chain import Contract, PerpClient, Rpc, RpcError
from reached import Coverage

WAD = 10**18
ORACLE_DECIMALS = 8


class Mismatch(AssertionError):
    pass


class Harness:
    def __init__(self, env, traders=None, preminted=False):
        self.env = env
        self.perp = env.perp
        self.decimals = env.decimals
        self.scale = env.scale
        self.one = 10**env.decimals
        self.deployer = env.dep.deployer
        self.keeper = env.keeper
        self.signers = list(env.signers)
        self.addrs = [s.address.lower() for s in self.signers]
        self.by_addr = {s.address.lower(): s for s in self.signers}
        self.traders = traders or self.signers[1:9]
        self.preminted = preminted
        self.defer_compare = False  # True: skip the whole-state comparison after each action (call compare())
        rpc = Rpc(web3)
        self.P = Contract(rpc, self.perp.address, load_abi("Perpetual"))
        self.T = Contract(rpc, env.token.address, load_abi("MockStablecoin"))
        self.L = Contract(rpc, env.lens.address, load_abi("PerpLens"))
        self.client = PerpClient(rpc, self.perp.address, env.lens.address, env.token.address)
        self.chain_id = env.chain_id
        perp_address = self.perp.address

        @functools.lru_cache(maxsize=None)
        def hasher(order):
            return order_digest(order, self.chain_id, perp_address)

        self.hasher = hasher
        self.model = Model(self.decimals, hasher, self.perp.address)
        self.markets = {}
        for name in ("ETH-PERP", "BTC-PERP"):
            mid = env.dep.market_id(name)
            params = env.dep.markets[name]["params"]
            oracle = env.dep.oracle(name)
            _, answer, _, updated, _ = oracle.latestRoundData()
            assert self.model.create_market(params, int(answer), int(updated), ORACLE_DECIMALS) == mid
            m = self.model.markets[mid]
            cash, size, on, hwm, ts, dist = self.P.call("fundAccount", mid)
            assert size == 0 and on == 0
            m.fund_cash, m.fund_hwm, m.fund_hwm_ts, m.fund_distressed = cash, hwm, ts, dist
            assert ts == 0, "harness needs a deployment whose fund has taken no high-water-mark sample"
            m.paused = bool(self.perp.marketInfo(mid)[3])
            self.markets[mid] = (name, oracle, params)
        for is_long in (True, False):
            for mid in self.markets:
                empty = len(self.P.call("sidePositions", mid, is_long, ZERO, 1).accounts) == 0
                assert empty, "harness needs a deployment without positions"
        self.model.vault = self.T.call("balanceOf", self.perp.address)
        frees = self.L.call("freeCollaterals", self.addrs)
        for a, f in zip(self.addrs, frees):
            if f:
                self.model.free[a] = f
            e = self.P.call("orderEpoch", a)
            if e:
                self.model.epoch[a] = e
        # the model's openSeq counter cannot be read; a fresh deployment has 0 (checked on the first open)
        self.now = web3.eth.get_block("latest").timestamp + 1
        self.nonce = 10**6
        self.orders_used = {}  # hash -> Order
        self.step_orders = {}  # the orders of the current action (their filled amounts are compared after it)
        self.log = []
        self.adl_fills = []  # every AdlFill seen (chain values), for the ADL order/type properties
        self.negative_cash = []  # (step, action, market, fund) whenever a fund's cash is below zero
        self.steps = 0
        self.reverts = 0
        self.coverage = Coverage()  # the states this harness's actions reached (reached.py)
        self.compare()

    # ------------------------------------------------------------------------------------------ time and orders

    def tick(self, seconds: int = 1) -> None:
        self.now += seconds

    def _pin_time(self) -> None:
        web3.provider.make_request("evm_setNextBlockTimestamp", [self.now])

    def order(self, account, market_id, is_buy, size, limit_price, leverage, reduce_only=False, expiry=None,
              epoch=None, nonce=None, is_maker=False):
        a = addr(account)
        if nonce is None:
            self.nonce += 1
            nonce = self.nonce
        return Order(account=self.by_addr[a].address, market_id=market_id, is_buy=is_buy, size=size,
                     limit_price=limit_price, leverage=leverage, nonce=nonce,
                     expiry=self.now + 86_400 if expiry is None else expiry, reduce_only=reduce_only,
                     epoch=self.model.order_epoch(a) if epoch is None else epoch, is_maker=is_maker)

    def sign(self, order, signer=None):
        s = signer or self.by_addr[addr(order.account)]
        return sign_order(order, s.private_key, self.chain_id, self.perp.address)

    # ------------------------------------------------------------------------------------------ actions

    def act(self, label, chain_call, model_call):
        """Runs one action on both sides; returns (chain tx or None, model result, error string or None)."""
        self.tick(1)
        self._pin_time()
        latches = {mid: mk.fund_distressed for mid, mk in self.model.markets.items()}
        tx, chain_err = None, None
        try:
            tx = chain_call()
        except brownie.exceptions.VirtualMachineError as exc:
            chain_err = exc.revert_msg
        except brownie.exceptions.TransactionError as exc:
            tx, chain_err = self._recover_dropped(label, exc)
        ts = web3.eth.get_block("latest").timestamp
        if ts != self.now:
            raise Mismatch(f"{label}: block timestamp {ts} != pinned {self.now}")
        result, model_err = None, None
        try:
            result = model_call(self.now)
        except ModelError as exc:
            model_err = exc.revert_string()
        self.steps += 1
        self.log.append((label, chain_err))
        if chain_err != model_err:
            raise Mismatch(f"{label}: chain {'reverted ' + repr(chain_err) if chain_err else 'succeeded'}, model "
                           f"{'raised ' + repr(model_err) if model_err else 'succeeded'}")
        if chain_err:
            self.reverts += 1
        else:
            self._compare_events(label, tx)
        self.observe(label, chain_err, latches)
        if not self.defer_compare:
            self.compare(label)
            self.step_orders = {}
        for mid, mk in self.model.markets.items():
            if mk.fund_cash < 0:
                self.negative_cash.append((self.steps, label, mid, mk.fund_tuple()))
        return tx, result, chain_err

    def observe(self, label, err, latches_before) -> None:
        """Counts what the action reached (``coverage.Coverage``), from the model's events of it (already
        compared with the chain's), its revert, the distress latches and the orders it left partly filled."""
        partial = 0
        if not err and label.startswith("settle"):
            partial = sum(1 for h, o in self.step_orders.items() if 0 < self.model.filled_amount(h) < o.size)
        after = {mid: mk.fund_distressed for mid, mk in self.model.markets.items()}
        self.coverage.observe(label, [] if err else self.model.events, err, latches_before, after, partial)

    @staticmethod
    def _recover_dropped(label, exc):
        """Brownie occasionally reports an automined transaction as "dropped without known replacement" (about 1
        in 8,000 transactions in the deep runs). The node has the receipt: read it instead of failing the run."""
        import re

        from brownie.network.transaction import TransactionReceipt

        found = re.search(r"0x[0-9a-fA-F]{64}", str(exc))
        if "dropped" not in str(exc) or not found or web3.eth.get_transaction_receipt(found.group(0)) is None:
            raise exc
        tx = TransactionReceipt(found.group(0))
        if tx.status == 0:
            return None, tx.revert_msg
        return tx, None

    def _compare_events(self, label, tx):
        def chain_events(name):
            if tx is None or name not in tx.events:
                return []
            out = []
            for e in tx.events[name]:
                d = dict(e)
                for k, v in d.items():
                    if isinstance(v, str) and v.startswith("0x") and len(v) == 42:
                        d[k] = v.lower()
                    elif not isinstance(v, (bool, str)):
                        d[k] = int(v)
                out.append(d)
            return out

        for name in ("AdlFill", "Liquidated", "FundRefused", "FundAccepted", "AdlRemainderToFund",
                     "FundWatermarkUpdated", "OrderEpochBumped", "IndexSettled", "LossSocialized",
                     "LossUnsocialized", "FundingAccrued"):
            got = chain_events(name)
            want = [d for n, d in self.model.events if n == name]
            if got != want:
                raise Mismatch(f"{label}: {name} events differ:\n chain {got}\n model {want}")
        self.adl_fills.extend(chain_events("AdlFill"))

    # ------------------------------------------------------------------------------------------ comparison

    def chain_state(self) -> dict:
        """The chain's side of ``compare``, read in two JSON-RPC batches (the second: the queues' list heads)."""
        sides = [(mid, is_long) for mid in self.markets for is_long in (True, False)]
        reads = self.client.read_many(
            [(self.L, "freeCollaterals", (self.addrs,))] + [(self.P, "orderEpoch", (a,)) for a in self.addrs]
            + [(self.P, "sidePositions", (mid, is_long, ZERO, 2**256 - 1)) for mid, is_long in sides]
            + [(self.P, "queueSide", side) for side in sides]
            + [(self.P, name, (mid,)) for name in ("fundAccount", "marketIndex") for mid in self.markets]
            + [(self.T, "balanceOf", (self.perp.address,))])
        for r in reads:
            if isinstance(r, RpcError):
                raise r
        it = iter(reads)
        frees = next(it)
        epochs = [next(it) for _ in self.addrs]
        pages = [next(it) for _ in sides]
        bitmaps = [next(it) for _ in sides]
        funds = {mid: tuple(next(it)) for mid in self.markets}
        indices = {mid: tuple(next(it)) for mid in self.markets}
        vault = next(it)
        positions = {}
        for (mid, _), (accounts, poss, _) in zip(sides, pages):
            for a, p in zip(accounts, poss):
                positions[(mid, a.lower())] = tuple(v.lower() if isinstance(v, str) else v for v in p)
        queues = {key: (side.bitmap, {t: tuple(h) for t, h in side.heads.items()})
                  for key, side in zip(sides, self.client.queue_sides(sides, bitmaps))}
        return {
            "indices": indices,
            "free": {a: f for a, f in zip(self.addrs, frees) if f},
            "epoch": {a: e for a, e in zip(self.addrs, epochs) if e},
            "positions": positions,
            "queues": queues,
            "funds": funds,
            "vault": vault,
        }

    def model_state(self) -> dict:
        m = self.model
        return {
            "free": {a: f for a, f in m.free.items() if f and a in self.by_addr},
            "epoch": {a: e for a, e in m.epoch.items() if e and a in self.by_addr},
            "positions": {k: p.as_tuple() for k, p in m.positions.items()},
            "queues": {k: (q.bitmap, {t: tuple(h) for t, h in sorted(q.heads.items())})
                       for k, q in m.queues.items()},
            "funds": {mid: mk.fund_tuple() for mid, mk in m.markets.items()},
            "indices": {mid: mk.index_tuple() for mid, mk in m.markets.items()},
            "vault": m.vault,
        }

    def compare(self, label="initial", all_orders=False):
        """Whole-state comparison; filled amounts of this action's orders (of every order so far with
        ``all_orders``: a filled amount only changes when its order is used or cancelled)."""
        got, want = self.chain_state(), self.model_state()
        for key in got:
            if got[key] != want[key]:
                diff = _diff(got[key], want[key]) if isinstance(got[key], dict) else (got[key], want[key])
                raise Mismatch(f"after {label}: {key} differs (chain, model): {diff}")
        for h, order in (self.orders_used if all_orders else self.step_orders).items():
            c = self.P.call("filledAmount", h)
            if c != self.model.filled_amount(h):
                raise Mismatch(f"after {label}: filledAmount of {order} chain {c} model {self.model.filled_amount(h)}")

    def mark(self, mid) -> int:
        m = self.model.markets[mid]
        return m.answer * 10 ** (18 - ORACLE_DECIMALS)

    # ------------------------------------------------------------------------------------------ action helpers

    def deposit(self, account, amount):
        a = self.by_addr[addr(account)]
        if amount:
            self.mint(a, amount)
        return self.act(f"deposit({a}, {amount})", lambda: self.perp.deposit(amount, {"from": a}),
                        lambda now: self.model.deposit(a, amount))

    def deposit_for(self, payer, account, amount):
        if amount:
            self.mint(payer, amount)
        return self.act(f"depositFor({account}, {amount})",
                        lambda: self.perp.depositFor(account, amount, {"from": payer}),
                        lambda now: self.model.deposit_for(payer, account, amount))

    def deposit_for_many(self, payer, accounts, amounts):
        total = sum(amounts)
        if total:
            self.mint(payer, total)
        return self.act(f"depositForMany({len(accounts)}, {amounts})",
                        lambda: self.perp.depositForMany(accounts, amounts, {"from": payer}),
                        lambda now: self.model.deposit_for_many(payer, accounts, amounts))

    def withdraw(self, account, amount):
        return self.act(f"withdraw({account}, {amount})", lambda: self.perp.withdraw(amount, {"from": account}),
                        lambda now: self.model.withdraw(account, amount))

    def add_margin(self, account, mid, amount):
        return self.act(f"addMargin({account}, {mid}, {amount})",
                        lambda: self.perp.addMargin(mid, amount, {"from": account}),
                        lambda now: self.model.add_margin(account, mid, amount, now=now))

    def remove_margin(self, account, mid, amount):
        return self.act(f"removeMargin({account}, {mid}, {amount})",
                        lambda: self.perp.removeMargin(mid, amount, {"from": account}),
                        lambda now: self.model.remove_margin(account, mid, amount, now))

    def raw(self, call):
        """A transaction outside the model (token faucet, approvals) at the next pinned timestamp."""
        self.tick(1)
        self._pin_time()
        return call()

    def mint(self, account, amount):
        """Faucet + approve `amount` for `account` (token only; the vault does not change). Skipped when the
        signers were given a large balance and allowance up front (``preminted``)."""
        if self.preminted:
            return
        self.raw(lambda: self.env.token.faucet(account, amount, {"from": account}))
        self.raw(lambda: self.env.token.approve(self.perp, amount, {"from": account}))

    def set_price(self, mid, answer):
        oracle = self.markets[mid][1]
        self.tick(1)
        self._pin_time()
        oracle.setPrice(answer, {"from": self.deployer})
        self.model.set_price(mid, answer, self.now)
        self.log.append((f"setPrice({mid}, {answer})", None))

    def set_funding(self, mid, params):
        """The owner sets a market's funding (``perp.params.FundingParams``)."""
        return self.act(f"setFundingParams({mid}, {params.as_tuple()})",
                        lambda: self.perp.setFundingParams(mid, params.as_tuple(), {"from": self.deployer}),
                        lambda now: self.model.set_funding_params(self.deployer, mid, params, now))

    def set_params(self, mid, params):
        """The owner changes a market's parameters (within the bounds: ``params.problems()`` must be empty)."""
        def model_call(now):
            self.model.events = []  # Model.set_params is a plain setter: it does not start a new event list
            self.model.set_params(mid, params)

        return self.act(f"setMarketParams({mid})",
                        lambda: self.perp.setMarketParams(mid, params.as_tuple(), {"from": self.deployer}),
                        model_call)

    def set_paused(self, mid, paused):
        self.tick(1)
        self._pin_time()
        self.perp.setPaused(mid, paused, {"from": self.deployer})
        self.model.set_paused(mid, paused)
        self.log.append((f"setPaused({mid}, {paused})", None))

    def settle(self, matches, submitter=None):
        """``matches``: list of (maker, taker, fill_size, fill_price, maker_signer, taker_signer); signer None =
        the order's own account, else the signer object that signs instead (a forged signature). A pair in which
        neither order was given a role (``is_maker`` False on both) is signed in the roles of its places; the driver
        signs its own roles, and now and then puts them in the wrong places (OrderRoleMismatch)."""
        tuples, model_matches = [], []
        from perp.model import Match

        for maker, taker, fill_size, fill_price, ms, ts in matches:
            if not maker.is_maker and not taker.is_maker:
                maker = dataclasses.replace(maker, is_maker=True)
            for o in (maker, taker):
                self.orders_used[self.hasher(o)] = o
                self.step_orders[self.hasher(o)] = o
            tuples.append((maker.as_tuple(), self.sign(maker, ms), taker.as_tuple(), self.sign(taker, ts), fill_size,
                           fill_price, ZERO, ZERO))  # no ADL queue hints: the contract searches (small books)
            model_matches.append(Match(maker, taker, fill_size, fill_price, ms.address if ms else None,
                                       ts.address if ts else None))
        sub = submitter or self.keeper
        label = "settle" + ("Batch" if len(tuples) > 1 else "") + repr([(m.maker.account[:8], m.taker.account[:8],
                                                                         m.fill_size, m.fill_price) for m in
                                                                        model_matches])
        if len(tuples) == 1:
            return self.act(label, lambda: self.perp.settle(tuples[0], {"from": sub}),
                            lambda now: self.model.settle(model_matches[0], now))
        return self.act(label, lambda: self.perp.settleBatch(tuples, {"from": sub}),
                        lambda now: self.model.settle_batch(model_matches, now))

    def cancel_order(self, sender, order):
        self.orders_used[self.hasher(order)] = order
        self.step_orders[self.hasher(order)] = order
        return self.act(f"cancelOrder({sender}, {order.nonce})",
                        lambda: self.perp.cancelOrder(order.as_tuple(), {"from": sender}),
                        lambda now: self.model.cancel_order(sender, order))

    def cancel_all(self, sender):
        return self.act(f"cancelAllOrders({sender})", lambda: self.perp.cancelAllOrders({"from": sender}),
                        lambda now: self.model.cancel_all(sender))

    def liquidate(self, mid, account, keeper=None):
        k = keeper or self.keeper
        return self.act(f"liquidate({mid}, {account})", lambda: self.perp.liquidate(mid, account, {"from": k}),
                        lambda now: self.model.liquidate(k, mid, account, now))

    def liquidate_batch(self, mid, accounts, keeper=None):
        k = keeper or self.keeper
        tx, result, e = self.act(f"liquidateBatch({mid}, {len(accounts)})",
                                 lambda: self.perp.liquidateBatch(mid, accounts, {"from": k}),
                                 lambda now: self.model.liquidate_batch(k, mid, accounts, now))
        # (the count is the return value; through the forwarding Perpetual address Brownie does not read return
        # values from traces, so count the Liquidated events, one per liquidation)
        if tx is not None and len(tx.events["Liquidated"] if "Liquidated" in tx.events else []) != result:
            raise Mismatch(f"liquidateBatch liquidated {len(tx.events['Liquidated'])} on chain, model {result}")
        return tx, result, e

    def deleverage_fund(self, mid, keeper=None):
        k = keeper or self.keeper
        return self.act(f"deleverageFund({mid})", lambda: self.perp.deleverageFund(mid, {"from": k}),
                        lambda now: self.model.deleverage_fund(k, mid, now))

    def top_up(self, sender, mid, amount):
        if amount:
            self.mint(sender, amount)
        return self.act(f"topUpFund({mid}, {amount})", lambda: self.perp.topUpFund(mid, amount, {"from": sender}),
                        lambda now: self.model.top_up_fund(sender, mid, amount))

    def poke(self, mid):
        return self.act(f"pokeFund({mid})", lambda: self.perp.pokeFund(mid, {"from": self.keeper}),
                        lambda now: self.model.poke_fund(self.keeper, mid, now))


def _diff(a: dict, b: dict) -> dict:
    keys = set(a) | set(b)
    return {k: (a.get(k), b.get(k)) for k in sorted(keys, key=str) if a.get(k) != b.get(k)}
