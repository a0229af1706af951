"""Deploys and configures the protocol, prints what it did and writes a deployment manifest: the Brownie face of
``perp.deploy`` (one deployment path; this script only picks the account and wraps the result in Brownie contract
objects for scripts and tests).

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

and prints every parameter before sending anything. Without Brownie: ``perp deploy --rpc URL`` (see README).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from brownie import (Contract, MarketParamsLib, MockAggregator, MockStablecoin, Perpetual, PerpetualAdmin, PerpetualRisk,
                     PerpLens, accounts, network, web3)

import scripts.brownie_compat  # noqa: F401  (Brownie's own confirmation path, made correct on Anvil)
from perp import deploy as core_deploy
from perp.chain import Manifest, Rpc, Sender
from perp.chain.abi import load_abi
from perp.deploy import DEVNET_MARKETS, ORACLE_DECIMALS  # noqa: F401  (re-exported for scripts and tests)
from perp.params import MarketParams

DEV_NETWORKS = {"development", "anvil", "hardhat", "ganache"}
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Deployment:
    """Everything a script or a test needs about one deployment (Brownie contract objects)."""

    perp: object
    lens: object
    token: object
    markets: dict = field(default_factory=dict)  # name -> {"id", "oracle", "params"}
    deployer: object = None
    manifest: Manifest | None = None

    def market_id(self, name: str) -> int:
        return self.markets[name]["id"]

    def oracle(self, name: str):
        return self.markets[name]["oracle"]


def is_devnet() -> bool:
    """A local development network: one Brownie launches itself (it has a `cmd`), or a known dev name."""
    from brownie._config import CONFIG  # noqa: PLC0415

    return "cmd" in CONFIG.active_network or network.show_active() in DEV_NETWORKS


def sender_for(account) -> Sender:
    """The ``perp.chain.Sender`` of a Brownie account: local signing when it holds a private key, the node's
    unlocked account otherwise."""
    rpc = Rpc(web3)
    key = getattr(account, "private_key", None)
    return Sender(rpc, private_key=key) if key else Sender(rpc, address=str(account))


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


def _wrap(made, deployer, oracle_container) -> Deployment:
    m = made.manifest
    m.network = network.show_active()
    # Known to Brownie, so that PerpetualAdmin.deploy(...) in tests links to the library, and Brownie decodes calls to
    # the parts; the protocol itself is the Perpetual address with the ABI of all three parts (perp.chain.abi).
    MarketParamsLib.at(m.libraries["MarketParamsLib"])
    PerpetualAdmin.at(m.libraries["PerpetualAdmin"])
    PerpetualRisk.at(m.libraries["PerpetualRisk"])
    perp = Contract.from_abi("Perpetual", m.perpetual, load_abi("Perpetual"))
    dep = Deployment(perp=perp, lens=PerpLens.at(m.lens), token=None, deployer=deployer, manifest=m)
    for name, info in m.markets.items():
        dep.markets[name] = {"id": info["id"], "oracle": oracle_container(info["oracle"]),
                             "params": MarketParams(**info["params"])}
    return dep


def deploy_protocol(token, deployer):
    """The protocol's three parts for `token` through Brownie (tests that need a deployment on another token):
    PerpetualAdmin, PerpetualRisk, then Perpetual owned by `deployer`; returns the Perpetual address as a Brownie
    contract with the whole protocol's ABI."""
    admin = PerpetualAdmin.deploy(token, {"from": deployer})
    risk = PerpetualRisk.deploy(token, admin, {"from": deployer})
    perp = Perpetual.deploy(token, deployer, risk, {"from": deployer})
    return Contract.from_abi("Perpetual", perp.address, load_abi("Perpetual"))


def deploy_devnet(deployer=None, decimals: int = 6, markets=DEVNET_MARKETS, fund_seed: int | None = None,
                  params_override: dict | None = None, quiet: bool = False) -> Deployment:
    """Deploys a complete devnet through ``perp.deploy.deploy_devnet``: mock collateral, mock feeds, protocol,
    lens, listed markets, seeded funds."""
    deployer = deployer or accounts[0]
    made = core_deploy.deploy_devnet(sender_for(deployer), decimals=decimals, markets=markets, fund_seed=fund_seed,
                                     params_override=params_override, network=network.show_active())
    dep = _wrap(made, deployer, MockAggregator.at)
    dep.token = MockStablecoin.at(made.manifest.collateral)
    if not quiet:
        _print_deployment(dep)
    return dep


def deploy_live() -> Deployment:
    """Deploys to a live network from the PERP_CONFIG file, printing every parameter before sending."""
    from brownie import interface  # noqa: PLC0415

    cfg = _config()
    collateral = interface.IERC20Metadata(cfg["collateral"]) if cfg.get("collateral") else None
    decimals = collateral.decimals() if collateral else 0
    try:
        plan = core_deploy.load_plan(cfg, decimals, where=os.environ["PERP_CONFIG"])
    except core_deploy.DeployError as exc:
        sys.exit(str(exc))
    deployer = get_deployer()
    sender = sender_for(deployer)
    print(f"Network {network.show_active()}")
    print(core_deploy.plan_text(plan, sender.address, sender.chain_id))
    made = core_deploy.deploy_live(sender, plan, network=network.show_active())

    def feed(address):
        return Contract.from_abi("AggregatorV3Interface", address, interface.AggregatorV3Interface.abi)

    dep = _wrap(made, deployer, feed)
    dep.token = collateral
    _print_deployment(dep)
    return dep


def _config() -> dict:
    path = os.environ.get("PERP_CONFIG")
    if not path:
        sys.exit(f"network {network.show_active()} is not a devnet: name a deployment file with PERP_CONFIG")
    import yaml  # noqa: PLC0415

    if not Path(path).exists():
        sys.exit(f"PERP_CONFIG={path}: no such file")
    return yaml.safe_load(Path(path).read_text()) or {}


def manifest(dep: Deployment) -> dict:
    return dep.manifest.to_dict()


def write_manifest(dep: Deployment, path: Path | None = None) -> Path:
    return core_deploy.write_manifest(dep.manifest, path)


def _print_deployment(dep: Deployment) -> None:
    from perp.chain import PerpClient  # noqa: PLC0415

    m = dep.manifest
    client = PerpClient(web3, m.perpetual, m.lens, m.collateral)
    one = 10**m.collateral_decimals
    print(f"\nDeployed on {network.show_active()} (chain id {m.chain_id})")
    print(f"  Perpetual   {m.perpetual}")
    print(f"  PerpLens    {m.lens}")
    print(f"  collateral  {m.collateral} ({m.collateral_decimals} decimals)")
    for name, info in m.markets.items():
        p = dep.markets[name]["params"]
        mark = client.mark_price(info["id"])
        fund = client.fund(info["id"])
        print(f"  market {info['id']} {name:9} oracle {info['oracle']}  mark {(mark or 0) / 10**18:,.2f}"
              f"  imr {p.imr / 1e16:.1f}%  mmr {p.mmr / 1e16:.1f}%  max {p.max_leverage // 10**18}x"
              f"  fund cash {fund.cash / one:,.2f}")


def main():
    dep = deploy_devnet(get_deployer()) if is_devnet() else deploy_live()
    path = write_manifest(dep)
    print(f"\nManifest written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return dep
