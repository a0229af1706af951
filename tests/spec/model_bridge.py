"""Reads the reference model's integer state (through its public attributes) as the oracle's exact values, and
drives seeded random books and price paths through ``perp.model.Model``.

Conversions (docs/TESTING.md, accounting model): a size of ``s`` wei is ``s / 1e18`` base units; a money amount of
``x`` collateral units is ``x / 10**decimals``; a position's entry price is ``openNotional / size`` (the signed cost
basis over the signed size), so that ``u = size * mark - openNotional`` exactly as the README defines it."""
from __future__ import annotations

from fractions import Fraction as Q

import oracle as O
from perp.model import WAD


def params_of(p, one: int) -> O.Params:
    return O.Params(
        imr=Q(p.imr, WAD), mmr=Q(p.mmr, WAD), mcr=Q(p.mcr, WAD),
        reward_rate=Q(p.liquidation_reward_bps, 10_000), max_reward=Q(p.max_liquidation_reward, one),
        max_fund_notional=Q(p.max_fund_notional, one),
        drawdown_trigger=Q(p.drawdown_trigger, WAD), drawdown_stop=Q(p.drawdown_stop, WAD),
        notional_stop=Q(p.notional_stop, WAD), hwm_window=p.hwm_window)


class View:
    """One market of a model, as the oracle sees it."""

    def __init__(self, model, mid: int):
        self.m, self.mid = model, mid
        self.one = 10**model.decimals
        self.unit = Q(1, self.one)  # one collateral unit, the grain of every rounding bound
        self.params = params_of(model.markets[mid].params, self.one)

    def money(self, units: int) -> Q:
        return Q(units, self.one)

    def mark(self, now: int) -> Q:
        return Q(self.m.mark_price(self.mid, now), WAD)

    def position(self, account) -> O.Position:
        p = self.m.positions[(self.mid, account)]
        size = Q(p.size, WAD)
        return O.Position(size, Q(p.open_notional, self.one) / size, Q(p.margin, self.one), p.open_seq)

    def book(self) -> dict:
        return {a: self.position(a) for (mid, a) in self.m.positions if mid == self.mid}

    def fund(self) -> O.Fund:
        mk = self.m.markets[self.mid]
        size = Q(mk.fund_size, WAD)
        entry = Q(mk.fund_open_notional, self.one) / size if size else O.ZERO
        return O.Fund(Q(mk.fund_cash, self.one), size, entry)

    def value(self, account) -> Q:
        """Free collateral plus this market's position margin: what an ADL fill's realized PnL moves."""
        p = self.m.positions.get((self.mid, account))
        return self.money(self.m.free_collateral(account) + (p.margin if p else 0))
