from risk_calc import *
U=10**6
def test_dbg(env0, alice, bob, deployer):
    env = env0
    env.fund(alice, 2000*U); env.fund(deployer, 2000*U)
    s = env.audit.snapshot()
    print(s.free, s.vault_balance)
    b = new_bystander(env, 321*U)
    s = env.audit.snapshot()
    print(s.free, s.vault_balance)
