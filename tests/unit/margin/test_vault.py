"""Vault: deposit, depositFor, depositForMany and withdraw (exact balances, events and reverts), under both
collateral decimals (the `env` fixture is parametrized over 6 and 18)."""
import brownie
import pytest

from support import err


def ev(tx, name, i=0):
    return dict(tx.events[name][i])


def mint_and_approve(env, payer, amount):
    env.token.faucet(payer, amount, {"from": payer})
    env.token.approve(env.perp, amount, {"from": payer})


# ------------------------------------------------------------------ deposit


def test_deposit_credits_free_collateral_and_moves_exact_tokens(checked, alice):
    env = checked
    amount = env.units("1234.5")
    mint_and_approve(env, alice, amount)
    vault_before = env.token.balanceOf(env.perp)

    env.perp.deposit(amount, {"from": alice})

    assert env.free(alice) == amount
    assert env.token.balanceOf(alice) == 0
    assert env.token.balanceOf(env.perp) == vault_before + amount


def test_deposit_emits_deposited_with_account_payer_amount_and_free_collateral(checked, alice):
    env = checked
    amount = env.units("1234.5")
    mint_and_approve(env, alice, amount)

    tx = env.perp.deposit(amount, {"from": alice})

    assert ev(tx, "Deposited") == {"account": alice, "from": alice, "amount": amount, "freeCollateral": amount}


def test_second_deposit_event_reports_running_free_collateral(checked, alice):
    env = checked
    first, second = env.units("100"), env.units("0.000001")
    mint_and_approve(env, alice, first + second)
    env.perp.deposit(first, {"from": alice})

    tx = env.perp.deposit(second, {"from": alice})

    assert env.free(alice) == first + second
    assert ev(tx, "Deposited") == {"account": alice, "from": alice, "amount": second, "freeCollateral": first + second}


def test_deposit_zero_reverts_zero_amount(checked, alice):
    env = checked
    with brownie.reverts(err("ZeroAmount")):
        env.perp.deposit(0, {"from": alice})


def test_deposit_without_allowance_reverts_and_changes_nothing(checked, alice):
    env = checked
    amount = env.units(10)
    env.token.faucet(alice, amount, {"from": alice})
    vault_before = env.token.balanceOf(env.perp)

    with brownie.reverts(err("ERC20InsufficientAllowance", env.perp, 0, amount)):
        env.perp.deposit(amount, {"from": alice})

    assert env.free(alice) == 0
    assert env.token.balanceOf(alice) == amount
    assert env.token.balanceOf(env.perp) == vault_before


def test_deposit_above_token_balance_reverts_insufficient_balance(checked, alice):
    env = checked
    held = env.units(10)
    mint_and_approve(env, alice, held)
    env.token.approve(env.perp, held + 1, {"from": alice})

    with brownie.reverts(err("ERC20InsufficientBalance", alice, held, held + 1)):
        env.perp.deposit(held + 1, {"from": alice})

    assert env.free(alice) == 0


# ------------------------------------------------------------------ depositFor


def test_deposit_for_credits_account_and_charges_payer(checked, alice, bob):
    env = checked
    amount = env.units("250.75")
    mint_and_approve(env, bob, amount)
    vault_before = env.token.balanceOf(env.perp)

    tx = env.perp.depositFor(alice, amount, {"from": bob})

    assert env.free(alice) == amount
    assert env.free(bob) == 0
    assert env.token.balanceOf(bob) == 0
    assert env.token.balanceOf(alice) == 0
    assert env.token.balanceOf(env.perp) == vault_before + amount
    assert ev(tx, "Deposited") == {"account": alice, "from": bob, "amount": amount, "freeCollateral": amount}


def test_deposit_for_adds_to_existing_free_collateral(checked, alice, bob):
    env = checked
    own, gift = env.units(40), env.units(2)
    env.fund(alice, own)
    mint_and_approve(env, bob, gift)

    tx = env.perp.depositFor(alice, gift, {"from": bob})

    assert env.free(alice) == own + gift
    assert ev(tx, "Deposited")["freeCollateral"] == own + gift


def test_deposit_for_credit_is_withdrawable_only_by_the_account(checked, alice, bob):
    env = checked
    amount = env.units(30)
    mint_and_approve(env, bob, amount)
    env.perp.depositFor(alice, amount, {"from": bob})

    with brownie.reverts(err("InsufficientFreeCollateral", bob, 0, amount)):
        env.perp.withdraw(amount, {"from": bob})

    env.perp.withdraw(amount, {"from": alice})
    assert env.token.balanceOf(alice) == amount
    assert env.free(alice) == 0


def test_deposit_for_zero_reverts_zero_amount(checked, alice, bob):
    env = checked
    with brownie.reverts(err("ZeroAmount")):
        env.perp.depositFor(alice, 0, {"from": bob})


# ------------------------------------------------------------------ depositForMany


def test_deposit_for_many_credits_each_account_and_pulls_the_sum_from_payer(checked, alice, bob, carol):
    env = checked
    a, c = env.units("10.5"), env.units("7")
    mint_and_approve(env, bob, a + c)
    vault_before = env.token.balanceOf(env.perp)

    tx = env.perp.depositForMany([alice, carol], [a, c], {"from": bob})

    assert env.free(alice) == a
    assert env.free(carol) == c
    assert env.free(bob) == 0
    assert env.token.balanceOf(bob) == 0
    assert env.token.balanceOf(env.perp) == vault_before + a + c
    assert len(tx.events["Deposited"]) == 2
    assert ev(tx, "Deposited", 0) == {"account": alice, "from": bob, "amount": a, "freeCollateral": a}
    assert ev(tx, "Deposited", 1) == {"account": carol, "from": bob, "amount": c, "freeCollateral": c}


def test_deposit_for_many_same_account_twice_reports_running_free_collateral(checked, alice, bob):
    env = checked
    first, second = env.units(3), env.units(4)
    env.fund(alice, env.units(1))
    mint_and_approve(env, bob, first + second)

    tx = env.perp.depositForMany([alice, alice], [first, second], {"from": bob})

    assert env.free(alice) == env.units(1) + first + second
    assert ev(tx, "Deposited", 0)["freeCollateral"] == env.units(1) + first
    assert ev(tx, "Deposited", 1)["freeCollateral"] == env.units(1) + first + second


@pytest.mark.parametrize("n_amounts", [1, 3], ids=["fewer_amounts", "more_amounts"])
def test_deposit_for_many_mismatched_lengths_reverts_invalid_parameter(checked, alice, carol, bob, n_amounts):
    env = checked
    mint_and_approve(env, bob, env.units(10))
    with brownie.reverts(err("InvalidParameter", "amounts.length", n_amounts)):
        env.perp.depositForMany([alice, carol], [env.units(1)] * n_amounts, {"from": bob})
    assert env.free(alice) == 0


def test_deposit_for_many_with_a_zero_amount_reverts_and_credits_nobody(checked, alice, carol, bob):
    env = checked
    mint_and_approve(env, bob, env.units(10))
    with brownie.reverts(err("ZeroAmount")):
        env.perp.depositForMany([alice, carol], [env.units(1), 0], {"from": bob})
    assert env.free(alice) == 0
    assert env.free(carol) == 0
    assert env.token.balanceOf(bob) == env.units(10)


def test_deposit_for_many_without_allowance_for_the_sum_reverts(checked, alice, carol, bob):
    env = checked
    a, c = env.units(5), env.units(6)
    env.token.faucet(bob, a + c, {"from": bob})
    env.token.approve(env.perp, a + c - 1, {"from": bob})
    with brownie.reverts(err("ERC20InsufficientAllowance", env.perp, a + c - 1, a + c)):
        env.perp.depositForMany([alice, carol], [a, c], {"from": bob})
    assert env.free(alice) == 0
    assert env.free(carol) == 0


# ------------------------------------------------------------------ withdraw


def test_withdraw_sends_tokens_and_debits_free_collateral(checked, alice):
    env = checked
    deposit, amount = env.units("500"), env.units("123.456")
    env.fund(alice, deposit)
    vault_before = env.token.balanceOf(env.perp)

    env.perp.withdraw(amount, {"from": alice})

    assert env.free(alice) == deposit - amount
    assert env.token.balanceOf(alice) == amount
    assert env.token.balanceOf(env.perp) == vault_before - amount


def test_withdraw_emits_withdrawn_with_remaining_free_collateral(checked, alice):
    env = checked
    deposit, amount = env.units("500"), env.units("123.456")
    env.fund(alice, deposit)

    tx = env.perp.withdraw(amount, {"from": alice})

    assert ev(tx, "Withdrawn") == {"account": alice, "amount": amount, "freeCollateral": deposit - amount}


def test_withdraw_entire_free_collateral_leaves_zero(checked, alice):
    env = checked
    deposit = env.units("77.7")
    env.fund(alice, deposit)

    tx = env.perp.withdraw(deposit, {"from": alice})

    assert env.free(alice) == 0
    assert env.token.balanceOf(alice) == deposit
    assert ev(tx, "Withdrawn")["freeCollateral"] == 0


def test_withdraw_above_free_collateral_reverts_with_amounts(checked, alice):
    env = checked
    deposit = env.units(100)
    env.fund(alice, deposit)
    vault_before = env.token.balanceOf(env.perp)

    with brownie.reverts(err("InsufficientFreeCollateral", alice, deposit, deposit + 1)):
        env.perp.withdraw(deposit + 1, {"from": alice})

    assert env.free(alice) == deposit
    assert env.token.balanceOf(alice) == 0
    assert env.token.balanceOf(env.perp) == vault_before


def test_withdraw_with_nothing_deposited_reverts_with_zero_available(checked, outsider):
    env = checked
    with brownie.reverts(err("InsufficientFreeCollateral", outsider, 0, 1)):
        env.perp.withdraw(1, {"from": outsider})


def test_withdraw_zero_reverts_zero_amount(checked, alice):
    env = checked
    env.fund(alice, env.units(1))
    with brownie.reverts(err("ZeroAmount")):
        env.perp.withdraw(0, {"from": alice})


def test_withdraw_cannot_take_collateral_locked_as_position_margin(checked, calc, open_pair, alice, bob):
    env = checked
    deposit = env.units(1_000)
    o = open_pair(env, alice, bob, env.ETH, calc.wad(1), calc.px(2000), deposit=deposit)
    # 1 ETH at 2,000 at 5x: notional 2,000, margin 400, maker fee 2 bps = 0.4: free 599.6.
    assert o.long_free == env.units("599.6")
    assert env.free(alice) == o.long_free

    with brownie.reverts(err("InsufficientFreeCollateral", alice, o.long_free, deposit)):
        env.perp.withdraw(deposit, {"from": alice})

    env.perp.withdraw(o.long_free, {"from": alice})
    assert env.free(alice) == 0
    assert env.token.balanceOf(alice) == o.long_free


# ------------------------------------------------------------------ the zero address


@pytest.mark.parametrize("batched", [False, True], ids=["depositFor", "depositForMany"])
def test_deposit_for_the_zero_address_reverts_and_moves_nothing(checked, alice, batched):
    """Collateral credited to address 0 could never be withdrawn: refused."""
    env = checked
    amount = env.units(10)
    mint_and_approve(env, alice, amount)
    vault_before = env.token.balanceOf(env.perp)
    with brownie.reverts(err("InvalidParameter", "account", 0)):
        if batched:
            env.perp.depositForMany([alice, brownie.ZERO_ADDRESS], [amount // 2, amount // 2], {"from": alice})
        else:
            env.perp.depositFor(brownie.ZERO_ADDRESS, amount, {"from": alice})
    assert env.token.balanceOf(env.perp) == vault_before
    assert env.token.balanceOf(alice) == amount
    assert env.free(alice) == 0
    assert env.free(brownie.ZERO_ADDRESS) == 0
