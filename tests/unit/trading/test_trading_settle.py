"""A successful `settle` of one matched pair: positions, free collateral, fees to the fund, filled amounts and
events. The maker may be either side, so every behaviour is checked with the maker buying and selling.

The pair: 1.5 ETH at 2,001.37 (within the 5% band of the 2,000 mark), buyer at 5x, seller at 3x.
    n = floor(1.5 * 2001.37) = 3,002.055 units (exact in both decimals)
    buyer margin = ceil(n / 5) = 600.411, seller margin = ceil(n / 3) = 1,000.685
    maker fee = ceil(n * 2 / 1e4) = 0.600411, taker fee = ceil(n * 5 / 1e4) = 1.5010275 -> 1.501028 with 6 decimals
"""
import pytest

from perp.params import default_params

from trading_calc import MAKER_BPS, TAKER_BPS, X, order_hash, pos, w

SIZE = w("1.5")
PRICE = w("2001.37")
BUYER_LEV = X(5)
SELLER_LEV = X(3)

MAKER_SIDES = pytest.mark.parametrize("maker_buys", [True, False], ids=["maker_buys", "maker_sells"])


def settle_pair(env, buyer, seller, maker_buys):
    buy = env.order(buyer, env.ETH, True, SIZE, PRICE, leverage=BUYER_LEV, is_maker=maker_buys)
    sell = env.order(seller, env.ETH, False, SIZE, PRICE, leverage=SELLER_LEV, is_maker=not maker_buys)
    maker, taker = (buy, sell) if maker_buys else (sell, buy)
    tx = env.perp.settle(env.match(maker, taker), {"from": env.keeper})
    return tx, buy, sell


def fees(calc, maker_buys):
    """(buyer fee, seller fee) of the pair."""
    n = calc.notional(SIZE, PRICE)
    maker_fee, taker_fee = calc.fee(n, MAKER_BPS), calc.fee(n, TAKER_BPS)
    return (maker_fee, taker_fee) if maker_buys else (taker_fee, maker_fee)


def test_notional_margins_and_fees_of_the_pair_by_hand(env, calc):
    # The module docstring's numbers, so that the formulas below are pinned to literal values once.
    n = calc.notional(SIZE, PRICE)
    assert n == calc.u("3002.055")
    assert calc.margin(n, BUYER_LEV) == calc.u("600.411")
    assert calc.margin(n, SELLER_LEV) == calc.u("1000.685")
    assert calc.fee(n, MAKER_BPS) == calc.u("0.600411")
    assert calc.fee(n, TAKER_BPS) == (calc.u("1.501028") if env.decimals == 6 else calc.u("1.5010275"))


@MAKER_SIDES
def test_settle_opens_long_for_buyer_and_short_for_seller(t, calc, alice, bob, maker_buys):
    settle_pair(t, alice, bob, maker_buys)
    n = calc.notional(SIZE, PRICE)
    assert pos(t, t.ETH, alice) == (SIZE, n, calc.margin(n, BUYER_LEV))
    assert pos(t, t.ETH, bob) == (-SIZE, -n, calc.margin(n, SELLER_LEV))


@MAKER_SIDES
def test_settle_takes_margin_and_fee_from_free_collateral(t, calc, funded, alice, bob, maker_buys):
    settle_pair(t, alice, bob, maker_buys)
    n = calc.notional(SIZE, PRICE)
    buyer_fee, seller_fee = fees(calc, maker_buys)
    assert t.free(alice) == funded - calc.margin(n, BUYER_LEV) - buyer_fee
    assert t.free(bob) == funded - calc.margin(n, SELLER_LEV) - seller_fee


@MAKER_SIDES
def test_settle_pays_maker_and_taker_fees_to_the_fund_cash(t, calc, alice, bob, maker_buys):
    cash_before = t.perp.fundAccount(t.ETH)[0]
    settle_pair(t, alice, bob, maker_buys)
    n = calc.notional(SIZE, PRICE)
    assert t.perp.fundAccount(t.ETH)[0] == cash_before + calc.fee(n, MAKER_BPS) + calc.fee(n, TAKER_BPS)


@MAKER_SIDES
def test_settle_records_the_fill_against_both_order_hashes(t, alice, bob, maker_buys):
    _, buy, sell = settle_pair(t, alice, bob, maker_buys)
    assert t.perp.filledAmount(order_hash(t, buy)) == SIZE
    assert t.perp.filledAmount(order_hash(t, sell)) == SIZE


@MAKER_SIDES
def test_settle_emits_trade_with_buyer_and_seller_fees(t, calc, alice, bob, maker_buys):
    tx, buy, sell = settle_pair(t, alice, bob, maker_buys)
    n = calc.notional(SIZE, PRICE)
    buyer_fee, seller_fee = fees(calc, maker_buys)
    assert len(tx.events["Trade"]) == 1
    ev = tx.events["Trade"][0]
    assert dict(ev) == {
        "marketId": t.ETH,
        "buyer": alice.address,
        "seller": bob.address,
        "size": SIZE,
        "price": PRICE,
        "buyerNotional": n,  # exact here: nothing to round
        "sellerNotional": n,
        "buyerFee": buyer_fee,
        "sellerFee": seller_fee,
        "buyOrderHash": "0x" + order_hash(t, buy).hex(),
        "sellOrderHash": "0x" + order_hash(t, sell).hex(),
    }


@MAKER_SIDES
def test_settle_emits_position_updated_for_maker_then_taker(t, calc, funded, alice, bob, maker_buys):
    tx, _, _ = settle_pair(t, alice, bob, maker_buys)
    n = calc.notional(SIZE, PRICE)
    buyer_fee, seller_fee = fees(calc, maker_buys)
    buyer_ev = {
        "marketId": t.ETH, "account": alice.address, "size": SIZE, "openNotional": n,
        "margin": calc.margin(n, BUYER_LEV), "freeCollateral": funded - calc.margin(n, BUYER_LEV) - buyer_fee,
    }
    seller_ev = {
        "marketId": t.ETH, "account": bob.address, "size": -SIZE, "openNotional": -n,
        "margin": calc.margin(n, SELLER_LEV), "freeCollateral": funded - calc.margin(n, SELLER_LEV) - seller_fee,
    }
    expected = [buyer_ev, seller_ev] if maker_buys else [seller_ev, buyer_ev]
    assert [dict(e) for e in tx.events["PositionUpdated"]] == expected


@MAKER_SIDES
def test_settle_lists_both_accounts_on_their_sides(t, alice, bob, maker_buys):
    settle_pair(t, alice, bob, maker_buys)
    assert list(t.side_accounts(t.ETH, True)) == [alice.address]
    assert list(t.side_accounts(t.ETH, False)) == [bob.address]


def test_settle_moves_no_tokens_into_or_out_of_the_vault(t, alice, bob):
    vault_before = t.token.balanceOf(t.perp)
    settle_pair(t, alice, bob, True)
    assert t.token.balanceOf(t.perp) == vault_before


def test_anyone_may_submit_a_matched_pair(t, calc, funded, alice, bob, outsider):
    buy = t.order(alice, t.ETH, True, SIZE, PRICE, leverage=BUYER_LEV)
    sell = t.order(bob, t.ETH, False, SIZE, PRICE, leverage=SELLER_LEV)
    t.perp.settle(t.match(buy, sell), {"from": outsider})
    n = calc.notional(SIZE, PRICE)
    assert pos(t, t.ETH, alice) == (SIZE, n, calc.margin(n, BUYER_LEV))
    assert t.free(outsider) == 0  # the submitter neither earns nor pays anything


def test_fill_at_a_price_between_both_limits_uses_the_fill_price(t, calc, funded, alice, bob):
    # Buyer would pay up to 2,050, seller would take 1,950: the matcher picks 2,010 and both use it.
    buy = t.order(alice, t.ETH, True, w(1), w(2050))
    sell = t.order(bob, t.ETH, False, w(1), w(1950))
    tx = t.perp.settle(t.match(buy, sell, fill_price=w(2010)), {"from": t.keeper})
    n = calc.u(2010)
    assert (tx.events["Trade"]["buyerNotional"], tx.events["Trade"]["sellerNotional"]) == (n, n)
    assert pos(t, t.ETH, alice) == (w(1), n, calc.u(402))
    assert pos(t, t.ETH, bob) == (-w(1), -n, calc.u(402))


def test_smallest_fill_rounds_both_fees_up_to_one_unit(t, calc, funded, alice, bob, deployer):
    # The smallest size with a non-zero notional at 2,000: q = ceil(1e18 * scale / 2000e18) (5e8 with 6 decimals,
    # 1 wei with 18). Its notional is 1 unit (6 decimals) or 2,000 units (18 decimals); either way both fees,
    # ceil(n * 2 / 1e4) and ceil(n * 5 / 1e4), round up to exactly 1 unit. (The market's minimum position notional
    # is lowered to one unit first: the reference 10 tokens would refuse such a position.)
    params = default_params("ETH-PERP", t.decimals).with_(min_position_notional=1)
    t.perp.setMarketParams(t.ETH, params.as_tuple(), {"from": deployer})
    p = w(2000)
    q = -(-(10**18 * t.scale) // p)
    n = calc.notional(q, p)
    assert n == (1 if t.decimals == 6 else 2000)
    buy = t.order(alice, t.ETH, True, q, p)
    sell = t.order(bob, t.ETH, False, q, p)
    tx = t.perp.settle(t.match(buy, sell), {"from": t.keeper})
    ev = tx.events["Trade"]
    assert (ev["buyerNotional"], ev["sellerNotional"], ev["buyerFee"], ev["sellerFee"]) == (n, n, 1, 1)
    m = calc.margin(n, X(5))  # 1 unit (6 decimals), 400 units (18 decimals)
    assert pos(t, t.ETH, alice) == (q, n, m)
    assert pos(t, t.ETH, bob) == (-q, -n, m)
    assert t.free(alice) == funded - m - 1
    assert t.free(bob) == funded - m - 1


def test_fill_at_max_leverage_posts_one_twentieth(t, calc, alice, bob):
    buy = t.order(alice, t.ETH, True, w(1), w(2000), leverage=X(20))
    sell = t.order(bob, t.ETH, False, w(1), w(2000), leverage=X(1))
    t.perp.settle(t.match(buy, sell), {"from": t.keeper})
    assert pos(t, t.ETH, alice) == (w(1), calc.u(2000), calc.u(100))
    assert pos(t, t.ETH, bob) == (-w(1), -calc.u(2000), calc.u(2000))
