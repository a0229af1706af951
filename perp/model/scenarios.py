"""Pure-model runs: a model of the devnet deployment, random action scenarios with the invariants checked after every
step (``python -m perp.model`` prints how many per minute), and a stand-in for ``perp.orders.Order``."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from ..core import WAD, ModelError
from ..orders import Order
from .storage import Match


@dataclass(frozen=True)
class SimpleOrder(Order):
    """``perp.orders.Order`` without its input checks, for pure-model runs that also try malformed orders."""

    def __post_init__(self) -> None:
        pass


def reference_model(decimals: int = 6, fund_seed: int | None = None, now: int = 1_700_000_000, hasher=None):
    """A model of ``scripts/deploy.deploy_devnet``: ETH-PERP at 2,000 (id 1), BTC-PERP at 60,000 (id 2), 8-decimal
    feeds, reference parameters, each fund seeded with ``fund_seed`` (100,000 units by default)."""
    from ..params import default_params

    from . import Model

    model = Model(decimals, hasher)
    seed = 100_000 * 10**decimals if fund_seed is None else fund_seed
    for name, price in (("ETH-PERP", 2_000), ("BTC-PERP", 60_000)):
        mid = model.create_market(default_params(name, decimals), price * 10**8, now)
        if seed:
            model.top_up_fund("0x" + "00" * 19 + "01", mid, seed)
    return model


@dataclass
class ScenarioStats:
    steps: int = 0
    reverts: int = 0
    actions: dict = field(default_factory=dict)
    adl_fills: int = 0
    liquidations: int = 0


def random_scenario(seed: int, steps: int = 40, decimals: int = 6, n_accounts: int = 8, stats=None, fund_seed=None,
                    observe=None):
    """Runs ``steps`` random actions on a fresh reference model and checks ``Model.check()`` after each.
    ``fund_seed``: each fund's starting cash (default: drawn from 0, 500 and 100,000 tokens); ``observe(model)``,
    if given, runs after every step (the step's events are in ``model.events``)."""
    rng = random.Random(seed)
    now = 1_700_000_000
    drawn = rng.choice([0, 500 * 10**decimals, 100_000 * 10**decimals])
    model = reference_model(decimals, fund_seed=drawn if fund_seed is None else fund_seed, now=now)
    one = 10**decimals
    accts = [f"0x{i:040x}" for i in range(1, n_accounts + 1)]
    keeper = "0x" + "ff" * 20
    nonce = 0
    stats = stats or ScenarioStats()
    for a in accts:
        model.deposit(a, rng.randint(100, 20_000) * one)
    for _ in range(steps):
        now += rng.randint(1, 30)
        kind = rng.choices(["trade", "price", "liq", "batch", "t2", "margin", "withdraw", "cancel"],
                           [10, 5, 3, 2, 2, 2, 1, 1])[0]
        stats.actions[kind] = stats.actions.get(kind, 0) + 1
        mid = rng.choice((1, 2))
        m = model.markets[mid]
        mark = m.answer * 10**10
        try:
            if kind == "trade":
                b, s = rng.sample(accts, 2)
                size = rng.randint(1, 10**6) * (10**12 if mid == 1 else 10**10)
                price = mark * rng.randint(9600, 10400) // 10000
                price -= price % 10**16
                nonce += 2
                mk = SimpleOrder(b, mid, True, size, price, rng.randint(1, 20) * WAD, nonce, now + 3600,
                                 rng.random() < 0.1, model.order_epoch(b), True)
                tk = SimpleOrder(s, mid, False, size, price, rng.randint(1, 20) * WAD, nonce + 1, now + 3600,
                                 rng.random() < 0.1, model.order_epoch(s))
                model.settle(Match(mk, tk, size, price), now)
            elif kind == "price":
                model.set_price(mid, max(1, m.answer * rng.randint(70, 130) // 100), now)
            elif kind == "liq":
                holders = model.side_accounts(mid, True) + model.side_accounts(mid, False)
                if holders:
                    model.liquidate(keeper, mid, rng.choice(holders), now)
            elif kind == "batch":
                stats.liquidations += model.liquidate_batch(keeper, mid, accts, now)
            elif kind == "t2":
                model.deleverage_fund(keeper, mid, now)
            elif kind == "margin":
                a = rng.choice(accts)
                if rng.random() < 0.5:
                    model.add_margin(a, mid, rng.randint(1, 500) * one)
                else:
                    model.remove_margin(a, mid, rng.randint(1, 500) * one, now)
            elif kind == "withdraw":
                a = rng.choice(accts)
                model.withdraw(a, rng.randint(1, 2000) * one)
            else:
                model.cancel_all(rng.choice(accts))
        except ModelError:
            stats.reverts += 1
        stats.adl_fills += sum(1 for e in model.events if e[0] == "AdlFill")
        stats.steps += 1
        model.check()
        if observe is not None:
            observe(model)
    return model, stats


def benchmark(seconds: float = 10.0, steps: int = 40) -> tuple:
    """(scenarios per minute, stats) for ``random_scenario`` runs of ``steps`` actions for ``seconds``."""
    start = time.perf_counter()
    n = 0
    stats = ScenarioStats()
    while time.perf_counter() - start < seconds:
        random_scenario(n, steps, stats=stats)
        n += 1
    elapsed = time.perf_counter() - start
    return n * 60 / elapsed, stats

