"""Reports of a crash simulation: the summary (liquidations, fund decisions, ADL fills, haircuts), a JSON file
with every event and every account's final state, PNG plots, and a terminal table."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from .core import RefusalReason, fill_notional
from .core.fixed import WAD

REFUSAL = {int(r): r.label for r in RefusalReason if r}


def summarize(run) -> dict:
    """Aggregates a run's events (``run``: a ``perp.sim.RunRecord``, or a ``Simulation``, whose record is taken).

    Haircut of an ADL fill = the PnL the account would have realized at mark minus the PnL it realized at the
    fill price (positive: it lost to ADL; negative: a refused position that was not bankrupt closed at a
    price better than mark). Shortfall covered by a Type 1 event = the share of the bankrupt position's deficit
    (its negative equity at mark) that its ADL fills took off the fund. Overshoot = the haircuts of an event
    beyond the shortfall it covered, summed over events: fills at the bankruptcy price take exactly the
    deficit, so it is rounding only (a few units)."""
    run = run.record() if hasattr(run, "record") else run
    scale = run.scale
    ids = {v: k for k, v in run.market_ids.items()}
    counts = Counter()
    decisions = Counter()
    haircuts: dict = defaultdict(int)
    hit_first: dict = {}
    bad_debt = 0
    liquidation = None
    covered_by: dict = defaultdict(int)  # Type 1 event (tx, account) -> shortfall covered
    cut_in: dict = defaultdict(int)  # Type 1 event (tx, account) -> haircuts
    for e in run.events:
        name, a = e["event"], e["args"]
        if name == "Liquidated":
            counts["liquidations"] += 1
            liquidation = a
            if a["equity"] < 0:
                bad_debt += -a["equity"]
        elif name == "FundAccepted":
            decisions["accepted"] += 1
        elif name == "FundRefused":
            decisions[f"refused ({REFUSAL.get(a['reason'], a['reason'])})"] += 1
        elif name == "AdlFill":
            market = ids[a["marketId"]]
            counts[f"type{a['adlType']}_fills"] += 1
            mark = liquidation["markPrice"] if a["adlType"] == 1 else run.mark_price(e["step"], market)
            selling = a["sizeDelta"] < 0
            at_mark = fill_notional(abs(a["sizeDelta"]), mark, scale, seller=selling)
            cut = (at_mark - a["notional"]) if selling else (a["notional"] - at_mark)
            haircuts[a["account"]] += cut
            hit_first.setdefault(a["account"], {"step": e["step"], "type": a["adlType"], "rank": a["rank"],
                                                "market": market})
            if a["adlType"] == 1:
                key = (e["tx_index"], liquidation["account"])
                if liquidation["equity"] < 0:
                    covered_by[key] += -liquidation["equity"] * abs(a["sizeDelta"]) // abs(liquidation["size"])
                cut_in[key] += cut
    return {
        "liquidations": counts["liquidations"],
        "fund_decisions": dict(decisions),
        "type1_fills": counts["type1_fills"],
        "type2_fills": counts["type2_fills"],
        "type2_reverts": sum(1 for e in run.events if e["event"] == "Type2Reverted"),
        "bad_debt": bad_debt,
        "bad_debt_covered_by_adl": sum(covered_by.values()),
        "type1_haircuts": sum(cut_in.values()),
        "overshoot": sum(max(0, cut_in[k] - covered_by[k]) for k in cut_in),
        "accounts_hit": [
            {"account": acct, "market": first["market"], "first_step": first["step"], "adl_type": first["type"],
             "rank": first["rank"], "haircut": haircuts[acct]}
            for acct, first in sorted(hit_first.items(), key=lambda kv: (kv[1]["step"], kv[1]["type"], kv[1]["rank"]))
        ],
        "transactions": run.transactions,
        "gas_used": run.gas_used,
    }


def build(run, summary: dict | None = None) -> dict:
    """The JSON report of a run (a pure function of the ``RunRecord``)."""
    run = run.record() if hasattr(run, "record") else run
    summary = summary if summary is not None else summarize(run)
    scn = run.scenario
    return {
        "scenario": {"name": scn.name, "description": scn.description, "source": scn.source, "steps": scn.steps,
                     "traders": scn.population.count, "seed": scn.population.seed, "collateral_decimals": scn.decimals},
        "summary": summary,
        "final_funds": run.final_funds,
        "steps": [
            {"step": r.step, "prices": r.prices, "funds": r.funds,
             "open_interest": {k: list(v) for k, v in r.open_interest.items()}, "liquidations": r.liquidations,
             "refusals": r.refusals, "type1_fills": r.type1_fills, "type2_fills": r.type2_fills,
             "type2_reverts": r.type2_reverts}
            for r in run.steps
        ],
        "events": run.events,
        "accounts": run.accounts,
    }


def write_json(report: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return path


def plot(report: dict, out_dir: Path, decimals: int) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    steps = [s["step"] for s in report["steps"]]
    markets = list(report["steps"][0]["prices"])
    one = 10**decimals
    files = []

    def save(fig, name):
        path = out_dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path)

    fig, axes = plt.subplots(len(markets), 1, figsize=(8, 2.6 * len(markets)), squeeze=False)
    for ax, m in zip(axes[:, 0], markets):
        ax.plot(steps, [float(s["prices"][m]) for s in report["steps"]], color="black")
        ax.set_title(f"{m} oracle price")
        ax.set_xlabel("step")
    save(fig, "price.png")

    fig, axes = plt.subplots(len(markets), 1, figsize=(8, 2.6 * len(markets)), squeeze=False)
    for ax, m in zip(axes[:, 0], markets):
        ax.plot(steps, [s["funds"][m]["cash"] / one for s in report["steps"]], label="cash")
        ax.plot(steps, [s["funds"][m]["equity"] / one for s in report["steps"]], label="equity at mark")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"{m} insurance fund")
        ax.legend()
    save(fig, "fund.png")

    fig, axes = plt.subplots(len(markets), 1, figsize=(8, 2.6 * len(markets)), squeeze=False)
    for ax, m in zip(axes[:, 0], markets):
        ax.plot(steps, [s["open_interest"][m][0] / WAD for s in report["steps"]], label="long")
        ax.plot(steps, [s["open_interest"][m][1] / WAD for s in report["steps"]], "--", label="short")
        ax.set_title(f"{m} open interest (contracts, fund included)")
        ax.legend()
    save(fig, "open_interest.png")

    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(steps, [s["type1_fills"] for s in report["steps"]], label="Type 1 (bankruptcy price)")
    ax.bar(steps, [s["type2_fills"] for s in report["steps"]], bottom=[s["type1_fills"] for s in report["steps"]],
           label="Type 2 (fund, mark)")
    ax.set_title("ADL fills per step")
    ax.set_xlabel("step")
    ax.legend()
    save(fig, "adl_fills.png")

    hit = report["summary"]["accounts_hit"]
    fig, ax = plt.subplots(figsize=(8, 3))
    if hit:
        ax.bar(range(len(hit)), [h["haircut"] / one for h in hit],
               color=["tab:red" if h["adl_type"] == 1 else "tab:orange" for h in hit])
        ax.set_xlabel("accounts hit, in the order they were cut")
    else:
        ax.text(0.5, 0.5, "no account was deleveraged", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("ADL haircut per account (PnL at mark - PnL realized)")
    save(fig, "haircuts.png")

    lights = Counter(a["queue_lights_before"] for a in report["accounts"] if a["queue_lights_before"] is not None)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar([str(k) for k in range(0, 6)], [lights.get(k, 0) for k in range(0, 6)], color="tab:green")
    ax.set_title("ADL queue lights before the crash (0 = not eligible)")
    ax.set_xlabel("lights")
    save(fig, "queue_lights.png")
    return files


def print_summary(report: dict, decimals: int, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    s = report["summary"]
    one = 10**decimals

    def money(x):
        return f"{x / one:,.2f}"

    t = Table(title=f"Crash simulation: {report['scenario']['name']}", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("traders / steps", f"{report['scenario']['traders']} / {report['scenario']['steps']}")
    t.add_row("liquidations", str(s["liquidations"]))
    for k, v in sorted(s["fund_decisions"].items()):
        t.add_row(f"fund {k}", str(v))
    t.add_row("Type 1 ADL fills", str(s["type1_fills"]))
    t.add_row("Type 2 ADL fills", str(s["type2_fills"]))
    t.add_row("Type 2 calls refused (not enough eligible interest)", str(s["type2_reverts"]))
    t.add_row("bad debt at liquidation (negative equity)", money(s["bad_debt"]))
    t.add_row("bad debt covered by Type 1 ADL", money(s["bad_debt_covered_by_adl"]))
    t.add_row("Type 1 haircuts / overshoot", f"{money(s['type1_haircuts'])} / {money(s['overshoot'])}")
    for name, f in report["final_funds"].items():
        t.add_row(f"{name} fund cash / equity at the end", f"{money(f['cash'])} / {money(f['equity'])}")
    t.add_row("transactions / gas", f"{s['transactions']} / {s['gas_used']:,}")
    console.print(t)
    if s["accounts_hit"]:
        h = Table(title="Accounts hit by ADL (first 15, in the order they were cut)")
        for col in ("step", "type", "rank", "market", "account", "haircut"):
            h.add_column(col, justify="right" if col in ("step", "type", "rank", "haircut") else "left")
        for a in s["accounts_hit"][:15]:
            h.add_row(str(a["first_step"]), str(a["adl_type"]), str(a["rank"]), a["market"], a["account"],
                      money(a["haircut"]))
        console.print(h)
