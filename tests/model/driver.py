"""Seeded random actions for the differential test, applied through ``harness.Harness`` (chain and model)."""
from __future__ import annotations

import random

from perp.model import unrealized_pnl
from perp.params import FundingParams

WAD = 10**18
ORACLE = 10**10  # WAD per oracle unit (8-decimal feed)


class Driver:
    def __init__(self, h, seed: int):
        self.h = h
        self.rng = random.Random(seed)
        self.pool = []  # orders with a remainder, for partial fills, overfills, cancels
        self.initial = {mid: h.model.markets[mid].answer for mid in h.markets}
        self.kinds = {}

    # ------------------------------------------------------------------------------------------ helpers

    @property
    def traders(self):
        return self.h.traders

    def holders(self, mid):
        m = self.h.model
        return [self.h.by_addr[a] for a in m.side_accounts(mid, True) + m.side_accounts(mid, False)]

    def params(self, mid):
        return self.h.markets[mid][2]

    def leverage(self, mid):
        r = self.rng.random()
        max_lev = self.params(mid).max_leverage
        if r < 0.02:
            return max_lev + 1
        if r < 0.03:
            return WAD // 2
        if r < 0.4:
            return self.rng.randint(1, max_lev // WAD) * WAD
        if r < 0.7:
            return self.rng.randint(max_lev // 2, max_lev)
        return self.rng.randint(WAD, max_lev)

    def price(self, mid):
        mark = self.h.mark(mid)
        band = self.params(mid).oracle_band_bps
        r = self.rng.random()
        if r < 0.04:
            bps = self.rng.choice([band + 1, -band - 1, band + 100])
        elif r < 0.15:
            bps = self.rng.choice([band, -band])
        else:
            bps = self.rng.randint(-band, band) // self.rng.choice([1, 2, 5])
        p = mark + mark * bps // 10_000
        if self.rng.random() < 0.6:
            p -= p % 10**16
        return max(p, 1)

    def size_for(self, notional, price):
        size = notional * WAD * self.h.scale // max(price, 1)
        if self.rng.random() < 0.5:
            size -= size % 10**14
        if self.rng.random() < 0.2:
            size += self.rng.randint(1, 10**12)
        return max(size, 1)

    # ------------------------------------------------------------------------------------------ setup

    def setup(self):
        h = self.h
        for t in self.traders:
            if self.rng.random() < 0.9:
                h.deposit(t, self.rng.randint(200, 20_000) * h.one + self.rng.randint(0, h.one))
        # an opening book in both markets, mixed leverage on both sides, so that the first price moves already
        # have positions to liquidate and counterparties to deleverage
        funding = random.Random(self.rng.random())  # (its own draws: the action sequence stays the seed's)
        for mid in h.markets:
            if funding.random() < 0.6:  # funding on most markets, so that the side indices move between touches
                self.do_funding(mid, funding)
            for _ in range(self.rng.randint(2, 4)):
                self.open_pair(mid)

    def open_pair(self, mid):
        """A trade at mark between two funded traders for a share of what the poorer side can margin."""
        h, rng = self.h, self.rng
        funded = [t for t in self.traders if h.model.free_collateral(t) > 50 * h.one]
        if len(funded) < 2:
            return
        buyer, seller = rng.sample(funded, 2)
        price = h.mark(mid)
        max_lev = self.params(mid).max_leverage // WAD
        lev_b, lev_s = (rng.choice([max_lev, max_lev * 3 // 4, rng.randint(1, 5)]) * WAD for _ in range(2))
        cap = min(h.model.free_collateral(buyer) * lev_b, h.model.free_collateral(seller) * lev_s) // WAD
        size = self.size_for(cap * rng.randint(20, 90) // 100, price)
        b, s = self._order_pair(mid, buyer, seller, size, price, lev_b, lev_s)
        h.settle([self._match(b, s, size, price)])

    # ------------------------------------------------------------------------------------------ actions

    def step(self):
        kinds = ["trade", "reduce", "refill", "price", "liq", "batch", "t2", "deposit", "withdraw", "add",
                 "remove", "cancel", "cancel_all", "topup", "poke", "sleep", "pause", "crash", "stress", "params",
                 "funding"]
        weights = [16, 7, 3, 7, 4, 3, 3, 2, 2, 2, 3, 1, 1, 1, 1, 1, 1, 4, 5, 1, 1]
        kinds += ["thin_side", "no_capacity", "gap"]
        weights += [3, 2, 1]
        for mid in self.h.markets:
            if self.h.model.markets[mid].paused and self.rng.random() < 0.4:
                self.h.set_paused(mid, False)
        kind = self.rng.choices(kinds, weights)[0]
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        getattr(self, "do_" + kind)()

    def _order_pair(self, mid, buyer, seller, size, price, lev_b=None, lev_s=None, ro_b=False, ro_s=False):
        h, rng = self.h, self.rng
        ob = size if rng.random() < 0.7 else size + rng.randint(1, size)
        os_ = size if rng.random() < 0.7 else size + rng.randint(1, size)
        lim_b = price if rng.random() < 0.8 else price + rng.randint(0, price // 100)
        lim_s = price if rng.random() < 0.8 else price - rng.randint(0, price // 100)
        if rng.random() < 0.02:
            lim_b = price - 1
        if rng.random() < 0.02:
            lim_s = price + 1
        exp_b = h.now - 1 if rng.random() < 0.015 else None
        ep_s = h.model.order_epoch(seller) + 1 if rng.random() < 0.015 else None
        buyer_makes = rng.random() < 0.5  # the roles are signed (Order.isMaker)
        b = h.order(buyer, mid, True, ob, lim_b, lev_b or self.leverage(mid), reduce_only=ro_b, expiry=exp_b,
                    is_maker=buyer_makes)
        s = h.order(seller, mid, False, os_, lim_s, lev_s or self.leverage(mid), reduce_only=ro_s, epoch=ep_s,
                    is_maker=not buyer_makes)
        return b, s

    def _roles(self, a, b):
        """(maker, taker) as the orders were signed; now and then the other way round (OrderRoleMismatch)."""
        maker, taker = (a, b) if a.is_maker else (b, a)
        return (taker, maker) if self.rng.random() < 0.01 else (maker, taker)

    def _match(self, b, s, size, price):
        rng = self.rng
        maker, taker = self._roles(b, s)
        ms = ts = None
        r = rng.random()
        if r < 0.015:
            ms = rng.choice([x for x in self.h.signers if x.address != maker.account])
        elif r < 0.03:
            ts = rng.choice([x for x in self.h.signers if x.address != taker.account])
        fill = size
        r = rng.random()
        if r < 0.01:
            fill = 0
        for o in (b, s):
            if o.size > size:
                self.pool.append(o)
        return (maker, taker, fill, price, ms, ts)

    def do_trade(self):
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        buyer, seller = rng.sample(self.traders, 2)
        if rng.random() < 0.02:
            seller = buyer
        price = self.price(mid)
        lev_b, lev_s = self.leverage(mid), self.leverage(mid)
        cap = min(h.model.free_collateral(buyer) * lev_b, h.model.free_collateral(seller) * lev_s) // WAD
        frac = rng.choice([rng.uniform(0.01, 0.3), rng.uniform(0.3, 0.95), rng.uniform(0.95, 1.2)])
        notional = int(cap * frac) or rng.randint(1, 100) * h.one
        if rng.random() < 0.02:
            notional = 0  # NotionalTooSmall (size of a few wei)
        size = self.size_for(notional, price) if notional else rng.randint(1, 100)
        ro_b, ro_s = rng.random() < 0.05, rng.random() < 0.05
        b, s = self._order_pair(mid, buyer, seller, size, price, lev_b, lev_s, ro_b, ro_s)
        if rng.random() < 0.01:  # market mismatch
            other = [m for m in h.markets if m != mid][0]
            s = h.order(seller, other, False, size, price, lev_s, is_maker=not b.is_maker)
        if rng.random() < 0.01:  # same side
            s = h.order(seller, mid, True, size, price, lev_s, is_maker=not b.is_maker)
        matches = [self._match(b, s, size, price)]
        if rng.random() < 0.1:
            b2, s2 = self._order_pair(mid, *rng.sample(self.traders, 2), max(1, size // 3), price)
            matches.append(self._match(b2, s2, max(1, size // 3), price))
        h.settle(matches)

    def do_reduce(self):
        """A holder reduces, closes or flips, against a random counterparty (often reduce-only)."""
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        holders = self.holders(mid)
        if not holders:
            return self.do_trade()
        holder = rng.choice(holders)
        pos = h.model.position(mid, holder)
        s = abs(pos.size)
        q = rng.choice([s, s, max(1, s // 2), max(1, s * rng.randint(1, 99) // 100), s + rng.randint(1, s)])
        other = rng.choice([t for t in self.traders if t != holder])
        price = self.price(mid)
        ro = rng.random() < 0.5
        if pos.size > 0:
            b, sl = self._order_pair(mid, other, holder, q, price, ro_s=ro)
        else:
            b, sl = self._order_pair(mid, holder, other, q, price, ro_b=ro)
        h.settle([self._match(b, sl, q, price)])

    def do_refill(self):
        """Another fill of an order already partly filled (or overfill, or a cancelled one)."""
        h, rng = self.h, self.rng
        if not self.pool:
            return self.do_trade()
        o = rng.choice(self.pool)
        filled = h.model.filled_amount(h.hasher(o))
        rest = o.size - filled if filled <= o.size else 0
        q = rest if rest and rng.random() < 0.5 else max(1, rest // 2) if rest else rng.randint(1, 10**17)
        if rng.random() < 0.1:
            q = rest + 1
        other = rng.choice([t for t in self.traders if t.address != o.account])
        price = o.limit_price
        c = h.order(other, o.market_id, not o.is_buy, q, price, self.leverage(o.market_id), is_maker=not o.is_maker)
        maker, taker = self._roles(o, c)
        h.settle([(maker, taker, q, price, None, None)])

    def do_price(self):
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        ans = h.model.markets[mid].answer
        r = rng.random()
        if r < 0.6:
            f = rng.gauss(0, 0.015)
        elif r < 0.9:
            f = rng.choice([-1, 1]) * rng.uniform(0.03, 0.08)
        else:
            f = rng.choice([-1, -1, 1]) * rng.uniform(0.1, 0.3)
        new = int(ans * (1 + f))
        new = max(new, self.initial[mid] // 20)
        new = min(new, self.initial[mid] * 20)
        h.set_price(mid, new)

    def do_crash(self):
        """A large move against the side with more open leverage, then a keeper pass (batch), maybe Type 2."""
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        m = h.model
        mark = h.mark(mid)

        def lev(is_long):
            total = 0
            for a in m.side_accounts(mid, is_long):
                p = m.positions[(mid, a)]
                total += abs(p.size) * mark // (WAD * h.scale) * WAD // max(1, p.margin)
            return total

        down = lev(True) >= lev(False) if rng.random() < 0.8 else rng.random() < 0.5
        f = rng.uniform(0.04, 0.3)
        ans = m.markets[mid].answer
        h.set_price(mid, max(self.initial[mid] // 20, int(ans * (1 - f if down else 1 + f))))
        holders = self.holders(mid)
        rng.shuffle(holders)
        if holders:
            h.liquidate_batch(mid, holders)
        if m.markets[mid].fund_size != 0 and rng.random() < 0.5:
            # a second leg against the position the fund just inherited: drawdown, maybe negative equity
            fund_long = m.markets[mid].fund_size > 0
            f2 = rng.uniform(0.02, 0.25)
            ans = m.markets[mid].answer
            h.set_price(mid, max(self.initial[mid] // 20, int(ans * (1 - f2 if fund_long else 1 + f2))))
            if rng.random() < 0.3:
                h.poke(mid)
        if rng.random() < 0.7:
            h.deleverage_fund(mid)

    def do_liq(self):
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        holders = self.holders(mid)
        mark = h.mark(mid)
        liq = [a for a in holders if h.model.is_liquidatable(mid, a, mark)]
        if liq and rng.random() < 0.8:
            target = rng.choice(liq)
        elif holders and rng.random() < 0.95:
            target = rng.choice(holders)
        else:
            target = rng.choice(self.traders)
        h.liquidate(mid, target)

    def do_batch(self):
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        accts = list(self.traders)
        rng.shuffle(accts)
        accts = accts[: rng.randint(1, len(accts))]
        if rng.random() < 0.2:
            accts.append(accts[0])
        h.liquidate_batch(mid, accts)

    def do_t2(self):
        h, rng = self.h, self.rng
        with_pos = [mid for mid in h.markets if h.model.markets[mid].fund_size != 0]
        mid = rng.choice(with_pos) if with_pos and rng.random() < 0.8 else rng.choice(list(h.markets))
        h.deleverage_fund(mid)

    def do_deposit(self):
        h, rng = self.h, self.rng
        amount = 0 if rng.random() < 0.05 else rng.randint(1, 5_000) * h.one + rng.randint(0, h.one)
        r = rng.random()
        if r < 0.6:
            h.deposit(rng.choice(self.traders), amount)
        elif r < 0.8:
            h.deposit_for(h.deployer, rng.choice(self.traders + ["0x" + "00" * 20]), amount)
        else:
            accts = rng.sample(self.traders, rng.randint(1, 3))
            amounts = [rng.choice([0, amount, amount // 2 + 1]) if rng.random() < 0.1 else amount // 2 + 1
                       for _ in accts]
            if rng.random() < 0.05:
                amounts.append(1)  # length mismatch
            h.deposit_for_many(h.deployer, [a.address if hasattr(a, "address") else a for a in accts], amounts)

    def do_withdraw(self):
        h, rng = self.h, self.rng
        t = rng.choice(self.traders + [h.keeper])
        free = h.model.free_collateral(t)
        r = rng.random()
        amount = 0 if r < 0.05 else free + 1 if r < 0.15 else free if r < 0.3 else rng.randint(0, free) if free else 1
        h.withdraw(t, amount)

    def _holder_or_any(self, mid):
        holders = self.holders(mid)
        if holders and self.rng.random() < 0.9:
            return self.rng.choice(holders)
        return self.rng.choice(self.traders)

    def do_add(self):
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        t = self._holder_or_any(mid)
        free = h.model.free_collateral(t)
        amount = 0 if rng.random() < 0.05 else free + 1 if rng.random() < 0.05 else rng.randint(1, max(1, free // 3))
        h.add_margin(t, mid, amount)

    def do_remove(self):
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        t = self._holder_or_any(mid)
        pos = h.model.position(mid, t)
        margin = pos.margin
        r = rng.random()
        if r < 0.05:
            amount = 0
        elif r < 0.1:
            amount = margin + 1
        elif r < 0.4 and pos.size:
            # about the most that keeps equity above initial margin
            mark = h.mark(mid)
            equity = margin + unrealized_pnl(pos.size, pos.open_notional, mark, h.scale)
            im = abs(pos.size) * mark // (WAD * h.scale) * self.params(mid).imr // WAD
            amount = max(1, min(margin, equity - im + rng.randint(-3, 3)))
        else:
            amount = rng.randint(1, max(1, margin // 2))
        h.remove_margin(t, mid, amount)

    def do_cancel(self):
        h, rng = self.h, self.rng
        if not self.pool:
            return self.do_cancel_all()
        o = rng.choice(self.pool)
        owner = h.by_addr[o.account.lower()]
        sender = owner if rng.random() < 0.8 else rng.choice([s for s in h.signers if s != owner])
        h.cancel_order(sender, o)

    def do_cancel_all(self):
        self.h.cancel_all(self.rng.choice(self.traders))

    def do_topup(self):
        h, rng = self.h, self.rng
        amount = 0 if rng.random() < 0.1 else rng.randint(1, 300) * h.one
        h.top_up(h.deployer, rng.choice(list(h.markets)), amount)

    def do_poke(self):
        self.h.poke(self.rng.choice(list(self.h.markets)))

    def do_sleep(self):
        h, rng = self.h, self.rng
        r = rng.random()
        if r < 0.4:
            h.tick(rng.randint(10, 600))
        elif r < 0.7:
            h.tick(3_700)  # oracles stale until the next price
            if rng.random() < 0.5:
                for mid in h.markets:
                    h.set_price(mid, h.model.markets[mid].answer)
        else:
            h.tick(8 * 3600 + 100)  # the high-water-mark window passes
            for mid in h.markets:
                h.set_price(mid, h.model.markets[mid].answer)

    def do_funding(self, mid=None, rng=None):
        """The owner sets (or switches off) a market's funding: an hour-to-8-hour period, a cap of 0.01%-2% per period,
        a change of up to the cap per period; rarely 0 (off)."""
        h, rng = self.h, rng or self.rng
        mid = mid if mid is not None else rng.choice(list(h.markets))
        if rng.random() < 0.1:
            params = FundingParams()
        else:
            cap = rng.choice([10**14, 10**15, 5 * 10**15, 2 * 10**16])
            params = FundingParams(rng.choice([3600, 4 * 3600, 8 * 3600]), cap, cap * rng.randint(1, 10) // 10 or 1)
        h.set_funding(mid, params)

    def do_pause(self):
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        h.set_paused(mid, not h.model.markets[mid].paused)

    # ------------------------------------------------------------------------------------------ the fund's path

    def _set_mark(self, mid, price):
        """Sets the oracle so that the mark is about ``price`` (WAD), within the driver's price range."""
        answer = price // ORACLE
        answer = min(max(answer, self.initial[mid] // 20), self.initial[mid] * 20)
        self.h.set_price(mid, max(answer, 1))

    def _most_leveraged(self, mid):
        h, m = self.h, self.h.model
        holders = m.side_accounts(mid, True) + m.side_accounts(mid, False)
        if not holders:
            return None
        mark = h.mark(mid)

        def leverage(a):
            p = m.positions[(mid, a)]
            equity = p.margin + unrealized_pnl(p.size, p.open_notional, mark, h.scale)
            return abs(p.size) * mark // (WAD * h.scale) / max(1, equity)

        return max(holders, key=leverage) if self.rng.random() < 0.7 else self.rng.choice(holders)

    def _timely_mark(self, mid, a):
        """The mark (WAD) between ``a``'s bankruptcy price and its liquidation price: 0 <= equity < MM."""
        h = self.h
        p = h.model.positions[(mid, a)]
        n = abs(p.size)
        mmr = self.params(mid).mmr
        if p.size > 0:  # equity m + s*P - ON: zero at Pb, MM at Pl
            pb = (p.open_notional - p.margin) * h.scale * WAD // n
            pl = (p.open_notional - p.margin) * h.scale * WAD * WAD // (n * (WAD - mmr))
        else:
            pb = (p.margin - p.open_notional) * h.scale * WAD // n
            pl = (p.margin - p.open_notional) * h.scale * WAD * WAD // (n * (WAD + mmr))
        return pb + (pl - pb) * self.rng.randint(25, 75) // 100 if pb > 0 else None

    def _hand_to_fund(self, mid, over_limit=False):
        """A timely liquidation: the mark is put between the most leveraged position's bankruptcy price and its
        liquidation price (0 <= equity < maintenance margin), then that position is liquidated. With
        ``over_limit`` the owner first lowers the fund's risk limit below what the hand-over would leave it with,
        so that the fund refuses it (RiskLimit)."""
        h = self.h
        a = self._most_leveraged(mid)
        if a is None:
            return self.open_pair(mid)
        price = self._timely_mark(mid, a)
        if price is None:
            return
        self._set_mark(mid, price)
        if over_limit:
            mk = h.model.markets[mid]
            after = abs(mk.fund_size + h.model.positions[(mid, a)].size) * h.mark(mid) // (WAD * h.scale)
            if after <= abs(mk.fund_size) * h.mark(mid) // (WAD * h.scale):
                return  # this hand-over would lower the fund's notional: no limit can refuse it
            h.set_params(mid, mk.params.with_(max_fund_notional=max(1, after * self.rng.randint(30, 95) // 100)))
        h.liquidate(mid, a)

    def _gap_liquidation(self, mid):
        """A late liquidation: the mark gaps past the most leveraged position's bankruptcy price until its deficit
        exceeds the fund's equity, so that the fund refuses it (NegativeEquity) and Type 1 runs."""
        h, m = self.h, self.h.model
        a = self._most_leveraged(mid)
        if a is None:
            return self.open_pair(mid)
        p = m.positions[(mid, a)]
        deficit = max(0, m.fund_equity(mid, h.mark(mid))) * self.rng.randint(110, 200) // 100 + \
            self.rng.randint(1, 100) * h.one
        # equity m + s*P - ON = -deficit (collateral units)
        price = (p.open_notional - p.margin - deficit) * h.scale * WAD // p.size
        if price <= 0:
            return
        self._set_mark(mid, price)
        h.liquidate(mid, a)

    def _against_fund(self, mid):
        """Moves the mark against the fund's position until its equity is past the drawdown trigger (sometimes
        below zero), as measured from its high-water mark once the next call has sampled it."""
        h, rng = self.h, self.rng
        mk = h.model.markets[mid]
        prm = self.params(mid)
        if rng.random() < 0.5:
            h.poke(mid)  # samples the current equity first (after an acceptance it is above the stored mark)
        hwm = max(mk.fund_hwm, h.model.fund_equity(mid, h.mark(mid)))
        r = rng.random()
        if r < 0.25 or hwm <= 0:
            target = -rng.randint(1, 200) * h.one  # negative equity
        else:
            past = WAD - prm.drawdown_trigger - rng.randint(1, 30) * WAD // 100
            target = hwm * max(past, -WAD // 2) // WAD
        # fund equity = cash + size * P - openNotional (collateral units): solve for P
        price = (target - mk.fund_cash + mk.fund_open_notional) * h.scale * WAD // mk.fund_size
        if price > 0:
            self._set_mark(mid, price)

    def do_gap(self):
        """A price gap past a position's bankruptcy price, deeper than the fund's equity (NegativeEquity)."""
        self._gap_liquidation(self.rng.choice(list(self.h.markets)))

    def do_stress(self):
        """The fund's path on purpose: it takes a position (a timely liquidation), the mark moves against it past
        its drawdown trigger, then a liquidation arrives while it is distressed, or Type 2 runs, and sometimes a
        top-up and a poke bring the drawdown back to the stop line so that the latch clears."""
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        mk = h.model.markets[mid]
        if rng.random() < 0.25:
            self._gap_liquidation(mid)
        if mk.fund_size == 0 or rng.random() < 0.3:
            self._hand_to_fund(mid)
        if mk.fund_size == 0:
            return
        self._against_fund(mid)
        if rng.random() < 0.5:
            mark = h.mark(mid)
            liq = [a for a in self.holders(mid) if h.model.is_liquidatable(mid, a.address.lower(), mark)]
            if liq:  # the fund is (about to be) distressed: it refuses (Drawdown), Type 1 runs
                h.liquidate(mid, rng.choice(liq))
        if rng.random() < 0.85:
            _, _, err = h.deleverage_fund(mid)
            if err and err.startswith("FundNotDistressed") and mk.fund_size:
                self._against_fund(mid)  # the first move fell short of the trigger line: once more
                h.deleverage_fund(mid)
        if mk.fund_distressed and rng.random() < 0.5:
            self._restore_fund(mid)

    def do_params(self):
        """The owner lowers (or restores) a market's fund risk limit or moves its drawdown lines, within bounds:
        an acceptance above the limit is refused (RiskLimit) and a fund above it is in distress for Type 2."""
        h, rng = self.h, self.rng
        mid = rng.choice(list(h.markets))
        m = h.model
        mark = h.mark(mid)
        current = m.markets[mid].params
        default = self.params(mid)
        fund_notional = abs(m.markets[mid].fund_size) * mark // (WAD * h.scale)
        r = rng.random()
        if r < 0.4 and fund_notional:
            return self._fund_over_limit(mid, starve=rng.random() < 0.5)
        if r < 0.8:
            return self._hand_to_fund(mid, over_limit=True)
        if r < 0.9:
            return h.set_params(mid, default)
        trigger = rng.randint(10, 50) * WAD // 100
        h.set_params(mid, current.with_(drawdown_trigger=trigger, drawdown_stop=trigger * rng.randint(20, 80) // 100))

    def _fund_over_limit(self, mid, starve):
        """The owner puts the fund's risk limit below its notional, then Type 2 runs for the risk limit. With
        ``starve`` the mark first moves in the fund's favour past every counterparty's entry price, so that no
        position on the other side is in profit: the call cannot offset anything and reverts (all-or-nothing)."""
        h, rng, m = self.h, self.rng, self.h.model
        mk = m.markets[mid]
        if starve:
            fund_long = mk.fund_size > 0
            entries = [abs(m.positions[(mid, a)].open_notional) * h.scale * WAD // abs(m.positions[(mid, a)].size)
                       for a in m.side_accounts(mid, not fund_long)]
            if entries:
                self._set_mark(mid, max(entries) * rng.randint(101, 110) // 100 if fund_long else
                               min(entries) * rng.randint(90, 99) // 100)
        fund_notional = abs(mk.fund_size) * h.mark(mid) // (WAD * h.scale)
        h.set_params(mid, mk.params.with_(max_fund_notional=max(fund_notional * rng.randint(30, 95) // 100, 1),
                                          notional_stop=rng.choice([WAD // 2, 8 * WAD // 10, WAD])))
        h.deleverage_fund(mid)

    def do_no_capacity(self):
        """Type 2 that must revert: the fund holds a position (a hand-over first if it is flat) and is above its
        risk limit, and no counterparty is in profit."""
        mid = self.rng.choice(list(self.h.markets))
        if self.h.model.markets[mid].fund_size == 0:
            self._hand_to_fund(mid)
        if self.h.model.markets[mid].fund_size:
            self._fund_over_limit(mid, starve=True)
            if self.rng.random() < 0.7:
                self.h.set_params(mid, self.h.model.markets[mid].params.with_(
                    max_fund_notional=self.params(mid).max_fund_notional))

    def do_thin_side(self):
        """Type 1 with too few counterparties, on purpose: A goes long against B (highly leveraged, size b) and C
        (low leverage, size 2b); the mark rises until B is liquidatable but solvent and the fund takes B's short;
        the owner lowers the fund's risk limit; the mark falls past A's bankruptcy price. The fund refuses A's long
        (RiskLimit: it would push the fund's notional above the limit, or NegativeEquity after a deep gap), C
        covers its 2b at A's bankruptcy price, and the rest (b, less any other eligible shorts) goes to the fund: a
        best-effort remainder, netted against the short it took from B."""
        h, rng, m = self.h, self.rng, self.h.model
        mid = rng.choice(list(h.markets))
        mk = m.markets[mid]
        if mk.fund_distressed:  # a latched fund refuses B too: bring it back to the stop line first
            self._restore_fund(mid)
        flat = [t for t in self.traders if (mid, t.address.lower()) not in m.positions]
        if len(flat) < 3:
            return self.do_reduce()
        a, b, c = rng.sample(flat, 3)
        price = h.mark(mid)
        max_lev = self.params(mid).max_leverage
        # the other shorts of the market must be smaller than B's share, or they would cover it
        others = sum(abs(m.positions[(mid, x)].size) for x in m.side_accounts(mid, False))
        size_b = max(self.size_for(rng.randint(500, 5_000) * h.one, price), others * 3 // 2 + 1)
        notional = size_b * price // (WAD * h.scale)
        for x, need in ((a, notional * 3 // 10), (b, notional // 10), (c, notional)):
            if m.free_collateral(x) < need:
                h.deposit(x, need - m.free_collateral(x) + h.one)
        # README: exactly 1/imr can miss the initial margin by one unit, so the leveraged sides stay below it
        for seller, size, lev in ((b, size_b, max_lev * 98 // 100), (c, 2 * size_b, 5 * WAD)):
            buy = h.order(a, mid, True, size, price, max_lev * 9 // 10, is_maker=True)
            sell = h.order(seller, mid, False, size, price, lev)
            _, _, err = h.settle([(buy, sell, size, price, None, None)])
            if err:
                return
        price = self._timely_mark(mid, b.address.lower())
        if price is None:
            return
        self._set_mark(mid, price)
        h.liquidate(mid, b)
        pos = m.position(mid, a.address.lower())
        if pos.size <= 0:
            return
        pb = (pos.open_notional - pos.margin) * h.scale * WAD // abs(pos.size)
        self._set_mark(mid, pb * rng.choice([rng.randint(960, 995), rng.randint(960, 995), rng.randint(850, 960)])
                       // 1000)
        mark = h.mark(mid)
        before = abs(mk.fund_size) * mark // (WAD * h.scale)
        after = abs(mk.fund_size + pos.size) * mark // (WAD * h.scale)
        if after > before:
            h.set_params(mid, mk.params.with_(max_fund_notional=max(1, after * rng.randint(30, 95) // 100)))
        h.liquidate(mid, a)
        if rng.random() < 0.5:
            h.set_params(mid, mk.params.with_(max_fund_notional=self.params(mid).max_fund_notional))

    def _restore_fund(self, mid):
        """Tops the fund up to its stop line below the high-water mark and pokes it: the latch clears."""
        h = self.h
        mk = h.model.markets[mid]
        equity = h.model.fund_equity(mid, h.mark(mid))
        need = mk.fund_hwm * (WAD - mk.params.drawdown_stop) // WAD - equity
        if need > 0:
            h.top_up(h.deployer, mid, need + self.rng.randint(1, 10) * h.one)
        h.poke(mid)
