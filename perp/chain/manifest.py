"""The deployment record: one JSON manifest per deployment (``deployments/<network>-<chainid>.json``), written by
``perp.deploy`` (and so by ``scripts/deploy.py``), read by the audit, the keeper, the queue command and any tool."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eth_utils import is_address

REQUIRED = ("chain_id", "perpetual", "lens", "collateral")


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file and the problem."""


@dataclass
class Manifest:
    """Addresses and parameters of one deployment. ``markets``: name -> {"id", "oracle", "params"} (params as a
    dict of ``perp.params.MarketParams`` fields)."""

    chain_id: int
    perpetual: str
    lens: str
    collateral: str
    collateral_decimals: int = 0
    network: str = ""
    block: int = 0
    deployed_at: int = 0
    deployer: str = ""
    rpc: str = ""
    libraries: dict = field(default_factory=dict)  # name -> address
    markets: dict = field(default_factory=dict)

    def market_id(self, name: str) -> int:
        try:
            return int(self.markets[name]["id"])
        except KeyError:
            known = ", ".join(sorted(self.markets)) or "none"
            raise ManifestError(f"no market {name!r} in this deployment (markets: {known})") from None

    def market_name(self, market_id: int) -> str:
        for name, m in self.markets.items():
            if int(m["id"]) == int(market_id):
                return name
        return f"market {market_id}"

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_dict(cls, data, where: str = "manifest") -> "Manifest":
        if not isinstance(data, dict):
            raise ManifestError(f"{where} must be a JSON object, got {type(data).__name__}")
        missing = [k for k in REQUIRED if data.get(k) in (None, "")]
        if missing:
            raise ManifestError(f"{where} lacks {', '.join(missing)} (is it a deployment manifest written by "
                                f"`perp deploy` or scripts/deploy.py?)")
        for key in ("perpetual", "lens", "collateral"):
            if not is_address(str(data[key])):
                raise ManifestError(f"{where}: {key} is not an address: {data[key]!r}")
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        try:
            values["chain_id"] = int(values["chain_id"])
        except (TypeError, ValueError):
            raise ManifestError(f"{where}: chain_id must be an integer, got {data['chain_id']!r}") from None
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        path = Path(path)
        if not path.exists():
            raise ManifestError(f"manifest not found: {path}\n  deploy first (`perp deploy`, `make deploy` or "
                                f"`brownie run scripts/deploy.py`), which writes deployments/<network>-<chainid>.json")
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestError(f"manifest {path} is not readable JSON: {exc}") from None
        return cls.from_dict(data, where=f"manifest {path}")
