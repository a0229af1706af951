"""The HTML report of one crash-simulation run: one self-contained file (plotly with its library embedded, works
offline), a pure function of the JSON report (``perp.report.build``) that the PNG plots are drawn from too.

Panels: the summary, the oracle price path, the insurance fund's cash and equity, open interest, ADL fills per
step, the haircut of every account hit (windfalls as negative bars, with a note that explains them), the queue
lights before the crash, and, when given, the ADL policy table of ``perp.lab.compare``. ``write_html(report, path,
decimals, policy_rows=None)``; ``policy_rows(comparison, decimals)`` turns a ``perp.lab.compare.Comparison`` into
the table's rows.
"""
from __future__ import annotations

import html
from collections import Counter
from fractions import Fraction
from pathlib import Path

from .core.fixed import WAD

TITLES = {
    "price": "Oracle price",
    "fund": "Insurance fund: cash and equity at mark",
    "open_interest": "Open interest (fund included)",
    "funding": "Funding: rate and the side indices",
    "adl_fills": "ADL fills per step",
    "haircuts": "ADL haircut per account hit",
    "queue_lights": "ADL queue lights before the crash",
    "policies": "ADL policies on the same books",
}

WINDFALL_NOTE = (
    "A negative haircut is a windfall: the account was closed at a price better for it than mark. Type 2 fills at "
    "the fund's bankruptcy-price cap, which can be on either side of mark; Type 1 of a refused position that still "
    "had equity fills at mark (its equity goes to the fund), so it hands out no windfall since finding 4 of the "
    "funding and hardening issue (runs recorded before it closed such positions at their bankruptcy price). "
    "Haircuts and windfalls are summed apart in the summary, never netted.")


def policy_rows(comp, decimals: int) -> list[dict]:
    """One row per policy of a ``perp.lab.compare.Comparison`` (money in collateral tokens, shares as fractions)."""
    one = 10**decimals

    def f(x):
        return None if x is None else float(x)

    rows = []
    for name, r in comp.per_policy.items():
        rows.append({
            "policy": name, "accounts hit": r.accounts_hit, "haircuts": r.haircut_total / one,
            "windfalls": r.windfall_total / one, "overshoot (units)": r.overshoot, "Gini run": f(r.gini),
            "Gini event": f(r.gini_event_mean), "top-1 share": f(r.top1_share), "top-10 share": f(r.top10_share),
            "max haircut / equity": f(r.max_equity_share),
            "max leverage after (x)": None if r.leverage_after_max is None else float(Fraction(r.leverage_after_max,
                                                                                                 WAD)),
            "top-10 overlap": f(r.top_k_overlap_mean), "Kendall tau": f(r.kendall_tau_mean),
        })
    return rows


def _table(rows: list[dict], money=(), pct=()) -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(rows[0])
    out = ["<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr></thead><tbody>"]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if v is None:
                s = "-"
            elif c in money:
                s = f"{v:,.2f}"
            elif c in pct:
                s = f"{v * 100:.1f}%"
            elif isinstance(v, float):
                s = f"{v:.3f}"
            else:
                s = html.escape(str(v))
            cells.append(f"<td>{s}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def figures(report: dict, decimals: int) -> dict:
    """The plotly figures of the report, by panel key (``TITLES``)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    steps = [s["step"] for s in report["steps"]]
    markets = list(report["steps"][0]["prices"]) if report["steps"] else []
    one = 10**decimals
    n = max(1, len(markets))
    figs = {}

    def per_market(key, ytitle):
        fig = make_subplots(rows=n, cols=1, subplot_titles=[f"{m}" for m in markets], shared_xaxes=False,
                            vertical_spacing=0.2 if n > 1 else 0.1)
        fig.update_layout(title=TITLES[key], height=300 * n + 80, margin=dict(l=70, r=20, t=70, b=50))
        for i in range(1, n + 1):
            fig.update_xaxes(title_text="price step", row=i, col=1)
            fig.update_yaxes(title_text=ytitle, row=i, col=1)
        return fig

    fig = per_market("price", "price (collateral per unit)")
    for i, m in enumerate(markets, 1):
        fig.add_trace(go.Scatter(x=steps, y=[float(s["prices"][m]) for s in report["steps"]], name=f"{m} price",
                                 line=dict(color="black")), row=i, col=1)
    figs["price"] = fig

    fig = per_market("fund", "collateral tokens")
    for i, m in enumerate(markets, 1):
        fig.add_trace(go.Scatter(x=steps, y=[s["funds"][m]["cash"] / one for s in report["steps"]],
                                 name=f"{m} cash"), row=i, col=1)
        fig.add_trace(go.Scatter(x=steps, y=[s["funds"][m]["equity"] / one for s in report["steps"]],
                                 name=f"{m} equity at mark", line=dict(dash="dot")), row=i, col=1)
    figs["fund"] = fig

    fig = per_market("open_interest", "contracts (base units)")
    for i, m in enumerate(markets, 1):
        fig.add_trace(go.Scatter(x=steps, y=[s["open_interest"][m][0] / WAD for s in report["steps"]],
                                 name=f"{m} long"), row=i, col=1)
        fig.add_trace(go.Scatter(x=steps, y=[s["open_interest"][m][1] / WAD for s in report["steps"]],
                                 name=f"{m} short", line=dict(dash="dash")), row=i, col=1)
    figs["open_interest"] = fig

    fig = make_subplots(rows=n, cols=1, subplot_titles=[f"{m}" for m in markets], vertical_spacing=0.2 if n > 1 else 0.1,
                        specs=[[{"secondary_y": True}] for _ in range(n)])
    fig.update_layout(title=TITLES["funding"], height=300 * n + 80, margin=dict(l=70, r=70, t=70, b=50))
    funded = False
    for i, m in enumerate(markets, 1):
        rows = [s.get("funding", {}).get(m) or {"rate": 0, "long_index": 0, "short_index": 0}
                for s in report["steps"]]
        funded = funded or any(r["rate"] or r["long_index"] or r["short_index"] for r in rows)
        fig.add_trace(go.Scatter(x=steps, y=[r["rate"] / WAD * 100 for r in rows], name=f"{m} rate"), row=i, col=1)
        fig.add_trace(go.Scatter(x=steps, y=[r["long_index"] / WAD for r in rows], name=f"{m} long index",
                                 line=dict(dash="dot")), row=i, col=1, secondary_y=True)
        fig.update_xaxes(title_text="price step", row=i, col=1)
        fig.update_yaxes(title_text="rate (% of notional per period, > 0: longs pay)", row=i, col=1)
        fig.update_yaxes(title_text="long index (price units per contract)", row=i, col=1, secondary_y=True)
    if not funded:
        fig.add_annotation(text="no funding in this run", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figs["funding"] = fig

    fig = go.Figure()
    fig.add_trace(go.Bar(x=steps, y=[s["type1_fills"] for s in report["steps"]], name="Type 1 (bankruptcy price)"))
    fig.add_trace(go.Bar(x=steps, y=[s["type2_fills"] for s in report["steps"]], name="Type 2 (fund, at mark)"))
    fig.update_layout(title=TITLES["adl_fills"], barmode="stack", height=340, xaxis_title="price step",
                      yaxis_title="fills (count)")
    figs["adl_fills"] = fig

    hit = report["summary"]["accounts_hit"]
    fig = go.Figure()
    if hit:
        xs = list(range(1, len(hit) + 1))
        text = [f"{h['account']}<br>{h['market']}, first step {h['first_step']}, Type {h['adl_type']}, rank {h['rank']}"
                for h in hit]
        fig.add_trace(go.Bar(x=xs, y=[(h["type1_haircut"] + h["type2_haircut"]) / one for h in hit],
                             name="haircut", marker_color="#c0392b", hovertext=text))
        fig.add_trace(go.Bar(x=xs, y=[-(h["type1_windfall"] + h["type2_windfall"]) / one for h in hit],
                             name="windfall (negative haircut)", marker_color="#27ae60", hovertext=text))
        fig.update_layout(barmode="relative")
    else:
        fig.add_annotation(text="no account was deleveraged", showarrow=False, x=0.5, y=0.5, xref="paper",
                           yref="paper")
    fig.update_layout(title=TITLES["haircuts"] + f" ({len(hit)} accounts, in the order they were first cut)",
                      height=380, xaxis_title="account hit (order of the first cut; hover for the address)",
                      yaxis_title="PnL at mark - PnL realized (collateral tokens)")
    figs["haircuts"] = fig

    lights = Counter(a["queue_lights_before"] for a in report["accounts"] if a["queue_lights_before"] is not None)
    fig = go.Figure(go.Bar(x=[str(k) for k in range(6)], y=[lights.get(k, 0) for k in range(6)],
                           marker_color="#2e8b57", name="positions"))
    fig.update_layout(title=TITLES["queue_lights"], height=320,
                      xaxis_title="lights (0 = not eligible, no unrealized profit; 5 = deleveraged first)",
                      yaxis_title="positions (count)")
    figs["queue_lights"] = fig
    return figs


def _windfalls(report: dict) -> int:
    s = report["summary"]
    return s.get("type1_windfalls", 0) + s.get("type2_windfalls", 0)


def render(report: dict, decimals: int, policy_rows: list | None = None, policy_note: str = "") -> str:
    """The whole HTML document (plotly.js embedded once, in the first figure)."""
    figs = figures(report, decimals)
    s = report["summary"]
    scn = report["scenario"]
    one = 10**decimals

    def money(x):
        return f"{x / one:,.2f}"

    summary = [
        ("traders / steps", f"{scn['traders']} / {scn['steps']}"),
        ("backend", report.get("backend", "chain (Anvil)")),
        ("liquidations", s["liquidations"]),
        *[(f"fund {k}", v) for k, v in sorted(s["fund_decisions"].items())],
        ("Type 1 / Type 2 ADL fills", f"{s['type1_fills']} / {s['type2_fills']}"),
        ("bad debt at liquidation (collateral tokens)", money(s["bad_debt"])),
        ("  taken by the fund / covered by Type 1 / left to the fund",
         f"{money(s['bad_debt_fund_accepted'])} / {money(s['bad_debt_covered_by_adl'])} / "
         f"{money(s['bad_debt_left_to_fund'])}"),
        ("Type 1 haircuts / windfalls", f"{money(s['type1_haircuts'])} / {money(s['type1_windfalls'])}"),
        ("Type 2 haircuts / windfalls", f"{money(s['type2_haircuts'])} / {money(s['type2_windfalls'])}"),
        ("Type 1 overshoot / undershoot (units)", f"{s['overshoot']} / {s['undershoot']}"),
        ("ADL figures reconcile", "to the unit" if not s["reconciliation"] else "; ".join(s["reconciliation"][:3])),
        *[(f"{name} fund cash / equity at the end", f"{money(f['cash'])} / {money(f['equity'])}")
          for name, f in report["final_funds"].items()],
    ]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Crash simulation: {html.escape(scn['name'])}</title>",
        "<style>body{font-family:sans-serif;margin:24px;max-width:1200px}table{border-collapse:collapse;margin:8px 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
        ".note{background:#fff6d5;border-left:4px solid #e0a800;padding:8px 12px;margin:8px 0}"
        "h2{margin-top:28px}</style></head><body>",
        f"<h1>Crash simulation: {html.escape(scn['name'])}</h1>",
        f"<p>{html.escape(scn.get('description') or '')}</p>",
        "<h2>Summary</h2><table>" + "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
                                            for k, v in summary) + "</table>",
    ]
    first = True
    for key in ("price", "fund", "open_interest", "funding", "adl_fills", "haircuts", "queue_lights"):
        parts.append(f"<h2>{html.escape(TITLES[key])}</h2>")
        if key == "haircuts" and _windfalls(report) > 0:
            parts.append(f"<p class='note' id='windfall-note'><b>Windfalls:</b> {html.escape(WINDFALL_NOTE)} "
                         f"In this run: {money(_windfalls(report))} collateral tokens of windfalls.</p>")
        parts.append(figs[key].to_html(full_html=False, include_plotlyjs=True if first else False,
                                       div_id=f"panel-{key}", config={"displaylogo": False}))
        first = False
    parts.append(f"<h2>{html.escape(TITLES['policies'])}</h2>")
    if policy_rows:
        parts.append(f"<p>{html.escape(policy_note)}</p>")
        parts.append(_table(policy_rows, money=("haircuts", "windfalls"),
                            pct=("top-1 share", "top-10 share", "max haircut / equity")))
    else:
        parts.append(f"<p>{html.escape(policy_note or 'not computed for this run')}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: dict, path: Path, decimals: int, policy_rows: list | None = None,
               policy_note: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report, decimals, policy_rows, policy_note), encoding="utf-8")
    return path
