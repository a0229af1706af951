"""Stateful property test (Brownie's hypothesis state machine): every user and keeper action is a rule applied
through ``harness.Harness``, so each either succeeds on chain and in the model with the same resulting state, or
reverts with the exact custom error the model predicts. Invariants after every step: conservation, balanced book,
non-negative fund cash and consistent side lists (``perp/audit.py``), the bystander rule, and the ADL order and
type rules. The teardown runs a keeper pass, closes every remaining (solvent) position against a closing account
and withdraws everyone, leaving the vault holding exactly the funds' cash (plus, if a fund still holds a position,
the closing account's mirror of it).

Brownie trap: a hypothesis ``@precondition`` on a ``rule_*`` makes Brownie skip that rule silently, so rules that
need a position return early instead.
Size: ``STATEFUL_PROFILE=long`` (300 examples x 40 steps) or ``STATEFUL_EXAMPLES`` / ``STATEFUL_STEPS``."""
import os

from brownie.test import strategy

from harness import Harness, Mismatch
from perp.model import WAD, unrealized_pnl

PROFILES = {"ci": (15, 15), "long": (300, 40)}
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

    def __init__(cls, env):
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

    def initialize_book(self):
        """Every example starts from a leveraged two-sided book in both markets (20x against 2x, both ways), so
        that a crash rule can reach liquidation, the fund's refusal and Type 1 / Type 2 within a few steps."""
        h = self.h
        t = h.traders
        _, _, err = h.deposit_for_many(h.deployer, [a.address for a in t[:4]], [10_000 * h.one] * 4)
        assert err is None, err
        for mid, size in ((1, 2 * WAD), (2, WAD // 20)):
            price = h.mark(mid)
            hi = h.markets[mid][2].max_leverage
            for buyer, seller, lb, ls in ((t[0], t[1], hi, 2 * WAD), (t[2], t[3], 2 * WAD, hi)):
                b = h.order(buyer, mid, True, size, price, lb)
                s = h.order(seller, mid, False, size, price, ls)
                _, _, err = h.settle([(b, s, size, price, None, None)])
                assert err is None, err

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
        b = h.order(buyer, st_mid, True, size, price, lev_b)
        s = h.order(seller, st_mid, False, size * 2 if st_flag else size, price, lev_s)
        if st_flag:
            self.orders.append(s)
        h.settle([(b, s, size, price, None, None)])

    def rule_close(self, st_who, st_other, st_mid, st_frac, st_flag):
        """A holder reduces (or closes, or flips past zero) with a reduce-only order when st_flag."""
        h = self.h
        holders = h.model.sides[(st_mid, True)] + h.model.sides[(st_mid, False)]
        if not holders:
            return
        a = holders[st_who % len(holders)]
        pos = h.model.position(st_mid, a)
        q = max(1, abs(pos.size) * st_frac // 10_000)
        other = self.trader(st_other)
        if other.address.lower() == a:
            other = self.trader(st_other + 1)
        price = h.mark(st_mid)
        if pos.size > 0:
            b = h.order(other, st_mid, True, q, price, 10 * WAD)
            s = h.order(a, st_mid, False, q, price, 10 * WAD, reduce_only=st_flag)
        else:
            b = h.order(a, st_mid, True, q, price, 10 * WAD, reduce_only=st_flag)
            s = h.order(other, st_mid, False, q, price, 10 * WAD)
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
        self.keeper_action(lambda: h.liquidate_batch(st_mid, [t.address for t in h.traders]))
        self.keeper_action(lambda: h.deleverage_fund(st_mid))

    def rule_liquidate(self, st_mid, st_who):
        h = self.h
        holders = h.model.sides[(st_mid, True)] + h.model.sides[(st_mid, False)]
        mark = h.mark(st_mid)
        liq = [a for a in holders if h.model.is_liquidatable(st_mid, a, mark)]
        pool = liq or holders or [self.trader(st_who).address.lower()]
        target = pool[st_who % len(pool)]
        self.keeper_action(lambda: h.liquidate(st_mid, target))

    def rule_liquidate_batch(self, st_mid):
        h = self.h
        self.keeper_action(lambda: h.liquidate_batch(st_mid, [t.address for t in h.traders]))

    def rule_deleverage_fund(self, st_mid):
        self.keeper_action(lambda: self.h.deleverage_fund(st_mid))

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
        for mid in h.markets:
            if h.model.markets[mid].paused:
                h.set_paused(mid, False)
            h.set_price(mid, h.model.markets[mid].answer)
        # keeper pass: everything below maintenance margin goes
        for mid in h.markets:
            holders = [h.by_addr[a].address for a in h.model.sides[(mid, True)] + h.model.sides[(mid, False)]]
            if holders:
                self.keeper_action(lambda: h.liquidate_batch(mid, holders))
        # every remaining (solvent) position closes at mark against the closing account
        closer = self.closer
        need = 0
        for (mid, a), p in h.model.positions.items():
            need += abs(p.size) * h.mark(mid) // (WAD * h.scale) * 2 + h.one
        if need:
            h.deposit(closer, need)
        for mid in h.markets:
            price = h.mark(mid)
            for a in list(h.model.sides[(mid, True)] + h.model.sides[(mid, False)]):
                if a == closer.address.lower():
                    continue
                pos = h.model.position(mid, a)
                equity = pos.margin + unrealized_pnl(pos.size, pos.open_notional, price, h.scale)
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
        assert all(a == closer.address.lower() for (_, a) in h.model.positions)
        assert vault == cash - fund_on + rest
        if all(m.fund_size == 0 for m in h.model.markets.values()):
            assert vault == cash, "vault must hold exactly the funds' cash"


def _state_machine():
    """Brownie's ``state_machine`` from its pure-Python source. eth-brownie 1.22.2 ships ``brownie/test/stateful``
    compiled with mypyc, and the compiled ``_BrownieStateMachine`` rejects the subclass it generates itself
    (``TypeError: brownie.test.stateful._BrownieStateMachine object expected; got ...BrownieStateMachine``), so the
    ``state_machine`` fixture cannot run any machine. The .py file next to the extension is the same code; loading
    it by path gives the working function (same rule/invariant naming, strategies and chain snapshots)."""
    import importlib.util
    from pathlib import Path

    import brownie.test

    path = Path(brownie.test.__file__).parent / "stateful.py"
    spec = importlib.util.spec_from_file_location("brownie_test_stateful_source", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.state_machine


def test_stateful(menv):
    settings = {"max_examples": EXAMPLES, "stateful_step_count": STEPS}
    if PROFILE == "ci":
        settings["derandomize"] = True  # CI runs the same examples every time; the long profile explores
    PerpMachine.stats = {}
    _state_machine()(PerpMachine, menv, settings=settings)
    print(f"\nstateful: {PerpMachine.stats} (before the teardown's closes)")
