"""Crash simulation engine (web3.py and eth-account only).

Given a deployment and a scenario, it builds the trader population (deposits in one call, positions opened by
settling signed orders against a market maker in batches), then for every price step: moves the oracles,
lets the keeper liquidate and deleverage, and runs the invariant audit. Every event of every transaction is
kept for the report. A violated invariant stops the run with ``SimulationHalted``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from eth_account import Account
from eth_utils import keccak

from .audit import Audit, all_positions, load_abi
from .rpc import Contract, Rpc, RpcError
from .orders import Order, match_tuple, sign_order
from .scenario import Scenario
from .units import WAD, ceil_div

GAS = 29_000_000
ORDER_EXPIRY = 2**40  # fixed, so that order hashes (and the report) are the same on every run
PAIRS_PER_BATCH = 60
LIQUIDATABLE = 4  # PositionState.Liquidatable; 5 = Bankrupt
STATE_NAMES = ("none", "healthy", "reduce-only", "margin-call", "liquidatable", "bankrupt")


class SimulationHalted(AssertionError):
    """An invariant failed during a run; the message names the invariant, the account and the numbers."""


@dataclass
class Trader:
    index: int
    key: bytes
    address: str
    market: str
    is_long: bool
    leverage: int  # WAD
    notional: int  # collateral units at entry
    deposit: int
    entry_round: int
    role: str = "trader"
    nonce: int = 0  # the last order nonce this account signed


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


def _trader_key(seed: int, index: int, tag: bytes = b"trader") -> bytes:
    return keccak(b"adl-sim/" + tag + seed.to_bytes(8, "big") + index.to_bytes(8, "big"))


class Simulation:
    def __init__(self, w3, dep: Deployed, scenario: Scenario, progress=None):
        self.w3 = w3
        self.dep = dep
        self.scn = scenario
        self.progress = progress
        self.rpc = Rpc(w3)
        self.perp = Contract(self.rpc, dep.perp, load_abi("Perpetual"))
        self.lens = Contract(self.rpc, dep.lens, load_abi("PerpLens"))
        self.token = Contract(self.rpc, dep.token, load_abi("MockStablecoin"))
        self.oracles = {n: Contract(self.rpc, a, load_abi("MockAggregator")) for n, a in dep.oracles.items()}
        self.chain_id = w3.eth.chain_id
        self.decimals = scenario.decimals
        self.scale = 10 ** (18 - self.decimals)
        self.events: list = []
        self.steps: list[StepRecord] = []
        self.traders: list[Trader] = []
        self.bystanders: list[Trader] = []
        self.maker: Trader | None = None
        self.first_seen: dict = {}
        self.lights_before: dict = {}
        self.tx_count = 0
        self.gas_used = 0
        self.audit = Audit(w3, dep.perp, dep.lens)

    # ------------------------------------------------------------------ chain plumbing

    def send(self, contract: Contract, fn: str, args: tuple, sender: str, step: int | None, label: str) -> dict:
        receipt = self.rpc.transact(contract.address, contract.data(fn, *args), sender, GAS)
        if int(receipt["status"], 16) != 1:
            raise SimulationHalted(f"{label} reverted in step {step}: {self.try_call(contract, fn, args, sender)}")
        self.tx_count += 1
        self.gas_used += int(receipt["gasUsed"], 16)
        self._collect(receipt, step, label)
        return receipt

    def try_call(self, contract: Contract, fn: str, args: tuple, sender: str) -> str | None:
        """None if the call would succeed, else the decoded custom error."""
        try:
            contract.call(fn, *args, sender=sender)
            return None
        except RpcError as exc:
            return contract.decode_error(exc.data) if exc.data else str(exc)

    def _collect(self, receipt, step, label) -> None:
        for log in receipt["logs"]:
            decoded = self.perp.decode_log(log)
            if decoded is None:
                continue
            name, args = decoded
            self.events.append(
                {
                    "step": step,
                    "tx": label,
                    "tx_index": self.tx_count,
                    "event": name,
                    "args": {k: _plain(v) for k, v in args.items()},
                }
            )

    # ------------------------------------------------------------------ population

    def build_population(self) -> None:
        scn, pop = self.scn, self.scn.population
        rng = random.Random(pop.seed)
        weights = [float(m.weight) for m in scn.markets]
        one = 10**self.decimals
        for i in range(pop.count):
            market = rng.choices(scn.markets, weights=weights)[0]
            is_long = rng.random() < pop.long_share
            lev = max(1.0, pop.leverage.sample(rng))
            max_lev = market.params.get("max_leverage", (20 if not market.name.startswith("BTC") else 25) * WAD)
            # 2% under the market's maximum: at exactly 1/imr the initial-margin check (notional rounded up) can
            # miss by one unit against a margin posted on the fill's notional (rounded down).
            leverage = min(int(Decimal(str(round(lev, 4))) * WAD), max_lev * 98 // 100)
            notional = max(int(pop.notional.sample(rng) * one), one)
            margin = ceil_div(notional * WAD, leverage)
            deposit = margin + notional // 100 + one  # margin + 1% for fees and rounding
            key = _trader_key(pop.seed, i)
            self.traders.append(
                Trader(i, key, Account.from_key(key).address, market.name, is_long, leverage, notional, deposit,
                       rng.randrange(pop.entry_rounds))
            )
        for j in range(pop.bystanders):
            key = _trader_key(pop.seed, j, b"bystander")
            amount = (1_000 + 100 * j) * one
            self.bystanders.append(Trader(j, key, Account.from_key(key).address, "", False, 0, 0, amount, 0, "bystander"))
        key = _trader_key(pop.seed, 0, b"maker")
        gross = sum(t.notional for t in self.traders)
        self.maker = Trader(0, key, Account.from_key(key).address, "", False, 2 * WAD, gross, gross, 0, "market-maker")
        everyone = self.traders + self.bystanders + [self.maker]
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
        # Alternate longs and shorts so that the maker's running position stays near its net.
        longs = [t for t in cohort if t.is_long]
        shorts = [t for t in cohort if not t.is_long]
        ordered = [t for pair in zip(longs, shorts) for t in pair] + longs[len(shorts):] + shorts[len(longs):]
        matches = []
        for t in ordered:
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
        return int(self.scn.market(market).path.points[step] * 10**self.dep.oracle_decimals) * 10 ** (
            18 - self.dep.oracle_decimals
        )

    def set_price(self, market: str, price: Decimal, step) -> None:
        answer = int(price * 10**self.dep.oracle_decimals)
        self.send(self.oracles[market], "setPrice", (answer,), self.dep.operator, step, f"setPrice {market}")

    # ------------------------------------------------------------------ steps

    def run(self) -> None:
        self.build_population()
        self.lights_before = self.queue_lights()
        self.bystander_start = {b.address: self.perp.call("freeCollateral", b.address) for b in self.bystanders}
        for step in range(self.scn.steps + 1):
            record = self.step(step)
            self.steps.append(record)
            if self.progress:
                self.progress(step, record)

    def step(self, step: int) -> StepRecord:
        first_event = len(self.events)
        if step > 0:
            for m in self.scn.markets:
                if m.path.points[step] != m.path.points[step - 1]:
                    self.set_price(m.name, m.path.points[step], step)
        prices = {m.name: m.path.points[step] for m in self.scn.markets}
        record = StepRecord(step, {k: str(v) for k, v in prices.items()}, {}, {})
        pending = set()
        for m in self.scn.markets:
            pending |= self.keeper(step, m, record)
        self.check(step, first_event, pending)
        for m in self.scn.markets:
            mid = self.dep.market_ids[m.name]
            f = self.lens.call("fundState", mid)
            record.funds[m.name] = {"cash": f[0], "size": f[1], "equity": f[3], "net_notional": f[4],
                                    "drawdown": f[6], "distressed": f[7]}
            record.open_interest[m.name] = self.last_snapshot.open_interest[mid]
        for e in self.events[first_event:]:
            if e["event"] == "Liquidated":
                record.liquidations += 1
            elif e["event"] == "FundRefused":
                record.refusals += 1
            elif e["event"] == "AdlFill":
                if e["args"]["adlType"] == 1:
                    record.type1_fills += 1
                else:
                    record.type2_fills += 1
        return record

    def keeper(self, step: int, m, record: StepRecord) -> set:
        """Liquidates what has been liquidatable for `latency` steps; Type 2 when the fund is in distress.
        Returns the positions still waiting for the keeper (allowed to be underwater until processed)."""
        mid = self.dep.market_ids[m.name]
        views = all_positions(self.lens, mid)
        liquidatable = [v[0] for v in views if v[9] >= LIQUIDATABLE]
        for a in liquidatable:
            self.first_seen.setdefault((mid, a), step)
        due = [a for a in liquidatable if step - self.first_seen[(mid, a)] >= self.scn.keeper.latency]
        waiting = {(mid, a) for a in liquidatable if a not in due}
        for chunk in _chunks(due, self.scn.keeper.batch_size):
            self._liquidate_chunk(mid, chunk, step, m.name)
        for a in due:
            self.first_seen.pop((mid, a), None)
        if step == 0 or due or m.path.points[step] != m.path.points[step - 1]:
            # The fund's high-water mark and distress latch move only with its equity: with the price or intake.
            self.send(self.perp, "pokeFund", (mid,), self.dep.keeper, step, f"pokeFund {m.name}")
        fund = self.lens.call("fundState", mid)
        if self.scn.keeper.type2 and fund[1] != 0:
            reason = self.try_call(self.perp, "deleverageFund", (mid,), self.dep.keeper)
            if reason is None:
                self.send(self.perp, "deleverageFund", (mid,), self.dep.keeper, step, f"deleverageFund {m.name}")
            elif reason.startswith("InsufficientAdlCapacity"):
                record.type2_reverts += 1
                self.events.append({"step": step, "tx": f"deleverageFund {m.name}", "tx_index": None,
                                    "event": "Type2Reverted", "args": {"reason": reason}})
        return waiting

    def _liquidate_chunk(self, mid: int, chunk: list, step: int, market: str) -> None:
        """One liquidateBatch, split in halves while it would not fit in a block (Type 1 ADL scans the opposite
        side for every refused position, so a crash batch can cost far more than plain liquidations)."""
        try:
            gas = self.rpc.estimate(self.perp.address, self.perp.data("liquidateBatch", mid, chunk), self.dep.keeper)
        except RpcError:  # out of gas at the block limit, or a genuine revert (then `send` reports it)
            gas = GAS + 1
        if gas > GAS and len(chunk) > 1:
            half = len(chunk) // 2
            self._liquidate_chunk(mid, chunk[:half], step, market)
            self._liquidate_chunk(mid, chunk[half:], step, market)
            return
        self.send(self.perp, "liquidateBatch", (mid, chunk), self.dep.keeper, step, f"liquidateBatch {market}")

    # ------------------------------------------------------------------ audit

    def check(self, step: int, first_event: int, pending: set) -> None:
        """The invariant audit after the keeper has processed this step; raises SimulationHalted."""
        snap = self.audit.snapshot()
        self.last_snapshot = snap
        problems = [str(f) for f in self.audit.findings(snap)]
        ids = {v: k for k, v in self.dep.market_ids.items()}
        for (mid, account), p in snap.positions.items():
            if p[3] is not None and p[3] < 0 and (mid, account) not in pending:
                problems.append(f"[no_bad_debt] {account} in {ids[mid]}: equity {p[3]} < 0 after the keeper's pass")
        for b in self.bystanders:
            now = snap.free.get(b.address.lower(), 0)
            if now != self.bystander_start[b.address]:
                problems.append(
                    f"[bystander] {b.address}: free collateral {now} != {self.bystander_start[b.address]} at start"
                )
        problems += self._check_adl_events(self.events[first_event:])
        if problems:
            raise SimulationHalted(f"step {step}: invariant violated:\n  " + "\n  ".join(problems))

    def _check_adl_events(self, events: list) -> list[str]:
        """ADL only when triggered, only opposite eligible positions, in rank order, at the right price."""
        out = []
        by_tx: dict = {}
        for e in events:
            if e["tx_index"] is not None:
                by_tx.setdefault(e["tx_index"], []).append(e)
        for evs in by_tx.values():
            liquidation, last, refused = None, None, False
            for e in evs:
                if e["event"] == "Liquidated":
                    liquidation, last, refused = e["args"], None, False
                elif e["event"] == "FundRefused":
                    refused = True
                elif e["event"] == "AdlFill":
                    a = e["args"]
                    who = f"{a['account']} (rank {a['rank']})"
                    if a["adlType"] == 1:
                        if liquidation is None or not refused:
                            out.append(f"[adl_trigger] Type 1 fill of {who} without a fund refusal")
                            continue
                        if a["price"] != liquidation["bankruptcyPrice"]:
                            out.append(f"[adl_price] Type 1 fill of {who} at {a['price']} != bankruptcy price "
                                       f"{liquidation['bankruptcyPrice']}")
                        if (a["sizeDelta"] > 0) != (liquidation["size"] > 0):
                            out.append(f"[adl_side] Type 1 fill of {who} is on the bankrupt position's side")
                    if a["score"] <= 0:
                        out.append(f"[adl_eligible] {who} was cut with score {a['score']} (u <= 0)")
                    if last is not None and (a["rank"] <= last["rank"] or a["score"] > last["score"]):
                        out.append(f"[adl_order] {who} score {a['score']} cut after rank {last['rank']} "
                                   f"score {last['score']}")
                    last = a
        return out

    # ------------------------------------------------------------------ queue indicator

    def queue_lights(self) -> dict:
        """Lights (1-5, 0 = not eligible) of every position, computed from the lens with the contract's rule."""
        out = {}
        for m in self.scn.markets:
            mid = self.dep.market_ids[m.name]
            views = all_positions(self.lens, mid)
            for is_long in (True, False):
                side = [v for v in views if (v[1] > 0) == is_long]
                eligible = [v for v in side if v[6] > 0]
                ranked = sorted(eligible, key=lambda v: (-(v[6] * WAD // (v[3] + v[6])), -abs(v[1]), v[10]))
                n = len(ranked)
                for rank, v in enumerate(ranked, 1):
                    out[v[0]] = 5 - ((rank - 1) * 5) // n
                for v in side:
                    out.setdefault(v[0], 0)
        return out


def _plain(v):
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i : i + n]
