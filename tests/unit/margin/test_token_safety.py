"""Collateral token safety: fee-on-transfer tokens are refused, the reentrancy guard stops a token that calls
back into the protocol mid-transfer, and a collateral with more than 18 decimals cannot be used.

A Perpetual is deployed over each odd token once per module (the `env` deployment already put MarketParamsLib on
the chain, which Brownie links); every test starts from the snapshot taken after it."""
import brownie
import pytest
from brownie import FeeOnTransferToken, MockStablecoin, ReentrantToken

from scripts.deploy import deploy_protocol
from support import err

ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture(scope="module")
def fot(env, deployer):
    token = FeeOnTransferToken.deploy(env.decimals, {"from": deployer})
    perp = deploy_protocol(token, deployer)
    return token, perp


@pytest.fixture(scope="module")
def reentrant(env, deployer):
    token = ReentrantToken.deploy(env.decimals, {"from": deployer})
    perp = deploy_protocol(token, deployer)
    return token, perp


# ------------------------------------------------------------------ fee on transfer


def test_fee_on_transfer_deposit_reverts_token_transfer_mismatch(checked, fot, alice):
    env = checked
    token, perp = fot
    amount = env.units(1_000)
    token.faucet(alice, amount, {"from": alice})
    token.approve(perp, amount, {"from": alice})
    received = amount - amount // 100  # the token burns 1% of every transfer

    with brownie.reverts(err("TokenTransferMismatch", amount, received)):
        perp.deposit(amount, {"from": alice})

    assert perp.freeCollateral(alice) == 0
    assert token.balanceOf(alice) == amount
    assert token.balanceOf(perp) == 0


def test_fee_on_transfer_deposit_for_reverts_and_credits_nobody(checked, fot, alice, bob):
    env = checked
    token, perp = fot
    amount = env.units("333.33")
    token.faucet(bob, amount, {"from": bob})
    token.approve(perp, amount, {"from": bob})

    with brownie.reverts(err("TokenTransferMismatch", amount, amount - amount // 100)):
        perp.depositFor(alice, amount, {"from": bob})

    assert perp.freeCollateral(alice) == 0
    assert token.balanceOf(bob) == amount
    assert token.balanceOf(perp) == 0


def test_fee_on_transfer_deposit_for_many_reverts_on_the_summed_transfer(checked, fot, alice, bob, carol):
    env = checked
    token, perp = fot
    a, c = env.units(100), env.units(250)
    token.faucet(bob, a + c, {"from": bob})
    token.approve(perp, a + c, {"from": bob})

    with brownie.reverts(err("TokenTransferMismatch", a + c, (a + c) - (a + c) // 100)):
        perp.depositForMany([alice, carol], [a, c], {"from": bob})

    assert perp.freeCollateral(alice) == 0
    assert perp.freeCollateral(carol) == 0
    assert token.balanceOf(bob) == a + c
    assert token.balanceOf(perp) == 0


# ------------------------------------------------------------------ reentrancy

REENTRY_CALLS = {
    "withdraw": lambda perp, acct: perp.withdraw.encode_input(1),
    "deposit": lambda perp, acct: perp.deposit.encode_input(1),
    "depositFor": lambda perp, acct: perp.depositFor.encode_input(acct, 1),
    "addMargin": lambda perp, acct: perp.addMargin.encode_input(1, 1),
    "removeMargin": lambda perp, acct: perp.removeMargin.encode_input(1, 1),
    "cancelAllOrders": lambda perp, acct: perp.cancelAllOrders.encode_input(),
}


@pytest.mark.parametrize("reentry", list(REENTRY_CALLS))
def test_reentrant_token_calling_back_during_deposit_reverts_reentrant_call(checked, reentrant, alice, reentry):
    env = checked
    token, perp = reentrant
    amount = env.units(50)
    token.faucet(alice, amount, {"from": alice})
    token.approve(perp, amount, {"from": alice})
    token.setHook(perp, REENTRY_CALLS[reentry](perp, alice), {"from": alice})

    with brownie.reverts("ReentrancyGuardReentrantCall: "):
        perp.deposit(amount, {"from": alice})

    assert perp.freeCollateral(alice) == 0
    assert perp.orderEpoch(token) == 0
    assert token.balanceOf(alice) == amount
    assert token.balanceOf(perp) == 0


@pytest.mark.parametrize("reentry", ["deposit", "withdraw", "depositFor"])
def test_reentrant_token_calling_back_during_withdraw_reverts_reentrant_call(checked, reentrant, alice, reentry):
    env = checked
    token, perp = reentrant
    amount = env.units(50)
    token.faucet(alice, amount, {"from": alice})
    token.approve(perp, amount, {"from": alice})
    perp.deposit(amount, {"from": alice})  # hook not armed yet
    token.setHook(perp, REENTRY_CALLS[reentry](perp, alice), {"from": alice})

    with brownie.reverts("ReentrancyGuardReentrantCall: "):
        perp.withdraw(amount, {"from": alice})

    assert perp.freeCollateral(alice) == amount
    assert token.balanceOf(alice) == 0
    assert token.balanceOf(perp) == amount


def test_reentrant_token_calling_back_during_deposit_for_many_reverts(checked, reentrant, alice, bob):
    env = checked
    token, perp = reentrant
    amount = env.units(5)
    token.faucet(bob, 2 * amount, {"from": bob})
    token.approve(perp, 2 * amount, {"from": bob})
    token.setHook(perp, perp.withdraw.encode_input(1), {"from": bob})

    with brownie.reverts("ReentrancyGuardReentrantCall: "):
        perp.depositForMany([alice, bob], [amount, amount], {"from": bob})

    assert perp.freeCollateral(alice) == 0
    assert perp.freeCollateral(bob) == 0
    assert token.balanceOf(bob) == 2 * amount


def test_reentrant_token_hook_making_a_view_call_does_not_block_deposit(checked, reentrant, alice):
    """Control: the hook really runs mid-transfer; only a call into a guarded function is refused."""
    env = checked
    token, perp = reentrant
    amount = env.units(50)
    token.faucet(alice, amount, {"from": alice})
    token.approve(perp, amount, {"from": alice})
    token.setHook(perp, perp.freeCollateral.encode_input(alice), {"from": alice})

    perp.deposit(amount, {"from": alice})

    assert perp.freeCollateral(alice) == amount
    assert token.balanceOf(perp) == amount


def test_reentrant_token_with_disarmed_hook_deposits_and_withdraws(checked, reentrant, alice):
    env = checked
    token, perp = reentrant
    amount = env.units(50)
    token.faucet(alice, amount, {"from": alice})
    token.approve(perp, amount, {"from": alice})
    token.setHook(perp, perp.withdraw.encode_input(1), {"from": alice})
    token.setHook(ZERO, b"", {"from": alice})

    perp.deposit(amount, {"from": alice})
    perp.withdraw(amount, {"from": alice})

    assert perp.freeCollateral(alice) == 0
    assert token.balanceOf(alice) == amount


# ------------------------------------------------------------------ decimals


def test_collateral_with_19_decimals_reverts_unsupported_decimals(env, deployer):
    token = MockStablecoin.deploy("Too Precise", "TP", 19, {"from": deployer})
    with brownie.reverts(err("UnsupportedDecimals", 19)):
        deploy_protocol(token, deployer)


@pytest.mark.parametrize("token_decimals", [0, 18])
def test_collateral_with_0_to_18_decimals_is_accepted(env, deployer, token_decimals):
    token = MockStablecoin.deploy("Ok", "OK", token_decimals, {"from": deployer})
    perp = deploy_protocol(token, deployer)
    assert perp.collateralDecimals() == token_decimals
    assert perp.collateral() == token
    assert perp.owner() == deployer
