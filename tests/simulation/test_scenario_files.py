"""Scenario files: a bad field gets a message that names it; price paths are built as described."""
from decimal import Decimal

import pytest

from perp.scenario import ScenarioError, parse

BASE = {
    "name": "t",
    "steps": 10,
    "markets": {"ETH-PERP": {"start_price": 2000, "path": {"kind": "gap", "at": 5, "to": 1500}}},
    "traders": {"count": 10, "leverage": {"dist": "uniform", "min": 2, "max": 10}, "notional": 1000},
}


def with_(path, value):
    import copy

    raw = copy.deepcopy(BASE)
    node = raw
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    "path,value,message",
    [
        (("steps",), None, "scenario.steps: is required"),
        (("steps",), "ten", "scenario.steps: must be an integer, got 'ten'"),
        (("steps",), 0, "scenario.steps: must be at least 1, got 0"),
        (("markets", "ETH-PERP", "start_price"), -5, "markets.ETH-PERP.start_price: must be positive, got -5"),
        (("markets", "ETH-PERP", "path", "kind"), "crash", "markets.ETH-PERP.path.kind: must be one of gap, linear"),
        (("markets", "ETH-PERP", "path", "to"), -1, "markets.ETH-PERP.path.to: must be positive, got -1"),
        (("markets", "ETH-PERP", "path", "at"), 11, "markets.ETH-PERP.path.at: must be at most 10, got 11"),
        (("markets", "ETH-PERP", "params"), {"imr": "x"}, "markets.ETH-PERP.params.imr: must be a number, got 'x'"),
        (("markets", "ETH-PERP", "params"), {"lev": 2}, "markets.ETH-PERP.params.lev: is not a market parameter"),
        (("traders", "count"), 1, "traders.count: must be at least 2, got 1"),
        (("traders", "long_share"), 1.5, "traders.long_share: must be between 0 and 1, got 1.5"),
        (("traders", "leverage"), {"dist": "pareto"}, "traders.leverage.dist: must be one of fixed, uniform"),
        (("traders", "leverage"), {"dist": "uniform", "min": 5, "max": 2}, "traders.leverage.max: must be >= min"),
        (("traders", "leverage"), {"dist": "uniform", "min": 0.5, "max": 2}, "traders.leverage: must be at least 1x"),
        (("keeper",), {"latency": -1}, "keeper.latency: must be at least 0, got -1"),
        (("surprise",), 1, "scenario.surprise: is not a scenario field"),
        (("step_seconds",), 0, "scenario.step_seconds: must be at least 1, got 0"),
        (("markets", "ETH-PERP", "funding"), 3, "markets.ETH-PERP.funding: must be a mapping"),
        (("markets", "ETH-PERP", "funding"), {"max_rate": 0.001, "speed": 1},
         "markets.ETH-PERP.funding.speed: is not a funding field"),
        (("markets", "ETH-PERP", "funding"), {}, "markets.ETH-PERP.funding.max_rate: is required"),
        (("markets", "ETH-PERP", "funding"), {"max_rate": 0.5},
         "markets.ETH-PERP.funding: max_rate must be within (0, 0.1] of notional per period (WAD), got "
         "500000000000000000"),
        (("markets", "ETH-PERP", "funding"), {"max_rate": 0.001, "period_hours": 0.001},
         "markets.ETH-PERP.funding: funding period must be within [60 s, 30 days], got 3 s"),
        (("markets", "ETH-PERP", "funding"), {"max_rate": 0.001, "premium": 0.05},
         "markets.ETH-PERP.funding.premium: must be within [-0.01, 0.01]"),
    ],
)
def test_bad_field_is_named_in_the_error(path, value, message):
    with pytest.raises(ScenarioError) as exc:
        parse(with_(path, value))
    assert message in str(exc.value)


def test_csv_path_names_the_missing_file(tmp_path):
    raw = with_(("markets", "ETH-PERP", "path"), {"kind": "csv", "file": "nope.csv"})
    with pytest.raises(ScenarioError, match=r"markets.ETH-PERP.path.file: nope.csv not found"):
        parse(raw, base_dir=tmp_path)


def test_csv_path_is_rescaled_to_the_start_price_and_resampled(tmp_path):
    (tmp_path / "p.csv").write_text("t,price\n0,100\n1,90\n2,80\n3,70\n4,60\n5,50\n")
    raw = with_(("markets", "ETH-PERP", "path"), {"kind": "csv", "file": "p.csv"})
    raw["steps"] = 5
    scn = parse(raw, base_dir=tmp_path)
    assert scn.markets[0].path.points == tuple(Decimal(x) for x in (2000, 1800, 1600, 1400, 1200, 1000))


def test_gap_cascade_and_spike_paths():
    gap = parse(BASE).markets[0].path.points
    assert gap[:5] == (Decimal(2000),) * 5 and gap[5:] == (Decimal(1500),) * 6
    raw = with_(("markets", "ETH-PERP", "path"), {"kind": "cascade", "legs": [{"at": 2, "to": 1800}, {"at": 4, "to": 1800}, {"at": 6, "to": 1200}]})
    pts = parse(raw).markets[0].path.points
    assert pts == tuple(Decimal(x) for x in (2000, 1900, 1800, 1800, 1800, 1500, 1200, 1200, 1200, 1200, 1200))
    raw = with_(("markets", "ETH-PERP", "path"), {"kind": "spike", "at": 3, "to": 2500, "hold": 2, "back_to": 2100})
    pts = parse(raw).markets[0].path.points
    assert pts == tuple(Decimal(x) for x in (2000, 2000, 2000, 2500, 2500, 2100, 2100, 2100, 2100, 2100, 2100))


def test_every_market_parameter_takes_its_unit():
    """Ratios and the minimum fill as fractions and units of the asset (WAD), money in tokens (the collateral's
    decimals), integers as they are; no MarketParams field is dropped for want of a unit."""
    from perp.params import MarketParams

    given = {"imr": "0.05", "mmr": "0.03", "mcr": "0.04", "max_leverage": 20, "maker_fee_bps": 2, "taker_fee_bps": 5,
             "oracle_band_bps": 500, "liquidation_reward_bps": 50, "max_oracle_age": 3600, "hwm_window": 28800,
             "drawdown_trigger": "0.3", "drawdown_stop": "0.2", "notional_stop": "0.8", "max_liquidation_reward": 100,
             "max_fund_notional": 5000000, "min_position_notional": 25, "min_fill_size": "0.01"}
    assert set(given) == set(MarketParams.__dataclass_fields__)
    raw = with_(("markets", "ETH-PERP", "params"), given)
    got = parse(raw).market("ETH-PERP").params
    assert (got["min_fill_size"], got["min_position_notional"], got["max_fund_notional"]) == (
        10**16, 25 * 10**6, 5_000_000 * 10**6)
    assert (got["imr"], got["max_leverage"], got["hwm_window"]) == (5 * 10**16, 20 * 10**18, 28800)
