"""Reports of a crash simulation: the summary (liquidations, fund decisions, ADL fills, haircuts), a JSON file
with every event and every account's final state, PNG plots, and a terminal table."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .core import RefusalReason
from .core.fixed import WAD
from .lab.reconcile import ledger as adl_ledger

REFUSAL = {int(r): r.label for r in RefusalReason if r}


def summarize(run) -> dict:
    """Aggregates a run's events (``run``: a ``perp.sim.RunRecord``, or a ``Simulation``, whose record is taken).

    The ADL figures come from ``perp.lab.reconcile.ledger`` (every definition is there and in ``docs/RISK_LAB.md``)
    and reconcile to the unit (``reconciliation`` lists any identity that fails; empty is the normal case):

    - ``bad_debt`` = the shortfalls ``max(0, -E)`` of every liquidation = ``bad_debt_fund_accepted`` (the fund took
      the position) + ``bad_debt_covered_by_adl`` (per Type 1 event, ``floor(S * filled / |size|)``) +
      ``bad_debt_left_to_fund`` (the rest of refused positions, with the size no counterparty could take);
    - haircut of an ADL fill = the PnL the account would have realized at mark minus the PnL it realized at the
      fill price; ``type1_haircuts`` sums the positive ones, ``type1_windfalls`` the negative ones (as a positive
      number: a refused position that was still solvent closed at its bankruptcy price, better than mark, and
      handed ``type1_surplus_handed`` of its equity to its counterparties), never netted;
    - ``overshoot`` / ``undershoot``: per Type 1 event, what ``haircuts - windfalls`` exceeds (falls short of)
      ``covered - handed``, summed over events: rounding only at the bankruptcy price (a few units);
    - ``type2_haircuts`` / ``type2_windfalls``: the same for Type 2 fills (at mark, capped at the fund's
      bankruptcy price: non-zero only where the cap bound);
    - per account (``accounts_hit``): ``type1_haircut``, ``type1_windfall``, ``type2_haircut``, ``type2_windfall``,
      whose sums over accounts equal the totals above, and ``haircut`` = all four netted (haircuts minus
      windfalls, both types); ``adl_type`` and ``rank`` are those of the account's first fill."""
    run = run.record() if hasattr(run, "record") else run
    ids = {v: k for k, v in run.market_ids.items()}
    counts = Counter()
    decisions = Counter()
    hit_first: dict = {}
    for e in run.events:
        name, a = e["event"], e["args"]
        if name == "Liquidated":
            counts["liquidations"] += 1
        elif name == "FundAccepted":
            decisions["accepted"] += 1
        elif name == "FundRefused":
            decisions[f"refused ({REFUSAL.get(a['reason'], a['reason'])})"] += 1
        elif name == "AdlFill":
            counts[f"type{a['adlType']}_fills"] += 1
            hit_first.setdefault(a["account"], {"step": e["step"], "type": a["adlType"], "rank": a["rank"],
                                                "market": ids[a["marketId"]]})
    led = adl_ledger(run.events, run.scale, lambda step, mid: run.mark_price(step, ids[mid]))
    cuts = led.accounts
    return {
        "liquidations": counts["liquidations"],
        "fund_decisions": dict(decisions),
        "type1_fills": counts["type1_fills"],
        "type2_fills": counts["type2_fills"],
        "type2_reverts": sum(1 for e in run.events if e["event"] == "Type2Reverted"),
        "bad_debt": led.bad_debt,
        "bad_debt_fund_accepted": led.bad_debt_fund_accepted,
        "bad_debt_covered_by_adl": led.total("covered"),
        "bad_debt_left_to_fund": led.total("left_to_fund"),
        "type1_haircuts": led.total("haircuts"),
        "type1_windfalls": led.total("windfalls"),
        "type1_surplus_handed": led.total("handed"),
        "overshoot": led.total("overshoot"),
        "undershoot": led.total("undershoot"),
        "type2_haircuts": led.type2_haircuts,
        "type2_windfalls": led.type2_windfalls,
        "reconciliation": led.checks(),
        "accounts_hit": [
            {"account": acct, "market": first["market"], "first_step": first["step"], "adl_type": first["type"],
             "rank": first["rank"], "haircut": cuts[acct].net, "type1_haircut": cuts[acct].type1_haircut,
             "type1_windfall": cuts[acct].type1_windfall, "type2_haircut": cuts[acct].type2_haircut,
             "type2_windfall": cuts[acct].type2_windfall}
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
             "open_interest": {k: list(v) for k, v in r.open_interest.items()}, "funding": r.funding,
             "liquidations": r.liquidations,
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

    if any(s.get("funding", {}).get(m, {}).get("long_index") for s in report["steps"] for m in markets):
        fig, axes = plt.subplots(len(markets), 1, figsize=(8, 2.6 * len(markets)), squeeze=False)
        for ax, m in zip(axes[:, 0], markets):
            rows = [s.get("funding", {}).get(m) or {"rate": 0, "long_index": 0} for s in report["steps"]]
            ax.plot(steps, [r["rate"] / WAD * 100 for r in rows], label="rate (% per period, > 0: longs pay)")
            ax.set_xlabel("step")
            twin = ax.twinx()
            twin.plot(steps, [r["long_index"] / WAD for r in rows], "--", color="tab:orange",
                      label="long index (per contract)")
            ax.set_title(f"{m} funding")
            ax.legend(loc="upper left")
            twin.legend(loc="lower right")
        save(fig, "funding.png")

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
    t.add_row("  of which taken by the fund (accepted)", money(s["bad_debt_fund_accepted"]))
    t.add_row("  of which covered by Type 1 ADL", money(s["bad_debt_covered_by_adl"]))
    t.add_row("  of which left to the fund (Type 1 remainder)", money(s["bad_debt_left_to_fund"]))
    t.add_row("Type 1 haircuts / windfalls", f"{money(s['type1_haircuts'])} / {money(s['type1_windfalls'])}")
    t.add_row("  equity of solvent refused positions handed over", money(s["type1_surplus_handed"]))
    t.add_row("Type 1 overshoot / undershoot (rounding, units)", f"{s['overshoot']} / {s['undershoot']}")
    t.add_row("Type 2 haircuts / windfalls", f"{money(s['type2_haircuts'])} / {money(s['type2_windfalls'])}")
    t.add_row("ADL figures reconcile", "to the unit" if not s["reconciliation"] else s["reconciliation"][0])
    for name, f in report["final_funds"].items():
        t.add_row(f"{name} fund cash / equity at the end", f"{money(f['cash'])} / {money(f['equity'])}")
    t.add_row("transactions / gas", f"{s['transactions']} / {s['gas_used']:,}")
    console.print(t)
    if s["accounts_hit"]:
        h = Table(title="Accounts hit by ADL (first 15, in the order they were cut)")
        for col in ("step", "type", "rank", "market", "account", "haircut", "windfall", "net"):
            h.add_column(col, justify="left" if col in ("market", "account") else "right")
        for a in s["accounts_hit"][:15]:
            h.add_row(str(a["first_step"]), str(a["adl_type"]), str(a["rank"]), a["market"], a["account"],
                      money(a["type1_haircut"] + a["type2_haircut"]), money(a["type1_windfall"] + a["type2_windfall"]),
                      money(a["haircut"]))
        console.print(h)
