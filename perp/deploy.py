"""Deploys and configures the protocol from the compiled artifacts with web3.py and eth-account alone, and writes
the deployment manifest. The Brownie script ``scripts/deploy.py`` and the ``perp deploy`` command both call this,
so there is one deployment path.

    from perp.chain import Rpc, Sender
    from perp.deploy import deploy_devnet, write_manifest

    rpc = Rpc.http("http://127.0.0.1:8545")
    sender = Sender(rpc, private_key=KEY)          # or Sender(rpc, address=unlocked_account) on a devnet
    manifest = deploy_devnet(sender)                # mock collateral and feeds, protocol, lens, 2 markets, seeded funds
    write_manifest(manifest)                        # deployments/devnet-31337.json

A devnet deployment has a 6-decimal mock stablecoin with a faucet, one mock Chainlink feed per market (ETH-PERP at
2,000 and BTC-PERP at 60,000, 8 decimals), the parameter library, the protocol and its lens, both markets listed and
each insurance fund seeded. ``deploy_live`` deploys against an existing ERC-20 collateral and existing feeds from a
YAML plan (``load_plan``), after ``plan_text`` has shown every parameter.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from eth_abi import encode
from eth_utils import is_address, to_checksum_address

from .chain.abi import PACKAGE_ROOT, abi_type, linked_bytecode, load_artifact, protocol_abi
from .chain.manifest import Manifest
from .chain.rpc import Contract, Rpc
from .chain.tx import Sender, TxError
from .params import MarketParams, default_params
from .units import units

ORACLE_DECIMALS = 8
DEVNET_MARKETS = (("ETH-PERP", 2_000), ("BTC-PERP", 60_000))
DEV_CHAIN_IDS = {31337, 1337}


class DeployError(RuntimeError):
    """A deployment that cannot go ahead (bad plan, missing artifact, refused transaction); nothing further is
    sent after it."""


@dataclass
class Deployment:
    """What ``deploy_devnet`` / ``deploy_live`` made: the manifest plus contract clients for the next steps."""

    manifest: Manifest
    perp: Contract
    lens: Contract
    token: Contract
    oracles: dict = field(default_factory=dict)  # market name -> Contract (MockAggregator on a devnet)


def deploy_contract(sender: Sender, name: str, *args, libraries: dict | None = None) -> Contract:
    """Deploys contract ``name`` from ``build/contracts/<name>.json`` with constructor ``args``; returns a client."""
    art = load_artifact(name)
    ctor = next((i for i in art["abi"] if i.get("type") == "constructor"), None)
    types = [abi_type(i) for i in ctor["inputs"]] if ctor else []
    if len(types) != len(args):
        raise DeployError(f"{name} takes {len(types)} constructor argument(s) ({', '.join(types)}), got {len(args)}")
    data = linked_bytecode(name, libraries or {}) + (encode(types, list(args)).hex() if types else "")
    try:
        receipt = sender.send(None, data)
    except TxError as exc:
        raise DeployError(f"deploying {name} failed: {exc}") from None
    return Contract(sender.rpc, receipt["contractAddress"], art["abi"])


def deploy_protocol(sender: Sender, collateral: str) -> tuple[Contract, dict]:
    """The protocol's three parts in order (the library, PerpetualAdmin, PerpetualRisk, then Perpetual, owned by
    the sender); returns the client of the Perpetual address with the whole protocol's ABI, and the addresses of
    the library and the two forwarded-to parts (recorded in the manifest's ``libraries``)."""
    lib = deploy_contract(sender, "MarketParamsLib")
    admin = deploy_contract(sender, "PerpetualAdmin", collateral, libraries={"MarketParamsLib": lib.address})
    risk = deploy_contract(sender, "PerpetualRisk", collateral, admin.address)
    perp = deploy_contract(sender, "Perpetual", collateral, sender.address, risk.address)
    parts = {"MarketParamsLib": lib.address, "PerpetualAdmin": admin.address, "PerpetualRisk": risk.address}
    return Contract(sender.rpc, perp.address, protocol_abi()), parts


def _send(sender: Sender, contract: Contract, fn: str, *args) -> dict:
    try:
        return sender.transact(contract, fn, *args)
    except TxError as exc:
        raise DeployError(f"{fn} failed: {exc}") from None


def list_market(sender: Sender, perp: Contract, name: str, oracle: str, params: MarketParams) -> int:
    """Lists a market (``createMarket``); the parameters are checked here first with readable messages."""
    problems = params.problems()
    if problems:
        raise DeployError(f"market {name}: " + "; ".join(problems))
    receipt = _send(sender, perp, "createMarket", name, to_checksum_address(oracle), params.as_tuple())
    for log in receipt["logs"]:
        decoded = perp.decode_log(log)
        if decoded and decoded[0] == "MarketCreated":
            return decoded[1]["marketId"]
    raise DeployError(f"createMarket({name}) emitted no MarketCreated event")


def top_up_fund(sender: Sender, perp: Contract, token: Contract, market_id: int, amount: int,
                faucet: bool = False) -> None:
    """Adds ``amount`` collateral units to a market's insurance fund (minting them first on a mock token)."""
    if amount <= 0:
        return
    if faucet:
        _send(sender, token, "faucet", sender.address, amount)
    _send(sender, token, "approve", perp.address, amount)
    _send(sender, perp, "topUpFund", market_id, amount)


def set_market_params(sender: Sender, perp: Contract, market_id: int, params: MarketParams) -> None:
    problems = params.problems()
    if problems:
        raise DeployError(f"market {market_id}: " + "; ".join(problems))
    _send(sender, perp, "setMarketParams", market_id, params.as_tuple())


def set_funding_params(sender: Sender, perp: Contract, market_id: int, params) -> None:
    """``setFundingParams`` (``perp.params.FundingParams``), its bounds checked here first with readable messages."""
    problems = params.problems()
    if problems:
        raise DeployError(f"market {market_id} funding: " + "; ".join(problems))
    _send(sender, perp, "setFundingParams", market_id, params.as_tuple())


def _manifest(sender: Sender, network: str, rpc_url: str, perp, lens, token, libraries, decimals, markets) -> Manifest:
    rpc = sender.rpc
    return Manifest(chain_id=rpc.chain_id(), perpetual=perp.address, lens=lens.address, collateral=token.address,
                    collateral_decimals=decimals, network=network, block=rpc.block_number(),
                    deployed_at=int(time.time()), deployer=sender.address, rpc=rpc_url, libraries=libraries,
                    markets=markets)


def deploy_devnet(sender: Sender, decimals: int = 6, markets=DEVNET_MARKETS, fund_seed: int | None = None,
                  params_override: dict | None = None, network: str = "devnet", rpc_url: str = "") -> Deployment:
    """A complete devnet: mock collateral (``decimals``), one mock feed per ``(name, price)`` market, the library,
    the protocol, the lens, the markets listed with ``perp.params.default_params`` (plus ``params_override``) and
    each fund seeded with ``fund_seed`` units (100,000 by default)."""
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 18:
        raise DeployError(f"collateral decimals must be an integer within 0..18, got {decimals!r}")
    params_override = params_override or {}
    unknown = sorted(set(params_override) - set(MarketParams.__dataclass_fields__))
    if unknown:
        raise DeployError(f"unknown market parameter(s) {', '.join(unknown)} (known: "
                          f"{', '.join(MarketParams.__dataclass_fields__)})")
    plans = []
    for name, price in markets:
        params = default_params(name, decimals).with_(**params_override)
        problems = params.problems(decimals)
        if problems:
            raise DeployError(f"market {name}: " + "; ".join(problems))
        answer = Decimal(str(price)) * 10**ORACLE_DECIMALS
        if answer <= 0 or answer != answer.to_integral_value():
            raise DeployError(f"market {name}: start price must be positive with at most {ORACLE_DECIMALS} decimals, "
                              f"got {price}")
        plans.append((name, int(answer), params))
    seed = units("100000", decimals) if fund_seed is None else int(fund_seed)
    token = deploy_contract(sender, "MockStablecoin", "Mock USD", "mUSD", decimals)
    perp, libraries = deploy_protocol(sender, token.address)
    lens = deploy_contract(sender, "PerpLens", perp.address)
    listed, oracles = {}, {}
    for name, answer, params in plans:
        oracle = deploy_contract(sender, "MockAggregator", ORACLE_DECIMALS, f"{name} / USD (mock)", answer,
                                 sender.address)
        mid = list_market(sender, perp, name, oracle.address, params)
        top_up_fund(sender, perp, token, mid, seed, faucet=True)
        listed[name] = {"id": mid, "oracle": oracle.address, "params": asdict(params)}
        oracles[name] = oracle
    manifest = _manifest(sender, network, rpc_url, perp, lens, token, libraries, decimals, listed)
    return Deployment(manifest, perp, lens, token, oracles)


# ------------------------------------------------------------------------------------------------ live networks


@dataclass
class MarketPlan:
    name: str
    oracle: str
    params: MarketParams


@dataclass
class Plan:
    """A live deployment: the collateral token, the markets with their feeds and parameters, the fund seed."""

    collateral: str
    decimals: int
    markets: list
    fund_seed: int = 0  # collateral units per market, paid by the deployer
    deployer: str = ""  # a Brownie account name (scripts/deploy.py only)
    # L2: the network's Chainlink sequencer-uptime feed; each market is then listed behind a SequencerGuardedFeed
    sequencer_uptime_feed: str = ""
    sequencer_grace_period: int = 3600  # seconds (at most a day)


def load_plan(raw: dict, decimals: int, where: str = "plan") -> Plan:
    """Validates a deployment file (``PERP_CONFIG``)::

        collateral: 0x...                # an ERC-20 with 0..18 decimals, no fee on transfer
        fund_seed: "10000"               # optional, human units per market, paid by the deployer
        sequencer_uptime_feed: 0x...     # optional (L2): markets are listed behind a SequencerGuardedFeed
        sequencer_grace_period: 3600     # optional, seconds after the sequencer is back up (0..86400)
        markets:
          - {name: ETH-PERP, oracle: 0x...}            # defaults from perp.params, overridable per field
          - {name: BTC-PERP, oracle: 0x..., imr: "40000000000000000"}

    ``decimals``: the collateral's ``decimals()``. Every problem is a ``DeployError`` naming the field."""
    if not isinstance(raw, dict):
        raise DeployError(f"{where}: must be a mapping (collateral, markets, fund_seed)")
    collateral = raw.get("collateral")
    if not is_address(str(collateral)):
        raise DeployError(f"{where}.collateral: must be the collateral token's address, got {collateral!r}")
    markets = raw.get("markets")
    if not isinstance(markets, list) or not markets:
        raise DeployError(f"{where}.markets: must list at least one market ({{name, oracle, overrides...}})")
    plans, known = [], set(MarketParams.__dataclass_fields__)
    for i, m in enumerate(markets):
        w = f"{where}.markets[{i}]"
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m.get("name"):
            raise DeployError(f"{w}: needs a name")
        if not is_address(str(m.get("oracle"))):
            raise DeployError(f"{w}.oracle: must be the feed's address, got {m.get('oracle')!r}")
        overrides = {}
        for k, v in m.items():
            if k in ("name", "oracle"):
                continue
            if k not in known:
                raise DeployError(f"{w}.{k}: not a market parameter (known: {', '.join(sorted(known))})")
            try:
                overrides[k] = int(str(v))
            except ValueError:
                raise DeployError(f"{w}.{k}: must be an integer in contract units, got {v!r}") from None
        params = default_params(m["name"], decimals).with_(**overrides)
        problems = params.problems(decimals)
        if problems:
            raise DeployError(f"{w} ({m['name']}): " + "; ".join(problems))
        plans.append(MarketPlan(m["name"], to_checksum_address(m["oracle"]), params))
    try:
        seed = units(str(raw.get("fund_seed", "0")), decimals)
    except (ValueError, InvalidOperation):
        raise DeployError(f"{where}.fund_seed: must be a number of collateral units, got {raw.get('fund_seed')!r}")
    if seed < 0:
        raise DeployError(f"{where}.fund_seed: must not be negative")
    feed, grace = raw.get("sequencer_uptime_feed", ""), raw.get("sequencer_grace_period", 3600)
    if feed and not is_address(str(feed)):
        raise DeployError(f"{where}.sequencer_uptime_feed: must be the uptime feed's address, got {feed!r}")
    try:
        grace = int(str(grace))
    except ValueError:
        raise DeployError(f"{where}.sequencer_grace_period: must be a whole number of seconds, got {grace!r}") from None
    if not 0 <= grace <= 86_400:
        raise DeployError(f"{where}.sequencer_grace_period: must be within [0, 86400] seconds, got {grace}")
    return Plan(to_checksum_address(collateral), decimals, plans, seed, str(raw.get("deployer", "")),
                to_checksum_address(feed) if feed else "", grace)


def plan_text(plan: Plan, sender_address: str, chain_id: int) -> str:
    """Every parameter of a live deployment, printed before anything is sent."""
    lines = [f"chain id {chain_id}, deployer {sender_address}",
             f"collateral {plan.collateral} ({plan.decimals} decimals), fund seed {plan.fund_seed} units per market"]
    if plan.sequencer_uptime_feed:
        lines.append(f"sequencer uptime feed {plan.sequencer_uptime_feed}, grace period {plan.sequencer_grace_period} s: "
                     f"each market's oracle behind a SequencerGuardedFeed")
    for m in plan.markets:
        lines.append(f"  {m.name}: oracle {m.oracle}")
        for k, v in asdict(m.params).items():
            lines.append(f"      {k:24} {v}")
    return "\n".join(lines)


def deploy_live(sender: Sender, plan: Plan, network: str = "", rpc_url: str = "") -> Deployment:
    """Deploys the library, protocol and lens against ``plan.collateral``, lists the plan's markets and seeds
    their funds from the deployer's balance."""
    from .chain.abi import load_abi

    token = Contract(sender.rpc, plan.collateral, load_abi("ERC20"))
    perp, libraries = deploy_protocol(sender, plan.collateral)
    lens = deploy_contract(sender, "PerpLens", perp.address)
    listed = {}
    for m in plan.markets:
        oracle, extra = m.oracle, {}
        if plan.sequencer_uptime_feed:  # L2: the market reads its price through the sequencer guard
            guard = deploy_contract(sender, "SequencerGuardedFeed", m.oracle, plan.sequencer_uptime_feed,
                                    plan.sequencer_grace_period)
            oracle, extra = guard.address, {"price_feed": m.oracle, "sequencer_uptime_feed": plan.sequencer_uptime_feed}
        mid = list_market(sender, perp, m.name, oracle, m.params)
        top_up_fund(sender, perp, token, mid, plan.fund_seed)
        listed[m.name] = {"id": mid, "oracle": oracle, **extra, "params": asdict(m.params)}
    manifest = _manifest(sender, network, rpc_url, perp, lens, token, libraries, plan.decimals, listed)
    return Deployment(manifest, perp, lens, token)


def manifest_path(manifest: Manifest, folder: str | Path | None = None) -> Path:
    """``<folder>/<network>-<chainid>.json``; the folder defaults to the project's ``deployments/`` (or
    ``./deployments`` for a library installed elsewhere)."""
    if folder is None:
        folder = PACKAGE_ROOT / "deployments" if (PACKAGE_ROOT / "deployments").is_dir() else Path("deployments")
    return Path(folder) / f"{manifest.network or 'network'}-{manifest.chain_id}.json"


def write_manifest(manifest: Manifest, path: str | Path | None = None) -> Path:
    return manifest.write(path or manifest_path(manifest))


def connect(url: str, timeout: float = 30) -> Rpc:
    """An ``Rpc`` for a node URL (http(s)://), checked to answer ``eth_chainId``."""
    from .chain.rpc import RpcError

    if not url.startswith(("http://", "https://")):
        raise DeployError(f"{url}: use the node's HTTP URL (http://host:port)")
    rpc = Rpc.http(url, timeout)
    try:
        rpc.chain_id()
    except RpcError as exc:
        raise DeployError(f"the node at {url} refused eth_chainId: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any transport error means the node does not answer
        text = str(exc)
        reason = "connection refused" if ("Errno 111" in text or "refused" in text.lower()) else (
            "timed out" if "timed out" in text.lower() else f"{type(exc).__name__}: {text[:160]}")
        raise DeployError(f"cannot reach an Ethereum node at {url}: {reason}") from None
    return rpc
