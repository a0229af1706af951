"""The trader population of a crash scenario, as plain data (no chain): every trader's key, market, side,
leverage, notional and deposit; the bystanders who only hold free collateral; the market maker who takes the other
side of every opening fill. The same scenario and seed always give the same population."""
from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from eth_keys import keys
from eth_utils import keccak

from .core import WAD, div_up


@dataclass
class Trader:
    index: int
    key: bytes
    address: str
    market: str
    is_long: bool
    leverage: int  # WAD
    notional: int  # collateral units at entry
    deposit: int
    entry_round: int
    role: str = "trader"
    nonce: int = 0  # the last order nonce this account signed


@dataclass
class Population:
    traders: list
    bystanders: list
    makers: tuple  # (bid, ask): the market maker that buys from the shorts, the one that sells to the longs

    @property
    def everyone(self) -> list:
        return self.traders + self.bystanders + list(self.makers)


def trader_key(seed: int, index: int, tag: bytes = b"trader") -> bytes:
    return keccak(b"adl-sim/" + tag + seed.to_bytes(8, "big") + index.to_bytes(8, "big"))


def address_of(key: bytes) -> str:
    """The checksummed address of a private key (what ``eth_account.address_of(key)`` gives, without
    building the signing account: the reference-model simulation needs only the addresses)."""
    return keys.PrivateKey(key).public_key.to_checksum_address()


def build(scn) -> Population:
    """The population of scenario ``scn`` (see scenarios/README.md, ``traders``)."""
    pop = scn.population
    rng = random.Random(pop.seed)
    weights = [float(m.weight) for m in scn.markets]
    one = 10**scn.decimals
    traders = []
    for i in range(pop.count):
        market = rng.choices(scn.markets, weights=weights)[0]
        is_long = rng.random() < pop.long_share
        lev = max(1.0, pop.leverage.sample(rng))
        max_lev = market.params.get("max_leverage", (20 if not market.name.startswith("BTC") else 25) * WAD)
        # 2% under the market's maximum: at exactly 1/imr the initial-margin check (notional rounded up) can
        # miss by one unit against a margin posted on the fill's notional (rounded down).
        leverage = min(int(Decimal(str(round(lev, 4))) * WAD), max_lev * 98 // 100)
        notional = max(int(pop.notional.sample(rng) * one), one)
        margin = div_up(notional * WAD, leverage)
        deposit = margin + notional // 100 + one  # margin + 1% for fees and rounding
        key = trader_key(pop.seed, i)
        traders.append(Trader(i, key, address_of(key), market.name, is_long, leverage, notional, deposit,
                              rng.randrange(pop.entry_rounds)))
    bystanders = []
    for j in range(pop.bystanders):
        key = trader_key(pop.seed, j, b"bystander")
        amount = (1_000 + 100 * j) * one
        bystanders.append(Trader(j, key, address_of(key), "", False, 0, 0, amount, 0, "bystander"))
    # One maker per side, so that each one's position only grows as the cohorts open: a single maker taking both
    # sides hovers around a flat position and sooner or later lands below the market's minimum position notional.
    gross = sum(t.notional for t in traders)
    makers = []
    for i in range(2):
        key = trader_key(pop.seed, i, b"maker")
        makers.append(Trader(i, key, address_of(key), "", False, 2 * WAD, gross, gross, 0, "market-maker"))
    return Population(traders, bystanders, tuple(makers))


def opening_order(cohort: list) -> list:
    """Longs and shorts alternated (each side against its own maker)."""
    longs = [t for t in cohort if t.is_long]
    shorts = [t for t in cohort if not t.is_long]
    return [t for pair in zip(longs, shorts) for t in pair] + longs[len(shorts):] + shorts[len(longs):]
