"""Crash simulation engine (web3.py and eth-account only).

Given a deployment and a scenario, it builds the trader population (``perp.population``: deposits in one call,
positions opened by settling signed orders against a market maker in batches), then for every price step: moves
the oracles, lets the keeper (``perp.keeper.Keeper``, with the scenario's latency) liquidate and deleverage, and
checks every invariant: the state invariants of ``perp.invariants`` on the chain state, the bystander rule, and
the event rules (ADL trigger, side, eligibility, rank order, prices) through the replay auditor, which follows every
transaction of the run. A violated invariant stops the run with ``SimulationHalted``. ``Simulation.record()`` is
the run record that ``perp.report`` turns into the summary, JSON and plots.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .chain.abi import load_abi
from .chain.client import PerpClient
from .chain.rpc import Contract, RpcError
from .chain.tx import Sender, TxError, revert_reason
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


class Simulation:
    def __init__(self, w3, dep: Deployed, scenario: Scenario, progress=None):
        self.w3 = w3
        self.dep = dep
        self.scn = scenario
        self.progress = progress
        self.client = PerpClient(w3, dep.perp, dep.lens, dep.token)
        self.rpc = self.client.rpc
        self.perp = self.client.perp
        self.lens = self.client.lens
        self.token = Contract(self.rpc, dep.token, load_abi("MockStablecoin"))
        self.oracles = {n: Contract(self.rpc, a, load_abi("MockAggregator")) for n, a in dep.oracles.items()}
        self.chain_id = self.rpc.chain_id()
        self.decimals = scenario.decimals
        self.scale = 10 ** (18 - self.decimals)
        self.events: list = []
        self.steps: list[StepRecord] = []
        self.traders: list[Trader] = []
        self.bystanders: list[Trader] = []
        self.maker: Trader | None = None
        self.first_seen: dict = {}
        self.lights_before: dict = {}
        self.bystander_start: dict = {}
        self.tx_count = 0
        self.gas_used = 0
        self.operator = Sender(self.rpc, address=dep.operator)
        self.keeper = Keeper(self.client, Sender(self.rpc, address=dep.keeper), batch_size=scenario.keeper.batch_size,
                             type2=scenario.keeper.type2, max_gas=GAS, gas=GAS, on_receipt=self._on_keeper_receipt,
                             log=None)
        self.keeper.names = {mid: name for name, mid in dep.market_ids.items()}
        from .audit import Audit

        self.audit = Audit(w3, dep.perp, dep.lens)
        self.replay = Replay(w3, dep.perp, dep.lens)
        self._replay_findings: list = []
        self._step = None

    # ------------------------------------------------------------------ chain plumbing

    def send(self, contract: Contract, fn: str, args: tuple, sender: str, step: int | None, label: str) -> dict:
        s = self.operator if sender == self.dep.operator else self.keeper.sender
        try:
            receipt = s.transact(contract, fn, *args, gas=GAS)
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

    # ------------------------------------------------------------------ population

    def build_population(self) -> None:
        pop = build(self.scn)
        self.traders, self.bystanders, self.maker = pop.traders, pop.bystanders, pop.maker
        everyone = pop.everyone
        self.audit.accounts.update(t.address for t in everyone)
        self.audit.accounts.update({self.dep.keeper, self.dep.operator})  # keeper rewards land in free collateral
        self._deposit_all(everyone)
        self._open_positions()

    def _deposit_all(self, accounts: list) -> None:
        op = self.dep.operator
        total = sum(a.deposit for a in accounts)
        limit = 10**12 * 10**self.decimals
        minted = 0
        while minted < total:
            amount = min(limit, total - minted)
            self.send(self.token, "faucet", (op, amount), op, None, "faucet")
            minted += amount
        self.send(self.token, "approve", (self.dep.perp, total), op, None, "approve")
        for chunk in _chunks(accounts, 400):
            args = ([a.address for a in chunk], [a.deposit for a in chunk])
            self.send(self.perp, "depositForMany", args, op, None, "depositForMany")

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
        mid = self.dep.market_ids[market]
        p = int(price * WAD)
        maker = self.maker
        sizes = {t.index: t.notional * self.scale * WAD // p for t in cohort}
        buy_total = sum(sizes[t.index] for t in cohort if not t.is_long)
        sell_total = sum(sizes[t.index] for t in cohort if t.is_long)
        maker_orders = {}
        for is_buy, total in ((True, buy_total), (False, sell_total)):
            if total:
                o = self._order(maker, mid, is_buy, total, p, maker.leverage)
                maker_orders[is_buy] = (o, sign_order(o, maker.key, self.chain_id, self.dep.perp))
        matches = []
        for t in opening_order(cohort):
            size = sizes[t.index]
            if size == 0:
                continue
            o = self._order(t, mid, t.is_long, size, p, t.leverage)
            mo, msig = maker_orders[not t.is_long]
            matches.append(match_tuple(mo, msig, o, sign_order(o, t.key, self.chain_id, self.dep.perp), size, p))
        for chunk in _chunks(matches, PAIRS_PER_BATCH):
            self.send(self.perp, "settleBatch", (chunk,), self.dep.operator, None, "settleBatch")

    def _order(self, who: Trader, mid: int, is_buy: bool, size: int, price: int, leverage: int) -> Order:
        who.nonce += 1
        return Order(account=who.address, market_id=mid, is_buy=is_buy, size=size, limit_price=price,
                     leverage=leverage, nonce=who.nonce, expiry=ORDER_EXPIRY)

    def mark_price(self, step: int, market: str) -> int:
        """The oracle price (WAD) the scenario set at `step`."""
        d = self.dep.oracle_decimals
        return int(self.scn.market(market).path.points[step] * 10**d) * 10 ** (18 - d)

    def set_price(self, market: str, price: Decimal, step) -> None:
        answer = int(price * 10**self.dep.oracle_decimals)
        self.send(self.oracles[market], "setPrice", (answer,), self.dep.operator, step, f"setPrice {market}")

    # ------------------------------------------------------------------ steps

    def start(self) -> None:
        """Builds the population, records the queue before the crash and the bystanders' balances, and primes the
        replay auditor that follows the run."""
        self.build_population()
        self.lights_before = self.queue_lights()
        self.bystander_start = {b.address: self.perp.call("freeCollateral", b.address) for b in self.bystanders}
        self._replay_findings += self.replay.prime()

    def run(self) -> None:
        self.start()
        for step in range(self.scn.steps + 1):
            record = self.step(step)
            self.steps.append(record)
            if self.progress:
                self.progress(step, record)

    def step(self, step: int) -> StepRecord:
        self._step = step
        first_event = len(self.events)
        if step > 0:
            for m in self.scn.markets:
                if m.path.points[step] != m.path.points[step - 1]:
                    self.set_price(m.name, m.path.points[step], step)
        prices = {m.name: m.path.points[step] for m in self.scn.markets}
        record = StepRecord(step, {k: str(v) for k, v in prices.items()}, {}, {})
        pending = set()
        for m in self.scn.markets:
            pending |= self.keep(step, m, record)
        self.check(step, first_event, pending)
        for m in self.scn.markets:
            mid = self.dep.market_ids[m.name]
            f = self.client.fund_view(mid)
            record.funds[m.name] = {"cash": f.cash, "size": f.size, "equity": f.equity,
                                    "net_notional": f.net_notional, "drawdown": f.drawdown,
                                    "distressed": f.distressed}
            record.open_interest[m.name] = self.last_snapshot.open_interest(mid)
        record.count(self.events[first_event:])
        return record

    def keep(self, step: int, m, record: StepRecord) -> set:
        """The keeper's pass over one market: liquidates what has been liquidatable for ``latency`` steps, pokes
        the fund when its equity can have moved, calls Type 2 when the fund is in distress. Returns the positions
        still waiting for the keeper (allowed to be underwater until processed)."""
        mid = self.dep.market_ids[m.name]
        liquidatable = self.keeper.liquidatable(mid)
        for a in liquidatable:
            self.first_seen.setdefault((mid, a), step)
        due = [a for a in liquidatable if step - self.first_seen[(mid, a)] >= self.scn.keeper.latency]
        waiting = {(mid, a) for a in liquidatable if a not in due}
        self.keeper.type2 = False  # Type 2 below, so that a refused call is recorded in the run's events
        self.keeper.process(mid, due=due, poke=step == 0 or bool(due) or m.path.points[step] != m.path.points[step - 1])
        for a in due:
            self.first_seen.pop((mid, a), None)
        if self.scn.keeper.type2 and self.client.fund(mid).size != 0:
            reason = self.keeper.deleverage(mid)
            if reason is not None and reason.startswith("InsufficientAdlCapacity"):
                record.type2_reverts += 1
                self.events.append({"step": step, "tx": f"deleverageFund {m.name}", "tx_index": None,
                                    "event": "Type2Reverted", "args": {"reason": reason}})
        return waiting

    # ------------------------------------------------------------------ audit

    def check(self, step: int, first_event: int, pending: set) -> None:
        """Every invariant after the keeper has processed this step; raises SimulationHalted."""
        snap = self.audit.snapshot()
        self.last_snapshot = snap
        found = check_state(snap, after_keeper=True, exempt=pending) + bystanders(self.bystander_start, snap)
        found += self._replay_findings
        self._replay_findings = []
        if found:
            raise SimulationHalted(f"step {step}: invariant violated:\n  " + "\n  ".join(map(str, found)))

    # ------------------------------------------------------------------ queue indicator and the run record

    def queue_lights(self) -> dict:
        """Lights (1-5, 0 = not eligible) of every position, by the protocol's ranking (``perp.core.ranking.queue_indicator``)."""
        out = {}
        for m in self.scn.markets:
            mid = self.dep.market_ids[m.name]
            price = self.client.mark_price(mid)
            for is_long in (True, False):
                side = [_Held(a, p) for a, p in self.client.side(mid, is_long)]
                for account, (_, _, _, lights) in queue_indicator(side, price, self.scale).items():
                    out[account] = lights
        return out

    def record(self) -> RunRecord:
        """The run record (final accounts and funds read from the chain now)."""
        everyone = self.traders + self.bystanders + [self.maker]
        free = self.client.free_collaterals([t.address for t in everyone])
        positions: dict = {}
        for name, mid in self.dep.market_ids.items():
            for v in self.client.position_views(mid):
                positions.setdefault(v.account.lower(), {})[name] = {
                    "size": v.size, "open_notional": v.open_notional, "margin": v.margin, "equity": v.equity,
                    "state": int(v.state)}
        accounts = []
        for t in everyone:
            key = t.address.lower()
            accounts.append({"address": t.address, "role": t.role, "market": t.market,
                             "side": "long" if t.is_long else "short", "leverage": t.leverage, "deposit": t.deposit,
                             "free_collateral": free[key], "positions": positions.get(key, {}),
                             "queue_lights_before": self.lights_before.get(key)})
        funds = {}
        for name, mid in self.dep.market_ids.items():
            f = self.client.fund_view(mid)
            funds[name] = {"cash": f.cash, "size": f.size, "open_notional": f.open_notional, "equity": f.equity}
        return RunRecord(self.scn, dict(self.dep.market_ids), self.scale, list(self.steps), list(self.events),
                         accounts, funds, self.tx_count, self.gas_used, self.dep.oracle_decimals)


# ------------------------------------------------------------------------------------------------ a whole run


def deploy_for(operator: Sender, scn: Scenario, keeper: str) -> Deployed:
    """A fresh devnet deployment for scenario ``scn`` (``perp.deploy.deploy_devnet``): its markets at price 1 until
    the run sets them, its parameter overrides, its fund seeds. ``operator`` (an unlocked devnet account) deploys,
    owns the mock oracles and pays the deposits; ``keeper`` is the keeper's unlocked account."""
    from .deploy import deploy_devnet, set_market_params, top_up_fund
    from .params import MarketParams
    from .scenario import ScenarioError

    made = deploy_devnet(operator, decimals=scn.decimals, markets=[(m.name, 1) for m in scn.markets], fund_seed=0)
    for m in scn.markets:
        info = made.manifest.markets[m.name]
        params = MarketParams(**info["params"]).with_(**m.params)
        problems = params.problems(scn.decimals)
        if problems:
            raise ScenarioError(f"markets.{m.name}.params: " + "; ".join(problems))
        set_market_params(operator, made.perp, info["id"], params)
        info["params"] = dict(params.__dict__)
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


__all__ = ["Deployed", "RunRecord", "Simulation", "SimulationHalted", "StepRecord", "RpcError"]
