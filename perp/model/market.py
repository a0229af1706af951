"""Reference model: ``MarketModule`` (contracts/modules/MarketModule.sol): listing markets (bounds of perp.params), the mock oracle, pause and parameters."""
from __future__ import annotations

from ..core import queue
from .storage import Market


class MarketModule:
    def create_market(self, params, answer: int, updated_at: int, oracle_decimals: int = 8) -> int:
        """Lists a market (MarketModule.createMarket; the bounds are perp.params' problems())."""
        problems = params.problems(self.decimals) if hasattr(params, "problems") else []
        if problems:
            raise ValueError("; ".join(problems))
        self.market_count += 1
        mid = self.market_count
        m = Market(mid, params, oracle_decimals, answer, updated_at)
        self.markets[mid] = m
        # the reference price of the ADL queue's tiers: the mark at listing rounded down to a power of two (the
        # listing reads the oracle: a market needs a usable price; `now` is the answer's own time)
        m.ref_shift = self._mark(mid, m, updated_at).bit_length() - 1
        self.queues[(mid, True)] = queue.Side()
        self.queues[(mid, False)] = queue.Side()
        return mid

    def set_funding_params(self, sender, market_id: int, params, now: int) -> None:
        """MarketModule.setFundingParams: the funding until now accrues first, then the new bounds apply (the rate
        and its target clamped), from the mark now. ``params``: a ``perp.params.FundingParams``."""
        def run():
            m = self._market(market_id)
            problems = params.problems()
            if problems:
                raise ValueError("; ".join(problems))
            price = self._mark(market_id, m, now)
            self._accrue_funding(market_id, m, now, price)
            cap = params.max_rate
            m.funding_rate = max(-cap, min(cap, m.funding_rate))
            m.funding_target = max(-cap, min(cap, m.funding_target))
            m.funding_period, m.funding_max_rate, m.funding_max_change = params.as_tuple()
            m.funding_last, m.funding_price = now, price
            self.events.append(("FundingParamsUpdated", {"marketId": market_id, "params": params.as_tuple()}))

        self._tx(run)

    def set_price(self, market_id: int, answer: int, updated_at: int) -> None:
        """The mock feed posts `answer` (oracle decimals) stamped `updated_at`."""
        m = self.markets[market_id]
        m.answer = answer
        m.updated_at = updated_at

    def set_paused(self, market_id: int, paused: bool) -> None:
        self._market(market_id).paused = paused

    def set_params(self, market_id: int, params) -> None:
        self._market(market_id).params = params
