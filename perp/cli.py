"""The ``perp`` command: simulate, deploy, audit, keep and inspect the ADL perpetuals protocol without Brownie.

    perp simulate scenarios/flash_crash.yaml          # a fresh Anvil of its own, stopped at the end
    perp simulate scenarios/flash_crash.yaml --backend model   # the same engine on the reference model, no chain
    perp deploy --rpc http://127.0.0.1:8545           # devnet mocks; --config plan.yaml for a live network
    perp audit deployments/devnet-31337.json          # state audit + event replay; exit 1 on findings
    perp keeper deployments/devnet-31337.json         # follows blocks, liquidates, Type 2, pokes
    perp queue deployments/devnet-31337.json 0xabc... # a position's ADL score, rank and lights
    perp lab compare scenarios/flash_crash.yaml       # ADL policies on the scenario's books (reference model, no chain)
    perp sweep scenarios/sweeps/small.yaml            # scenarios x seeds x a parameter grid on Ray (reference model)

Exit status: 0 success, 1 findings (audit) or a halted simulation, 2 a usage, input or connection error (one
readable line on stderr, never a traceback).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
DEFAULT_RPC = "http://127.0.0.1:8545"


class Fail(click.ClickException):
    """A readable error: printed as ``error: ...`` with exit status 2."""

    exit_code = EXIT_ERROR

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _rpc(url: str):
    from .deploy import DeployError, connect

    try:
        return connect(url)
    except DeployError as exc:
        raise Fail(f"{exc}\n  start a node (e.g. `anvil --port 8545`) or pass --rpc URL") from None


def _manifest(path):
    from .chain.manifest import Manifest, ManifestError

    try:
        return Manifest.load(path)
    except ManifestError as exc:
        raise Fail(str(exc)) from None


def _node_url(option: str | None, manifest=None) -> str:
    return option or os.environ.get("PERP_RPC_URL") or (manifest.rpc if manifest and manifest.rpc else "") or DEFAULT_RPC


def _sender(rpc, key_env: str | None, unlocked: str | None):
    """A Sender from a private key in an environment variable, an unlocked node account, or the node's first
    unlocked account (devnets)."""
    from eth_utils import is_address

    from .chain.tx import Sender

    if key_env:
        key = os.environ.get(key_env)
        if not key:
            raise Fail(f"--key-env {key_env}: the environment variable {key_env} is not set")
        try:
            return Sender(rpc, private_key=key)
        except (ValueError, TypeError) as exc:
            raise Fail(f"--key-env {key_env}: not a private key ({exc})") from None
    if unlocked:
        if not is_address(unlocked):
            raise Fail(f"--unlocked {unlocked}: not an address")
        return Sender(rpc, address=unlocked)
    accounts = rpc.request("eth_accounts", [])
    if not accounts:
        raise Fail("the node holds no unlocked account: pass --key-env VAR (a variable holding the private key)")
    return Sender(rpc, address=accounts[0])


def _check_code(rpc, manifest, url):
    if rpc.chain_id() != manifest.chain_id:
        raise Fail(f"the manifest is for chain id {manifest.chain_id}, the node at {url} is chain {rpc.chain_id()}: "
                   f"pass the right --rpc")
    if rpc.code(manifest.perpetual) in ("0x", "0x0"):
        raise Fail(f"no contract at {manifest.perpetual} on {url}: the devnet was restarted or the manifest belongs to "
                   f"another deployment; redeploy (`perp deploy`) and use the new manifest")


def _artifacts():
    from .chain.abi import ArtifactError, load_artifact

    try:
        for name in ("Perpetual", "PerpLens"):
            load_artifact(name)
    except ArtifactError as exc:
        raise Fail(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ADL perpetuals: crash simulations, deployment, audit, keeper and the ADL queue, with web3.py alone."""


# ------------------------------------------------------------------------------------------------ simulate


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--traders", type=click.IntRange(2, 100_000), help="override the scenario's number of traders")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="report folder (default reports/sim/<name>)")
@click.option("--no-plots", is_flag=True, help="skip the PNG plots")
@click.option("--no-html", is_flag=True, help="skip the HTML report (report.html)")
@click.option("--quiet", is_flag=True, help="no progress bar or summary")
@click.option("--rpc", help="run on this node instead of a fresh Anvil (a devnet whose accounts are unlocked)")
@click.option("--backend", type=click.Choice(["chain", "model"]), default="chain", show_default=True,
              help="chain: a devnet (Anvil); model: the reference model (perp.model), no chain, same report")
def simulate(scenario, traders, out_dir, no_plots, no_html, quiet, rpc, backend):
    """Run a crash SCENARIO (YAML): deploy, build the traders, drive the price path, keep, audit every step.

    Starts a fresh Anvil on a free port and stops it at the end (even on error); it never attaches to a node it did
    not start unless --rpc names one. With --backend model the same engine runs on the reference model instead (no
    node, no deployment; the same report to the unit but gas)."""
    from .chain.tx import Sender
    from .devnet import Devnet, DevnetError
    from .runner import run_scenario, run_scenario_on_model
    from .scenario import ScenarioError, load
    from .sim import SimulationHalted

    try:
        load(scenario)
    except ScenarioError as exc:
        raise Fail(f"bad scenario: {exc}") from None
    if backend == "model":
        if rpc:
            raise Fail("--rpc names a node, --backend model runs without one: pass one of them")
        try:
            run_scenario_on_model(scenario, out_dir=out_dir, plots=not no_plots, quiet=quiet, traders=traders,
                                  html=not no_html)
        except ScenarioError as exc:
            raise Fail(f"bad scenario: {exc}") from None
        except SimulationHalted:
            sys.exit(EXIT_FINDINGS)
        return
    _artifacts()
    node = None
    try:
        if rpc:
            client = _rpc(rpc)
        else:
            node = Devnet().start()
            client = _rpc(node.url)
        accounts = client.request("eth_accounts", [])
        if len(accounts) < 2:
            raise Fail("simulations need two unlocked accounts on the node (operator and keeper): use a devnet")
        try:
            run_scenario(client.w3, Sender(client, address=accounts[0]), accounts[1], scenario, out_dir=out_dir,
                         plots=not no_plots, quiet=quiet, traders=traders, html=not no_html)
        except ScenarioError as exc:
            raise Fail(f"bad scenario: {exc}") from None
        except SimulationHalted:
            sys.exit(EXIT_FINDINGS)
    except DevnetError as exc:
        raise Fail(str(exc)) from None
    finally:
        if node is not None:
            node.stop()


# ------------------------------------------------------------------------------------------------ deploy


@main.command()
@click.option("--rpc", help=f"node URL (default $PERP_RPC_URL or {DEFAULT_RPC})")
@click.option("--key-env", help="name of an environment variable that holds the deployer's private key")
@click.option("--unlocked", help="deploy from this account, unlocked on the node (default: the node's first)")
@click.option("--config", "config", type=click.Path(dir_okay=False),
              help="live deployment plan (YAML: collateral, markets with oracles, fund_seed); without it: devnet mocks")
@click.option("--decimals", type=click.IntRange(0, 18), default=6, show_default=True,
              help="devnet mock collateral decimals")
@click.option("--fund-seed", default="100000", show_default=True, help="devnet: collateral units per fund")
@click.option("--network", default="devnet", show_default=True, help="network name in the manifest's file name")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="manifest path (default deployments/<network>-<id>.json)")
@click.option("--yes", is_flag=True, help="live plan: send without asking after printing it")
def deploy(rpc, key_env, unlocked, config, decimals, fund_seed, network, out, yes):
    """Deploy and configure the protocol from the compiled artifacts and write the manifest."""
    from .deploy import DeployError, deploy_devnet, deploy_live, load_plan, plan_text, write_manifest
    from .units import units

    _artifacts()
    url = _node_url(rpc)
    client = _rpc(url)
    sender = _sender(client, key_env, unlocked)
    try:
        if config:
            import yaml

            from .chain.abi import load_abi
            from .chain.rpc import Contract, RpcError

            path = Path(config)
            if not path.exists():
                raise Fail(f"--config {config}: no such file")
            try:
                raw = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise Fail(f"--config {config}: not valid YAML: {exc}") from None
            try:
                token = Contract(client, str(raw.get("collateral")), load_abi("ERC20")) if isinstance(raw, dict) and \
                    raw.get("collateral") else None
                decimals_ = token.call("decimals") if token else 0
            except (RpcError, ValueError) as exc:
                raise Fail(f"--config {config}: cannot read the collateral's decimals(): {exc}") from None
            plan = load_plan(raw, decimals_, where=str(config))
            click.echo(plan_text(plan, sender.address, client.chain_id()))
            if not yes and not click.confirm("send these transactions?", default=False):
                raise Fail("not confirmed: nothing was sent")
            made = deploy_live(sender, plan, network=network, rpc_url=url)
        else:
            try:
                seed = units(fund_seed, decimals)
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise Fail(f"--fund-seed {fund_seed}: {exc}") from None
            made = deploy_devnet(sender, decimals=decimals, fund_seed=seed, network=network, rpc_url=url)
    except DeployError as exc:
        raise Fail(str(exc)) from None
    m = made.manifest
    path = write_manifest(m, out)
    click.echo(f"deployed on chain {m.chain_id} by {m.deployer}: Perpetual {m.perpetual}, PerpLens {m.lens}, "
               f"collateral {m.collateral} ({m.collateral_decimals} decimals)")
    for name, info in m.markets.items():
        click.echo(f"  market {info['id']} {name}: oracle {info['oracle']}")
    click.echo(f"manifest: {path}")


# ------------------------------------------------------------------------------------------------ audit


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def audit(args):
    """State audit and event replay of any deployment: MANIFEST [--rpc URL] [--from-block N] [--to-block N]
    [--page-size N] [--after-keeper] [--no-withdraw-check]. Exit 0 clean, 1 findings, 2 errors."""
    from .audit_cli import run

    sys.exit(run(list(args), prog="perp audit"))


# ------------------------------------------------------------------------------------------------ keeper


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--rpc", help="node URL (default $PERP_RPC_URL, the manifest's rpc, or http://127.0.0.1:8545)")
@click.option("--key-env", help="name of an environment variable that holds the keeper's private key")
@click.option("--unlocked", help="keep from this unlocked node account (default: the node's first)")
@click.option("--batch-size", type=click.IntRange(1, 2_000), default=100, show_default=True)
@click.option("--no-type2", is_flag=True, help="never call deleverageFund")
@click.option("--poll", type=click.FloatRange(0.01, 60), default=1.0, show_default=True, help="seconds between looks")
@click.option("--max-blocks", type=click.IntRange(1), help="stop after this many new blocks (default: run until Ctrl-C)")
@click.option("--status-file", type=click.Path(dir_okay=False), help="write the counters here (JSON) after every block")
def keeper(manifest, rpc, key_env, unlocked, batch_size, no_type2, poll, max_blocks, status_file):
    """Follow new blocks of a deployment: liquidate (in pages and batches), Type 2, poke the fund; one log line
    per action; retries with backoff and survives node restarts."""
    from .chain.client import PerpClient
    from .keeper import Keeper

    _artifacts()
    m = _manifest(manifest)
    url = _node_url(rpc, m)
    client = _rpc(url)
    _check_code(client, m, url)
    k = Keeper(PerpClient.from_manifest(m, client), _sender(client, key_env, unlocked), batch_size=batch_size,
               type2=not no_type2, log=lambda line: click.echo(line, err=False))
    k.names = {info["id"]: name for name, info in m.markets.items()}
    try:
        counters = k.run(poll=poll, max_blocks=max_blocks, status_file=status_file)
    except KeyboardInterrupt:
        counters = k.counters
    click.echo(json.dumps(counters))


# ------------------------------------------------------------------------------------------------ queue


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.argument("account")
@click.option("--market", help="one market by name (default: every market)")
@click.option("--rpc", help="node URL (default $PERP_RPC_URL, the manifest's rpc, or http://127.0.0.1:8545)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def queue(manifest, account, market, rpc, as_json):
    """A position's ADL queue indicator: its score, its rank among the eligible positions on its side, the
    eligible count and the 1-5 lights (5 = deleveraged first), per market."""
    from eth_utils import is_address

    from .chain.client import PerpClient
    from .chain.manifest import ManifestError
    from .chain.rpc import RpcError

    if not is_address(account):
        raise Fail(f"{account}: not an address")
    _artifacts()
    m = _manifest(manifest)
    url = _node_url(rpc, m)
    client = _rpc(url)
    _check_code(client, m, url)
    pc = PerpClient.from_manifest(m, client)
    try:
        names = [market] if market else list(m.markets)
        rows = []
        for name in names:
            mid = m.market_id(name)
            q = pc.queue(mid, account)
            p = pc.position(mid, account)
            rows.append({"market": name, "size": p.size, "score": q.score, "rank": q.rank, "eligible": q.eligible,
                         "lights": q.lights})
    except ManifestError as exc:
        raise Fail(str(exc)) from None
    except RpcError as exc:
        raise Fail(f"the node at {url} failed the queue read: {exc}") from None
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        if r["size"] == 0:
            click.echo(f"{r['market']}: no position")
        elif r["rank"] == 0:
            click.echo(f"{r['market']}: size {r['size']}, not in the ADL queue (no unrealized profit); "
                       f"{r['eligible']} eligible on its side")
        else:
            click.echo(f"{r['market']}: size {r['size']}, score {r['score'] / 10**18:.6f}, rank {r['rank']} of "
                       f"{r['eligible']}, lights {'*' * r['lights']}{'.' * (5 - r['lights'])} ({r['lights']}/5)")


# ------------------------------------------------------------------------------------------------ lab


@main.group()
def lab() -> None:
    """Risk lab: ADL policies compared on the same books (perp.lab, docs/RISK_LAB.md)."""


@lab.command("compare")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--traders", type=click.IntRange(2, 100_000), help="override the scenario's number of traders")
@click.option("--policy", "policies", multiple=True, help="a policy to run (repeatable; default: all)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the dYdX sweep's start")
@click.option("--per-wave", is_flag=True, help="one table per wave of the scenario (its `waves:`) instead of the run")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False),
              help="with --per-wave: also write the table as Markdown to this file")
def lab_compare(scenario, traders, policies, seed, per_wave, markdown_path):
    """Run SCENARIO on the reference model (no chain), record every ADL event's book, and compare every policy on
    those books (counterfactual per event). Exit 1 if the protocol's queue policy does not reproduce the model."""
    from rich.console import Console

    from .lab.compare import compare, crash_on_model, table
    from .lab.policies import POLICIES
    from .scenario import ScenarioError, load

    try:
        scn = load(scenario)
    except ScenarioError as exc:
        raise Fail(f"bad scenario: {exc}") from None
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise Fail(f"unknown policy {unknown[0]!r} (one of {', '.join(POLICIES)})")
    if per_wave and not scn.waves:
        raise Fail(f"{scenario} names no waves: --per-wave needs a `waves:` list of {{name, from, to}} "
                   "(scenarios/README.md)")
    if markdown_path and not per_wave:
        raise Fail("--markdown writes the per-wave table: add --per-wave")
    run = crash_on_model(scn, traders)
    comp = compare(run.cases, policies or None, seed)
    console = Console(width=160)
    n1 = sum(1 for c in run.cases if c.adl_type == 1)
    console.print(f"{scn.name}: {traders or scn.population.count} traders, {scn.steps} steps on the reference model: "
                  f"{run.liquidations} liquidations ({run.accepted} accepted, {run.refused} refused), "
                  f"{n1} Type 1 and {len(run.cases) - n1} Type 2 events")
    if per_wave:
        from .lab import waves

        rows = waves.per_wave(run.cases, comp, scn.waves)
        console.print(waves.table(rows, scn.decimals))
        if markdown_path:
            Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
            Path(markdown_path).write_text(waves.markdown(rows, scn.decimals))
            console.print(f"wrote {markdown_path}")
    else:
        console.print(table(comp, scn.decimals))
    if not comp.queue_matches:
        click.echo(f"error: the queue policy differs from the model on events {comp.mismatches[:10]}", err=True)
        sys.exit(EXIT_FINDINGS)


# ------------------------------------------------------------------------------------------------ sweep


@main.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--address", help="join the Ray cluster at this address (default: start a local instance)")
@click.option("--workers", type=click.IntRange(1, 1_024), default=2, show_default=True,
              help="CPUs of the local Ray instance (ignored with --address)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="output folder (default reports/sweeps/<name>); its points.csv is resumed")
@click.option("--limit", type=click.IntRange(1), help="run at most this many unfinished points")
@click.option("--chain-points", help="run these points (1-based numbers in expansion order, e.g. 1,5) on the chain, "
                                     "each on a fresh Anvil, checked against the model (default: the file's)")
@click.option("--quiet", is_flag=True, help="no progress bar or summary")
def sweep(sweep_file, address, workers, out_dir, limit, chain_points, quiet):
    """Run every point of SWEEP_FILE (scenarios x seeds x a parameter grid, YAML) on the reference model, on Ray;
    points already in the output table are not rerun. Writes points.csv, summary.json and summary.html."""
    from dataclasses import replace

    from .chain.abi import PACKAGE_ROOT
    from .lab.sweep import SweepError, expand, load as load_sweep, parse_point_numbers, run_sweep
    from .scenario import ScenarioError

    try:
        sw = load_sweep(sweep_file)
        if chain_points:
            sw = replace(sw, chain_points=parse_point_numbers(chain_points))
        expand(sw)  # point numbers within range
    except (SweepError, ScenarioError) as exc:
        raise Fail(f"bad sweep: {exc}") from None
    if sw.chain_points:
        _artifacts()
    out = Path(out_dir) if out_dir else PACKAGE_ROOT / "reports" / "sweeps" / sw.name
    try:
        res = run_sweep(sw, out, workers=workers, address=address, progress=not quiet, limit=limit)
    except (ScenarioError, SweepError) as exc:
        raise Fail(f"bad sweep: {exc}") from None
    except ConnectionError as exc:
        raise Fail(f"--address {address}: {exc}") from None
    if quiet:
        return
    o = res.summary["overall"]
    click.echo(f"{sw.name}: {res.points} points ({len(res.skipped)} left out), {res.already} already done, "
               f"{res.ran} run in {res.seconds:.1f} s"
               + (f" ({res.ran * 60 / res.seconds:,.0f} runs/min)" if res.ran and res.seconds else ""))
    if o.get("points"):
        click.echo(f"P(ADL fires) {o['p_adl']:.2f}; bad debt p50/p90/max {o['bad_debt']['q50']:,.2f} / "
                   f"{o['bad_debt']['q90']:,.2f} / {o['bad_debt']['q100']:,.2f}; fund drawdown p50/p90/max "
                   f"{o['fund_drawdown']['q50']:.1%} / {o['fund_drawdown']['q90']:.1%} / "
                   f"{o['fund_drawdown']['q100']:.1%}; reconciled: {'yes' if o['reconciled'] else 'NO'}")
    if o.get("chain_points"):
        click.echo(f"{o['chain_points']} point(s) on the chain, the same figures as on the model: "
                   f"{'yes' if o['same_as_model'] else 'NO'}")
    for name, p in res.summary["policies"].items():
        share = "-" if p["max_equity_share"] is None else f"{p['max_equity_share']:.1%}"
        click.echo(f"  {name:<12} runs {p['points']:>4}  hit {p['accounts_hit']:>7.1f}  max h/E {share:>6}  "
                   f"Gini event {p['gini_event'] if p['gini_event'] is None else round(p['gini_event'], 3)}")
    for f in res.files:
        click.echo(f"wrote {f}")
    if not o.get("reconciled", True) or not o.get("same_as_model", True) or \
            any(p["queue_matches"] is False for p in res.summary["policies"].values()):
        sys.exit(EXIT_FINDINGS)


# ------------------------------------------------------------------------------------------------ devnet


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), help="port (default: a free one)")
@click.option("--base-fee", type=click.IntRange(0), help="base fee in wei (default: Anvil's, EIP-1559)")
def devnet(port, base_fee):
    """Start a fresh Anvil and keep it until Ctrl-C (stops the wrapper and the native node on exit)."""
    import time

    from .devnet import Devnet, DevnetError

    try:
        node = Devnet(port=port, base_fee=base_fee).start()
    except DevnetError as exc:
        raise Fail(str(exc)) from None
    click.echo(f"devnet at {node.url} (chain id 31337); Ctrl-C stops it")
    try:
        while node.proc and node.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()


if __name__ == "__main__":
    main()
