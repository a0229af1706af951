"""Reference model: ``TradingModule`` (contracts/modules/TradingModule.sol): matching signed orders, fees, cancellation."""
from __future__ import annotations

from ..core import UINT256_MAX, WAD, bps_down, bps_up, fail, notional_down, notional_up
from .storage import Market, Match, addr


class TradingModule:
    def cancel_order(self, sender, order) -> None:
        def run():
            s = addr(sender)
            if addr(order.account) != s:
                fail("NotOrderOwner", s, addr(order.account))
            self._set_filled(self.hasher(order), UINT256_MAX)

        self._tx(run)

    def cancel_all(self, sender) -> None:
        self._tx(lambda: self._bump_epoch(addr(sender)))

    def settle(self, match: Match, now: int, sender=None) -> None:
        self._tx(self._settle, match, now)

    def settle_batch(self, matches, now: int, sender=None) -> None:
        def run():
            for m in matches:
                self._settle(m, now)

        self._tx(run)

    def _settle(self, mt: Match, now: int) -> None:
        maker, taker = mt.maker, mt.taker
        mid = maker.market_id
        if taker.market_id != mid:
            fail("MarketMismatch", mid, taker.market_id)
        if bool(maker.is_buy) == bool(taker.is_buy):
            fail("SameSide", bool(maker.is_buy))
        if addr(maker.account) == addr(taker.account):
            fail("SelfTrade", addr(maker.account))
        if mt.fill_size == 0:
            fail("ZeroAmount")
        m = self._active_market(mid)
        mark = self._mark(mid, m, now)
        band = bps_down(mark, m.params.oracle_band_bps)
        if mt.fill_price > mark + band or mt.fill_price + band < mark:
            fail("PriceOutsideOracleBand", mt.fill_price, mark, m.params.oracle_band_bps)
        # the buyer pays the notional rounded up, the seller receives it rounded down, the fund keeps the difference
        seller_notional = notional_down(mt.fill_size, mt.fill_price, self.scale)
        if seller_notional == 0:
            fail("NotionalTooSmall", mt.fill_size, mt.fill_price)
        buyer_notional = notional_up(mt.fill_size, mt.fill_price, self.scale)
        self._update_watermark(mid, m, mark, now)  # every trade samples the fund's high-water mark, before it acts
        mh, mfee = self._fill_order(m, maker, mt.maker_signer, mt,
                                    buyer_notional if maker.is_buy else seller_notional, mark, True, now, mt.maker_hint)
        th, tfee = self._fill_order(m, taker, mt.taker_signer, mt,
                                    buyer_notional if taker.is_buy else seller_notional, mark, False, now, mt.taker_hint)
        to_fund = mfee + tfee + buyer_notional - seller_notional
        if to_fund != 0:
            m.fund_cash += to_fund
        if m.funding_period != 0:  # the funding rate's target: this fill's premium over the oracle, clamped
            premium = _div_toward_zero((mt.fill_price - mark) * WAD, mark)
            m.funding_target = max(-m.funding_max_rate, min(m.funding_max_rate, premium))
        buyer, seller = (maker, taker) if maker.is_buy else (taker, maker)
        self.events.append(("Trade", {
            "marketId": mid, "buyer": addr(buyer.account), "seller": addr(seller.account), "size": mt.fill_size,
            "price": mt.fill_price, "buyerNotional": buyer_notional, "sellerNotional": seller_notional,
            "buyerFee": mfee if maker.is_buy else tfee, "sellerFee": tfee if maker.is_buy else mfee,
        }))

    def _fill_order(self, m: Market, order, signer, mt: Match, notional, mark, as_maker, now, hint):
        h = self._use_order(order, signer, mt.fill_size, mt.fill_price, m.params.max_leverage,
                            m.params.min_fill_size, now)
        if bool(order.is_maker) != as_maker:
            fail("OrderRoleMismatch", h, bool(order.is_maker))
        mid = order.market_id
        account = addr(order.account)
        before = self.position(mid, account).size
        increased = self._fill_trader(mid, account, mt.fill_size if order.is_buy else -mt.fill_size, notional,
                                      order.leverage, mark)
        if order.reduce_only and increased:
            fail("ReduceOnlyViolated", h, before, self.position(mid, account).size)
        self._require_min_notional(mid, m, account, mt.fill_price)
        self._requeue(mid, account, hint)
        fee = 0
        fee_bps = m.params.maker_fee_bps if as_maker else m.params.taker_fee_bps
        if fee_bps != 0:
            fee = bps_up(notional, fee_bps)
            self._debit(account, fee)
        if increased:
            self._require_im(mid, account, m, mark)
        return h, fee

    def _use_order(self, order, signer, fill_size, fill_price, max_leverage, min_fill_size, now):
        h = self.hasher(order)
        account = addr(order.account)
        recovered = account if signer is None else addr(signer)
        if recovered != account:
            fail("InvalidSignature", account, recovered)
        if now > order.expiry:
            fail("OrderExpired", h, order.expiry, now)
        epoch = self.epoch.get(account, 0)
        if order.epoch != epoch:
            fail("OrderEpochStale", h, order.epoch, epoch)
        if order.leverage > max_leverage:
            fail("LeverageTooHigh", order.leverage, max_leverage)
        if order.leverage < WAD:
            fail("LeverageTooLow", order.leverage)
        if (fill_price > order.limit_price) if order.is_buy else (fill_price < order.limit_price):
            fail("PriceOutsideLimit", h, fill_price, order.limit_price)
        before = self.filled.get(h, 0)
        if before == UINT256_MAX:
            fail("OrderIsCancelled", h)
        if before + fill_size > order.size:
            fail("OrderOverfilled", h, before, fill_size, order.size)
        if fill_size < min_fill_size and before + fill_size != order.size:
            fail("FillBelowMinimum", h, fill_size, min_fill_size)
        self._set_filled(h, before + fill_size)
        return h


def _div_toward_zero(a: int, b: int) -> int:
    """Solidity's signed division (rounds towards zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q
