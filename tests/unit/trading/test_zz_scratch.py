import brownie
from brownie import chain, web3
from brownie.exceptions import VirtualMachineError
from support import err

def test_scratch(env, alice, bob):
    print("chain id", env.chain_id, "dec", env.decimals)
    env.fund(alice, env.units(10000)); env.fund(bob, env.units(10000))
    o = env.order(alice, env.ETH, True, 10**18, 2000*10**18, expiry=chain.time() - 100)
    t = env.order(bob, env.ETH, False, 10**18, 2000*10**18)
    print("chain.time", chain.time(), "block ts", chain[-1].timestamp, "height", chain.height)
    try:
        env.perp.settle(env.match(o, t), {"from": alice})
    except VirtualMachineError as e:
        print("MSG", repr(e.revert_msg), getattr(e, "txid", None))
        print("height", chain.height, chain[-1].timestamp)
    h = env.perp.hashOrder(o.as_tuple())
    print(type(h), h, err("X", h))
    tx = env.trade(alice, bob, env.ETH, 10**18, 2000*10**18)
    print(tx.events)
    print(type(tx.events["Trade"]["buyOrderHash"]))
