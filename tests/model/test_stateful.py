"""Stateful property test: a state machine of every user and keeper action, each rule applied through
``harness.Harness``, so each either succeeds on chain and in the model with the same resulting state, or reverts
with the exact custom error the model predicts. Invariants after every step: conservation, balanced book,
non-negative fund cash and consistent side lists (``perp/audit.py``), the bystander rule, and the ADL order and
type rules. The teardown runs a keeper pass, closes every remaining (solvent) position against a closing account
and withdraws everyone, leaving the vault holding exactly the funds' cash (plus, if a fund still holds a position,
the closing account's mirror of it).

How it runs: ``run_machine`` draws each example's rules and their arguments with hypothesis (``@given(data())``,
with Brownie's ``strategy`` objects and its one-snapshot-per-example chain isolation) and runs exactly ``STEPS``
rules per example. Brownie's ``state_machine`` (hypothesis' ``RuleBasedStateMachine``) ends an example whenever its
16-bit "continue?" draw is zero, and its first ten or so examples are zero-extended probes, so the CI profile of 15
examples x 15 steps ran 4.4 rules per example (a trivial machine shows the same: 19 runs of 1, 2, ..., 15 steps).
Brownie trap, still true for ``state_machine``: a hypothesis ``@precondition`` on a ``rule_*`` makes Brownie skip
that rule silently, so rules that need a position return early instead.

The run proves what it reached: every example's harness counts the states of ``reached.STATES`` during its rules
(not the teardown), and the test fails with the coverage table when one of them was reached zero times.
Size: ``STATEFUL_PROFILE=long`` or ``STATEFUL_EXAMPLES`` / ``STATEFUL_STEPS``."""
import functools
import inspect
import os
import time

from brownie.test import given, strategy
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st

from perp.params import FundingParams
from hypothesis.strategies import SearchStrategy


from driver import Driver
from harness import Harness, Mismatch
from perp.model import WAD, unrealized_pnl
from reached import Coverage

PROFILES = {"ci": (16, 20), "long": (300, 40)}
PROFILE = os.environ.get("STATEFUL_PROFILE", "ci")
EXAMPLES, STEPS = PROFILES[PROFILE]
EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", EXAMPLES))
STEPS = int(os.environ.get("STATEFUL_STEPS", STEPS))


class PerpMachine:
    stats = {}
    st_who = strategy("uint8", max_value=6)
    st_other = strategy("uint8", max_value=6)
    st_mid = strategy("uint8", min_value=1, max_value=2)
    st_frac = strategy("uint16", min_value=0, max_value=12_000)  # bps of a reference amount
    st_lev = strategy("uint8", min_value=0, max_value=26)  # x (0 and > max are refused)
    st_lev2 = strategy("uint8", min_value=1, max_value=25)
    st_bps = strategy("int16", min_value=-600, max_value=600)  # fill price offset from mark (band is 500)
    st_move = strategy("int16", min_value=-3_500, max_value=3_500)  # oracle move in bps
    st_flag = strategy("bool")
    st_seconds = strategy("uint32", min_value=1, max_value=40_000)
    st_seed = strategy("uint32")  # the choices of a multi-action construct (driver.Driver with this seed)
    # the constructs that walk the fund's path on purpose are drawn twice as often as a single action
    weights = {"rule_stress": 2, "rule_thin_side": 2, "rule_no_capacity": 2, "rule_gap": 2}

    @classmethod
    def prepare(cls, env):
        """Once per deployment (before Brownie's snapshot): every signer gets a large token balance and an
        unlimited allowance, so that deposits in the examples are one transaction each."""
        cls.env = env
        big = 10**12 * 10**env.decimals  # MockStablecoin.MAX_FAUCET_TOKENS
        for s in env.signers:
            env.token.faucet(s, big, {"from": s})
            env.token.approve(env.perp, 2**256 - 1, {"from": s})

    def setup(self):
        h = self.h = Harness(self.env, traders=self.env.signers[1:8], preminted=True)
        self.bystander = self.env.signers[8]
        self.closer = self.env.signers[0]
        self.orders = []
        self.adl_groups = []
        accounts = [t.address for t in h.traders] + [self.bystander.address]
        amounts = [(500 + 1500 * i) * h.one for i in range(len(h.traders))] + [777 * h.one]
        _, _, err = h.deposit_for_many(h.deployer, accounts, amounts)
        assert err is None
        self.bystander_free = h.model.free_collateral(self.bystander)
        # every keeper call (the rules' and the driver constructs') goes through keeper_action
        for name in ("liquidate", "liquidate_batch", "deleverage_fund"):
            setattr(h, name, functools.partial(self._keeper_call, getattr(h, name)))
        self.d = Driver(h, 0)  # the constructs of the differential driver, reseeded by each rule that uses one
        self.initialize_book()

    def _keeper_call(self, call, *args, **kwargs):
        return self.keeper_action(lambda: call(*args, **kwargs))

    def initialize_book(self):
        """Every example starts from a leveraged two-sided book in both markets (20x against 2x, both ways), so
        that a crash rule can reach liquidation, the fund's refusal and Type 1 / Type 2 within a few steps. Market 1
        has funding (1-hour period, 1% cap and change) and its second pair (the 2x long) trades 0.5% above the mark,
        so the longs pay from the first second on."""
        h = self.h
        t = h.traders
        _, _, err = h.deposit_for_many(h.deployer, [a.address for a in t[:4]], [10_000 * h.one] * 4)
        assert err is None, err
        _, _, err = h.set_funding(1, FundingParams(3600, 10**16, 10**16))
        assert err is None, err
        for mid, size in ((1, 2 * WAD), (2, WAD // 20)):
            hi = h.markets[mid][2].max_leverage
            for buyer, seller, lb, ls in ((t[0], t[1], hi, 2 * WAD), (t[2], t[3], 2 * WAD, hi)):
                price = h.mark(mid) * 1005 // 1000 if mid == 1 and buyer == t[2] else h.mark(mid)
                b = h.order(buyer, mid, True, size, price, lb)
                s = h.order(seller, mid, False, 2 * size if seller == t[1] else size, price, ls)
                _, _, err = h.settle([(b, s, size, price, None, None)])
                assert err is None, err
                self.orders += [s] if s.size > size else []  # a resting rest for rule_refill and rule_cancel

    # ------------------------------------------------------------------------------------------ helpers

    def trader(self, i):
        return self.h.traders[i % len(self.h.traders)]

    def flat_accounts(self):
        m = self.h.model
        held = {a for (_, a) in m.positions}
        return {a for a in self.h.by_addr if a not in held and a != self.h.keeper.address.lower()}

    def keeper_action(self, fn):
        """Runs a liquidation/ADL action, checks the bystander rule on it and queues its ADL fills, grouped per
        liquidation (or per Type 2 call) in log order, for ``invariant_adl_rules``."""
        h = self.h
        flat = {a: h.model.free_collateral(a) for a in self.flat_accounts()}
        fund_size = {mid: h.model.markets[mid].fund_size for mid in h.markets}
        tx, result, err = fn()
        for a, f in flat.items():
            assert h.model.free_collateral(a) == f, f"bystander {a} free changed by a keeper action"
            assert self.env.free(a) == f
        if tx is None:
            return tx, result, err
        group = None
        for e in tx.events:
            if e.name == "Liquidated":
                group = {"kind": "liquidation", "size": int(e["size"]), "refused": False, "fills": []}
                self.adl_groups.append(group)
            elif e.name == "FundRefused":
                group["refused"] = True
            elif e.name == "AdlFill":
                if group is None:
                    mid = int(e["marketId"])
                    group = {"kind": "type2", "size": fund_size[mid], "refused": None, "fills": []}
                    self.adl_groups.append(group)
                group["fills"].append({k: int(v) if not isinstance(v, str) else v for k, v in dict(e).items()})
        return tx, result, err

    # ------------------------------------------------------------------------------------------ rules

    def rule_deposit(self, st_who, st_frac):
        self.h.deposit(self.trader(st_who), st_frac * self.h.one // 4)

    def rule_withdraw(self, st_who, st_frac):
        t = self.trader(st_who)
        self.h.withdraw(t, self.h.model.free_collateral(t) * st_frac // 10_000)

    def rule_trade(self, st_who, st_other, st_mid, st_frac, st_lev, st_lev2, st_bps, st_flag):
        h = self.h
        if st_other == st_who and not st_flag:  # a self-trade (SelfTrade) only with st_flag
            st_other += 1
        buyer, seller = self.trader(st_who), self.trader(st_other)
        if st_flag and st_who % 2:
            buyer, seller = seller, buyer
        mark = h.mark(st_mid)
        price = mark + mark * st_bps // 10_000
        price -= price % 10**14
        lev_b, lev_s = st_lev * WAD, st_lev2 * WAD
        cap = min(h.model.free_collateral(buyer) * max(st_lev, 1), h.model.free_collateral(seller) * st_lev2)
        notional = cap * st_frac // 10_000 or h.one
        size = max(1, notional * WAD * h.scale // max(price, 1))
        # one of the two orders is larger than the fill when st_flag or st_frac is odd: a partial fill, its rest
        # kept for rule_refill and rule_cancel
        b = h.order(buyer, st_mid, True, size + (size // 2 if st_frac % 2 and not st_flag else 0), price, lev_b)
        s = h.order(seller, st_mid, False, size * 2 if st_flag else size, price, lev_s)
        self.orders += [o for o in (b, s) if o.size > size]
        h.settle([(b, s, size, price, None, None)])

    def rule_close(self, st_who, st_other, st_mid, st_frac, st_flag):
        """A holder reduces (or closes, or flips past zero) with a reduce-only order when st_flag."""
        h = self.h
        holders = h.model.side_accounts(st_mid, True) + h.model.side_accounts(st_mid, False)
        if not holders:
            return
        a = holders[st_who % len(holders)]
        pos = h.model.position(st_mid, a)
        q = max(1, abs(pos.size) * st_frac // 10_000)
        other = self.trader(st_other)
        if other.address.lower() == a:
            other = self.trader(st_other + 1)
        price = h.mark(st_mid)
        rest = q if st_frac % 2 else 0  # the counterparty's order is twice the fill when st_frac is odd
        if pos.size > 0:
            b = h.order(other, st_mid, True, q + rest, price, 10 * WAD)
            s = h.order(a, st_mid, False, q, price, 10 * WAD, reduce_only=st_flag)
        else:
            b = h.order(a, st_mid, True, q, price, 10 * WAD, reduce_only=st_flag)
            s = h.order(other, st_mid, False, q + rest, price, 10 * WAD)
        self.orders += [o for o in (b, s) if o.size > q]
        h.settle([(s, b, q, price, None, None)])

    def rule_refill(self, st_who, st_frac):
        h = self.h
        if not self.orders:
            return
        o = self.orders[st_who % len(self.orders)]
        q = max(1, o.size * st_frac // 20_000)
        other = self.trader(st_who + 1)
        if other.address == o.account:
            other = self.trader(st_who + 2)
        c = h.order(other, o.market_id, not o.is_buy, q, o.limit_price, 5 * WAD)
        h.settle([(o, c, q, o.limit_price, None, None)])

    def rule_cancel(self, st_who, st_flag):
        h = self.h
        if not self.orders:
            h.cancel_all(self.trader(st_who))
            return
        o = self.orders[st_who % len(self.orders)]
        owner = h.by_addr[o.account.lower()]
        h.cancel_order(owner if st_flag else self.trader(st_who), o)

    def rule_cancel_all(self, st_who):
        self.h.cancel_all(self.trader(st_who))

    def rule_price(self, st_mid, st_move):
        h = self.h
        ans = h.model.markets[st_mid].answer
        h.set_price(st_mid, max(ans // 10, ans + ans * st_move // 10_000))

    def rule_crash(self, st_mid, st_move, st_flag):
        """A move of 5-35% (against the longs when st_flag), then a keeper pass over every trader and a Type 2."""
        h = self.h
        ans = h.model.markets[st_mid].answer
        move = 500 + abs(st_move) % 3_001
        h.set_price(st_mid, max(ans // 10, ans - ans * move // 10_000 if st_flag else ans + ans * move // 10_000))
        h.liquidate_batch(st_mid, [t.address for t in h.traders])
        h.deleverage_fund(st_mid)

    def rule_liquidate(self, st_mid, st_who):
        h = self.h
        holders = h.model.side_accounts(st_mid, True) + h.model.side_accounts(st_mid, False)
        mark = h.mark(st_mid)
        liq = [a for a in holders if h.model.is_liquidatable(st_mid, a, mark)]
        pool = liq or holders or [self.trader(st_who).address.lower()]
        target = pool[st_who % len(pool)]
        h.liquidate(st_mid, target)

    def rule_liquidate_batch(self, st_mid):
        h = self.h
        h.liquidate_batch(st_mid, [t.address for t in h.traders])

    def rule_deleverage_fund(self, st_mid):
        self.h.deleverage_fund(st_mid)

    def rule_top_up(self, st_mid, st_frac):
        self.h.top_up(self.h.deployer, st_mid, st_frac * self.h.one // 100)

    def rule_poke(self, st_mid):
        self.h.poke(st_mid)

    def rule_add_margin(self, st_who, st_mid, st_frac):
        h = self.h
        t = self.trader(st_who)
        h.add_margin(t, st_mid, h.model.free_collateral(t) * st_frac // 20_000)

    def rule_remove_margin(self, st_who, st_mid, st_frac):
        h = self.h
        t = self.trader(st_who)
        pos = h.model.position(st_mid, t)
        h.remove_margin(t, st_mid, pos.margin * st_frac // 10_000)

    def rule_sleep(self, st_seconds, st_flag):
        h = self.h
        h.tick(st_seconds)
        if st_flag:
            for mid in h.markets:
                h.set_price(mid, h.model.markets[mid].answer)

    def _construct(self, name, seed):
        self.d.rng.seed(seed)
        getattr(self.d, name)()

    def rule_stress(self, st_seed):
        """The fund's path: a timely hand-over, a move past its drawdown trigger, a distressed liquidation or
        Type 2, sometimes a top-up and a poke that clear the latch (driver.Driver.do_stress)."""
        self._construct("do_stress", st_seed)

    def rule_gap(self, st_seed):
        """A late liquidation whose deficit exceeds the fund's equity: refused (NegativeEquity), Type 1."""
        self._construct("do_gap", st_seed)

    def rule_thin_side(self, st_seed):
        """Type 1 with too few counterparties: a best-effort remainder to the fund (driver.Driver.do_thin_side)."""
        self._construct("do_thin_side", st_seed)

    def rule_no_capacity(self, st_seed):
        """A risk-limit Type 2 with no counterparty in profit: InsufficientAdlCapacity (driver.Driver)."""
        self._construct("do_no_capacity", st_seed)

    def rule_funding(self, st_seed):
        """The owner sets (or switches off) a market's funding (driver.Driver.do_funding): the side indices then move
        with every touch that follows in a new second."""
        self._construct("do_funding", st_seed)

    def rule_params(self, st_seed):
        """The owner moves the fund's risk limit or drawdown lines within bounds (driver.Driver.do_params)."""
        self._construct("do_params", st_seed)

    # ------------------------------------------------------------------------------------------ invariants

    def invariant_audit(self):
        """Conservation, balanced book, no negative fund cash, side lists (perp/audit.py), and the model agrees."""
        PerpMachine.stats["invariant_checks"] = PerpMachine.stats.get("invariant_checks", 0) + 1
        self.env.check()
        self.h.model.check()

    def invariant_bystander(self):
        assert self.h.model.free_collateral(self.bystander) == self.bystander_free
        assert self.env.free(self.bystander) == self.bystander_free

    def invariant_adl_rules(self):
        """ADL order and type: per liquidation (or Type 2 call), fills come in strictly increasing rank with
        non-increasing score (the queue order), every filled position was eligible (score > 0, i.e. uPnL > 0),
        Type 1 only after the fund refused the position, Type 2 only from deleverageFund, and every counterparty
        sits on the side opposite the position being offset (its size moves toward zero)."""
        for g in self.adl_groups:
            fills = g["fills"]
            types = {f["adlType"] for f in fills}
            if g["kind"] == "liquidation":
                assert types <= {1}, "liquidation produced a non-Type-1 fill"
                assert g["refused"] or not fills, "Type 1 without a fund refusal"
            else:
                assert types == {2}
            ranks = [f["rank"] for f in fills]
            scores = [f["score"] for f in fills]
            assert ranks == sorted(set(ranks)), f"ranks {ranks}"
            assert scores == sorted(scores, reverse=True), f"scores {scores} not in queue order"
            assert all(0 < s <= WAD for s in scores)
            assert all((f["sizeDelta"] > 0) == (g["size"] > 0) for f in fills), "ADL counterparty on the wrong side"
        self.adl_groups = []

    # ------------------------------------------------------------------------------------------ teardown

    def teardown(self):
        h = self.h
        st = PerpMachine.stats
        st["examples"] = st.get("examples", 0) + 1
        st["actions"] = st.get("actions", 0) + h.steps
        st["reverted"] = st.get("reverted", 0) + h.reverts
        st["adl_fills"] = st.get("adl_fills", 0) + len(h.adl_fills)
        for f in h.adl_fills:
            st[f"type{f['adlType']}_fills"] = st.get(f"type{f['adlType']}_fills", 0) + 1
        PerpMachine.coverage.merge(h.coverage)  # what the rules reached (the closes below are not counted)
        for mid in h.markets:
            if h.model.markets[mid].paused:
                h.set_paused(mid, False)
            h.set_price(mid, h.model.markets[mid].answer)
        # keeper pass: everything below maintenance margin goes
        for mid in h.markets:
            holders = [h.by_addr[a].address for a in h.model.side_accounts(mid, True) + h.model.side_accounts(mid, False)]
            if holders:
                h.liquidate_batch(mid, holders)
        # every remaining (solvent) position closes at mark against the closing account
        closer = self.closer
        need = 0
        for (mid, a), p in h.model.positions.items():
            need += abs(p.size) * h.mark(mid) // (WAD * h.scale) * 2 + h.one
        if need:
            h.deposit(closer, need)
        for mid in h.markets:
            price = h.mark(mid)
            for a in list(h.model.side_accounts(mid, True) + h.model.side_accounts(mid, False)):
                if a == closer.address.lower():
                    continue
                pos = h.model.position(mid, a)
                equity = h.model.position_equity(mid, a, price)  # what it owes its side's index counted
                assert equity >= 0, f"{a} still insolvent after the keeper pass"
                q = abs(pos.size)
                if q * price // (WAD * h.scale) == 0:
                    # dust (an ADL piece): a fill needs a notional of at least one unit, so grow it first
                    k = 2 * -(-(WAD * h.scale) // price)
                    h.deposit(h.by_addr[a], h.one)
                    grow = h.order(a, mid, pos.size > 0, k, price, WAD)
                    other = h.order(closer, mid, pos.size < 0, k, price, WAD)
                    _, _, err = h.settle([(other, grow, k, price, None, None)])
                    assert err is None, f"{a} could not grow its dust position: {err}"
                    q += k
                mine = h.order(a, mid, pos.size < 0, q, price, WAD, reduce_only=True)
                theirs = h.order(closer, mid, pos.size > 0, q, price, WAD)
                _, _, err = h.settle([(theirs, mine, q, price, None, None)])
                assert err is None, f"{a} could not close: {err}"
                assert (mid, a) not in h.model.positions
        # everyone withdraws everything (one whole-state comparison at the end; each withdrawal still has to
        # succeed on both sides)
        h.defer_compare = True
        for a in list(h.by_addr):
            free = h.model.free_collateral(a)
            if free:
                _, _, err = h.withdraw(h.by_addr[a], free)
                assert err is None
        h.defer_compare = False
        h.compare("the withdrawals", all_orders=True)
        vault = h.T.call("balanceOf", h.perp.address)
        cash = sum(m.fund_cash for m in h.model.markets.values())
        fund_on = sum(m.fund_open_notional for m in h.model.markets.values())
        rest = sum(p.margin - p.open_notional for p in h.model.positions.values())  # the closer's mirror
        balances = sum(m.index_balance for m in h.model.markets.values())  # index payments not yet settled out
        assert all(a == closer.address.lower() for (_, a) in h.model.positions)
        assert vault == cash - fund_on + rest + balances
        if all(m.fund_size == 0 for m in h.model.markets.values()):
            assert vault == cash + balances, "vault must hold exactly the funds' cash and the index balances"


def run_machine(machine, env, examples: int, steps: int, derandomize: bool) -> None:
    """Runs ``examples`` examples of exactly ``steps`` rules each. Like Brownie's ``state_machine``: the class is
    prepared once (``prepare(env)``), the chain is snapshotted then and reverted before every later example (that
    is ``brownie.test.given``'s isolation), each ``rule_*``
    takes its arguments from the class attributes of the same names (Brownie ``strategy`` objects), ``invariant_*``
    run after ``setup`` and after every rule, ``teardown`` after the example (also when it fails). A failing example
    is shrunk and printed step by step ("step 3: rule_crash(st_mid=1, st_move=-2400, st_flag=True)")."""
    strategies = {k: v for k, v in inspect.getmembers(machine) if isinstance(v, SearchStrategy)}
    rules = {}
    for name, fn in sorted(inspect.getmembers(machine, inspect.isfunction)):
        if name.startswith("rule_"):
            rules[name] = [(a, strategies[a]) for a in fn.__code__.co_varnames[1:fn.__code__.co_argcount]]
    # rules listed under ``machine.weights`` are drawn that many times as often as the others
    names = sorted(n for n in rules for _ in range(getattr(machine, "weights", {}).get(n, 1)))
    invariants = [n for n, _ in inspect.getmembers(machine, inspect.isfunction) if n.startswith("invariant_")]
    machine.prepare(env)

    def check(m):
        for n in invariants:
            getattr(m, n)()

    @settings(max_examples=examples, derandomize=derandomize, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def example(data):
        m = machine()
        m.setup()
        try:
            check(m)
            for i in range(steps):
                # hypothesis leans to zero draws (its first examples are zero-extended): offset by the step number,
                # so that a zero draw runs the rules round-robin instead of the first rule over and over
                name = names[(data.draw(st.integers(0, len(names) - 1)) + i) % len(names)]
                args = {a: data.draw(s) for a, s in rules[name]}
                note(f"step {i + 1}: {name}({', '.join(f'{k}={v!r}' for k, v in args.items())})")
                getattr(m, name)(**args)
                machine.stats["steps"] = machine.stats.get("steps", 0) + 1
                seen = machine.stats.setdefault("rules", {})
                seen[name] = seen.get(name, 0) + 1
                check(m)
        finally:
            m.teardown()

    example()


def test_stateful(menv):
    PerpMachine.stats, PerpMachine.coverage = {}, Coverage()
    t0 = time.time()
    run_machine(PerpMachine, menv, EXAMPLES, STEPS, derandomize=PROFILE == "ci")  # CI: the same examples each run
    stats = PerpMachine.stats
    print(f"\nstateful ({menv.decimals}-decimal collateral): {stats['examples']} examples, {stats['steps']} rule steps "
          f"({stats['steps'] / stats['examples']:.1f} per example of {STEPS}), {stats['actions']} actions, "
          f"{stats.get('type1_fills', 0)} Type 1 and {stats.get('type2_fills', 0)} Type 2 fills, {time.time() - t0:.0f}s; "
          f"{stats}")
    PerpMachine.coverage.assert_reached(f"the stateful run ({menv.decimals}-decimal collateral, {EXAMPLES} examples "
                                        f"x {STEPS} rules)")
