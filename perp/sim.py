"""Crash simulation engine: one engine, two backends.

Given a scenario, the engine (``Engine``) builds the trader population (``perp.population``: deposits in one call,
positions opened by settling signed orders against a market maker in batches), then for every price step: moves
the oracles, lets the keeper (the scenario's latency and batch size) liquidate and deleverage, and checks every
invariant: the state invariants of ``perp.invariants``, the bystander rule, and the ADL event rules (trigger, side,
eligibility, rank order, prices). A violated invariant stops the run with ``SimulationHalted``. ``record()`` is the
run record that ``perp.report`` turns into the summary, JSON and plots.

The backends supply the primitives (one transaction or one read each):

- ``Simulation(w3, deployed, scenario)``: a chain (web3.py and eth-account only; ``deploy_for`` deploys). The keeper
  is ``perp.keeper.Keeper``; the audit reads the whole state after every step and the replay auditor follows every
  transaction's logs.
- ``ModelSimulation(scenario)``: the reference model (``perp.model``), no chain and no RPC; the same transactions,
  the same clock, an incremental audit. A shipped scenario gives the same report on both (``comparable``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .chain.abi import load_abi
from .chain.client import PerpClient
from .chain.rpc import Contract, RpcError
from .chain.tx import Sender, TxError, TxUnconfirmed, revert_reason
from .core import WAD, queue_indicator
from .invariants import bystanders, check_state
from .keeper import Keeper
from .orders import Order, match_tuple, sign_order
from .population import Trader, build, opening_order
from .replay import Replay
from .scenario import Scenario

GAS = 29_000_000
ORDER_EXPIRY = 2**40  # fixed, so that order hashes (and the report) are the same on every run
PAIRS_PER_BATCH = 60
STATE_NAMES = ("none", "healthy", "reduce-only", "margin-call", "liquidatable", "bankrupt")


class SimulationHalted(AssertionError):
    """An invariant failed during a run; the message names the invariant, the account and the numbers."""


@dataclass
class StepRecord:
    step: int
    prices: dict
    funds: dict  # market -> {cash, equity, size, net_notional, drawdown, distressed}
    open_interest: dict  # market -> (long, short) WAD
    funding: dict = field(default_factory=dict)  # market -> {rate (WAD per period), long_index, short_index (WAD)}
    liquidations: int = 0
    type1_fills: int = 0
    type2_fills: int = 0
    type2_reverts: int = 0
    refusals: int = 0

    def count(self, events) -> None:
        """Adds a step's events (``{"event", "args"}``) to its counts: liquidations, refusals, Type 1 and 2 fills."""
        for e in events:
            if e["event"] == "Liquidated":
                self.liquidations += 1
            elif e["event"] == "FundRefused":
                self.refusals += 1
            elif e["event"] == "AdlFill":
                if e["args"]["adlType"] == 1:
                    self.type1_fills += 1
                else:
                    self.type2_fills += 1


@dataclass
class Deployed:
    """Addresses of a deployment and the accounts that drive it (unlocked on the node)."""

    perp: str
    lens: str
    token: str
    oracles: dict  # market name -> aggregator address
    market_ids: dict  # market name -> id
    operator: str  # owns the mock oracles; pays deposits
    keeper: str
    oracle_decimals: int = 8


@dataclass
class RunRecord:
    """Everything a report needs about a finished run, read from the chain once at the end: ``perp.report`` is a
    pure function of it."""

    scenario: Scenario
    market_ids: dict  # name -> id
    scale: int
    steps: list  # StepRecord
    events: list  # {"step", "tx", "tx_index", "event", "args"}
    accounts: list  # final state of every account of the population
    final_funds: dict  # name -> {cash, size, open_notional, equity}
    transactions: int
    gas_used: int
    oracle_decimals: int = 8
    extra: dict = field(default_factory=dict)

    def mark_price(self, step: int, market: str) -> int:
        """The oracle price (WAD) the scenario set at ``step``."""
        d = self.oracle_decimals
        return int(self.scenario.market(market).path.points[step] * 10**d) * 10 ** (18 - d)


class Engine:
    """The crash simulation engine, the same on every backend: the population and its opening fills, the keeper's
    pass (latency, batches, pokes, Type 2), the audit after every step, the step records and the run record. A
    backend (``Simulation``: the chain; ``ModelSimulation``: the reference model) supplies the primitives below
    (``_deposit_for_many``, ``_settle_batch``, ``_set_answer``, ``_liquidatable``, ...), each one transaction or one
    read of the protocol."""

    backend = ""

    def _init_engine(self, scenario: Scenario, progress, oracle_decimals: int) -> None:
        self.scn = scenario
        self.progress = progress
        self.decimals = scenario.decimals
        self.scale = 10 ** (18 - self.decimals)
        self.oracle_decimals = oracle_decimals
        self.events: list = []
        self.steps: list[StepRecord] = []
        self.traders: list[Trader] = []
        self.bystanders: list[Trader] = []
        self.makers: tuple = ()  # (bid, ask): perp.population.build
        self.first_seen: dict = {}
        self.lights_before: dict = {}
        self.bystander_start: dict = {}
        self.tx_count = 0
        self.gas_used = 0
        # the time of the population; step s runs at clock_start + 1 + s * step_seconds (None: the node's own clock)
        self.clock_start = None
        self._step = None

    # ------------------------------------------------------------------ population

    def build_population(self) -> None:
        pop = build(self.scn)
        self.traders, self.bystanders, self.makers = pop.traders, pop.bystanders, pop.makers
        everyone = pop.everyone
        self._watch(everyone)
        self._deposit_all(everyone)
        self._open_positions()

    def _deposit_all(self, accounts: list) -> None:
        total = sum(a.deposit for a in accounts)
        limit = 10**12 * 10**self.decimals
        minted = 0
        while minted < total:
            amount = min(limit, total - minted)
            self._faucet(amount)
            minted += amount
        self._approve(total)
        for chunk in _chunks(accounts, 400):
            self._deposit_for_many(chunk)

    def _open_positions(self) -> None:
        pop = self.scn.population
        for rnd in range(pop.entry_rounds):
            frac = 0.0 if pop.entry_rounds == 1 else -1 + 2 * rnd / (pop.entry_rounds - 1)
            for m in self.scn.markets:
                price = m.start_price * (1 + Decimal(str(pop.entry_spread * frac)))
                self.set_price(m.name, price, None)
                cohort = [t for t in self.traders if t.market == m.name and t.entry_round == rnd]
                if cohort:
                    self._open_cohort(m.name, price, cohort)
        for m in self.scn.markets:
            self.set_price(m.name, m.path.points[0], None)

    def _open_cohort(self, market: str, price: Decimal, cohort: list) -> None:
        """Every trader of the cohort against its side's market maker's one order (a bid for the shorts, an ask
        for the longs), at the round's price, settled in batches of ``PAIRS_PER_BATCH``."""
        mid = self.market_ids[market]
        spec = self.scn.market(market)
        # the entries trade at the oracle price, or at the funding regime's premium over it (the rate's target)
        premium = spec.funding.premium if spec.funding is not None else 0
        p = int(price * (1 + premium) * WAD)
        sizes = {t.index: t.notional * self.scale * WAD // p for t in cohort}
        buy_total = sum(sizes[t.index] for t in cohort if not t.is_long)
        sell_total = sum(sizes[t.index] for t in cohort if t.is_long)
        maker_orders = {}
        for is_buy, total, maker in ((True, buy_total, self.makers[0]), (False, sell_total, self.makers[1])):
            if total:
                maker_orders[is_buy] = (self._order(maker, mid, is_buy, total, p, maker.leverage, is_maker=True), maker)
        pairs = []
        for t in opening_order(cohort):
            size = sizes[t.index]
            if size == 0:
                continue
            o = self._order(t, mid, t.is_long, size, p, t.leverage)
            pairs.append((maker_orders[not t.is_long], (o, t), size, p))
        for chunk in _chunks(pairs, PAIRS_PER_BATCH):
            self._settle_batch(chunk)

    def _order(self, who: Trader, mid: int, is_buy: bool, size: int, price: int, leverage: int,
               is_maker: bool = False) -> Order:
        who.nonce += 1
        return Order(account=who.address, market_id=mid, is_buy=is_buy, size=size, limit_price=price,
                     leverage=leverage, nonce=who.nonce, expiry=ORDER_EXPIRY, is_maker=is_maker)

    def mark_price(self, step: int, market: str) -> int:
        """The oracle price (WAD) the scenario set at `step`."""
        d = self.oracle_decimals
        return int(self.scn.market(market).path.points[step] * 10**d) * 10 ** (18 - d)

    def set_price(self, market: str, price: Decimal, step) -> None:
        self._set_answer(market, int(price * 10**self.oracle_decimals), step)

    # ------------------------------------------------------------------ steps

    def start(self) -> None:
        """Starts the run's clock, builds the population, records the queue before the crash and the bystanders'
        balances, and primes the audit that follows the run."""
        self._clock_start()
        self.build_population()
        self.lights_before = self.queue_lights()
        self.bystander_start = self._free_collaterals([b.address for b in self.bystanders])
        self.bystander_start = {b.address: self.bystander_start[b.address.lower()] for b in self.bystanders}
        self._prime_audit()

    def run(self) -> None:
        try:
            self.start()
            for step in range(self.scn.steps + 1):
                record = self.step(step)
                self.steps.append(record)
                if self.progress:
                    self.progress(step, record)
        finally:
            self._clock_stop()

    def step(self, step: int) -> StepRecord:
        self._step = step
        self._tick(step)
        first_event = len(self.events)
        if step > 0:
            for m in self.scn.markets:
                # a new answer when the price moves, and on every step once steps are long enough for the answer
                # to go stale (the oracle's own time: an unchanged price still needs a fresh round)
                if m.path.points[step] != m.path.points[step - 1] or self.scn.step_seconds > 1:
                    self.set_price(m.name, m.path.points[step], step)
        prices = {m.name: m.path.points[step] for m in self.scn.markets}
        record = StepRecord(step, {k: str(v) for k, v in prices.items()}, {}, {})
        pending = set()
        for m in self.scn.markets:
            pending |= self.keep(step, m, record)
        self._check_step(step, first_event, pending)
        for m in self.scn.markets:
            mid = self.market_ids[m.name]
            record.funds[m.name] = self._fund_view(mid)
            record.open_interest[m.name] = self._open_interest(mid)
            record.funding[m.name] = self._funding(mid)
        record.count(self.events[first_event:])
        return record

    def keep(self, step: int, m, record: StepRecord) -> set:
        """The keeper's pass over one market: liquidates what has been liquidatable for ``latency`` steps (in
        batches of the scenario's ``batch_size``), pokes the fund when its equity can have moved, calls Type 2 when
        the fund holds a position (a call that would revert for lack of capacity is recorded as ``Type2Reverted``).
        Returns the positions still waiting for the keeper (allowed to be underwater until processed)."""
        mid = self.market_ids[m.name]
        liquidatable = self._liquidatable(mid)
        for a in liquidatable:
            self.first_seen.setdefault((mid, a), step)
        due = [a for a in liquidatable if step - self.first_seen[(mid, a)] >= self.scn.keeper.latency]
        waiting = {(mid, a) for a in liquidatable if a not in due}
        if due:
            self._liquidate(mid, due)
        poke = step == 0 or bool(due) or m.path.points[step] != m.path.points[step - 1] or self.scn.step_seconds > 1
        if poke and self._mark(mid) is not None:
            self._poke(mid)
        for a in due:
            self.first_seen.pop((mid, a), None)
        if self.scn.keeper.type2 and self._fund_size(mid) != 0:
            reason = self._deleverage(mid)
            if reason is not None and reason.startswith("InsufficientAdlCapacity"):
                record.type2_reverts += 1
                self.events.append({"step": step, "tx": f"deleverageFund {m.name}", "tx_index": None,
                                    "event": "Type2Reverted", "args": {"reason": reason}})
        return waiting

    # ------------------------------------------------------------------ audit

    def check(self, step: int, first_event: int, pending: set) -> None:
        """Every invariant after the keeper has processed this step; raises SimulationHalted."""
        _halt_on(step, self._findings(pending))

    def _check_step(self, step: int, first_event: int, pending: set) -> None:
        self.check(step, first_event, pending)

    # ------------------------------------------------------------------ queue indicator and the run record

    def queue_lights(self) -> dict:
        """Lights (1-5, 0 = not eligible) of every position, by the protocol's ranking (``perp.core.ranking.queue_indicator``)."""
        out = {}
        for m in self.scn.markets:
            mid = self.market_ids[m.name]
            price = self._mark(mid)
            for is_long in (True, False):
                side = [_Held(a, p) for a, p in self._side(mid, is_long)]
                index = self._side_index_now(mid, is_long)
                for account, (_, _, _, lights) in queue_indicator(side, price, self.scale, index).items():
                    out[account] = lights
        return out

    def record(self) -> RunRecord:
        """The run record (final accounts and funds read from the backend now)."""
        everyone = self.traders + self.bystanders + list(self.makers)
        free = self._free_collaterals([t.address for t in everyone])
        positions: dict = {}
        for name, mid in self.market_ids.items():
            for account, fields in self._position_views(mid):
                positions.setdefault(account.lower(), {})[name] = fields
        accounts = []
        for t in everyone:
            key = t.address.lower()
            accounts.append({"address": t.address, "role": t.role, "market": t.market,
                             "side": "long" if t.is_long else "short", "leverage": t.leverage, "deposit": t.deposit,
                             "free_collateral": free[key], "positions": positions.get(key, {}),
                             "queue_lights_before": self.lights_before.get(key)})
        funds = {name: self._final_fund(mid) for name, mid in self.market_ids.items()}
        return RunRecord(self.scn, dict(self.market_ids), self.scale, list(self.steps), list(self.events),
                         accounts, funds, self.tx_count, self.gas_used, self.oracle_decimals,
                         extra={"backend": self.backend, "clock_start": self.clock_start})


def _halt_on(step: int, found: list) -> None:
    if found:
        raise SimulationHalted(f"step {step}: invariant violated:\n  " + "\n  ".join(map(str, found)))


def _position_fields(size: int, open_notional: int, margin: int, equity: int, state: int) -> dict:
    return {"size": size, "open_notional": open_notional, "margin": margin, "equity": equity, "state": int(state)}


class Simulation(Engine):
    """The engine on a chain (web3.py and eth-account only): every primitive is a transaction or an ``eth_call``
    through ``perp.chain``; the audit reads the whole state after every step and the replay auditor follows every
    transaction's logs. ``Simulation(w3, deployed, scenario).run()``."""

    backend = "chain"

    def __init__(self, w3, dep: Deployed, scenario: Scenario, progress=None):
        self._init_engine(scenario, progress, dep.oracle_decimals)
        self.w3 = w3
        self.dep = dep
        self.market_ids = dict(dep.market_ids)
        self.client = PerpClient(w3, dep.perp, dep.lens, dep.token)
        self.rpc = self.client.rpc
        self.perp = self.client.perp
        self.lens = self.client.lens
        self.token = Contract(self.rpc, dep.token, load_abi("MockStablecoin"))
        self.oracles = {n: Contract(self.rpc, a, load_abi("MockAggregator")) for n, a in dep.oracles.items()}
        self.chain_id = self.rpc.chain_id()
        self.operator = Sender(self.rpc, address=dep.operator)
        self.keeper = Keeper(self.client, Sender(self.rpc, address=dep.keeper), batch_size=scenario.keeper.batch_size,
                             type2=False, max_gas=GAS, gas=GAS, on_receipt=self._on_keeper_receipt, log=None)
        self.keeper.names = {mid: name for name, mid in dep.market_ids.items()}
        from .audit import Audit

        self.audit = Audit(w3, dep.perp, dep.lens)
        self.replay = Replay(w3, dep.perp, dep.lens)
        self._replay_findings: list = []
        self._maker_sigs: dict = {}

    # ------------------------------------------------------------------ chain plumbing

    def send(self, contract: Contract, fn: str, args: tuple, sender: str, step: int | None, label: str) -> dict:
        s = self.operator if sender == self.dep.operator else self.keeper.sender
        try:
            receipt = s.transact(contract, fn, *args, gas=GAS)
        except TxUnconfirmed as exc:
            raise SimulationHalted(f"{label} in step {step}: the node went away: {exc}") from None
        except TxError as exc:
            raise SimulationHalted(f"{label} reverted in step {step}: {exc}") from None
        self._collect(receipt, step, label)
        return receipt

    def try_call(self, contract: Contract, fn: str, args: tuple, sender: str) -> str | None:
        """None if the call would succeed, else the decoded custom error."""
        return revert_reason(contract, fn, args, sender)

    def _on_keeper_receipt(self, receipt: dict, label: str) -> None:
        self._collect(receipt, self._step, label)

    def _collect(self, receipt, step, label) -> None:
        self.tx_count += 1
        self.gas_used += int(receipt["gasUsed"], 16)
        for log in receipt["logs"]:
            decoded = self.perp.decode_log(log)
            if decoded is None:
                continue
            name, args = decoded
            self.events.append({"step": step, "tx": label, "tx_index": self.tx_count, "event": name,
                                "args": {k: _plain(v) for k, v in args.items()}})
        if self.replay.to_block is not None:  # primed: follow every transaction of the run
            self._replay_findings += self.replay.apply_logs(receipt["logs"])

    # The run's clock: the node's block time is held at one value for the population and at one more second per
    # price step (Anvil's ``anvil_setBlockTimestampInterval(0)`` and ``evm_setNextBlockTimestamp``), so that a run
    # does not depend on how fast the node mines and the reference model can keep the same times. A node without
    # those methods keeps its own clock (``clock_start`` None).

    def _clock_start(self) -> None:
        try:
            latest = int(self.rpc.request("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
            self.rpc.request("anvil_setBlockTimestampInterval", [0])
            self.rpc.request("evm_setNextBlockTimestamp", [latest + 1])
            self.clock_start = latest + 1
        except RpcError:
            self.clock_start = None

    def _tick(self, step: int) -> None:
        if self.clock_start is not None:
            self.rpc.request("evm_setNextBlockTimestamp", [self.clock_start + 1 + step * self.scn.step_seconds])

    def _clock_stop(self) -> None:
        if self.clock_start is not None:
            try:
                self.rpc.request("anvil_removeBlockTimestampInterval", [])
            except (RpcError, OSError):
                pass

    # ------------------------------------------------------------------ the primitives

    def _watch(self, accounts: list) -> None:
        self.audit.accounts.update(t.address for t in accounts)
        self.audit.accounts.update({self.dep.keeper, self.dep.operator})  # keeper rewards land in free collateral

    def _faucet(self, amount: int) -> None:
        self.send(self.token, "faucet", (self.dep.operator, amount), self.dep.operator, None, "faucet")

    def _approve(self, total: int) -> None:
        self.send(self.token, "approve", (self.dep.perp, total), self.dep.operator, None, "approve")

    def _deposit_for_many(self, chunk: list) -> None:
        args = ([a.address for a in chunk], [a.deposit for a in chunk])
        self.send(self.perp, "depositForMany", args, self.dep.operator, None, "depositForMany")

    def _settle_batch(self, pairs: list) -> None:
        matches = []
        for (mo, maker), (o, t), size, p in pairs:
            msig = self._maker_sigs.get(id(mo))
            if msig is None:
                msig = self._maker_sigs[id(mo)] = (mo, sign_order(mo, maker.key, self.chain_id, self.dep.perp))
            matches.append(match_tuple(mo, msig[1], o, sign_order(o, t.key, self.chain_id, self.dep.perp), size, p))
        self.send(self.perp, "settleBatch", (matches,), self.dep.operator, None, "settleBatch")

    def _set_answer(self, market: str, answer: int, step) -> None:
        self.send(self.oracles[market], "setPrice", (answer,), self.dep.operator, step, f"setPrice {market}")

    def _liquidatable(self, mid: int) -> list:
        return self.keeper.liquidatable(mid)

    def _liquidate(self, mid: int, accounts: list) -> None:
        self.keeper.liquidate(mid, accounts)

    def _mark(self, mid: int):
        return self.client.mark_price(mid)

    def _poke(self, mid: int) -> None:
        self.keeper.poke(mid)

    def _fund_size(self, mid: int) -> int:
        return self.client.fund(mid).size

    def _deleverage(self, mid: int) -> str | None:
        return self.keeper.deleverage(mid)

    def _fund_view(self, mid: int) -> dict:
        f = self.client.fund_view(mid)
        return {"cash": f.cash, "size": f.size, "equity": f.equity, "net_notional": f.net_notional,
                "drawdown": f.drawdown, "distressed": f.distressed}

    def _open_interest(self, mid: int) -> tuple:
        return self.last_snapshot.open_interest(mid)

    def _side(self, mid: int, is_long: bool) -> list:
        return self.client.side(mid, is_long)

    def _free_collaterals(self, addresses: list) -> dict:
        return self.client.free_collaterals(addresses)

    def _side_index_now(self, mid: int, is_long: bool) -> int:
        f = self.client.funding_state(mid)
        return f.long_index_now if is_long else f.short_index_now

    def _funding(self, mid: int) -> dict:
        f = self.client.funding_state(mid)
        return {"rate": f.rate, "long_index": f.long_index_now, "short_index": f.short_index_now}

    def _position_views(self, mid: int) -> list:
        return [(v.account, _position_fields(v.size, v.open_notional, v.margin, v.equity, v.state))
                for v in self.client.position_views(mid)]

    def _final_fund(self, mid: int) -> dict:
        f = self.client.fund_view(mid)
        return {"cash": f.cash, "size": f.size, "open_notional": f.open_notional, "equity": f.equity}

    def _prime_audit(self) -> None:
        self._replay_findings += self.replay.prime()

    def _findings(self, pending: set) -> list:
        snap = self.audit.snapshot()
        self.last_snapshot = snap
        found = check_state(snap, after_keeper=True, exempt=pending) + bystanders(self.bystander_start, snap)
        found += self._replay_findings
        self._replay_findings = []
        return found


# Anvil's first two dev accounts: the operator and the keeper of a `perp simulate` run on its own fresh Anvil. The
# model backend uses the same addresses by default, so that the events name the same keeper on both backends.
DEVNET_OPERATOR = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEVNET_KEEPER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MODEL_CLOCK_START = 1_700_000_000  # the model backend's time of the population (chain: the node's time then)


class ModelSimulation(Engine):
    """The engine on the reference model (``perp.model.Model``, exact integer mirror of the contracts), no chain:
    each primitive is one model action, counted as the transaction the chain would send (the collateral token's
    ``faucet`` and ``approve`` have no state in the model and only count). The clock is the chain backend's: one
    time for the population, one more second per step. Reverts halt the run as on the chain.

    The audit is incremental, and exact: every state invariant of ``perp.invariants`` after each step in which a
    transaction ran (a step without one leaves the state, and so the findings, as they were), and the ADL event
    rules (``perp.invariants.adl_fill``, ``counterparty_equity``) on every keeper transaction's events, with each
    counterparty's size before its fill found by walking the transaction's events back from the state after it.

    ``model``: a ``perp.model.Model`` of the scenario's collateral decimals to run on (e.g. one that records the
    ADL books, ``perp.lab.compare``); ``keeper``/``operator``: the addresses (default the devnet's, as the chain
    backend's fresh Anvil has them); ``clock_start``: the population's time."""

    backend = "model"

    def __init__(self, scenario: Scenario, progress=None, model=None, keeper: str = DEVNET_KEEPER,
                 operator: str = DEVNET_OPERATOR, clock_start: int = MODEL_CLOCK_START):
        from .model import Model
        from .params import default_params
        from .scenario import ScenarioError

        self._init_engine(scenario, progress, MODEL_ORACLE_DECIMALS)
        self.model = model if model is not None else Model(scenario.decimals)
        if self.model.decimals != scenario.decimals:
            raise ValueError(f"the model has {self.model.decimals} collateral decimals, the scenario "
                             f"{scenario.decimals}")
        self.keeper_address = keeper.lower()
        self.operator_address = operator.lower()
        self.clock_start = clock_start
        self.now = clock_start
        self.market_ids = {}
        for m in scenario.markets:
            params = default_params(m.name, scenario.decimals).with_(**m.params)
            problems = params.problems(scenario.decimals)
            if problems:
                raise ScenarioError(f"markets.{m.name}.params: " + "; ".join(problems))
            mid = self.model.create_market(params, int(m.start_price * 10**MODEL_ORACLE_DECIMALS), self.now,
                                           MODEL_ORACLE_DECIMALS)
            self.market_ids[m.name] = mid
            if m.funding is not None:
                self.model.set_funding_params(self.operator_address, mid, m.funding.params, self.now)
            seed = int(m.fund_seed * 10**scenario.decimals)
            if seed > 0:
                self.model.top_up_fund(self.operator_address, mid, seed)
        self._version = dict.fromkeys(self.market_ids.values(), 0)  # bumped by every action that moves positions
        self._scans: dict = {}  # market -> (price, version, liquidatable accounts)
        self._interest: dict = {}  # market -> (version, open interest)
        self._dirty = True  # a transaction ran since the last audit
        # since the last audit: the markets whose positions or fund a transaction moved, and those repriced
        self._moved: set = set(self.market_ids.values())
        self._repriced: set = set()
        self._rule_findings: list = []
        self.type2_calls = 0

    # ------------------------------------------------------------------ transactions

    def _send(self, label: str, step, action, *args, markets=(), repriced=()):
        """One model action as one transaction: a revert halts the run (as ``Simulation.send``); its events are
        recorded as the chain's logs are, with the transaction's index."""
        from .core import ModelError

        self.model.events = []  # the model resets them in each action; a mock-only call (setPrice) emits none
        try:
            out = action(*args)
        except ModelError as exc:
            raise SimulationHalted(f"{label} reverted in step {step}: {_chain_style(exc)}") from None
        self._record_tx(label, step, markets, repriced)
        return out

    def _record_tx(self, label: str, step, markets=(), repriced=()) -> None:
        """``markets``: those whose positions or fund the transaction may have moved; ``repriced``: those whose
        oracle it moved."""
        self.tx_count += 1
        self._dirty = True
        self._moved.update(markets)
        self._repriced.update(repriced)
        for mid in markets:
            self._version[mid] += 1
        for name, args in self.model.events:
            self.events.append({"step": step, "tx": label, "tx_index": self.tx_count, "event": name,
                                "args": dict(args)})

    def _clock_start(self) -> None:
        self.now = self.clock_start

    def _tick(self, step: int) -> None:
        self.now = self.clock_start + 1 + step * self.scn.step_seconds

    def _clock_stop(self) -> None:
        pass

    # ------------------------------------------------------------------ the primitives

    def _watch(self, accounts: list) -> None:
        pass

    def _faucet(self, amount: int) -> None:
        self._send("faucet", None, lambda: None)

    def _approve(self, total: int) -> None:
        self._send("approve", None, lambda: None)

    def _deposit_for_many(self, chunk: list) -> None:
        self._send("depositForMany", None, self.model.deposit_for_many, self.operator_address,
                   [a.address for a in chunk], [a.deposit for a in chunk])

    def _settle_batch(self, pairs: list) -> None:
        from .model import Match

        matches = [Match(mo, o, size, p) for (mo, _), (o, _), size, p in pairs]
        mids = {mo.market_id for (mo, _), _, _, _ in pairs}
        self._send("settleBatch", None, self.model.settle_batch, matches, self.now, markets=mids)

    def _set_answer(self, market: str, answer: int, step) -> None:
        mid = self.market_ids[market]
        self._send(f"setPrice {market}", step, self.model.set_price, mid, answer, self.now, repriced=(mid,))

    def _mark(self, mid: int):
        from .core import ModelError

        try:
            return self.model.mark_price(mid, self.now)
        except ModelError:
            return None

    def _liquidatable(self, mid: int) -> list:
        """As the keeper's scan of the lens (both sides in storage order); [] while the oracle is unusable. The scan
        is reused while neither the mark nor the market's positions changed."""
        price = self._mark(mid)
        if price is None:
            return []
        cached = self._scans.get(mid)
        # (with funding, values move with time as well: the lens counts the funding accrued to now)
        when = self.now if self.model.markets[mid].funding_period else None
        if cached is not None and cached[0] == (price, when) and cached[1] == self._version[mid]:
            return list(cached[2])
        model = self.model
        found = [a for is_long in (True, False) for a in model.side_accounts(mid, is_long)
                 if model.is_liquidatable(mid, a, price, self.now)]
        self._scans[mid] = ((price, when), self._version[mid], found)
        return list(found)

    def _liquidate(self, mid: int, accounts: list) -> None:
        """``liquidateBatch`` in batches of the scenario's ``batch_size`` (the chain's keeper also halves a batch that
        would not fit a block: gas has no model here, see docs/RISK_LAB.md)."""
        name = self._name(mid)
        size = self.scn.keeper.batch_size
        for i in range(0, len(accounts), size):
            chunk = accounts[i : i + size]
            self._send(f"liquidateBatch {name}", self._step, self.model.liquidate_batch, self.keeper_address, mid,
                       chunk, self.now, markets=(mid,))
            self._rules(self.model.events, mid, None)

    def _poke(self, mid: int) -> None:
        # the fund's high-water mark and latch only: no state invariant reads them
        self._send(f"pokeFund {self._name(mid)}", self._step, self.model.poke_fund, self.keeper_address, mid, self.now)

    def _fund_size(self, mid: int) -> int:
        return self.model.markets[mid].fund_size

    def _deleverage(self, mid: int) -> str | None:
        """Type 2 if ``deleverageFund`` succeeds now (one transaction), else the reason it reverted (nothing sent,
        as the chain's keeper previews the call first)."""
        from .core import Fund, ModelError

        mk = self.model.markets[mid]
        before = Fund(mk.fund_cash, mk.fund_size, mk.fund_open_notional)
        try:
            self.model.deleverage_fund(self.keeper_address, mid, self.now)
        except ModelError as exc:
            return _chain_style(exc)
        self._record_tx(f"deleverageFund {self._name(mid)}", self._step, (mid,))
        self.type2_calls += 1
        self._rules(self.model.events, mid, before)
        return None

    def _name(self, mid: int) -> str:
        return next(n for n, i in self.market_ids.items() if i == mid)

    def _fund_view(self, mid: int) -> dict:
        """As ``PerpLens.fundState`` at mark."""
        from .core import notional_up
        from .core.valuation import fund_drawdown

        from .core import fund_equity

        mk = self.model.markets[mid]
        price = self.model.mark_price(mid, self.now)
        on = self.model.view_fund_open_notional(mid, self.now)
        equity = fund_equity(mk.fund_cash, mk.fund_size, on, price, self.scale)
        return {"cash": mk.fund_cash, "size": mk.fund_size, "equity": equity,
                "net_notional": notional_up(abs(mk.fund_size), price, self.scale),
                "drawdown": fund_drawdown(mk.fund_hwm, equity), "distressed": mk.fund_distressed}

    def _open_interest(self, mid: int) -> tuple:
        """(long, short) open interest, fund included (``ProtocolState.open_interest``), summed again only after a
        transaction moved the market's positions."""
        cached = self._interest.get(mid)
        if cached is None or cached[0] != self._version[mid]:
            cached = self._interest[mid] = (self._version[mid], self.model.state().open_interest(mid))
        return cached[1]

    def _side(self, mid: int, is_long: bool) -> list:
        return [(a, self.model.positions[(mid, a)]) for a in self.model.side_accounts(mid, is_long)]

    def _free_collaterals(self, addresses: list) -> dict:
        return {a.lower(): self.model.free_collateral(a) for a in addresses}

    def _side_index_now(self, mid: int, is_long: bool) -> int:
        f = self.model.funding_state(mid, self.now)
        return f[5] if is_long else f[6]

    def _funding(self, mid: int) -> dict:
        f = self.model.funding_state(mid, self.now)
        return {"rate": f[1], "long_index": f[5], "short_index": f[6]}

    def _position_views(self, mid: int) -> list:
        from .core.valuation import value_position

        price = self.model.mark_price(mid, self.now)
        params = self.model.markets[mid].params
        out = []
        for is_long in (True, False):
            for a, p in self._side(mid, is_long):
                on = self.model.view_open_notional(mid, p, self.now)  # as the lens values it now
                v = value_position(p.size, on, p.margin, price, self.scale, params)
                out.append((a, _position_fields(p.size, on, p.margin, v.equity, v.state)))
        return out

    def _final_fund(self, mid: int) -> dict:
        from .core import fund_equity

        mk = self.model.markets[mid]
        price = self.model.mark_price(mid, self.now)
        on = self.model.view_fund_open_notional(mid, self.now)
        return {"cash": mk.fund_cash, "size": mk.fund_size, "open_notional": on,
                "equity": fund_equity(mk.fund_cash, mk.fund_size, on, price, self.scale)}

    # ------------------------------------------------------------------ audit

    def _prime_audit(self) -> None:
        self._dirty = True

    def _rules(self, events: list, mid: int, fund_before) -> None:
        """The ADL event rules on one keeper transaction's events (the replay auditor's, on the chain)."""
        from .invariants import Finding, adl_fill, counterparty_equity

        model = self.model
        # sizes before each event, walked back from the state after the transaction
        size = {}
        before = [None] * len(events)
        for i in range(len(events) - 1, -1, -1):
            name, a = events[i]
            if name == "AdlFill":
                acct = a["account"]
                if acct not in size:
                    p = model.positions.get((a["marketId"], acct))
                    size[acct] = p.size if p is not None else 0
                size[acct] -= a["sizeDelta"]
                before[i] = size[acct]
            elif name == "Liquidated":
                size[a["account"]] = a["size"]
        liquidation, refused, last, cut = None, False, None, {}
        for i, (name, a) in enumerate(events):
            if name == "Liquidated":
                liquidation, refused, last = a, False, None
            elif name == "FundRefused":
                refused = True
            elif name == "AdlFill":
                who = f"{a['account']} in market {a['marketId']} (type {a['adlType']}, rank {a['rank']})"
                for rule, detail in adl_fill(a, before[i], last, liquidation, refused, fund_before, self.scale):
                    self._rule_findings.append(Finding(rule, who, f"{detail} (tx {self.tx_count})"))
                last = a
                if a["adlType"] == 1 and liquidation is not None:
                    cut[a["account"]] = (a["marketId"], liquidation["markPrice"], who)
        for acct, (m, mark, who) in cut.items():  # its position after the transaction
            p = model.positions.get((m, acct))
            if p is not None:
                for rule, detail in counterparty_equity(p.size, p.open_notional, p.margin, mark, self.scale):
                    self._rule_findings.append(Finding(rule, who, f"{detail} (tx {self.tx_count})"))

    def _check_step(self, step: int, first_event: int, pending: set) -> None:
        """The step's audit: the whole state only when a transaction ran since the last audit (only a transaction
        changes the model's state, so the findings of an unchanged state are those of the last audit, none)."""
        if self._dirty or self._rule_findings:
            _halt_on(step, self._findings(pending, everywhere=False))

    def _findings(self, pending: set, everywhere: bool = True) -> list:
        """Every state invariant: conservation and the bystander rule over the whole state, the others over every
        market; with ``everywhere`` False, only where a transaction since the last audit can have changed them: the
        per-market ones (balanced book, fund cash, ADL queue, position shape, no bad debt) in the markets whose
        positions or fund moved, no bad debt also in those only repriced (the others' positions, fund, queue and
        mark are as they were at the last audit). Then the ADL event rules' findings of the transactions since."""
        from .core import ProtocolState
        from .invariants import conservation, no_bad_debt

        state = self.model.state()

        def part(markets):
            return ProtocolState(state.vault_balance, state.free,
                                 {k: p for k, p in state.positions.items() if k[0] in markets},
                                 {m: f for m, f in state.funds.items() if m in markets},
                                 {k: q for k, q in state.queues.items() if k[0] in markets},
                                 {m: x for m, x in state.marks.items() if m in markets}, state.scale,
                                 state.queue_known, {m: x for m, x in state.indices.items() if m in markets})

        every = set(self.market_ids.values())
        moved = every if everywhere else self._moved
        found = conservation(state)
        found += check_state(state if moved == every else part(moved), after_keeper=True, exempt=pending,
                             skip=("conservation",))
        repriced = set() if everywhere else self._repriced - moved
        if repriced:
            found += no_bad_debt(part(repriced), pending)
        found += bystanders(self.bystander_start, state) + self._rule_findings
        self._rule_findings = []
        self._dirty = False
        self._moved, self._repriced = set(), set()
        return found


MODEL_ORACLE_DECIMALS = 8  # the devnet mock feeds' decimals (perp.deploy), kept by the model backend


def _chain_style(exc) -> str:
    """A model error as the chain's keeper decodes the revert (``perp.chain.rpc.Contract.decode_error``):
    ``Name(arg, ...)``."""
    return f"{exc.name}({', '.join(str(a) for a in exc.args_)})"


# ------------------------------------------------------------------------------------------------ a whole run


def deploy_for(operator: Sender, scn: Scenario, keeper: str) -> Deployed:
    """A fresh devnet deployment for scenario ``scn`` (``perp.deploy.deploy_devnet``): its markets listed at their
    start prices (the ADL queue's reference price), its parameter overrides, its funding, its fund seeds. ``operator`` (an unlocked devnet account) deploys,
    owns the mock oracles and pays the deposits; ``keeper`` is the keeper's unlocked account."""
    from .deploy import deploy_devnet, set_funding_params, set_market_params, top_up_fund
    from .params import MarketParams
    from .scenario import ScenarioError

    made = deploy_devnet(operator, decimals=scn.decimals, markets=[(m.name, m.start_price) for m in scn.markets],
                         fund_seed=0)
    for m in scn.markets:
        info = made.manifest.markets[m.name]
        params = MarketParams(**info["params"]).with_(**m.params)
        problems = params.problems(scn.decimals)
        if problems:
            raise ScenarioError(f"markets.{m.name}.params: " + "; ".join(problems))
        set_market_params(operator, made.perp, info["id"], params)
        info["params"] = dict(params.__dict__)
        if m.funding is not None:
            set_funding_params(operator, made.perp, info["id"], m.funding.params)
        top_up_fund(operator, made.perp, made.token, info["id"], int(m.fund_seed * 10**scn.decimals), faucet=True)
    return Deployed(perp=made.perp.address, lens=made.lens.address, token=made.token.address,
                    oracles={n: c.address for n, c in made.oracles.items()},
                    market_ids={n: i["id"] for n, i in made.manifest.markets.items()},
                    operator=operator.address, keeper=keeper)


@dataclass
class _Held:
    account: str
    p: object

    def __getattr__(self, name):
        return getattr(self.p, name)


def _plain(v):
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i : i + n]


def comparable(report: dict) -> dict:
    """The part of a JSON report (``perp.report.build``) that must be the same on both backends, to the unit:
    everything but the gas (0 on the model), the events only the contracts emit (``CHAIN_ONLY_EVENTS``: the model
    keeps their state, not their logs) and the event fields only the contracts fill (``CHAIN_ONLY_ARGS``: the
    EIP-712 order hashes, which need the chain id and the contract's address). A copy; the report is not changed."""
    import copy

    out = copy.deepcopy(report)
    out["summary"].pop("gas_used", None)
    out["events"] = [e for e in out["events"] if e["event"] not in CHAIN_ONLY_EVENTS]
    for e in out["events"]:
        for k in CHAIN_ONLY_ARGS.get(e["event"], ()):
            e["args"].pop(k, None)
    return out


# Events of the contracts that the reference model does not emit (``perp.model``'s docstring lists those it does),
# and fields of the shared events that only the contracts fill.
CHAIN_ONLY_EVENTS = frozenset({"Deposited", "PositionUpdated", "FundUpdated"})
CHAIN_ONLY_ARGS = {"Trade": ("buyOrderHash", "sellOrderHash")}


__all__ = ["CHAIN_ONLY_EVENTS", "Deployed", "Engine", "ModelSimulation", "RunRecord", "Simulation",
           "SimulationHalted", "StepRecord", "RpcError", "comparable"]
