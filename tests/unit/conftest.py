"""Fixtures shared by the unit tests (margin and markets use them; trading has its own `calc`): hand arithmetic
(integer math from docs/TESTING.md) and a helper that opens a long/short pair and returns what every number
should be afterwards, computed from the formulas, never read back from the contract."""
from decimal import Decimal
from types import SimpleNamespace

import pytest

WAD = 10**18
ORACLE_DECIMALS = 8


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


class Calc:
    """Integer formulas of the accounting model (docs/TESTING.md)."""

    WAD = WAD

    @staticmethod
    def px(human) -> int:
        """A human price as the WAD mark the 8-decimal mock feed produces."""
        return int(Decimal(str(human)) * 10**ORACLE_DECIMALS) * 10 ** (18 - ORACLE_DECIMALS)

    @staticmethod
    def wad(human) -> int:
        return int(Decimal(str(human)) * WAD)

    @staticmethod
    def notional_down(size: int, price: int, scale: int) -> int:
        return abs(size) * price // (WAD * scale)

    @staticmethod
    def notional_up(size: int, price: int, scale: int) -> int:
        return ceil_div(abs(size) * price, WAD * scale)

    @staticmethod
    def margin_for(notional: int, leverage: int) -> int:
        return ceil_div(notional * WAD, leverage)

    @staticmethod
    def fee(notional: int, bps: int) -> int:
        return ceil_div(notional * bps, 10_000)

    @staticmethod
    def wad_mul_up(x: int, ratio: int) -> int:
        return ceil_div(x * ratio, WAD)

    @staticmethod
    def wad_div_up(x: int, y: int) -> int:
        return ceil_div(x * WAD, y)

    @staticmethod
    def upnl(size: int, open_notional: int, price: int, scale: int) -> int:
        if size > 0:
            return Calc.notional_down(size, price, scale) - open_notional
        return -Calc.notional_up(size, price, scale) - open_notional

    @staticmethod
    def equity(size: int, open_notional: int, margin: int, price: int, scale: int) -> int:
        return margin + Calc.upnl(size, open_notional, price, scale)


@pytest.fixture(scope="session")
def calc():
    return Calc


def market_params(env, market_id):
    for name, m in env.dep.markets.items():
        if m["id"] == market_id:
            return m["params"]
    raise KeyError(market_id)


@pytest.fixture(scope="session")
def open_pair(calc):
    """open_pair(env, buyer, seller, market, size, price, ...) funds both accounts with `deposit`, trades
    (buyer = maker, seller = taker) and returns the hand-computed state after the fill."""

    def _open(env, buyer, seller, market_id, size, price, buyer_leverage=5 * WAD, seller_leverage=5 * WAD,
              deposit=None):
        deposit = env.units(100_000) if deposit is None else deposit
        env.fund(buyer, deposit)
        env.fund(seller, deposit)
        env.trade(buyer, seller, market_id, size, price, buyer_leverage=buyer_leverage,
                  seller_leverage=seller_leverage)
        p = market_params(env, market_id)
        # the buyer pays the notional rounded up, the seller receives it rounded down
        nl, ns = calc.notional_up(size, price, env.scale), calc.notional_down(size, price, env.scale)
        mb, ms = calc.margin_for(nl, buyer_leverage), calc.margin_for(ns, seller_leverage)
        fb, fs = calc.fee(nl, p.maker_fee_bps), calc.fee(ns, p.taker_fee_bps)
        return SimpleNamespace(
            params=p, notional=nl if nl == ns else None, long_notional=nl, short_notional=ns, size=size, price=price,
            long_margin=mb, short_margin=ms, long_free=deposit - mb - fb, short_free=deposit - ms - fs,
        )

    return _open
