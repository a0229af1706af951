"""Fixed-point units used by the protocol.

Sizes and prices are WAD integers (18 decimals). Money (margin, notional, cash, fees) is in the collateral
token's own units. Floats never enter the protocol: convert with these helpers at the edges only.
"""
from __future__ import annotations

from decimal import Decimal

WAD = 10**18
BPS = 10_000


def wad(x: int | str | Decimal) -> int:
    """A human number as WAD (``wad("1.5") == 1_500_000_000_000_000_000``). Floats are refused."""
    if isinstance(x, float):
        raise TypeError("pass WAD amounts as int, str or Decimal, not float (floats lose precision)")
    value = Decimal(x) * WAD
    if value != value.to_integral_value():
        raise ValueError(f"{x} has more than 18 decimals")
    return int(value)


def units(x: int | str | Decimal, decimals: int) -> int:
    """A human amount of collateral in token units (``units("100", 6) == 100_000_000``)."""
    if isinstance(x, float):
        raise TypeError("pass collateral amounts as int, str or Decimal, not float")
    value = Decimal(x) * (10**decimals)
    if value != value.to_integral_value():
        raise ValueError(f"{x} has more than {decimals} decimals")
    return int(value)


def ceil_div(a: int, b: int) -> int:
    """Integer division rounded toward +infinity (b > 0)."""
    return -((-a) // b)


def mul_div_down(a: int, b: int, c: int) -> int:
    """floor(a * b / c) for a, b >= 0, c > 0."""
    return a * b // c


def mul_div_up(a: int, b: int, c: int) -> int:
    """ceil(a * b / c) for a, b >= 0, c > 0."""
    return ceil_div(a * b, c)
