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

    def set_price(self, market_id: int, answer: int, updated_at: int) -> None:
        """The mock feed posts `answer` (oracle decimals) stamped `updated_at`."""
        m = self.markets[market_id]
        m.answer = answer
        m.updated_at = updated_at

    def set_paused(self, market_id: int, paused: bool) -> None:
        self._market(market_id).paused = paused

    def set_params(self, market_id: int, params) -> None:
        self._market(market_id).params = params
