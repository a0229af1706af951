"""Reference model: ``LiquidationModule`` (contracts/modules/LiquidationModule.sol): liquidation, the keeper reward, the hand-over to the fund or to Type 1 ADL."""
from __future__ import annotations

from ..core.valuation import equity as equity_at
from ..core import bankruptcy_notional, bps_down, fail, notional_down, notional_up, price_of_down, wad_mul_up
from ..core.valuation import is_liquidatable as _is_liquidatable
from .storage import REFUSE_NONE, Market, addr


class LiquidationModule:
    def liquidate(self, sender, mid: int, account, now: int) -> None:
        def run():
            m = self._market(mid)
            price = self._mark(mid, m, now)
            a = addr(account)
            pos = self.positions.get((mid, a))
            if pos is None:
                fail("NoPosition", mid, a)
            self._accrue_funding(mid, m, now, price)  # funding counts in the liquidation test
            if not self._liquidate(mid, m, a, price, addr(sender), now):
                mm = wad_mul_up(notional_up(abs(pos.size), price, self.scale), m.params.mmr)
                fail("NotLiquidatable", mid, a, self.position_equity(mid, a, price), mm)

        self._tx(run)

    def liquidate_batch(self, sender, mid: int, accounts, now: int) -> int:
        def run():
            m = self._market(mid)
            price = self._mark(mid, m, now)
            self._accrue_funding(mid, m, now, price)  # funding counts in the liquidation test
            count = 0
            for acc in accounts:
                a = addr(acc)
                if (mid, a) in self.positions and self._liquidate(mid, m, a, price, addr(sender), now):
                    count += 1
            return count

        return self._tx(run)

    def is_liquidatable(self, mid, account, price, now: int | None = None) -> bool:
        """E < MM at ``price``; with ``now``, valued as the lens values it then (funding accrued to ``now``)."""
        pos = self.positions.get((mid, addr(account)))
        if pos is None:
            return False
        on = self._settled_on(self.markets[mid], pos) if now is None else self.view_open_notional(mid, pos, now)
        return _is_liquidatable(pos.size, on, pos.margin, price, self.scale, self.markets[mid].params.mmr)

    def _liquidate(self, mid, m: Market, account, price, keeper, now) -> bool:
        pos = self.positions[(mid, account)]
        size = pos.size
        on = self._settled_on(m, pos)  # what it owes its side's index counts (settled by the close)
        equity = equity_at(size, on, pos.margin, price, self.scale)
        notional = notional_up(abs(size), price, self.scale)
        if equity >= wad_mul_up(notional, m.params.mmr):
            return False
        self._update_watermark(mid, m, price, now)  # the fund's equity sampled before the liquidation acts
        reward = min(bps_down(notional_down(abs(size), price, self.scale), m.params.liquidation_reward_bps),
                     m.params.max_liquidation_reward)
        if equity > 0:  # out of the position's remaining equity
            reward = min(reward, equity, pos.margin)
            pos.margin -= reward
        else:  # else out of the fund's cash, never below zero
            reward = min(reward, m.fund_cash) if m.fund_cash > 0 else 0
            m.fund_cash -= reward
        if reward != 0:
            self._credit(keeper, reward)
        nb = bankruptcy_notional(size, on, pos.margin)
        pb = price_of_down(nb, abs(size), self.scale)
        self.events.append(("Liquidated", {"marketId": mid, "account": account, "keeper": keeper, "size": size,
                                           "markPrice": price, "bankruptcyPrice": pb, "equity": equity,
                                           "keeperReward": reward}))
        self._bump_epoch(account)  # LiquidationModule: the liquidated account's resting orders are cancelled
        reason = self._fund_refusal(m, size, nb, price)
        if reason == REFUSE_NONE:
            self._fill_trader(mid, account, -size, nb, 0, price)
            self._fill_fund(m, size, nb)
            self.events.append(("FundAccepted", {"marketId": mid, "account": account, "size": size,
                                                 "bankruptcyPrice": pb}))
        else:
            self.events.append(("FundRefused", {"marketId": mid, "account": account, "reason": reason}))
            self._adl_type1(mid, m, account, size, nb, price, at_mark=equity > 0)
        return True
