"""Market parameters: the defaults of the reference deployment, and a readable check of the hard bounds
that ``MarketParamsLib.validate`` enforces on-chain."""
from __future__ import annotations

from dataclasses import astuple, dataclass, replace

from .units import WAD

MAX_MIN_POSITION_TOKENS = 10**9  # MarketParamsLib.MAX_MIN_POSITION_TOKENS
MAX_MIN_FILL_SIZE = 10**27  # MarketParamsLib.MAX_MIN_FILL_SIZE: a billion units of the asset (WAD)


@dataclass(frozen=True)
class MarketParams:
    """Mirror of the Solidity ``MarketParams`` struct (same field order). Ratios are WAD; money is in
    collateral units."""

    imr: int
    mmr: int
    mcr: int
    maker_fee_bps: int
    taker_fee_bps: int
    oracle_band_bps: int
    liquidation_reward_bps: int
    max_leverage: int
    max_oracle_age: int
    hwm_window: int
    drawdown_trigger: int
    max_liquidation_reward: int
    max_fund_notional: int
    drawdown_stop: int
    notional_stop: int
    min_position_notional: int
    min_fill_size: int = 0  # WAD; 0: no minimum (MarketParams.minFillSize)

    def as_tuple(self) -> tuple:
        return astuple(self)

    def with_(self, **changes) -> "MarketParams":
        return replace(self, **changes)

    @classmethod
    def from_tuple(cls, values) -> "MarketParams":
        return cls(*[int(v) for v in values])

    def problems(self, decimals: int = 18) -> list[str]:
        """Every bound this set breaks, as readable sentences (empty when valid); ``decimals``: the collateral's
        (the minimum position notional is bounded in whole tokens; 18, the default, is the loosest)."""
        p, out = self, []
        if not (10**15 <= p.imr <= WAD):
            out.append(f"imr must be within [0.001, 1] (WAD), got {p.imr}")
        if not (0 < p.mmr < p.mcr):
            out.append(f"mmr must be > 0 and below mcr ({p.mcr}), got {p.mmr}")
        if not p.mcr < p.imr:
            out.append(f"mcr must be below imr ({p.imr}), got {p.mcr}")
        if p.max_leverage < WAD or p.max_leverage * p.imr > WAD * WAD:
            out.append(f"max_leverage must be within [1x, 1/imr], got {p.max_leverage}")
        for name in ("maker_fee_bps", "taker_fee_bps", "liquidation_reward_bps"):
            if not 0 <= getattr(p, name) <= 100:
                out.append(f"{name} must be within [0, 100] bps, got {getattr(p, name)}")
        if not 0 < p.oracle_band_bps <= 2_000:
            out.append(f"oracle_band_bps must be within (0, 2000], got {p.oracle_band_bps}")
        if not 0 < p.max_oracle_age <= 86_400:
            out.append(f"max_oracle_age must be within (0, 86400] seconds, got {p.max_oracle_age}")
        if p.max_fund_notional <= 0:
            out.append("max_fund_notional must be positive")
        if not 0 < p.drawdown_trigger <= WAD:
            out.append(f"drawdown_trigger must be within (0, 1] (WAD), got {p.drawdown_trigger}")
        if not p.drawdown_stop < p.drawdown_trigger:
            out.append(f"drawdown_stop must be below drawdown_trigger, got {p.drawdown_stop}")
        if not 60 <= p.hwm_window <= 30 * 86_400:
            out.append(f"hwm_window must be within [60 s, 30 days], got {p.hwm_window}")
        if not 0 < p.notional_stop <= WAD:
            out.append(f"notional_stop must be within (0, 1] (WAD), got {p.notional_stop}")
        if not 0 < p.min_position_notional <= MAX_MIN_POSITION_TOKENS * 10**decimals:
            out.append(f"min_position_notional must be within [1 unit, 1e9 tokens], got {p.min_position_notional}")
        if not 0 <= p.min_fill_size <= MAX_MIN_FILL_SIZE:
            out.append(f"min_fill_size must be within [0, 1e9 units of the asset] (WAD), got {p.min_fill_size}")
        return out


def default_params(symbol: str, decimals: int) -> MarketParams:
    """Reference parameters for ETH-PERP and BTC-PERP (money scaled to a collateral of ``decimals``)."""
    one = 10**decimals
    base = MarketParams(
        imr=WAD // 20,  # 5%: 20x
        mmr=3 * WAD // 100,  # 3%
        mcr=4 * WAD // 100,  # 4%
        max_leverage=20 * WAD,
        maker_fee_bps=2,
        taker_fee_bps=5,
        oracle_band_bps=500,  # fills within 5% of the oracle
        liquidation_reward_bps=50,  # 0.5% of notional, capped below
        max_oracle_age=3_600,
        max_liquidation_reward=100 * one,
        max_fund_notional=5_000_000 * one,
        drawdown_trigger=3 * WAD // 10,  # 30% drawdown from the 8-hour high: distress
        drawdown_stop=2 * WAD // 10,  # back to 20%: recovered
        hwm_window=8 * 3_600,
        notional_stop=8 * WAD // 10,  # risk-limit Type 2 brings notional down to 80% of the limit
        min_position_notional=10 * one,  # no position left open below 10 tokens of notional by a trade
        min_fill_size=WAD // 1_000,  # 0.001 of the asset: no order filled in smaller pieces (but its last)
    )
    if symbol.upper().startswith("BTC"):
        return base.with_(imr=WAD // 25, mmr=2 * WAD // 100, mcr=3 * WAD // 100, max_leverage=25 * WAD)
    return base


MIN_FUNDING_PERIOD = 60  # MarketParamsLib.MIN_FUNDING_PERIOD (1 minute)
MAX_FUNDING_PERIOD = 30 * 86_400  # MarketParamsLib.MAX_FUNDING_PERIOD
MAX_FUNDING_RATE = 10**17  # MarketParamsLib.MAX_FUNDING_RATE: 10% of notional per period
MAX_FUNDING_RATE_CHANGE = WAD  # MarketParamsLib.MAX_FUNDING_RATE_CHANGE: 100% per period, per period


@dataclass(frozen=True)
class FundingParams:
    """A market's funding (``FundingParams``, ``setFundingParams``): the period in seconds (0: no funding), the
    largest |rate| and the largest change of the rate per period of elapsed time (both WAD fractions of notional
    per period). The driver: every trade sets the rate's target to its price's premium over the mark, clamped."""

    period: int = 0
    max_rate: int = 0
    max_rate_change: int = 0

    def as_tuple(self) -> tuple:
        return astuple(self)

    @property
    def enabled(self) -> bool:
        return self.period != 0

    def problems(self) -> list[str]:
        """Every bound this set breaks, as readable sentences (``MarketParamsLib.validateFunding``'s order)."""
        if self.period == 0:
            if self.max_rate or self.max_rate_change:
                return [f"funding is off (period 0): max_rate and max_rate_change must be 0, got {self.max_rate} "
                        f"and {self.max_rate_change}"]
            return []
        out = []
        if not (MIN_FUNDING_PERIOD <= self.period <= MAX_FUNDING_PERIOD):
            out.append(f"funding period must be within [60 s, 30 days], got {self.period} s")
        if not (0 < self.max_rate <= MAX_FUNDING_RATE):
            out.append(f"max_rate must be within (0, 0.1] of notional per period (WAD), got {self.max_rate}")
        if not (0 < self.max_rate_change <= MAX_FUNDING_RATE_CHANGE):
            out.append(f"max_rate_change must be within (0, 1] per period (WAD), got {self.max_rate_change}")
        return out
