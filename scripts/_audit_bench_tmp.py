import time
from brownie import web3
from scripts.simulate import run
from perp.replay import Replay

def main():
    t = time.time()
    report, sim = run("scenarios/flash_crash.yaml", out_dir="/tmp/simout", plots=False, quiet=True)
    print("sim", time.time() - t)
    t = time.time()
    r = Replay(web3, sim.dep.perp, sim.dep.lens)
    f = r.run()
    print("replay", time.time() - t, len(f), r.summary())
    print(r.state.counts)
    for x in f[:10]: print(x)
