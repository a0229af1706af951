"""Reference model: ``InsuranceFundModule`` (contracts/modules/InsuranceFundModule.sol): top-ups, the high-water mark and its drawdown latch, the refusal rule, distress."""
from __future__ import annotations

from ..core import drawdown_down, fail, notional_up, unrealized_pnl_down
from .storage import (DISTRESS_DRAWDOWN, DISTRESS_NEGATIVE_EQUITY, DISTRESS_NONE, DISTRESS_RISK_LIMIT,
                      REFUSE_DRAWDOWN, REFUSE_NEGATIVE_EQUITY, REFUSE_NONE, REFUSE_RISK_LIMIT, Market, reduction)


class InsuranceFundModule:
    def top_up_fund(self, sender, mid: int, amount: int) -> None:
        def run():
            m = self._market(mid)
            if amount == 0:
                fail("ZeroAmount")
            m.fund_cash += amount
            self.vault += amount

        self._tx(run)

    def poke_fund(self, sender, mid: int, now: int) -> None:
        def run():
            m = self._market(mid)
            self._update_watermark(mid, m, self._mark(mid, m, now), now)

        self._tx(run)

    def _update_watermark(self, mid, m: Market, price, now):
        """PerpBase._updateWatermark with libraries/FundWatermark.sol: the sample joins the monotonic queue (the
        samples it dominates leave, a larger one from the same second stands for it), the samples that left the
        window leave, and the head is the high-water mark. The fund's own position settles its index first."""
        self._accrue_funding(mid, m, now, price)  # every touch accrues funding first
        self._settle_fund_index(mid, m)
        equity = self._fund_equity(m, price)
        q = m.fund_samples
        while q and q[-1][1] <= equity:
            q.pop()
        if not (q and q[-1][0] == now):
            q.append((now, equity))
        cutoff = max(now - m.params.hwm_window, 0)
        while q[0][0] <= cutoff:
            q.pop(0)
        hwm, hwm_ts = q[0][1], q[0][0]
        changed = (hwm, hwm_ts) != (m.fund_hwm, m.fund_hwm_ts)
        m.fund_hwm, m.fund_hwm_ts = hwm, hwm_ts
        dd = drawdown_down(hwm, equity)
        distressed = m.fund_distressed
        if not distressed and dd >= m.params.drawdown_trigger:
            distressed = True
        elif distressed and dd <= m.params.drawdown_stop:
            distressed = False
        if distressed != m.fund_distressed:
            m.fund_distressed = distressed
            changed = True
        if changed:
            self.events.append(("FundWatermarkUpdated", {"marketId": mid, "highWaterMark": hwm,
                                                         "highWaterMarkTimestamp": hwm_ts, "drawdown": dd,
                                                         "distressed": distressed}))
        return equity, dd

    def _fund_refusal(self, m: Market, size, nb, price) -> int:
        signed_nb = nb if size > 0 else -nb
        equity_after = self._fund_equity(m, price) + unrealized_pnl_down(size, signed_nb, price, self.scale)
        if equity_after < 0:
            return REFUSE_NEGATIVE_EQUITY
        fund_size = m.fund_size
        if fund_size != 0 and (fund_size > 0) != (size > 0):
            pnl = reduction(fund_size, m.fund_open_notional, abs(size), nb)[3]
            if m.fund_cash + pnl < 0:
                return REFUSE_NEGATIVE_EQUITY
        net_after = notional_up(abs(fund_size + size), price, self.scale)
        if net_after > m.params.max_fund_notional and net_after > notional_up(abs(fund_size), price, self.scale):
            return REFUSE_RISK_LIMIT
        # the drawdown after acceptance, from the (just sampled) high-water mark or the equity after, if higher
        if drawdown_down(max(m.fund_hwm, equity_after), equity_after) >= m.params.drawdown_trigger:
            return REFUSE_DRAWDOWN
        return REFUSE_NONE

    def _distress(self, m: Market, equity, price):
        net = notional_up(abs(m.fund_size), price, self.scale)
        if equity < 0:
            return DISTRESS_NEGATIVE_EQUITY, net
        if m.fund_distressed:
            return DISTRESS_DRAWDOWN, net
        if net > m.params.max_fund_notional:
            return DISTRESS_RISK_LIMIT, net
        return DISTRESS_NONE, net
