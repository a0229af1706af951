"""Reference model: ``AdlModule`` (contracts/modules/AdlModule.sol): Type 1 and Type 2 ADL over the on-chain ranking (perp.core.ranking)."""
from __future__ import annotations

from ..core import (WAD, Position, fail, key_index, key_score, mul_div_up, notional_down, notional_up, price_of_down,
                    ranking_key, score_down, unrealized_pnl_down)
from ..core import fund_trade_price as _fund_trade_price
from .storage import ADL_TYPE_BANKRUPT, ADL_TYPE_FUND, DISTRESS_NONE, DISTRESS_RISK_LIMIT, Market, reduction


class AdlModule:
    def ranked(self, mid, is_long, price) -> list:
        """The eligible positions of one side in ADL order: [(key, account)], best first."""
        keys = self._ranked_candidates(mid, is_long, price)
        side = self.sides[(mid, is_long)]
        return [(k, side[key_index(k)]) for k in keys]

    def _ranked_candidates(self, mid, is_long, price) -> list:
        side = self.sides[(mid, is_long)]
        keys = []
        scale = self.scale
        for i, a in enumerate(side):
            pos = self.positions[(mid, a)]
            u = unrealized_pnl_down(pos.size, pos.open_notional, price, scale)
            if u > 0:
                keys.append(ranking_key(score_down(u, pos.margin), abs(pos.size), pos.open_seq, i))
        keys.sort(reverse=True)
        return keys

    def _adl_capacity(self, pos: Position, price_num, price_den) -> int:
        abs_size = abs(pos.size)
        cost = abs(pos.open_notional)
        at_price = price_num * abs_size
        at_cost = cost * price_den
        if (at_cost <= at_price) if pos.size > 0 else (at_price <= at_cost):
            return abs_size
        loss_num = at_cost - at_price if pos.size > 0 else at_price - at_cost
        margin = pos.margin
        if margin <= 2:
            return 0
        return min(abs_size, (margin - 2) * (price_den * abs_size) // loss_num)

    @staticmethod
    def _margin_survives(pos: Position, q, n) -> bool:
        pnl = reduction(pos.size, pos.open_notional, q, n)[3]
        return pos.margin + pnl >= 0

    def _after_adl_fill(self, mid, account, score_, adl_type, delta, price, notional, rank):
        self._bump_epoch(account)
        self.events.append(("AdlFill", {"marketId": mid, "account": account, "adlType": adl_type,
                                        "sizeDelta": delta, "price": price, "notional": notional,
                                        "score": score_, "rank": rank}))

    def _adl_type1(self, mid, m: Market, account, size, nb, price):
        self._fill_trader(mid, account, -size, nb, 0, price)
        abs_size = abs(size)
        filled, pieces = self._type1_fills(mid, size < 0, abs_size, nb, price)
        if filled != abs_size:
            rest = nb - pieces if nb > pieces else 0
            rest_size = abs_size - filled if size > 0 else -(abs_size - filled)
            self._fill_fund(m, rest_size, rest)
            pieces += rest
            self.events.append(("AdlRemainderToFund", {"marketId": mid, "account": account, "size": rest_size}))
        m.fund_cash += nb - pieces if size < 0 else pieces - nb

    def _type1_fills(self, mid, cp_is_long, abs_size, nb, price):
        pb = price_of_down(nb, abs_size, self.scale)
        keys = self._ranked_candidates(mid, cp_is_long, price)
        accounts = list(self.sides[(mid, cp_is_long)])
        filled = pieces = 0
        for r, k in enumerate(keys):
            if filled == abs_size:
                break
            a = accounts[key_index(k)]
            pos = self.positions[(mid, a)]
            q = min(abs_size - filled, self._adl_capacity(pos, nb, abs_size))
            if q == 0:
                continue
            n = nb * q // abs_size if cp_is_long else mul_div_up(nb, q, abs_size)
            if not self._margin_survives(pos, q, n):
                continue
            delta = -q if cp_is_long else q
            self._fill_trader(mid, a, delta, n, 0, price)
            filled += q
            pieces += n
            self._after_adl_fill(mid, a, key_score(k), ADL_TYPE_BANKRUPT, delta, pb, n, r + 1)
        return filled, pieces

    def deleverage_fund(self, sender, mid: int, now: int) -> None:
        def run():
            m = self._market(mid)
            price = self._mark(mid, m, now)
            equity, dd = self._update_watermark(mid, m, price, now)
            fund_size = m.fund_size
            if fund_size == 0:
                fail("FundFlat", mid)
            reason, net = self._distress(m, equity, price)
            if reason == DISTRESS_NONE:
                fail("FundNotDistressed", mid, equity, dd, net)
            abs_size = abs(fund_size)
            target = 0
            if reason == DISTRESS_RISK_LIMIT:
                target_notional = m.params.max_fund_notional * m.params.notional_stop // WAD
                target = min(abs_size, price_of_down(target_notional, price, self.scale))
            required = abs_size - target
            filled = self._type2_fills(mid, m, fund_size < 0, price, required)
            if filled != required:
                fail("InsufficientAdlCapacity", mid, required, filled)

        self._tx(run)

    def fund_trade_price(self, m: Market, mark) -> int:
        """AdlModule._fundTradePrice (perp.core.valuation.fund_trade_price)."""
        return _fund_trade_price(m.fund_cash, m.fund_size, m.fund_open_notional, mark, self.scale)

    def _type2_fills(self, mid, m: Market, cp_is_long, price, required) -> int:
        trade_price = self.fund_trade_price(m, price)
        keys = self._ranked_candidates(mid, cp_is_long, price)
        accounts = list(self.sides[(mid, cp_is_long)])
        filled = 0
        den = WAD * self.scale
        for r, k in enumerate(keys):
            if filled == required:
                break
            a = accounts[key_index(k)]
            pos = self.positions[(mid, a)]
            q = min(required - filled, self._adl_capacity(pos, trade_price, den))
            if q == 0:
                continue
            n = notional_down(q, trade_price, self.scale) if cp_is_long else notional_up(q, trade_price, self.scale)
            if not self._margin_survives(pos, q, n):
                continue
            delta = -q if cp_is_long else q
            self._fill_trader(mid, a, delta, n, 0, price)
            self._fill_fund(m, -delta, n)
            filled += q
            self._after_adl_fill(mid, a, key_score(k), ADL_TYPE_FUND, delta, trade_price, n, r + 1)
        return filled
