"""Fixed-point math of the protocol, mirroring ``contracts/libraries/PerpMath.sol`` function for function.

Sizes and prices are WAD integers (18 decimals); money is in collateral units, ``scale = 10**(18 - decimals)``.
Every function that rounds says which way in its name (``_down``: toward minus infinity, ``_up``: toward plus
infinity); the protocol always rounds against the account that is paid. Pure Python integers, no web3.
"""
from __future__ import annotations

WAD = 10**18
BPS = 10_000
UINT256_MAX = 2**256 - 1
UINT128_MAX = 2**128 - 1
UINT64_MAX = 2**64 - 1


def div_up(a: int, b: int) -> int:
    """ceil(a / b) for b > 0 (any sign of a)."""
    return -((-a) // b)


def mul_div_down(a: int, b: int, c: int) -> int:
    """floor(a * b / c), c > 0."""
    return a * b // c


def mul_div_up(a: int, b: int, c: int) -> int:
    """ceil(a * b / c), c > 0."""
    return -((-(a * b)) // c)


def mul_div_signed_up(a: int, b: int, c: int) -> int:
    """PerpMath.mulDivSignedCeil: a * b / c rounded toward plus infinity for a >= 0, toward zero for a < 0
    (the released cost basis of a reduction, so that a reduction never releases more than it held)."""
    if a >= 0:
        return -((-(a * b)) // c)
    return -((-a) * b // c)


def notional_down(abs_size: int, price: int, scale: int) -> int:
    """|size| * price in collateral units, rounded down (what a seller receives)."""
    return abs_size * price // (WAD * scale)


def notional_up(abs_size: int, price: int, scale: int) -> int:
    """|size| * price in collateral units, rounded up (what a buyer pays; margin requirements)."""
    return -((-(abs_size * price)) // (WAD * scale))


def position_value_down(size: int, price: int, scale: int) -> int:
    """Signed value at ``price``, rounded toward minus infinity: a long's value down, a short's liability up."""
    if size >= 0:
        return size * price // (WAD * scale)
    return -notional_up(-size, price, scale)


def unrealized_pnl_down(size: int, open_notional: int, price: int, scale: int) -> int:
    """Unrealized PnL at ``price`` (value rounded against the holder minus the signed cost basis)."""
    return position_value_down(size, price, scale) - open_notional


def bankruptcy_notional(size: int, open_notional: int, margin: int) -> int:
    """The notional at which equity is zero (exact; floored at 0): long ``openNotional - margin``, short
    ``margin - openNotional``."""
    n = open_notional - margin if size > 0 else margin - open_notional
    return n if n > 0 else 0


def price_of_down(amount: int, abs_size: int, scale: int) -> int:
    """The WAD price of ``amount`` collateral units for ``abs_size``, rounded down."""
    return amount * WAD * scale // abs_size


def drawdown_down(hwm: int, equity: int) -> int:
    """Drawdown of ``equity`` from the high-water mark ``hwm`` (WAD), rounded down; 0 when not below the mark."""
    if hwm <= 0 or equity >= hwm:
        return 0
    return (hwm - equity) * WAD // hwm


def bps_up(x: int, bps: int) -> int:
    """x * bps / 10,000 rounded up (fees)."""
    return -((-(x * bps)) // BPS)


def bps_down(x: int, bps: int) -> int:
    """x * bps / 10,000 rounded down (rewards, bands)."""
    return x * bps // BPS


def wad_mul_up(x: int, ratio: int) -> int:
    """x * ratio / 1e18 rounded up (margin requirements)."""
    return -((-(x * ratio)) // WAD)


def wad_div_up(x: int, y: int) -> int:
    """x * 1e18 / y rounded up (margin posted for a leverage; leverage of a position). y must be > 0."""
    return -((-(x * WAD)) // y)


def wad_div_down(x: int, y: int) -> int:
    """x * 1e18 / y rounded down."""
    return x * WAD // y
