"""The audit is not a test that cannot fail: an inconsistency planted in storage (anvil_setStorageAt) is
reported with the invariant, the subject and the numbers, and it halts a simulation."""
import pytest
from brownie import web3
from eth_abi import encode
from eth_utils import keccak

from perp.sim import SimulationHalted
from perp.units import WAD
from scripts.simulate import run


def _account_slot(perp_address, account, expected_free):
    """The storage key of `_accounts[account]` (free collateral in the low 128 bits), found by probing the
    mapping's base slot, so the test does not depend on the inheritance layout."""
    for base in range(64):
        key = keccak(encode(["address", "uint256"], [account, base]))
        value = int.from_bytes(web3.eth.get_storage_at(perp_address, key), "big")
        if value and value & (2**128 - 1) == expected_free:
            return key, value
    raise AssertionError("free-collateral slot not found")


def _plant(perp_address, key, value):
    web3.provider.make_request("anvil_setStorageAt", [perp_address, "0x" + key.hex(), "0x" + value.to_bytes(32, "big").hex()])


def test_audit_reports_free_collateral_planted_out_of_thin_air(env, alice, bob):
    env.fund(alice, env.units(1_000))
    env.fund(bob, env.units(1_000))
    env.trade(alice, bob, env.ETH, WAD, 2000 * WAD)
    assert env.audit.findings() == []
    free = env.free(alice)
    key, value = _account_slot(env.perp.address, alice.address, free)
    _plant(env.perp.address, key, value + 7)
    assert env.free(alice) == free + 7
    found = env.audit.findings()
    assert len(found) == 1
    assert found[0].invariant == "conservation"
    assert "(off by -7)" in found[0].detail


def test_audit_reports_a_planted_position_size_as_unbalanced_book(env, alice, bob):
    env.fund(alice, env.units(1_000))
    env.fund(bob, env.units(1_000))
    env.trade(alice, bob, env.ETH, WAD, 2000 * WAD)
    # Position slot 0 packs size (low 128 bits) and openNotional (high 128 bits): find it by its size.
    pos = env.perp.getPosition(env.ETH, alice)
    for base in range(64):
        outer = keccak(encode(["uint256", "uint256"], [env.ETH, base]))
        key = keccak(encode(["address"], [alice.address]) + outer)
        raw = int.from_bytes(web3.eth.get_storage_at(env.perp.address, key), "big")
        if raw and raw & (2**128 - 1) == pos[0]:
            break
    else:
        raise AssertionError("position slot not found")
    _plant(env.perp.address, key, raw + WAD)  # alice now "holds" 2 ETH against bob's 1
    found = [f for f in env.audit.findings() if f.invariant == "balanced_book"]
    assert found and f"longs {2 * WAD} != shorts {WAD}" in found[0].detail


def test_simulation_halts_naming_the_invariant_and_the_account(tmp_path):
    report, sim = run("scenarios/calm.yaml", out_dir=str(tmp_path), plots=False, quiet=True, traders=20)
    bystander = sim.bystanders[0].address
    free = sim.perp.call("freeCollateral", bystander)
    key, value = _account_slot(sim.dep.perp, bystander, free)
    _plant(sim.dep.perp, key, value - 1)
    with pytest.raises(SimulationHalted) as exc:
        sim.check(step=99, first_event=len(sim.events), pending=set())
    message = str(exc.value)
    assert "step 99: invariant violated" in message
    assert "[conservation] vault" in message and "(off by 1)" in message
    assert f"[bystander] {bystander}: free collateral {free - 1} != {free} at start" in message
