"""Deploys and configures the protocol, prints what it did and writes a deployment manifest.

    brownie run scripts/deploy.py                        # local Anvil devnet (started by Brownie)
    PERP_CONFIG=deploy.yaml brownie run scripts/deploy.py --network <any-brownie-network>

On the devnet it deploys a 6-decimal mock stablecoin with a faucet, one mock Chainlink feed per market
(ETH-PERP at 2,000 and BTC-PERP at 60,000), the library, the protocol and its lens, lists both markets and
seeds each insurance fund. On any other network it reads a YAML file named by ``PERP_CONFIG``:

    deployer: my-brownie-account     # a name for `brownie accounts load` (or set PERP_DEPLOYER_KEY)
    collateral: 0x...                # an ERC20 with 0..18 decimals, no fee on transfer
    fund_seed: "10000"               # optional, human units per market, paid by the deployer
    markets:
      - {name: ETH-PERP, oracle: 0x...}            # defaults from perp.params, overridable per field
      - {name: BTC-PERP, oracle: 0x..., imr: "40000000000000000"}

and prints every parameter before sending anything.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from brownie import (
    MarketParamsLib,
    MockAggregator,
    MockStablecoin,
    Perpetual,
    PerpLens,
    accounts,
    chain,
    network,
)

import scripts.brownie_compat  # noqa: F401  (Brownie's "Tx dropped" race on Anvil)
from perp.params import MarketParams, default_params
from perp.units import units

DEV_NETWORKS = {"development", "anvil", "hardhat", "ganache"}
ROOT = Path(__file__).resolve().parent.parent
ORACLE_DECIMALS = 8
DEVNET_MARKETS = (("ETH-PERP", 2_000), ("BTC-PERP", 60_000))


@dataclass
class Deployment:
    """Everything a script or a test needs about one deployment."""

    perp: object
    lens: object
    token: object
    markets: dict = field(default_factory=dict)  # name -> {"id", "oracle", "params"}
    deployer: object = None

    def market_id(self, name: str) -> int:
        return self.markets[name]["id"]

    def oracle(self, name: str):
        return self.markets[name]["oracle"]


def is_devnet() -> bool:
    """A local development network: one Brownie launches itself (it has a `cmd`), or a known dev name."""
    from brownie._config import CONFIG  # noqa: PLC0415

    return "cmd" in CONFIG.active_network or network.show_active() in DEV_NETWORKS


def get_deployer():
    """The deploying account for the active network."""
    if is_devnet():
        return accounts[0]
    key = os.environ.get("PERP_DEPLOYER_KEY")
    if key:
        return accounts.add(key)
    name = _config().get("deployer")
    if not name:
        sys.exit("set PERP_DEPLOYER_KEY or `deployer:` in the PERP_CONFIG file to deploy on a live network")
    return accounts.load(name)


def deploy_devnet(
    deployer=None,
    decimals: int = 6,
    markets=DEVNET_MARKETS,
    fund_seed: int | None = None,
    params_override: dict | None = None,
    quiet: bool = False,
) -> Deployment:
    """Deploys a complete devnet: mock collateral, mock feeds, protocol, lens, listed markets, seeded funds."""
    deployer = deployer or accounts[0]
    tx = {"from": deployer}
    token = MockStablecoin.deploy("Mock USD", "mUSD", decimals, tx, publish_source=False)
    MarketParamsLib.deploy(tx)
    perp = Perpetual.deploy(token, deployer, tx)
    lens = PerpLens.deploy(perp, tx)
    dep = Deployment(perp=perp, lens=lens, token=token, deployer=deployer)
    seed = units("100000", decimals) if fund_seed is None else fund_seed
    for name, price in markets:
        oracle = MockAggregator.deploy(ORACLE_DECIMALS, f"{name} / USD (mock)", price * 10**ORACLE_DECIMALS, deployer, tx)
        params = default_params(name, decimals).with_(**(params_override or {}))
        _list_market(dep, name, oracle, params, tx)
        if seed:
            token.faucet(deployer, seed, tx)
            token.approve(perp, seed, tx)
            perp.topUpFund(dep.market_id(name), seed, tx)
    if not quiet:
        _print_deployment(dep)
    return dep


def _list_market(dep: Deployment, name: str, oracle, params: MarketParams, tx) -> None:
    problems = params.problems()
    if problems:
        raise ValueError(f"market {name}: " + "; ".join(problems))
    receipt = dep.perp.createMarket(name, oracle, params.as_tuple(), tx)
    market_id = receipt.events["MarketCreated"]["marketId"]
    dep.markets[name] = {"id": market_id, "oracle": oracle, "params": params}


def deploy_live() -> Deployment:
    """Deploys to a live network from the PERP_CONFIG file, printing every parameter before sending."""
    cfg = _config()
    from brownie import Contract, interface  # noqa: PLC0415

    collateral = interface.IERC20Metadata(cfg["collateral"])
    decimals = collateral.decimals()
    deployer = get_deployer()
    plan = []
    for m in cfg.get("markets", []):
        params = default_params(m["name"], decimals)
        overrides = {k: int(v) for k, v in m.items() if k not in ("name", "oracle")}
        params = params.with_(**overrides)
        problems = params.problems()
        if problems:
            sys.exit(f"market {m['name']}: " + "; ".join(problems))
        plan.append((m["name"], m["oracle"], params))
    print(f"Network {network.show_active()} (chain id {chain.id}), deployer {deployer}")
    print(f"Collateral {cfg['collateral']} ({decimals} decimals)")
    for name, oracle, params in plan:
        print(f"  {name}: oracle {oracle}")
        for k, v in asdict(params).items():
            print(f"      {k:24} {v}")
    tx = {"from": deployer}
    MarketParamsLib.deploy(tx)
    perp = Perpetual.deploy(collateral, deployer, tx)
    lens = PerpLens.deploy(perp, tx)
    dep = Deployment(perp=perp, lens=lens, token=collateral, deployer=deployer)
    for name, oracle, params in plan:
        _list_market(dep, name, Contract.from_abi("AggregatorV3Interface", oracle, interface.AggregatorV3Interface.abi), params, tx)
    seed = units(str(cfg.get("fund_seed", "0")), decimals)
    if seed:
        for name in dep.markets:
            collateral.approve(perp, seed, tx)
            perp.topUpFund(dep.market_id(name), seed, tx)
    _print_deployment(dep)
    return dep


def _config() -> dict:
    path = os.environ.get("PERP_CONFIG")
    if not path:
        sys.exit(f"network {network.show_active()} is not a devnet: name a deployment file with PERP_CONFIG")
    import yaml  # noqa: PLC0415

    return yaml.safe_load(Path(path).read_text())


def manifest(dep: Deployment) -> dict:
    return {
        "network": network.show_active(),
        "chain_id": chain.id,
        "block": chain.height,
        "deployed_at": int(time.time()),
        "deployer": str(dep.deployer),
        "perpetual": dep.perp.address,
        "lens": dep.lens.address,
        "collateral": dep.token.address,
        "collateral_decimals": dep.perp.collateralDecimals(),
        "markets": {
            name: {"id": m["id"], "oracle": m["oracle"].address, "params": asdict(m["params"])}
            for name, m in dep.markets.items()
        },
    }


def write_manifest(dep: Deployment, path: Path | None = None) -> Path:
    data = manifest(dep)
    path = path or ROOT / "deployments" / f"{data['network']}-{data['chain_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def _print_deployment(dep: Deployment) -> None:
    print(f"\nDeployed on {network.show_active()} (chain id {chain.id})")
    print(f"  Perpetual   {dep.perp.address}")
    print(f"  PerpLens    {dep.lens.address}")
    print(f"  collateral  {dep.token.address} ({dep.perp.collateralDecimals()} decimals)")
    for name, m in dep.markets.items():
        fund = dep.lens.fundState(m["id"])
        p = m["params"]
        print(
            f"  market {m['id']} {name:9} oracle {m['oracle'].address}  mark {dep.perp.markPrice(m['id']) / 1e18:,.2f}"
            f"  imr {p.imr / 1e16:.1f}%  mmr {p.mmr / 1e16:.1f}%  max {p.max_leverage // 10**18}x"
            f"  fund cash {fund[0] / 10 ** dep.perp.collateralDecimals():,.2f}"
        )


def main():
    dep = deploy_devnet(get_deployer()) if is_devnet() else deploy_live()
    path = write_manifest(dep)
    print(f"\nManifest written to {path.relative_to(ROOT)}")
    return dep
