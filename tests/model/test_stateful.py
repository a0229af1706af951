"""Stateful property test (Brownie's hypothesis state machine): every user and keeper action is a rule applied
through ``harness.Harness``, so each either succeeds on chain and in the model with the same resulting state, or
reverts with the exact custom error the model predicts. Invariants after every step: conservation, balanced book,
non-negative fund cash and consistent side lists (``perp/audit.py``), the bystander rule, and the ADL order and
type rules. The teardown runs a keeper pass, closes every remaining (solvent) position against a closing account
and withdraws everyone, leaving the vault holding exactly the funds' cash (plus, if a fund still holds a position,
the closing account's mirror of it).

Brownie trap: a hypothesis ``@precondition`` on a ``rule_*`` makes Brownie skip that rule silently, so rules that
need a position return early instead.
Size: ``STATEFUL_PROFILE=long`` (200 examples x 40 steps) or ``STATEFUL_EXAMPLES`` / ``STATEFUL_STEPS``."""
import os

from brownie.test import strategy

from harness import Harness, Mismatch
from perp.model import WAD, unrealized_pnl

PROFILES = {"ci": (10, 15), "long": (200, 40)}
EXAMPLES, STEPS = PROFILES[os.environ.get("STATEFUL_PROFILE", "ci")]
EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", EXAMPLES))
STEPS = int(os.environ.get("STATEFUL_STEPS", STEPS))


class PerpMachine:
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
        cls.env = env

    def setup(self):
        h = self.h = Harness(self.env, traders=self.env.signers[1:8])
        self.bystander = self.env.signers[8]
        self.closer = self.env.signers[0]
        self.orders = []
        self.adl_groups = []
        for i, t in enumerate(h.traders):
            h.deposit(t, (500 + 1500 * i) * h.one)
        h.deposit(self.bystander, 777 * h.one)
        self.bystander_free = h.model.free_collateral(self.bystander)

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
            return h.cancel_all(self.trader(st_who))
        o = self.orders[st_who % len(self.orders)]
        owner = h.by_addr[o.account.lower()]
        h.cancel_order(owner if st_flag else self.trader(st_who), o)

    def rule_cancel_all(self, st_who):
        self.h.cancel_all(self.trader(st_who))

    def rule_price(self, st_mid, st_move):
        h = self.h
        ans = h.model.markets[st_mid].answer
        h.set_price(st_mid, max(ans // 10, ans + ans * st_move // 10_000))

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
                mine = h.order(a, mid, pos.size < 0, q, price, WAD, reduce_only=True)
                theirs = h.order(closer, mid, pos.size > 0, q, price, WAD)
                _, _, err = h.settle([(theirs, mine, q, price, None, None)])
                assert err is None, f"{a} could not close: {err}"
                assert (mid, a) not in h.model.positions
        # everyone withdraws everything
        for a in list(h.by_addr):
            free = h.model.free_collateral(a)
            if free:
                _, _, err = h.withdraw(h.by_addr[a], free)
                assert err is None
        vault = h.T.call("balanceOf", h.perp.address)
        cash = sum(m.fund_cash for m in h.model.markets.values())
        fund_on = sum(m.fund_open_notional for m in h.model.markets.values())
        rest = sum(p.margin - p.open_notional for p in h.model.positions.values())  # the closer's mirror
        assert all(a == closer.address.lower() for (_, a) in h.model.positions)
        assert vault == cash - fund_on + rest
        if all(m.fund_size == 0 for m in h.model.markets.values()):
            assert vault == cash, "vault must hold exactly the funds' cash"


def test_stateful(menv, state_machine):
    state_machine(PerpMachine, menv, settings={"max_examples": EXAMPLES, "stateful_step_count": STEPS})
