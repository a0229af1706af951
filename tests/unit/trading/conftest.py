"""Fixtures for the trading tests: the funded deployment (`t`), the hand calculator (`calc`), extra actors."""
import pytest

from trading_calc import (
    BAND_BPS,
    BTC_MAX_LEVERAGE,
    FUNDING,
    IMR,
    MAKER_BPS,
    MAX_LEVERAGE,
    MAX_ORACLE_AGE,
    TAKER_BPS,
    Calc,
)


@pytest.fixture(scope="module")
def assumed_params(env):
    """The hand calculations assume the reference ETH-PERP parameters; fail loudly if the deployment differs."""
    p = env.dep.markets["ETH-PERP"]["params"]
    assert (p.maker_fee_bps, p.taker_fee_bps, p.oracle_band_bps, p.imr, p.max_leverage, p.max_oracle_age) == (
        MAKER_BPS, TAKER_BPS, BAND_BPS, IMR, MAX_LEVERAGE, MAX_ORACLE_AGE,
    ), "tests/unit/trading assumes the reference ETH-PERP parameters of perp/params.py"
    assert env.dep.markets["BTC-PERP"]["params"].max_leverage == BTC_MAX_LEVERAGE
    return p


@pytest.fixture(scope="module")
def funded(env, assumed_params, alice, bob, carol, dave, erin):
    """alice..erin each deposit FUNDING units once per module (the chain snapshot is taken after this)."""
    amount = env.units(FUNDING)
    for a in (alice, bob, carol, dave, erin):
        env.fund(a, amount)
    return amount


@pytest.fixture
def t(checked, funded):
    """The deployment, with alice..erin funded and the invariant audit run after the test."""
    return checked


@pytest.fixture
def calc(env):
    return Calc(env)


