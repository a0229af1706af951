"""The oracle against the reference model on seeded random books and price paths.

``Scenario`` runs random actions on a ``perp.model.Model`` (deposits, trades at random sizes, prices and leverages,
price moves, gaps and crashes, time passing beyond the high-water-mark window, liquidations, Type 2 calls, top-ups,
pokes). Before every liquidation and Type 2 call it reads the model's state as exact values (``model_bridge.View``) and asks
the oracle what must happen; after the model has acted it checks the model's outcome against that prediction. After
every action it checks every position's views and both sides' ADL queues.

Only these differences are allowed, each one a rounding the README / docs/TESTING.md document (``u`` is one
collateral unit, ``wei`` one 1e-18 of a size or price):

- uPnL and equity: the model's value is the exact one rounded down, by less than 1 u (a long's notional is rounded
  down, a short's up). A bankruptcy price has no rounding: the model's bankruptcy notional / |size| is exact.
- Liquidatable: may differ only when the exact equity is within 2 u of the maintenance margin (equity rounded down,
  MM rounded up). Eligibility for ADL: a position whose exact uPnL is in (0, 1 u) may be ineligible in the model.
- Score (u/E, WAD): the model's is at most the exact one and above it minus (1 wei + 1 u / E); the queue order may
  differ from the exact order only between positions whose exact scores are within the sum of those bounds.
- Keeper reward: at most the exact one and above it minus 2 u (notional and bps product rounded down).
- Fill price: Type 1 at the bankruptcy price of the position after the model's reward, within 1 wei; Type 2 at the
  oracle's price (mark, or the fund's bankruptcy price), within 1 wei.
- Fill size: a fill limited by the remaining need or by the counterparty's size is exact; one limited by the
  counterparty's margin (README: "at most what keeps its margin non-negative") is at most the exact cap and above
  it minus (2 u / loss per unit + 1 wei).
- A counterparty's realized PnL (its free collateral plus margin) is at most the exact PnL of the model's fill size at
  the exact price, and above it minus 2 u, per fill (the notional rounded against it, the cost basis released
  rounded up). The difference is the fill's dust, and it goes to the fund.
- Fund cash: exactly what the oracle's fund accounting gives for the model's fills, plus that dust, within 1 u (the
  fund's own realization rounds its released cost basis). Fund size: exact.
- A decision (liquidatable, accept/refuse, distressed, enough capacity) may flip only when the quantity that decides
  it is within its rounding bound of the threshold; each such case is counted under ``borderline``.

Every other difference is a problem. A problem that the README's documented alternative to a SPEC rule explains
(``oracle.Rules``) is counted under ``deviations`` with the rule's name instead.
"""
from __future__ import annotations

import copy
import itertools
import random
from dataclasses import replace
from fractions import Fraction as Q

import oracle as O
from model_bridge import View
import perp.model
from perp.model import WAD, Match, ModelError, SimpleOrder, reference_model, score_down

T0 = 1_700_000_000
TRADERS = [f"0x{i:040x}" for i in range(1, 9)]
KEEPER = f"0x{9:040x}"
TOPPER = f"0x{10:040x}"
WEI = Q(1, WAD)
MID = 1
REASONS = {1: {"equity", "cash"}, 2: {"risk_limit"}, 3: {"drawdown"}}  # RefusalReason -> oracle reasons
FLAGS = ()  # the README alternatives to a SPEC rule that the model may follow: none left (oracle.Rules)
# every combination of SPEC rules and README alternatives, fewest alternatives first
VARIANTS = sorted((O.Rules(**dict(zip(FLAGS, bits))) for bits in itertools.product((True, False), repeat=len(FLAGS))),
                  key=lambda r: sum(not getattr(r, f) for f in FLAGS))


def deviations_of(rules: O.Rules) -> tuple:
    return tuple(f for f in FLAGS if not getattr(rules, f))


class Scenario:
    def __init__(self, seed: int, decimals: int = 6, fund_seed: int = 0, steps: int = 60, allowed=FLAGS,
                 findings=True):
        """``allowed``: the README alternatives (``oracle.Rules`` fields) that may explain a difference;
        ``findings``: whether a known finding counts under ``findings`` (True) or as a problem."""
        self.seed, self.decimals, self.fund_seed, self.steps = seed, decimals, fund_seed, steps
        self.variants = [r for r in VARIANTS if set(deviations_of(r)) <= set(allowed)]
        self.findings_allowed = findings
        self.rng = random.Random(seed)
        self.now = T0
        self.one = 10**decimals
        self.m = reference_model(decimals, fund_seed=fund_seed * self.one, now=T0)
        # a third of the scenarios give the fund a small risk limit (refusals and Type 2 for the risk limit),
        # and some move the drawdown lines (within the parameter bounds)
        base = self.m.markets[MID].params
        if self.rng.random() < 1 / 3:
            base = base.with_(max_fund_notional=self.rng.randint(2_000, 30_000) * self.one,
                              notional_stop=self.rng.choice([WAD // 2, 8 * WAD // 10, WAD]))
        if self.rng.random() < 1 / 3:
            trigger = self.rng.randint(5, 60) * WAD // 100
            base = base.with_(drawdown_trigger=trigger, drawdown_stop=trigger * self.rng.randint(0, 90) // 100)
        assert not base.problems(), base.problems()
        self.m.set_params(MID, base)
        self.v = View(self.m, MID)
        self.u = self.v.unit
        self.nonce = 0
        self.trackers = {(r, t): O.HighWaterMark(self.v.params, O.Rules(True, True, r, t))
                         for r in (True, False) for t in (True, False)}
        self.counts = {}  # what was compared
        self.borderline = {}  # decisions that flipped within their rounding bound
        self.deviations = {}  # README alternatives to a SPEC rule that explained a difference
        self.findings = {}  # known disagreements beyond a rounding (tests/spec/test_spec_findings.py pins each)
        self.examples = {}  # name -> (seed, decimals, step) of its first case
        self.problems = []  # everything else
        self.step_no = 0
        for a in TRADERS:
            self.m.deposit(a, self.rng.randint(300, 20_000) * self.one)
        self.m.deposit(TOPPER, 10**7 * self.one)

    # ------------------------------------------------------------------------------------------ bookkeeping

    def count(self, key, n=1, into=None):
        d = self.counts if into is None else into
        d[key] = d.get(key, 0) + n

    def problem(self, what: str):
        self.problems.append(f"seed {self.seed} (decimals {self.decimals}, fund {self.fund_seed}) step "
                             f"{self.step_no}: {what}")

    def tick(self, seconds=None):
        self.now += seconds or self.rng.randint(1, 60)

    def mark(self) -> Q:
        return self.v.mark(self.now)

    def fund_equity(self) -> Q:
        return self.v.fund().equity(self.mark())

    def tracker(self, rules: O.Rules) -> O.HighWaterMark:
        return self.trackers[(rules.rolling_high_water_mark, rules.sample_on_trades)]

    def sample(self, equity: Q, action: str):
        for t in self.trackers.values():
            t.sample(self.now, equity, action)

    def check_stored_mark(self, label: str):
        """The stored high-water mark and latch are what the SPEC's rules give (the largest sample of the window,
        trades sampled), to the unit."""
        mk = self.m.markets[MID]
        stored = self.v.money(mk.fund_hwm)
        t = self.trackers[(True, True)]
        if abs(stored - t.value()) >= self.u or mk.fund_distressed != t.latched:
            self.problem(f"{label}: stored high-water mark {mk.fund_hwm} latch {mk.fund_distressed}, SPEC rules "
                         f"give {float(t.value())} latch {t.latched}")
        self.count("stored_mark_checked")

    # ------------------------------------------------------------------------------------------ actions

    def run(self):
        for self.step_no in range(self.steps):
            self.step()
            self.check_views()
        return self

    def step(self):
        rng = self.rng
        r = rng.random()
        if r < 0.30:
            self.trade()
        elif r < 0.48:
            self.move(1 + rng.gauss(0, 0.03))
        elif r < 0.58:
            self.move(1 + rng.choice([-1, 1]) * rng.uniform(0.05, 0.3))
        elif r < 0.78:
            holders = [a for (mid, a) in self.m.positions if mid == MID]
            liq = [a for a in holders if self.m.is_liquidatable(MID, a, self.m.mark_price(MID, self.now))]
            if liq and rng.random() < 0.85:
                self.liquidate(rng.choice(liq))
            elif holders:
                self.liquidate(rng.choice(holders))
        elif r < 0.90:
            self.deleverage_fund()
        elif r < 0.93:
            self.tick(rng.choice([600, rng.randint(1, 6) * 3600, 8 * 3600 + rng.randint(0, 100)]))
            self.move(1)
        elif r < 0.96:
            self.poke()
        else:
            self.tick()
            self.m.top_up_fund(TOPPER, MID, rng.randint(1, 500) * self.one)
            self.count("top_up")

    def move(self, factor: float):
        mk = self.m.markets[MID]
        self.tick()
        self.m.set_price(MID, max(10**8, int(mk.answer * factor)), self.now)

    def trade(self):
        rng, m = self.rng, self.m
        buyer, seller = rng.sample(TRADERS, 2)
        mark = m.mark_price(MID, self.now)
        price = mark + mark * rng.randint(-400, 400) // 10_000
        lev_b, lev_s = rng.randint(1, 20) * WAD, rng.randint(1, 20) * WAD
        cap = min(m.free_collateral(buyer) * lev_b, m.free_collateral(seller) * lev_s) // WAD
        size = int(cap * rng.uniform(0.05, 0.9)) * WAD * m.scale // price
        size -= size % 10 ** rng.choice([0, 10, 14, 16])
        if size <= 0:
            return
        self.nonce += 2
        b = SimpleOrder(buyer, MID, True, size, price, lev_b, self.nonce, T0 + 10**8, False, m.order_epoch(buyer),
                        True)
        s = SimpleOrder(seller, MID, False, size, price, lev_s, self.nonce + 1, T0 + 10**8, False,
                        m.order_epoch(seller))
        self.tick()
        equity = self.fund_equity()
        try:
            m.settle(Match(b, s, size, price), self.now)
        except ModelError:
            self.count("trade_refused")
            return
        self.count("trade")
        self.sample(equity, "trade")

    def poke(self):
        self.tick()
        equity = self.fund_equity()
        self.m.poke_fund(KEEPER, MID, self.now)
        self.count("poke")
        self.sample(equity, "poke")
        self.check_stored_mark("pokeFund")

    # ------------------------------------------------------------------------------------------ liquidation

    def liquidate(self, account):
        v, m = self.v, self.m
        self.tick()
        mark, book, fund = self.mark(), v.book(), v.fund()
        equity = fund.equity(mark)
        before = {a: v.value(a) for a in TRADERS}
        free_before = m.free_collateral(account)
        keeper_before = m.free_collateral(KEEPER)
        try:
            m.liquidate(KEEPER, MID, account, self.now)
            err = None
        except ModelError as e:
            err = e.name
        events = list(m.events)

        def predict(rules):
            t = copy.deepcopy(self.tracker(rules))
            t.sample(self.now, equity, "liquidation")
            try:
                return O.liquidate(book, fund, account, mark, v.params, t.value(), t.latched, rules)
            except O.Revert as r:
                return r

        def check(pred):
            return self.check_liquidation(pred, err, events, account, book, fund, mark, before, free_before,
                                          keeper_before)

        self.classify("liquidate", predict, check)
        if err is None:
            self.sample(equity, "liquidation")
            self.check_stored_mark("liquidate")

    def check_liquidation(self, pred, err, events, account, book, fund, mark, before, free_before, keeper_before):
        v, u, out, notes = self.v, self.u, [], []
        p = book.get(account)
        if isinstance(pred, O.Revert) or err:
            name = pred.name if isinstance(pred, O.Revert) else None
            if name == err:
                return out, [f"revert {err}"]
            if p is not None and {name, err} == {None, "NotLiquidatable"} and \
                    abs(p.equity(mark) - p.notional(mark) * v.params.mmr) < 2 * u:
                return out, ["borderline liquidatable"]
            return [f"liquidate: oracle {name or 'liquidates'}, model {err or 'liquidates'}"], notes
        ev = {n: [d for k, d in events if k == n] for n in ("Liquidated", "FundAccepted", "FundRefused", "AdlFill",
                                                            "AdlRemainderToFund")}
        liq = ev["Liquidated"][0]
        reward = v.money(liq["keeperReward"])
        if self.v.money(self.m.free_collateral(KEEPER)) - v.money(keeper_before) != reward:
            out.append("keeper's free collateral did not grow by the reward")
        if not pred.reward - 2 * u < reward <= pred.reward:
            out.append(f"keeper reward {float(reward)}, oracle {float(pred.reward)} (from fund: {pred.reward_from_fund})")
        if (MID, account) in self.m.positions or self.m.free_collateral(account) != free_before:
            out.append("the liquidated account kept a position or its free collateral changed")
        paid = p if pred.reward_from_fund else replace(p, margin=p.margin - reward)
        pb = paid.bankruptcy_price()
        if abs(Q(liq["bankruptcyPrice"], WAD) - pb) > WEI:
            out.append(f"bankruptcy price {liq['bankruptcyPrice']}, exact {float(pb)}")
        f0 = replace(fund, cash=fund.cash - reward) if pred.reward_from_fund else fund  # the model's (rounded) reward
        refused = bool(ev["FundRefused"])
        if refused == pred.accepted:
            cand = f0.take(p.size, pb)
            if not self.decision_is_borderline(cand, mark, pred):
                return out + [f"fund {'refused' if refused else 'accepted'} (reason "
                              f"{ev['FundRefused'][0]['reason'] if refused else '-'}), oracle "
                              f"{'accepts' if pred.accepted else 'refuses: ' + ', '.join(sorted(pred.reasons))}"], notes
            notes.append("borderline fund decision")
            return out, notes  # the rest follows the model's branch; nothing exact left to compare
        after = v.fund()
        if not refused:
            notes.append("accepted")
            want = f0.take(p.size, pb)
            self.compare_fund(out, after, want, Q(0), mark)
            return out, notes
        reason = ev["FundRefused"][0]["reason"]
        if not REASONS[reason] & pred.reasons:
            out.append(f"refusal reason {reason}, oracle {sorted(pred.reasons)}")
        notes.append(f"refused:{reason}")
        fills = ev["AdlFill"]
        # at mark when the position still has equity (the model decides on its equity rounded against the
        # holder: within a unit of zero the exact equity may say otherwise, and then pb is within a unit of mark)
        at_mark = liq["equity"] > 0
        if at_mark != (p.equity(mark) > 0):
            if abs(p.equity(mark)) >= u:
                out.append(f"Type 1 at {'mark' if at_mark else 'Pb'} with exact equity {float(p.equity(mark))}")
            notes.append("borderline type 1 price")
        price = mark if at_mark else pb
        if at_mark:
            notes.append("type1_at_mark")
        dust = self.check_fills(out, notes, fills, book, p.size < 0, abs(p.size), price, mark, before, type_=1)
        covered = sum(Q(abs(f["sizeDelta"]), WAD) for f in fills)
        rest = abs(p.size) - covered
        remainder = sum(Q(abs(d["size"]), WAD) for d in ev["AdlRemainderToFund"])
        if remainder != rest:
            out.append(f"remainder to the fund {float(remainder)}, need minus fills {float(rest)}")
        if rest:
            notes.append("remainder")
        want = f0.take(O.sign(p.size) * rest, price)
        if at_mark:  # the remaining equity (after the keeper's reward) is the fund's
            want = replace(want, cash=want.cash + paid.equity(mark))
        self.compare_fund(out, after, want, dust, mark)
        return out, notes

    def decision_is_borderline(self, cand: O.Fund, mark: Q, pred) -> bool:
        """The quantities that decide the fund's acceptance, each within its rounding of its threshold."""
        v, u = self.v, self.u
        near = [abs(cand.equity(mark)) < 3 * u, abs(cand.cash) < 2 * u,
                abs(cand.notional(mark) - v.params.max_fund_notional) < 2 * u]
        hwm = self.tracker(O.SPEC_RULES).value()
        if hwm > 0:
            dd = O.drawdown(max(hwm, cand.equity(mark)), cand.equity(mark))
            near.append(abs(dd - v.params.drawdown_trigger) * hwm < 3 * u)
        return any(near)

    def compare_fund(self, out, after: O.Fund, want: O.Fund, dust: Q, mark: Q):
        """Size exact; the fund's equity is the oracle's plus the fills' dust, to the unit (the dust lands in its
        cash, or in the cost basis of the remainder it takes); its cash within the dust and 1 u (its own
        realization releases its cost basis rounded up)."""
        u = self.u
        if after.size != want.size:
            out.append(f"fund size {float(after.size)}, oracle {float(want.size)}")
        if after.equity(mark) != want.equity(mark) + dust:
            out.append(f"fund equity {float(after.equity(mark))}, oracle {float(want.equity(mark))} + dust "
                       f"{float(dust)} (off by {float((after.equity(mark) - want.equity(mark) - dust) / u)} u)")
        if abs(after.cash - want.cash) > dust + u:
            out.append(f"fund cash {float(after.cash)}, oracle {float(want.cash)} (dust {float(dust)})")

    # ------------------------------------------------------------------------------------------ ADL fills

    def score_tolerance(self, p: O.Position, mark: Q) -> Q:
        return WEI + self.u / p.equity(mark)

    def check_fills(self, out, notes, fills, book, long_side, need, price, mark, before, type_) -> Q:
        """The model's fills, one by one, against the oracle's rules applied to the model's earlier fills: queue
        order, no skipped position, each size, each price, each counterparty's PnL. Returns the total dust."""
        u, dust = self.u, Q(0)
        queue = O.adl_queue(book, long_side, mark)
        rank_of = {a: i for i, (a, _) in enumerate(queue)}
        hit = []
        for f in fills:
            a = f["account"]
            if f["adlType"] != type_:
                out.append(f"fill of type {f['adlType']}, expected {type_}")
            if a not in rank_of:
                out.append(f"fill of {a}, not eligible on that side at mark")
                continue
            p = book[a]
            q = Q(abs(f["sizeDelta"]), WAD)
            if (f["sizeDelta"] > 0) != (p.size < 0):
                out.append(f"fill of {a} moves its size away from zero")
            if abs(Q(f["price"], WAD) - price) > WEI:
                out.append(f"fill price {f['price']}, oracle {float(price)}")
            s = p.score(mark)
            if not s - self.score_tolerance(p, mark) < Q(f["score"], WAD) <= s:
                out.append(f"score of {a} {f['score']}, exact {float(s)}")
            cap = O.capacity(p, price)
            want = min(need, abs(p.size), cap)
            if want == cap and cap < min(need, abs(p.size)):
                loss = (p.entry - price) * O.sign(p.size)
                if not cap - (2 * u / loss + WEI) < q <= cap:
                    out.append(f"fill of {a} {float(q)} limited by its margin, exact cap {float(cap)}")
                notes.append(f"type{type_}_margin_capped")
            elif q != want:
                out.append(f"fill of {a} {float(q)}, oracle {float(want)} (need {float(need)}, size "
                           f"{float(abs(p.size))})")
            rest, pnl = O.close_part(p, q, price)
            got = self.v.value(a) - before[a]
            if not pnl - 2 * u < got <= pnl:
                out.append(f"{a} realized {float(got)}, exact {float(pnl)} for its fill")
            # its equity at mark moves by q * (price - mark) toward the fund; the model's by less than 1 u less
            # (the notional rounded against it: that is the dust the fund gets)
            now = (MID, a) in self.m.positions
            moved = got + (self.v.position(a).upnl(mark) if now else 0) - p.upnl(mark)
            exact = q * (price - mark) * O.sign(p.size)
            if not exact - u < moved <= exact:
                out.append(f"{a}'s equity moved {float(moved)}, exact {float(exact)}")
            if now != (rest is not None):
                out.append(f"{a} {'kept' if now else 'lost'} its position, exact rest {rest}")
            dust += exact - moved
            need -= q
            hit.append(a)
        # no skipping: every position ranked ahead of a hit one (beyond the score tolerance) was cut to its capacity
        last = max((rank_of[a] for a in hit if a in rank_of), default=-1)
        for i, (a, p) in enumerate(queue[:last + 1]):
            if a in hit:
                continue
            cap = O.capacity(p, price)
            loss = (p.entry - price) * O.sign(p.size)
            if cap < abs(p.size) and (cap * max(loss, Q(0)) < 2 * u or cap < WEI):
                continue  # its margin allows (about) nothing at this price
            later = [b for b in hit if rank_of.get(b, -1) > i]
            if any(abs(p.score(mark) - book[b].score(mark)) <= self.score_tolerance(p, mark)
                   + self.score_tolerance(book[b], mark) for b in later):
                notes.append("borderline queue order")
                continue
            out.append(f"{a} (rank {i + 1}, capacity {float(cap)}) skipped while lower-ranked {later} were cut")
        order = [rank_of[a] for a in hit if a in rank_of]
        for x, y in zip(order, order[1:]):
            if x > y:
                px, py = queue[x][1], queue[y][1]
                if abs(px.score(mark) - py.score(mark)) > self.score_tolerance(px, mark) + \
                        self.score_tolerance(py, mark):
                    out.append(f"fills out of queue order: ranks {order}")
                notes.append("borderline queue order")
        if fills:
            notes.append(f"type{type_}_fills:{len(fills)}")
        return dust

    # ------------------------------------------------------------------------------------------ Type 2

    def deleverage_fund(self):
        v, m = self.v, self.m
        self.tick()
        mark, book, fund = self.mark(), v.book(), v.fund()
        equity = fund.equity(mark)
        before = {a: v.value(a) for a in TRADERS}
        try:
            m.deleverage_fund(KEEPER, MID, self.now)
            err = None
        except ModelError as e:
            err = e.name
        events = list(m.events)

        def predict(rules):
            t = copy.deepcopy(self.tracker(rules))
            t.sample(self.now, equity, "adl")
            try:
                return O.deleverage_fund(book, fund, mark, v.params, t.value(), t.latched), t
            except O.Revert as r:
                return r, t

        def check(pred_t):
            pred, t = pred_t
            return self.check_type2(pred, t, err, events, book, fund, mark, before)

        self.classify("deleverageFund", predict, check)
        if err is None:
            self.sample(equity, "adl")
            self.check_stored_mark("deleverageFund")

    def check_type2(self, pred, t, err, events, book, fund, mark, before):
        v, u, out, notes = self.v, self.u, [], []
        if isinstance(pred, O.Revert) or err:
            name = pred.name if isinstance(pred, O.Revert) else None
            if name == err:
                return out, [f"revert {err}"]
            if self.type2_is_borderline(name, err, book, fund, mark, t):
                return out, ["borderline distress or capacity"]
            return [f"deleverageFund: oracle {name or 'deleverages'}, model {err or 'deleverages'}"], notes
        fills = [d for n, d in events if n == "AdlFill"]
        covered = sum(Q(abs(f["sizeDelta"]), WAD) for f in fills)
        flat = bool(pred.causes & {"equity", "drawdown"})
        if flat and covered != abs(fund.size):
            out.append(f"Type 2 covered {float(covered)}, the fund held {float(abs(fund.size))}")
        if not flat and abs(covered - pred.required) > WEI:
            out.append(f"Type 2 covered {float(covered)}, oracle requires {float(pred.required)}")
        # the fills' price: the oracle's within 1 wei (checked per fill); their PnL is valued at the model's price
        price = Q(fills[0]["price"], WAD) if fills else pred.price
        if abs(price - pred.price) > WEI:
            out.append(f"Type 2 price {fills[0]['price']}, oracle {float(pred.price)}")
        dust = self.check_fills(out, notes, fills, book, fund.size < 0, covered, price, mark, before, type_=2)
        self.compare_fund(out, v.fund(), fund.take(-O.sign(fund.size) * covered, price), dust, mark)
        notes.append("type2:" + "+".join(sorted(pred.causes)))
        if fund.cash < 0:
            notes.append("type2_at_mark_with_negative_cash")  # README: no cap can keep such a fund's cash >= 0
        elif pred.price != mark:
            notes.append("type2_at_fund_bankruptcy_price")
        return out, notes

    def type2_is_borderline(self, name, err, book, fund, mark, t) -> bool:
        v, u = self.v, self.u
        names = {name, err}
        if names <= {None, "FundNotDistressed"}:
            hwm, eq = t.value(), fund.equity(mark)
            near = [abs(eq) < 2 * u, abs(fund.notional(mark) - v.params.max_fund_notional) < 2 * u]
            if hwm > 0:
                dd = O.drawdown(hwm, eq)
                near += [abs(dd - v.params.drawdown_trigger) * hwm < 3 * u,
                         abs(dd - v.params.drawdown_stop) * hwm < 3 * u]
            return any(near)
        if names <= {None, "InsufficientAdlCapacity"}:
            try:  # the capacity is (within rounding) exactly what was needed
                O.deleverage_fund(book, replace(fund, size=fund.size * (1 - Q(1, 10**9))), mark, v.params,
                                  t.value(), t.latched)
                return True
            except O.Revert:
                return False
        return False

    # ------------------------------------------------------------------------------------------ views

    def check_views(self):
        v, m, u = self.v, self.m, self.u
        try:
            mark_wad = m.mark_price(MID, self.now)
        except ModelError:
            return  # a stale oracle: nothing is valued
        mark = Q(mark_wad, WAD)
        book = v.book()
        for a, p in book.items():
            raw = m.positions[(MID, a)]
            self.count("position_views")
            eq = v.money(m.position_equity(MID, a, mark_wad))
            if not p.equity(mark) - u < eq <= p.equity(mark):
                self.problem(f"equity of {a}: model {float(eq)}, exact {float(p.equity(mark))}")
            pb = v.money(perp.model.bankruptcy_notional(raw.size, raw.open_notional, raw.margin)) / abs(p.size)
            if pb != p.bankruptcy_price():
                self.problem(f"bankruptcy price of {a}: model {float(pb)}, exact {float(p.bankruptcy_price())}")
            liq = m.is_liquidatable(MID, a, mark_wad)
            exact = O.state(p, mark, v.params) in ("liquidatable", "bankrupt")
            if liq != exact:
                if abs(p.equity(mark) - p.notional(mark) * v.params.mmr) < 2 * u:
                    self.count("liquidatable", into=self.borderline)
                else:
                    self.problem(f"{a} liquidatable: model {liq}, oracle state {O.state(p, mark, v.params)}")
            self.count("state:" + O.state(p, mark, v.params))
        for long_side in (True, False):
            ranked = m.ranked(MID, long_side, mark_wad)
            got = [c.account for c in ranked]
            queue = O.adl_queue(book, long_side, mark)
            want = [a for a, _ in queue]
            for a in set(want) - set(got):
                if book[a].upnl(mark) >= u:
                    self.problem(f"{a} eligible (u = {float(book[a].upnl(mark))}) but not in the model's queue")
                else:
                    self.count("eligible", into=self.borderline)
            for a in set(got) - set(want):
                self.problem(f"{a} in the model's queue but not eligible (u = {float(book[a].upnl(mark))})")
            pos = {a: i for i, a in enumerate(want)}
            for c in ranked:
                a = c.account
                if a in pos:
                    s = book[a].score(mark)
                    model_score = score_down(c.u_d, c.margin, WAD * m.scale)
                    if not s - self.score_tolerance(book[a], mark) < Q(model_score, WAD) <= s:
                        self.problem(f"score of {a}: model {model_score}, exact {float(s)}")
            idx = [pos[a] for a in got if a in pos]
            for x, y in zip(idx, idx[1:]):
                if x > y:
                    px, py = queue[x][1], queue[y][1]
                    if abs(px.score(mark) - py.score(mark)) <= self.score_tolerance(px, mark) + \
                            self.score_tolerance(py, mark):
                        self.count("queue_order", into=self.borderline)
                    else:
                        self.problem(f"queue order: model {got}, oracle {want}")
            if want:
                self.count("queues_compared")

    # ------------------------------------------------------------------------------------------ classification

    def classify(self, label, predict, check):
        """Compares the model with the oracle under the SPEC's rules; if they differ, finds the fewest README
        alternatives (``oracle.Rules``) that explain the model's outcome."""
        first = None
        for rules in self.variants:
            problems, notes = check(predict(rules))
            if not self.findings_allowed:
                problems += [f"finding {n[len('finding '):]}" for n in notes if n.startswith("finding ")]
            if not problems:
                for name in deviations_of(rules):
                    self.count(name, into=self.deviations)
                    self.examples.setdefault(name, (self.seed, self.decimals, self.fund_seed, self.step_no))
                for n in notes:
                    if n.startswith("finding "):
                        self.count(n[len("finding "):], into=self.findings)
                        self.examples.setdefault(n[len("finding "):], (self.seed, self.decimals, self.fund_seed,
                                                                       self.step_no))
                    elif n.startswith("borderline"):
                        self.count(n[len("borderline "):], into=self.borderline)
                    elif ":" in n and n.split(":")[1].isdigit() and n.startswith("type"):
                        self.count(n.split(":")[0], int(n.split(":")[1]))
                    else:
                        self.count(n)
                self.count(label)
                return
            if first is None:
                first = problems
        self.problem(f"{label}: " + "; ".join(first))

