"""Simulation throughput benchmark: the batched simulation beside a naive loop (one transaction per call, one
account read per call) and beside Anvil's own ceiling (pre-signed transfers sent in JSON-RPC batches and mined
in one block). Prints one table; `make bench` runs it after the gas table.

    brownie run scripts/bench_sim.py --network development
"""
from __future__ import annotations

import time

import requests
from brownie import accounts, network, web3
from eth_account import Account

import scripts.brownie_compat  # noqa: F401  (Brownie's own confirmation path, made correct on Anvil)
from perp.chain import Rpc, Sender, load_abi
from perp.core.types import PositionState
from perp.model.scenarios import benchmark as model_benchmark
from perp.scenario import load, scaled
from perp.sim import Deployed, Simulation, deploy_for

SCENARIO = "scenarios/flash_crash.yaml"
TRADERS = 500
NAIVE_STEPS = 6  # the naive loop is slow: a few steps of the same crash are enough for a rate
TRANSFERS = 2_000
MODEL_TARGET = 3_000  # reference-model scenarios per minute (40 actions each, every invariant after every action)


def _deploy(scn) -> Deployed:
    """A fresh deployment for `scn` through the one deployment path (``perp.sim.deploy_for``)."""
    return deploy_for(Sender(Rpc(web3), address=str(accounts[0])), scn, str(accounts[1]))


def _field(abi: list, function: str, name: str) -> int:
    """Index of output component `name` of `function`'s struct result (web3.py returns structs as tuples)."""
    (fn,) = [f for f in abi if f.get("type") == "function" and f["name"] == function]
    return [c["name"] for c in fn["outputs"][0]["components"]].index(name)


def batched(scn) -> tuple[float, int, float]:
    """The real simulation: population, every step, audit after every step."""
    dep = _deploy(scn)
    started = time.time()
    sim = Simulation(web3, dep, scn)
    sim.build_population()
    built = time.time()
    sim.lights_before = {}
    sim.bystander_start = {b.address: sim.perp.call("freeCollateral", b.address) for b in sim.bystanders}
    for step in range(scn.steps + 1):
        sim.steps.append(sim.step(step))
    done = time.time()
    account_steps = len(sim.traders) * (scn.steps + 1)
    return account_steps / (done - built), account_steps, built - started


def naive(scn) -> float:
    """The same crash driven the naive way: web3.py contract objects, one call per account read, one transaction
    per liquidation, the audit reading every account one by one."""
    dep = _deploy(scn)
    sim = Simulation(web3, dep, scn)
    sim.build_population()
    perp = web3.eth.contract(address=dep.perp, abi=load_abi("Perpetual"))
    lens_abi = load_abi("PerpLens")
    lens = web3.eth.contract(address=dep.lens, abi=lens_abi)
    state = _field(lens_abi, "positionInfo", "state")
    oracles = {n: web3.eth.contract(address=a, abi=load_abi("MockAggregator")) for n, a in dep.oracles.items()}
    keeper, operator = str(accounts[1]), str(accounts[0])
    traders = sim.traders
    started = time.time()
    for step in range(NAIVE_STEPS):
        for m in scn.markets:
            answer = int(m.path.points[step + 8] * 10**8)  # steps around the crash (step 10 gaps)
            tx = oracles[m.name].functions.setPrice(answer).transact({"from": operator})
            web3.eth.wait_for_transaction_receipt(tx)
        for t in traders:
            mid = sim.dep.market_ids[t.market]
            view = lens.functions.positionInfo(mid, t.address).call()
            if view[state] >= PositionState.LIQUIDATABLE:
                tx = perp.functions.liquidate(mid, t.address).transact({"from": keeper, "gas": 29_000_000})
                web3.eth.wait_for_transaction_receipt(tx)
        for t in traders:  # the audit, one read per account
            perp.functions.freeCollateral(t.address).call()
            lens.functions.positionInfo(sim.dep.market_ids[t.market], t.address).call()
    return len(traders) * NAIVE_STEPS / (time.time() - started)


def anvil_ceiling(token_address: str) -> float:
    """Pre-signed ERC20 transfers, sent in JSON-RPC batches of 500 with automine off, then mined (in as few
    30M-gas blocks as they need: about 1,750 transfers fit one)."""
    sender = Account.from_key(b"\x42" * 32)
    token = web3.eth.contract(address=token_address, abi=load_abi("MockStablecoin"))
    tx = token.functions.faucet(sender.address, 10**12).transact({"from": str(accounts[0])})
    web3.eth.wait_for_transaction_receipt(tx)
    nonce = web3.eth.get_transaction_count(sender.address)
    # what the node asks now, with room for the base fee to rise over the blocks the transfers fill (a stock Anvil
    # has an EIP-1559 base fee, and a transfer priced below it is never mined); 0 on a zero-fee devnet
    gas_price = 4 * web3.eth.gas_price
    # the signer gets what its transfers can cost, no more: a fixed 1,000 ETH a run emptied the 10,000 ETH of the
    # operator account after ten runs on one chain (the stress run's rounds 10-20)
    need = TRANSFERS * 60_000 * gas_price - web3.eth.get_balance(sender.address)
    if need > 0:
        web3.eth.wait_for_transaction_receipt(
            web3.eth.send_transaction({"from": str(accounts[0]), "to": sender.address, "value": need})
        )
    data = token.functions.transfer(str(accounts[2]), 1).build_transaction({"gas": 60_000, "gasPrice": gas_price, "nonce": 0,
                                                                             "chainId": web3.eth.chain_id})["data"]
    raws = []
    for i in range(TRANSFERS):
        signed = sender.sign_transaction({"to": token.address, "data": data, "gas": 60_000, "gasPrice": gas_price,
                                          "nonce": nonce + i, "chainId": web3.eth.chain_id, "value": 0})
        raws.append("0x" + bytes(signed.raw_transaction).hex())
    url = web3.provider.endpoint_uri
    web3.provider.make_request("evm_setAutomine", [False])
    started = time.time()
    for i in range(0, TRANSFERS, 500):
        batch = [{"jsonrpc": "2.0", "id": j, "method": "eth_sendRawTransaction", "params": [r]}
                 for j, r in enumerate(raws[i : i + 500])]
        requests.post(url, json=batch, timeout=120).raise_for_status()
    blocks = 0
    while token.functions.balanceOf(str(accounts[2])).call() < TRANSFERS and blocks < 10:
        web3.provider.make_request("evm_mine", [])  # as many 30M-gas blocks as the transfers need
        blocks += 1
    elapsed = time.time() - started
    web3.provider.make_request("evm_setAutomine", [True])
    mined = token.functions.balanceOf(str(accounts[2])).call()
    if mined < TRANSFERS:
        raise RuntimeError(f"only {mined} of {TRANSFERS} transfers were mined in {blocks} blocks")
    return TRANSFERS / elapsed


def main(scenario: str = SCENARIO, traders: int = TRADERS):
    traders = int(traders)  # (brownie run passes arguments as strings)
    scn = scaled(load(scenario), traders=traders)
    print(f"scenario {scn.name}: {traders} traders, {scn.steps + 1} steps, on {network.show_active()}")
    rate, account_steps, setup = batched(scn)
    print(f"  batched simulation: {account_steps:,} account-steps, population built in {setup:.1f} s")
    naive_rate = naive(scn)
    ceiling = anvil_ceiling(_deploy(scn).token)
    rows = [
        ("batched simulation (account-steps/s)", rate, 1.0),
        ("naive loop: 1 tx per call, 1 read per account (account-steps/s)", naive_rate, rate / naive_rate),
        ("Anvil ceiling: pre-signed transfers, batched RPC, mined in bulk (tx/s)", ceiling, rate / ceiling),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':{width}} | {'rate':>10} | simulation / this")
    print("-" * (width + 1) + "+" + "-" * 12 + "+" + "-" * 18)
    for name, value, ratio in rows:
        print(f"{name:{width}} | {value:>10,.0f} | {ratio:>8.2f}x")
    model_rate, stats = model_benchmark(seconds=10.0)
    verdict = "met" if model_rate >= MODEL_TARGET else "MISSED"
    print(f"\nreference model (pure Python, no chain): {model_rate:,.0f} random scenarios/minute of 40 actions, every "
          f"invariant after every action ({stats.adl_fills} ADL fills); target {MODEL_TARGET:,}: {verdict}")
