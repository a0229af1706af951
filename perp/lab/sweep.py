"""Sweeps: scenarios x seeds x a parameter grid, every point run on the reference model (``crash_on_model``),
distributed with Ray, resumable, written to one table and a summary.

A sweep file (YAML)::

    name: small
    scenarios: [../flash_crash.yaml, ../short_squeeze.yaml]   # relative to the sweep file (or absolute)
    traders: 120                 # optional: every scenario at this size (default: each scenario's own)
    seeds: [1, 2]                # population seeds (default: each scenario's own)
    grid:                        # every axis optional; one value = fixed; the points are the product
      fund_seed_scale: [0.5, 1]  # each market's fund seed times this
      drawdown_trigger: [0.3]    # fund distress line (fraction of the high-water mark), every market
      drawdown_stop: [0.2]       # recovery line (below the trigger)
      mmr: [0.03]                # maintenance margin ratio, every market (must stay below mcr)
      max_leverage: [20]         # x, every market (at most 1 / imr)
      keeper_latency: [0, 2]     # steps between liquidatable and liquidated
    policies: [queue, pro_rata, water_fill]   # evaluated on every run's ADL events (default: all five)

A point is one scenario run (scenario, seed, one value per axis); its policies are not separate runs: the model's
engine is the protocol's queue, and each policy is run on every recorded ADL book counterfactually per event (as
``perp lab compare``), so the run figures (bad debt, fund path) are the protocol's and the policy figures sit side by
side. Points whose parameters break the contract's bounds (``MarketParams.problems``) are left out at expansion and
listed. The table (``points.csv``) has one row per point and policy; a point is finished when it has a row for every
policy of the sweep, and ``run_sweep`` reruns only the unfinished ones. Money is in collateral units (integers).
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from ..core import WAD
from .policies import POLICIES

AXES = ("fund_seed_scale", "drawdown_trigger", "drawdown_stop", "mmr", "max_leverage", "keeper_latency")
RATIO_AXES = {"drawdown_trigger", "drawdown_stop", "mmr", "max_leverage"}  # MarketParams fields, WAD
TABLE = "points.csv"

POINT_COLUMNS = ("point_id", "scenario", "seed", "traders") + AXES + ("backend",)
RUN_COLUMNS = ("decimals", "liquidations", "accepted", "refused", "adl_events", "type1_events", "type2_events",
               "adl_fired", "bad_debt", "bad_debt_fund_accepted", "bad_debt_covered_by_adl", "bad_debt_left_to_fund",
               "fund_equity_start", "fund_equity_min", "fund_drawdown_max", "reconciled", "same_as_model", "seconds")
POLICY_COLUMNS = ("policy", "queue_matches", "accounts_hit", "haircuts", "windfalls", "overshoot", "gini",
                  "gini_event", "top1_share", "top10_share", "max_equity_share", "leverage_after_max")
COLUMNS = POINT_COLUMNS + RUN_COLUMNS + POLICY_COLUMNS


class SweepError(ValueError):
    """A sweep file that cannot be run; the message names the field."""


@dataclass(frozen=True)
class Sweep:
    name: str
    scenarios: tuple  # paths (str), resolved
    seeds: tuple  # ints, or (None,) for each scenario's own
    grid: dict  # axis -> tuple of values (only the axes given)
    policies: tuple
    traders: int | None = None
    source: str = ""
    chain_points: tuple = ()  # numbers (1-based, in expansion order) of the points run on the chain


@dataclass(frozen=True)
class Point:
    scenario: str
    seed: int | None
    traders: int | None
    params: tuple  # ((axis, value), ...) in AXES order, only the axes of the grid
    backend: str = "model"  # or "chain": run on a fresh Anvil (and checked against the model's run)

    @property
    def id(self) -> str:
        """A stable id of the point: the hash of its canonical JSON (the scenario by its file name; the backend only
        when it is the chain, so that a model point keeps its id)."""
        raw = {"scenario": Path(self.scenario).name, "seed": self.seed, "traders": self.traders,
               "params": [[k, str(v)] for k, v in self.params]}
        if self.backend != "model":
            raw["backend"] = self.backend
        key = json.dumps(raw, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def value(self, axis):
        return dict(self.params).get(axis)


def parse(raw, base_dir: Path = Path("."), source: str = "<sweep>") -> Sweep:
    if not isinstance(raw, dict):
        raise SweepError(f"{source}: must be a mapping at the top level")
    known = {"name", "scenarios", "traders", "seeds", "grid", "policies", "chain_points"}
    for k in raw:
        if k not in known:
            raise SweepError(f"{source}: {k}: not a sweep field (known: {', '.join(sorted(known))})")
    scns = raw.get("scenarios")
    if not scns or not isinstance(scns, list):
        raise SweepError(f"{source}: scenarios: a list of scenario files is required")
    paths = []
    for s in scns:
        p = Path(s)
        p = p if p.is_absolute() else (base_dir / p)
        if not p.exists():
            raise SweepError(f"{source}: scenarios: {s}: no such file")
        paths.append(str(p.resolve()))
    seeds = raw.get("seeds")
    if seeds is None:
        seeds = (None,)
    elif not isinstance(seeds, list) or not seeds or not all(isinstance(x, int) and x >= 0 for x in seeds):
        raise SweepError(f"{source}: seeds: a list of non-negative integers")
    grid_raw = raw.get("grid") or {}
    if not isinstance(grid_raw, dict):
        raise SweepError(f"{source}: grid: a mapping of axis -> list of values")
    grid = {}
    for axis, values in grid_raw.items():
        if axis not in AXES:
            raise SweepError(f"{source}: grid.{axis}: not an axis (known: {', '.join(AXES)})")
        values = values if isinstance(values, list) else [values]
        if not values:
            raise SweepError(f"{source}: grid.{axis}: empty")
        try:
            if axis == "keeper_latency":
                vals = tuple(int(v) for v in values)
                if any(v < 0 for v in vals):
                    raise ValueError("negative")
            else:
                vals = tuple(Decimal(str(v)) for v in values)
                if any(v <= 0 for v in vals) and axis != "fund_seed_scale":
                    raise ValueError("must be positive")
                if any(v < 0 for v in vals):
                    raise ValueError("negative")
        except (ValueError, ArithmeticError) as exc:
            raise SweepError(f"{source}: grid.{axis}: {exc}") from None
        grid[axis] = vals
    pols = raw.get("policies") or list(POLICIES)
    unknown = [p for p in pols if p not in POLICIES]
    if unknown:
        raise SweepError(f"{source}: policies: unknown {unknown[0]!r} (one of {', '.join(POLICIES)})")
    traders = raw.get("traders")
    if traders is not None and (not isinstance(traders, int) or not 2 <= traders <= 100_000):
        raise SweepError(f"{source}: traders: an integer within 2..100,000")
    chain = raw.get("chain_points") or []
    if not isinstance(chain, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                                               for n in chain):
        raise SweepError(f"{source}: chain_points: a list of point numbers (1-based, in expansion order)")
    return Sweep(str(raw.get("name") or Path(source).stem), tuple(paths), tuple(seeds), grid, tuple(pols), traders,
                 source, tuple(chain))


def load(path) -> Sweep:
    from ..scenario import read_yaml

    path = Path(path)
    return parse(read_yaml(path, SweepError, "sweep"), path.parent, str(path))


def expand(sweep: Sweep, chain_points=None) -> tuple[list, list]:
    """Every point of the sweep, in a fixed order (scenarios, then seeds, then the grid's axes in ``AXES`` order,
    the last varying fastest), and the points left out with the reason: ``(points, [(point, reason)])``.
    ``chain_points`` (default the sweep's): numbers (1-based, in this order, among the points that run) of the points
    to run on the chain instead of the model."""
    chain_points = sweep.chain_points if chain_points is None else chain_points
    axes = [a for a in AXES if a in sweep.grid]
    points, skipped = [], []
    for scn in sweep.scenarios:
        for seed in sweep.seeds:
            for combo in itertools.product(*(sweep.grid[a] for a in axes)):
                pt = Point(scn, seed, sweep.traders, tuple(zip(axes, combo)))
                why = problems(pt)
                (skipped.append((pt, why)) if why else points.append(pt))
    for n in chain_points:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(points):
            raise SweepError(f"--chain-points: {n!r} is not a point number (1..{len(points)})")
    for n in set(chain_points):
        points[n - 1] = replace(points[n - 1], backend="chain")
    return points, skipped


def parse_point_numbers(text: str) -> tuple:
    """``"1,5,7"`` -> (1, 5, 7): the ``--chain-points`` option."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise SweepError(f"--chain-points: {part!r} is not a point number (a comma-separated list: 1,5,7)")
        out.append(int(part))
    return tuple(out)


def finished(rows, policies) -> set:
    """The ids of the points whose rows cover every policy in ``policies``."""
    seen: dict = {}
    for r in rows:
        seen.setdefault(r["point_id"], set()).add(r["policy"])
    need = set(policies)
    return {pid for pid, pols in seen.items() if need <= pols}


def pending(points, done: set) -> list:
    """The points still to run (not in ``done``), in order, each once."""
    out, ids = [], set()
    for p in points:
        if p.id not in done and p.id not in ids:
            out.append(p)
            ids.add(p.id)
    return out


def apply(point: Point, scn):
    """Scenario ``scn`` with the point's seed, size and parameters (``perp.scenario.Scenario``)."""
    from ..scenario import scaled

    scn = scaled(scn, point.traders) if point.traders else scn
    if point.seed is not None:
        scn = replace(scn, population=replace(scn.population, seed=point.seed))
    markets = []
    for m in scn.markets:
        params = dict(m.params)
        for axis in RATIO_AXES:
            v = point.value(axis)
            if v is not None:
                params[axis] = int(Decimal(v) * WAD)
        seed = m.fund_seed
        if point.value("fund_seed_scale") is not None:
            seed = m.fund_seed * Decimal(point.value("fund_seed_scale"))
        markets.append(replace(m, params=params, fund_seed=seed))
    scn = replace(scn, markets=tuple(markets))
    if point.value("keeper_latency") is not None:
        scn = replace(scn, keeper=replace(scn.keeper, latency=int(point.value("keeper_latency"))))
    return scn


def problems(point: Point) -> str:
    """Why the point cannot run (its parameters break a contract bound in some market), or ''."""
    from ..params import default_params
    from ..scenario import load as load_scenario

    scn = apply(point, load_scenario(point.scenario))
    out = []
    for m in scn.markets:
        p = default_params(m.name, scn.decimals).with_(**m.params)
        out += [f"{m.name}: {x}" for x in p.problems(scn.decimals)]
    return "; ".join(out)


def fund_path(steps, markets) -> tuple[int, int, float]:
    """(equity at the first step, lowest equity, largest drawdown from the running peak) over the funds of every
    market; the drawdown is ``(peak - equity) / peak`` with ``peak`` the highest equity so far (0 while it is not
    positive), the largest over markets and steps."""
    start = sum(steps[0].funds[m]["equity"] for m in markets) if steps else 0
    low = None
    worst = Fraction(0)
    for m in markets:
        peak = None
        for s in steps:
            e = s.funds[m]["equity"]
            peak = e if peak is None else max(peak, e)
            if peak > 0:
                worst = max(worst, Fraction(peak - e, peak))
    for s in steps:
        total = sum(s.funds[m]["equity"] for m in markets)
        low = total if low is None else min(low, total)
    return start, low if low is not None else 0, float(worst)


def run_point(point: Point, policies) -> list[dict]:
    """Runs one point on its backend and returns its rows (one per policy). On the chain (a fresh Anvil, started
    and stopped here): the run figures are the chain's; the policies are run on the ADL books of the same point run
    on the model, with the chain run's keeper and clock, whose report must equal the chain's (``same_as_model``)."""
    from .. import report as rpt
    from ..scenario import load as load_scenario
    from .compare import compare, crash_on_model

    t0 = time.perf_counter()
    scn = apply(point, load_scenario(point.scenario))
    same = ""
    if point.backend == "chain":
        chain_record, crash = _on_chain(scn)
        summary = rpt.summarize(chain_record)
        same = int(_same(chain_record, crash.record()))
        steps = chain_record.steps
    else:
        crash = crash_on_model(scn)
        summary = rpt.summarize(crash.record())
        steps = crash.steps
    comp = compare(crash.cases, list(policies))
    names = [m.name for m in scn.markets]
    start, low, dd = fund_path(steps, names)
    n1 = sum(1 for c in crash.cases if c.adl_type == 1)
    base = {"point_id": point.id, "scenario": Path(point.scenario).stem, "seed": scn.population.seed,
            "traders": scn.population.count}
    for a in AXES:
        v = point.value(a)
        base[a] = "" if v is None else str(v)
    counts = {n: sum(1 for e in (chain_record if point.backend == "chain" else crash.record()).events
                     if e["event"] == n) for n in ("Liquidated", "FundAccepted", "FundRefused")}
    base.update({
        "backend": point.backend, "same_as_model": same,
        "decimals": scn.decimals, "liquidations": counts["Liquidated"], "accepted": counts["FundAccepted"],
        "refused": counts["FundRefused"], "adl_events": len(crash.cases), "type1_events": n1,
        "type2_events": len(crash.cases) - n1, "adl_fired": int(bool(crash.cases)), "bad_debt": summary["bad_debt"],
        "bad_debt_fund_accepted": summary["bad_debt_fund_accepted"],
        "bad_debt_covered_by_adl": summary["bad_debt_covered_by_adl"],
        "bad_debt_left_to_fund": summary["bad_debt_left_to_fund"], "fund_equity_start": start,
        "fund_equity_min": low, "fund_drawdown_max": round(dd, 6), "reconciled": int(not summary["reconciliation"]),
        "seconds": round(time.perf_counter() - t0, 3)})
    rows = []
    for name in policies:
        r = comp.per_policy[name]

        def f(x):
            return "" if x is None else round(float(x), 6)

        rows.append(dict(base, policy=name, queue_matches=int(comp.queue_matches) if name == "queue" else "",
                         accounts_hit=r.accounts_hit, haircuts=r.haircut_total, windfalls=r.windfall_total,
                         overshoot=r.overshoot, gini=f(r.gini), gini_event=f(r.gini_event_mean),
                         top1_share=f(r.top1_share), top10_share=f(r.top10_share),
                         max_equity_share=f(r.max_equity_share),
                         leverage_after_max=f(None if r.leverage_after_max is None
                                              else Fraction(r.leverage_after_max, WAD))))
    return rows


def _on_chain(scn):
    """``scn`` on a fresh Anvil (``perp.devnet.Devnet``, a free port of ``PERP_DEVNET_PORTS``), then on the model
    with that run's keeper and clock: (chain RunRecord, ModelCrash)."""
    from ..chain.tx import Sender
    from ..deploy import connect
    from ..devnet import Devnet
    from ..sim import ModelSimulation, Simulation, deploy_for
    from .compare import BookModel, crash_of

    node = Devnet().start()
    try:
        rpc = connect(node.url)
        accounts = rpc.request("eth_accounts", [])
        sim = Simulation(rpc.w3, deploy_for(Sender(rpc, address=accounts[0]), scn, accounts[1]), scn)
        sim.run()
        chain_record = sim.record()
    finally:
        node.stop()
    model = ModelSimulation(scn, model=BookModel(scn.decimals), keeper=sim.dep.keeper, clock_start=sim.clock_start)
    model.run()
    return chain_record, crash_of(model)


def _same(chain_record, model_record) -> bool:
    """The two runs' reports are the same to the unit (``perp.sim.comparable``)."""
    from .. import report as rpt
    from ..sim import comparable

    def plain(r):
        return json.dumps(comparable(rpt.build(r)), sort_keys=True, default=str)

    return plain(chain_record) == plain(model_record)


# ------------------------------------------------------------------------------------------------ the table


def read_table(path: Path) -> list[dict]:
    """The rows of a sweep table; a line cut short by an interrupted write is dropped."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return [r for r in reader if None not in r and None not in r.values() and r.get("point_id")]


def append_rows(path: Path, rows: list[dict]) -> None:
    """Appends one point's rows in one write (header first on a new file)."""
    import io

    path = Path(path)
    new = not path.exists() or path.stat().st_size == 0
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    if new:
        w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in COLUMNS})
    with path.open("a", newline="") as fh:
        fh.write(buf.getvalue())
        fh.flush()


# ------------------------------------------------------------------------------------------------ Ray


@dataclass
class SweepRun:
    points: int
    skipped: list
    already: int  # finished before this run
    ran: int
    seconds: float
    table: Path
    summary: dict = field(default_factory=dict)
    files: list = field(default_factory=list)


def run_sweep(sweep: Sweep, out_dir, workers: int = 2, address: str | None = None, progress: bool = True,
              limit: int | None = None) -> SweepRun:
    """Runs every unfinished point of ``sweep`` on Ray (a local instance of ``workers`` CPUs, or the cluster at
    ``address``), appending each finished point's rows to ``out_dir/points.csv`` as it arrives, then writes the
    summary (``summary.json``, ``summary.html``). ``limit``: run at most that many points (the rest stay pending)."""
    import ray
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = out / TABLE
    if table.exists() and table.stat().st_size:
        with table.open() as fh:
            header = fh.readline().strip().split(",")
        if tuple(header) != COLUMNS:
            raise SweepError(f"{table}: its columns are not this version's (a table of an older version?): pass "
                             f"another --out, or move it away")
    points, skipped = expand(sweep)
    done = finished(read_table(table), sweep.policies)
    todo = pending(points, done)
    if limit is not None:
        todo = todo[:limit]
    t0 = time.perf_counter()
    if todo:
        started_here = not ray.is_initialized()
        if started_here:
            if address:
                ray.init(address=address, logging_level="WARNING", log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, logging_level="WARNING", log_to_driver=False,
                         object_store_memory=100 * 2**20)
        try:
            task = ray.remote(num_cpus=1, max_retries=1)(run_point)
            policies = list(sweep.policies)
            refs = {task.remote(p, policies): p for p in todo}
            bar = tqdm(total=len(points), initial=len(points) - len(todo), desc=sweep.name, unit="run",
                       disable=not progress)
            left = list(refs)
            while left:
                ready, left = ray.wait(left, num_returns=1)
                for ref in ready:
                    append_rows(table, ray.get(ref))
                    bar.update(1)
            bar.close()
        finally:
            if started_here:
                ray.shutdown()
    seconds = time.perf_counter() - t0
    rows = read_table(table)
    summary = summarize(rows, sweep, skipped)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    from .sweep_html import write_summary_html

    html = write_summary_html(rows, summary, out / "summary.html")
    return SweepRun(len(points), skipped, len(points) - len(pending(points, done)), len(todo), seconds, table, summary,
                    [table, out / "summary.json", html])


# ------------------------------------------------------------------------------------------------ summary


def quantile(values, q: float):
    """The nearest-rank quantile of ``values`` (the smallest value with at least ``q`` of them at or below it)."""
    xs = sorted(values)
    if not xs:
        return None
    import math

    k = max(1, math.ceil(q * len(xs)))
    return xs[k - 1]


QUANTILES = (0.5, 0.9, 0.99, 1.0)


def summarize(rows: list[dict], sweep: Sweep | None = None, skipped=()) -> dict:
    """The sweep's figures from its table: per scenario and overall, the probability that ADL fires (share of points
    with an ADL event), bad debt and fund drawdown quantiles (nearest rank: p50, p90, p99, max), and per policy the
    means of its figures over the points where ADL fired."""
    latest: dict = {}
    for r in rows:  # a point rerun after the policies changed: its last rows count
        latest[(r["point_id"], r["policy"])] = r
    rows = list(latest.values())
    runs: dict = {}
    for r in rows:
        runs.setdefault(r["point_id"], r)
    if sweep is not None:
        wanted = {p.id for p in expand(sweep)[0]}
        runs = {k: v for k, v in runs.items() if k in wanted}
        rows = [r for r in rows if r["point_id"] in wanted and r["policy"] in sweep.policies]

    def block(rs):
        if not rs:
            return {"points": 0}
        one = 10 ** int(rs[0]["decimals"])
        bad = [int(r["bad_debt"]) for r in rs]
        dd = [float(r["fund_drawdown_max"]) for r in rs]
        return {"points": len(rs), "p_adl": sum(int(r["adl_fired"]) for r in rs) / len(rs),
                "bad_debt": {f"q{int(q * 100)}": quantile(bad, q) / one for q in QUANTILES},
                "fund_drawdown": {f"q{int(q * 100)}": quantile(dd, q) for q in QUANTILES},
                "reconciled": all(int(r["reconciled"]) for r in rs),
                "chain_points": sum(1 for r in rs if r.get("backend") == "chain"),
                "same_as_model": all(str(r.get("same_as_model")) == "1" for r in rs if r.get("backend") == "chain")}

    by_scn: dict = {}
    for r in runs.values():
        by_scn.setdefault(r["scenario"], []).append(r)
    pol: dict = {}
    for r in rows:
        if int(r["adl_fired"]):
            pol.setdefault(r["policy"], []).append(r)
    policies = {}
    for name, rs in pol.items():
        one = 10 ** int(rs[0]["decimals"])

        def mean(col, rs=rs):
            xs = [float(r[col]) for r in rs if r[col] not in ("", None)]
            return sum(xs) / len(xs) if xs else None

        policies[name] = {"points": len(rs), "accounts_hit": mean("accounts_hit"),
                          "haircuts": mean("haircuts") / one, "overshoot_units": mean("overshoot"),
                          "gini": mean("gini"), "gini_event": mean("gini_event"), "top1_share": mean("top1_share"),
                          "top10_share": mean("top10_share"), "max_equity_share": mean("max_equity_share"),
                          "leverage_after_max": mean("leverage_after_max"),
                          "queue_matches": all(int(r["queue_matches"]) for r in rs) if name == "queue" else None}
    return {"name": sweep.name if sweep else "", "overall": block(list(runs.values())),
            "by_scenario": {k: block(v) for k, v in sorted(by_scn.items())}, "policies": policies,
            "skipped": [{"scenario": Path(p.scenario).stem, "seed": p.seed, "params": dict((k, str(v)) for k, v in
                                                                                          p.params), "reason": why}
                        for p, why in skipped]}
