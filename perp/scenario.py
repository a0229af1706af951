"""Crash-simulation scenarios: YAML files validated into dataclasses, with readable errors that name the field.

A scenario describes the markets (start price, price path, insurance-fund seed and limits, ADL lines), the
trader population (count, side mix, leverage and size distributions, random seed) and the keeper (latency in
steps, batch size). See ``scenarios/README.md`` for every field.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

from .units import WAD

PATH_KINDS = ("gap", "linear", "cascade", "spike", "csv", "flat")


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the field and the problem."""


@dataclass(frozen=True)
class PricePath:
    kind: str
    points: tuple  # Decimal prices, one per step (step 0 = the start price)


@dataclass(frozen=True)
class FundingSpec:
    """A market's funding regime: the protocol's funding parameters (``perp.params.FundingParams``) and the premium
    of the opening trades over the mark, which sets the rate's target (> 0: a crowded long side pays)."""

    params: object  # perp.params.FundingParams
    premium: Decimal  # relative, e.g. 0.0005: the entries trade 0.05% above the mark


@dataclass(frozen=True)
class MarketSpec:
    name: str
    start_price: Decimal
    path: PricePath
    fund_seed: Decimal
    params: dict  # overrides of perp.params.MarketParams fields (ints, already scaled)
    weight: Decimal  # share of the traders in this market
    funding: FundingSpec | None = None


@dataclass(frozen=True)
class Distribution:
    kind: str  # uniform | lognormal | choice | fixed
    a: float = 0.0
    b: float = 0.0
    values: tuple = ()

    def sample(self, rng) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        if self.kind == "lognormal":  # a = median, b = sigma
            return self.a * math.exp(rng.gauss(0.0, self.b))
        return rng.choice(self.values)


@dataclass(frozen=True)
class Population:
    count: int
    long_share: float
    leverage: Distribution
    notional: Distribution  # in human collateral units
    bystanders: int
    entry_rounds: int
    entry_spread: float  # relative price spread of the entry rounds around the start price
    seed: int


@dataclass(frozen=True)
class Keeper:
    latency: int  # steps between a position becoming liquidatable and the keeper acting on it
    batch_size: int
    type2: bool  # whether the keeper calls Type 2 when the fund is in distress


@dataclass(frozen=True)
class Wave:
    """A named span of price steps (``start`` to ``end``, both included) that the policy comparison reports apart
    (``perp lab compare --per-wave``); waves do not change the run."""

    name: str
    start: int
    end: int

    def holds(self, step: int) -> bool:
        return self.start <= step <= self.end


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    steps: int
    decimals: int
    markets: tuple  # MarketSpec
    population: Population
    keeper: Keeper
    expect: dict = field(default_factory=dict)
    source: str = ""
    waves: tuple = ()  # Wave, in step order, not overlapping
    step_seconds: int = 1  # the time between two price steps (funding accrues over it)

    def market(self, name: str) -> MarketSpec:
        for m in self.markets:
            if m.name == name:
                return m
        raise KeyError(name)


# ----------------------------------------------------------------------------- parsing helpers


def _fail(where: str, problem: str):
    raise ScenarioError(f"{where}: {problem}")


def _get(d: dict, key: str, where: str, default=..., kind=None):
    if not isinstance(d, dict):
        _fail(where, f"must be a mapping, got {type(d).__name__}")
    if key not in d:
        if default is ...:
            _fail(f"{where}.{key}", "is required")
        return default
    value = d[key]
    if kind is not None and not isinstance(value, kind):
        _fail(f"{where}.{key}", f"must be {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def _decimal(value, where: str, positive=True) -> Decimal:
    if isinstance(value, bool):
        _fail(where, f"must be a number, got {value!r}")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        _fail(where, f"must be a number, got {value!r}")
    if not d.is_finite():
        _fail(where, f"must be finite, got {value!r}")
    if positive and d <= 0:
        _fail(where, f"must be positive, got {value!r}")
    if not positive and d < 0:
        _fail(where, f"must not be negative, got {value!r}")
    return d


def _int(value, where: str, low=None, high=None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"must be an integer, got {value!r}")
    if low is not None and value < low:
        _fail(where, f"must be at least {low}, got {value}")
    if high is not None and value > high:
        _fail(where, f"must be at most {high}, got {value}")
    return value


def _fraction(value, where: str) -> float:
    d = _decimal(value, where, positive=False)
    if d > 1:
        _fail(where, f"must be between 0 and 1, got {value!r}")
    return float(d)


def _distribution(d, where: str) -> Distribution:
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        return Distribution("fixed", float(_decimal(d, where)))
    kind = _get(d, "dist", where, kind=str)
    if kind == "fixed":
        return Distribution("fixed", float(_decimal(_get(d, "value", where), f"{where}.value")))
    if kind == "uniform":
        lo = float(_decimal(_get(d, "min", where), f"{where}.min"))
        hi = float(_decimal(_get(d, "max", where), f"{where}.max"))
        if hi < lo:
            _fail(f"{where}.max", f"must be >= min ({lo}), got {hi}")
        return Distribution("uniform", lo, hi)
    if kind == "lognormal":
        return Distribution(
            "lognormal",
            float(_decimal(_get(d, "median", where), f"{where}.median")),
            float(_decimal(_get(d, "sigma", where), f"{where}.sigma", positive=False)),
        )
    if kind == "choice":
        values = _get(d, "values", where, kind=list)
        if not values:
            _fail(f"{where}.values", "must list at least one value")
        return Distribution("choice", values=tuple(float(_decimal(v, f"{where}.values[{i}]")) for i, v in enumerate(values)))
    _fail(f"{where}.dist", f"must be one of fixed, uniform, lognormal, choice; got {kind!r}")


# ----------------------------------------------------------------------------- price paths


def _path(d, where: str, start: Decimal, steps: int, base_dir: Path) -> PricePath:
    kind = _get(d, "kind", where, kind=str)
    if kind not in PATH_KINDS:
        _fail(f"{where}.kind", f"must be one of {', '.join(PATH_KINDS)}; got {kind!r}")
    n = steps + 1
    if kind == "flat":
        pts = [start] * n
    elif kind == "gap":
        at = _int(_get(d, "at", where), f"{where}.at", 1, steps)
        to = _decimal(_get(d, "to", where), f"{where}.to")
        pts = [start if i < at else to for i in range(n)]
    elif kind == "linear":
        to = _decimal(_get(d, "to", where), f"{where}.to")
        start_at = _int(_get(d, "start", where, 0), f"{where}.start", 0, steps)
        end_at = _int(_get(d, "end", where, steps), f"{where}.end", start_at + 1, steps)
        pts = []
        for i in range(n):
            f = Decimal(min(max(i - start_at, 0), end_at - start_at)) / Decimal(end_at - start_at)
            pts.append(start + (to - start) * f)
    elif kind == "cascade":
        legs = _get(d, "legs", where, kind=list)
        if not legs:
            _fail(f"{where}.legs", "must list at least one leg")
        marks = [(0, start)]
        for i, leg in enumerate(legs):
            w = f"{where}.legs[{i}]"
            at = _int(_get(leg, "at", w), f"{w}.at", 1, steps)
            if at <= marks[-1][0]:
                _fail(f"{w}.at", f"must come after the previous leg (step {marks[-1][0]}), got {at}")
            marks.append((at, _decimal(_get(leg, "to", w), f"{w}.to")))
        pts = []
        for i in range(n):
            prev = max((m for m in marks if m[0] <= i), key=lambda m: m[0])
            nxt = [m for m in marks if m[0] > i]
            if not nxt:
                pts.append(prev[1])
            else:
                a, b = prev, nxt[0]
                pts.append(a[1] + (b[1] - a[1]) * Decimal(i - a[0]) / Decimal(b[0] - a[0]))
    elif kind == "spike":
        at = _int(_get(d, "at", where), f"{where}.at", 1, steps)
        peak = _decimal(_get(d, "to", where), f"{where}.to")
        hold = _int(_get(d, "hold", where, steps), f"{where}.hold", 1, steps)
        back = _decimal(_get(d, "back_to", where, str(peak)), f"{where}.back_to")
        pts = [start if i < at else (peak if i < at + hold else back) for i in range(n)]
    else:  # csv
        file = _get(d, "file", where, kind=str)
        path = (base_dir / file).resolve()
        if not path.exists():
            _fail(f"{where}.file", f"{file} not found (looked in {path.parent})")
        column = _get(d, "column", where, "price", kind=str)
        with path.open() as fh:
            rows = list(csv.DictReader(fh))
        if not rows or column not in rows[0]:
            _fail(f"{where}.column", f"{file} has no column {column!r}")
        prices = [_decimal(r[column], f"{file} line {i + 2} ({column})") for i, r in enumerate(rows)]
        if len(prices) < 2:
            _fail(f"{where}.file", f"{file} must hold at least 2 prices")
        scale = start / prices[0]
        # Resample the CSV onto the scenario's steps, keeping the first price as the start.
        pts = []
        for i in range(n):
            j = min(round(i * (len(prices) - 1) / steps), len(prices) - 1)
            pts.append(prices[j] * scale)
    return PricePath(kind, tuple(p.quantize(Decimal("0.00000001")) for p in pts))


# ----------------------------------------------------------------------------- scenario


def _waves(raw, steps: int) -> tuple:
    """``waves: [{name, from, to}, ...]``: named spans of steps within 0..steps, in order and not overlapping."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        _fail("scenario.waves", f"must list at least one wave ({{name, from, to}}), got {raw!r}")
    out = []
    for i, w in enumerate(raw):
        where = f"waves[{i}]"
        name = _get(w, "name", where, kind=str)
        if not name.strip():
            _fail(f"{where}.name", "must not be empty")
        start = _int(_get(w, "from", where), f"{where}.from", 0, steps)
        end = _int(_get(w, "to", where), f"{where}.to", start, steps)
        if out and start <= out[-1].end:
            _fail(f"{where}.from", f"must come after the previous wave's last step ({out[-1].end}), got {start}")
        if any(o.name == name for o in out):
            _fail(f"{where}.name", f"{name!r} names two waves")
        extra = set(w) - {"name", "from", "to"}
        if extra:
            _fail(f"{where}.{sorted(extra)[0]}", "is not a wave field (known: from, name, to)")
        out.append(Wave(name, start, end))
    return tuple(out)



def _funding(d, where: str):
    """``funding: {period_hours, max_rate, max_rate_change, premium}`` (rates as fractions of notional per period)."""
    if d is None:
        return None
    from .params import FundingParams

    if not isinstance(d, dict):
        _fail(where, "must be a mapping (period_hours, max_rate, max_rate_change, premium)")
    known = {"period_hours", "max_rate", "max_rate_change", "premium"}
    for key in d:
        if key not in known:
            _fail(f"{where}.{key}", f"is not a funding field (known: {', '.join(sorted(known))})")
    hours = _decimal(_get(d, "period_hours", where, 8), f"{where}.period_hours")
    rate = _decimal(_get(d, "max_rate", where), f"{where}.max_rate")
    change = _decimal(_get(d, "max_rate_change", where, d.get("max_rate")), f"{where}.max_rate_change")
    premium = _decimal(_get(d, "premium", where, 0), f"{where}.premium", positive=False)
    params = FundingParams(int(hours * 3600), int(rate * WAD), int(change * WAD))
    problems = params.problems()
    if problems:
        _fail(where, "; ".join(problems))
    if abs(premium) > Decimal("0.01"):
        _fail(f"{where}.premium", f"must be within [-0.01, 0.01] (the entries trade at mark x (1 + premium)), got {premium}")
    return FundingSpec(params, premium)


def _params(d: dict, where: str, decimals: int) -> dict:
    """Overrides of MarketParams: ratios and money given in human units, returned as contract integers."""
    from .params import MarketParams

    # WAD from human units: the ratios, the leverage multiple, the minimum fill size in units of the asset
    ratios = {"imr", "mmr", "mcr", "drawdown_trigger", "drawdown_stop", "notional_stop", "max_leverage", "min_fill_size"}
    money = {"max_liquidation_reward", "max_fund_notional", "min_position_notional"}
    plain = {"maker_fee_bps", "taker_fee_bps", "oracle_band_bps", "liquidation_reward_bps", "max_oracle_age", "hwm_window"}
    known = set(MarketParams.__dataclass_fields__)
    out = {}
    for key, value in (d or {}).items():
        w = f"{where}.{key}"
        if key not in known:
            _fail(w, f"is not a market parameter (known: {', '.join(sorted(known))})")
        if key in ratios:
            out[key] = int(_decimal(value, w) * 10**18)
        elif key in money:
            out[key] = int(_decimal(value, w) * 10**decimals)
        elif key in plain:
            out[key] = _int(value, w, 0)
        else:  # a field added to MarketParams without a unit here would be ignored silently
            raise AssertionError(f"perp.scenario._params: no unit for MarketParams.{key}")
    return out


def read_yaml(path: Path, error: type[Exception], what: str):
    """The parsed YAML of ``path``, or ``error`` with a message naming the file (missing, or not valid YAML)."""
    if not path.exists():
        raise error(f"{path}: no such {what} file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None


def load(path: str | Path) -> Scenario:
    path = Path(path)
    return parse(read_yaml(path, ScenarioError, "scenario"), base_dir=path.parent, source=str(path))


def parse(raw, base_dir: Path = Path("."), source: str = "<scenario>") -> Scenario:
    where = "scenario"
    if not isinstance(raw, dict):
        _fail(where, "must be a mapping at the top level")
    known = {"name", "description", "steps", "collateral_decimals", "markets", "traders", "keeper", "expect", "waves",
             "step_seconds"}
    for key in raw:
        if key not in known:
            _fail(f"{where}.{key}", f"is not a scenario field (known: {', '.join(sorted(known))})")
    name = _get(raw, "name", where, kind=str)
    steps = _int(_get(raw, "steps", where), f"{where}.steps", 1, 10_000)
    decimals = _int(_get(raw, "collateral_decimals", where, 6), f"{where}.collateral_decimals", 0, 18)
    markets_raw = _get(raw, "markets", where, kind=dict)
    if not markets_raw:
        _fail(f"{where}.markets", "must list at least one market")
    markets = []
    for mname, m in markets_raw.items():
        w = f"markets.{mname}"
        start = _decimal(_get(m, "start_price", w), f"{w}.start_price")
        markets.append(
            MarketSpec(
                name=mname,
                start_price=start,
                path=_path(_get(m, "path", w), f"{w}.path", start, steps, base_dir),
                fund_seed=_decimal(_get(m, "fund_seed", w, 0), f"{w}.fund_seed", positive=False),
                params=_params(_get(m, "params", w, {}), f"{w}.params", decimals),
                weight=_decimal(_get(m, "weight", w, 1), f"{w}.weight"),
                funding=_funding(m.get("funding"), f"{w}.funding"),
            )
        )
    t = _get(raw, "traders", where, kind=dict)
    w = "traders"
    population = Population(
        count=_int(_get(t, "count", w), f"{w}.count", 2, 100_000),
        long_share=_fraction(_get(t, "long_share", w, 0.5), f"{w}.long_share"),
        leverage=_distribution(_get(t, "leverage", w), f"{w}.leverage"),
        notional=_distribution(_get(t, "notional", w), f"{w}.notional"),
        bystanders=_int(_get(t, "bystanders", w, 5), f"{w}.bystanders", 0, 1_000),
        entry_rounds=_int(_get(t, "entry_rounds", w, 3), f"{w}.entry_rounds", 1, 20),
        entry_spread=_fraction(_get(t, "entry_spread", w, 0.01), f"{w}.entry_spread"),
        seed=_int(_get(t, "seed", w, 1), f"{w}.seed", 0),
    )
    lev = population.leverage
    if lev.kind != "choice" and lev.a < 1:
        _fail(f"{w}.leverage", f"must be at least 1x, got {lev.a}")
    k = _get(raw, "keeper", where, {})
    keeper = Keeper(
        latency=_int(_get(k, "latency", "keeper", 0), "keeper.latency", 0, 1_000),
        batch_size=_int(_get(k, "batch_size", "keeper", 100), "keeper.batch_size", 1, 2_000),
        type2=bool(_get(k, "type2", "keeper", True, kind=bool)),
    )
    return Scenario(
        name=name,
        description=str(_get(raw, "description", where, "")),
        steps=steps,
        decimals=decimals,
        markets=tuple(markets),
        population=population,
        keeper=keeper,
        expect=dict(_get(raw, "expect", where, {}, kind=dict)),
        source=source,
        waves=_waves(raw.get("waves"), steps),
        step_seconds=_int(_get(raw, "step_seconds", where, 1), f"{where}.step_seconds", 1, 7 * 86_400),
    )


def scaled(scn: Scenario, traders: int | None = None) -> Scenario:
    """The same scenario with another number of traders (the tests run reduced sizes); the price path is kept."""
    from dataclasses import replace

    pop = scn.population if traders is None else replace(scn.population, count=traders)
    return replace(scn, population=pop)
