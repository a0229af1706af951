"""Reference model: ``InsuranceFundModule`` (contracts/modules/InsuranceFundModule.sol): top-ups, the high-water mark and its drawdown latch, the refusal rule, distress."""
from __future__ import annotations

from ..core import drawdown_down, fail, notional_up, unrealized_pnl_down
from .storage import (DISTRESS_DRAWDOWN, DISTRESS_NEGATIVE_EQUITY, DISTRESS_NONE, DISTRESS_RISK_LIMIT,
                      REFUSE_DISTRESSED, REFUSE_NEGATIVE_EQUITY, REFUSE_NONE, REFUSE_RISK_LIMIT, Market, reduction)


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
        equity = self._fund_equity(m, price)
        hwm = m.fund_hwm
        changed = False
        if equity > hwm or now > m.fund_hwm_ts + m.params.hwm_window:
            hwm = equity
            m.fund_hwm = equity
            m.fund_hwm_ts = now
            changed = True
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
            self.events.append(("FundWatermarkUpdated", {"marketId": mid, "highWaterMark": hwm, "drawdown": dd,
                                                         "distressed": distressed}))
        return equity, dd

    def _fund_refusal(self, m: Market, size, nb, price) -> int:
        if m.fund_distressed:
            return REFUSE_DISTRESSED
        signed_nb = nb if size > 0 else -nb
        incoming = unrealized_pnl_down(size, signed_nb, price, self.scale)
        if self._fund_equity(m, price) + incoming < 0:
            return REFUSE_NEGATIVE_EQUITY
        fund_size = m.fund_size
        if fund_size != 0 and (fund_size > 0) != (size > 0):
            pnl = reduction(fund_size, m.fund_open_notional, abs(size), nb)[3]
            if m.fund_cash + pnl < 0:
                return REFUSE_NEGATIVE_EQUITY
        net_after = notional_up(abs(fund_size + size), price, self.scale)
        if net_after > m.params.max_fund_notional and net_after > notional_up(abs(fund_size), price, self.scale):
            return REFUSE_RISK_LIMIT
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
