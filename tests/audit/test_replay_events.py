"""The replay's event-level checks, fed with synthetic logs (no chain): a correct contract never trips them, so
they are shown here to fire, each naming its rule, the subject and the numbers."""
from perp.core import queue
from perp.replay import Pos, Rebuilt, Replay
from perp.units import WAD

A, B, C, K = ("0x" + c * 40 for c in "abcd")
M = 1


def offline(scale=10**18) -> Replay:
    """A replay without a chain; scale 1e18 (0-decimal collateral) keeps the synthetic money amounts small."""
    r = Replay.__new__(Replay)
    r.state, r.findings, r.scale, r._block = Rebuilt(), [], scale, 0
    return r


def tx(r, *events, n=[0]):
    n[0] += 1
    log = {"transactionHash": f"0x{n[0]:064x}", "blockNumber": hex(n[0])}
    r._apply_tx([(log, name, args) for name, args in events])


def market(r):
    tx(r, ("MarketCreated", {"marketId": M, "name": "ETH-PERP", "oracle": C, "params": (1,) * 16}),
       ("ReferencePriceSet", {"marketId": M, "referencePrice": 2**70}))


def deposit(r, who, amount, after):
    tx(r, ("Deposited", {"account": who, "from": who, "amount": amount, "freeCollateral": after}))


def pos(who, size, on, margin, free):
    return ("PositionUpdated", {"marketId": M, "account": who, "size": size, "openNotional": on, "margin": margin,
                                "freeCollateral": free})


def trade(buyer, seller, size, notional, fees=(0, 0)):
    return ("Trade", {"marketId": M, "buyer": buyer, "seller": seller, "size": size, "price": 2000 * WAD,
                      "buyerNotional": notional, "sellerNotional": notional, "buyerFee": fees[0], "sellerFee": fees[1], "buyOrderHash": b"\x01" * 32,
                      "sellOrderHash": b"\x02" * 32})


def opened(r):
    market(r)
    deposit(r, A, 1000, 1000)
    deposit(r, B, 1000, 1000)
    tx(r, trade(A, B, WAD, 2000), pos(A, WAD, 2000, 400, 600), pos(B, -WAD, -2000, 400, 600))
    assert r.findings == []


def test_a_consistent_history_has_no_finding():
    r = offline()
    opened(r)
    get = lambda a: r.state.positions.get((M, a))  # noqa: E731
    assert [r.state.queues[(M, True)].walk(get), r.state.queues[(M, False)].walk(get)] == [[A], [B]]
    a = r.state.positions[(M, A)]
    # margin 400 per unit of size over the reference price 2^70; frame entry 2,000 plus the key bias 2^96, in units
    # of 2^33 wei (rounded down for a long)
    assert (a.tier, a.key, a.queued) == (queue.tier_of(400, WAD, 70, r.scale), (2000 * WAD + 2**96) // 2**33, True)
    assert r.state.positions[(M, A)].open_seq == 1 and r.state.positions[(M, B)].open_seq == 2
    assert r.state.value() == r.state.inflow == 2000


def test_a_deposit_whose_free_collateral_after_does_not_add_up():
    r = offline()
    deposit(r, A, 100, 100)
    deposit(r, A, 50, 140)
    assert [(f.invariant, f.subject) for f in r.findings] == [("events.free_collateral", A),
                                                              ("events.conservation", "vault")]
    assert "deposit of 50 onto 100 reported free collateral 140 (expected 150)" in r.findings[0].detail
    assert "(off by -10)" in r.findings[1].detail


def test_a_fill_that_moves_a_position_by_another_size():
    r = offline()
    market(r)
    deposit(r, A, 1000, 1000)
    deposit(r, B, 1000, 1000)
    tx(r, trade(A, B, WAD, 2000), pos(A, 2 * WAD, 2000, 400, 600), pos(B, -WAD, -2000, 400, 600))
    kinds = {f.invariant for f in r.findings}
    assert "events.position" in kinds and "events.balanced_book" in kinds
    assert any(f"fill should have left size {WAD}, PositionUpdated says {2 * WAD}" in f.detail for f in r.findings)


def test_value_created_in_a_transaction_breaks_event_conservation():
    r = offline()
    opened(r)
    tx(r, pos(A, WAD, 2000, 405, 600))  # margin up by 5, free unchanged
    assert [f.invariant for f in r.findings] == ["events.conservation"]
    assert "(off by 5)" in r.findings[0].detail


def test_an_order_epoch_that_jumps():
    r = offline()
    tx(r, ("OrderEpochBumped", {"account": A, "newEpoch": 1}))
    tx(r, ("OrderEpochBumped", {"account": A, "newEpoch": 3}))
    assert [(f.invariant, f.detail.split(" (tx")[0]) for f in r.findings] == [
        ("events.order_epoch", "epoch bumped from 1 to 3")]


def liquidation(size=WAD, price=1800 * WAD, pb=1810 * WAD, reward=0):
    return ("Liquidated", {"marketId": M, "account": A, "keeper": K, "size": size, "markPrice": price,
                           "bankruptcyPrice": pb, "equity": -1, "keeperReward": reward})


def adl(who, typ, delta, price, rank, score, notional=1810):
    return ("AdlFill", {"marketId": M, "account": who, "adlType": typ, "sizeDelta": delta, "price": price,
                        "notional": notional, "score": score, "rank": rank})


def test_type1_without_a_refusal_is_an_adl_trigger_violation():
    r = offline()
    opened(r)
    tx(r, liquidation(), adl(B, 1, WAD, 1810 * WAD, 1, 10), pos(B, 0, 0, 0, 1000 + 190), pos(A, 0, 0, 0, 600),
       ("FundUpdated", {"marketId": M, "cash": 0, "size": 0, "openNotional": 0}))
    assert "adl_trigger" in {f.invariant for f in r.findings}


def test_type1_at_another_price_on_the_wrong_side_out_of_order():
    r = offline()
    opened(r)
    deposit(r, C, 1000, 1000)
    tx(r, trade(C, B, WAD, 2000), pos(C, WAD, 2000, 400, 600), pos(B, -2 * WAD, -4000, 800, 200))
    refused = ("FundRefused", {"marketId": M, "account": A, "reason": 1})
    tx(r, liquidation(), refused,
       adl(B, 1, WAD // 2, 1800 * WAD, 2, 10, 900), pos(B, -WAD - WAD // 2, -3000, 800, 200),
       adl(C, 1, -WAD // 2, 1810 * WAD, 1, 20, 905), pos(C, WAD // 2, 1000, 10, 600))
    found = {f.invariant: f.detail for f in r.findings}
    assert "Type 1 at 1800000000000000000000 != bankruptcy price 1810000000000000000000" in found["adl_price"]
    assert "score 20 cut after rank 2 score 10" in found["adl_order"]
    assert "adl_side" in found  # C is long like the bankrupt long
    assert "adl_counterparty_equity" in found  # C: margin 10 + 0.5 * 1,800 - 1,000 < 0
    assert "equity -90 < 0 at mark 1800000000000000000000" in found["adl_counterparty_equity"]


def test_a_position_less_account_losing_free_collateral_in_a_liquidation_is_a_bystander_violation():
    r = offline()
    opened(r)
    deposit(r, C, 500, 500)
    tx(r, liquidation(), ("FundAccepted", {"marketId": M, "account": A, "size": WAD, "bankruptcyPrice": 1800 * WAD}),
       pos(A, 0, 0, 0, 600), ("Withdrawn", {"account": C, "amount": 1, "freeCollateral": 499}),
       ("FundUpdated", {"marketId": M, "cash": 0, "size": WAD, "openNotional": 1600}))
    assert ("bystander", C) in {(f.invariant, f.subject) for f in r.findings}


def test_type2_below_the_funds_bankruptcy_price_and_a_wrong_notional():
    r = offline()
    market(r)
    # the fund is long 1 with cost 2,000 and cash 100: it may not sell below its bankruptcy price 1,900
    f = r.state.funds[M]
    f.cash, f.size, f.open_notional = 100, WAD, 2000
    r.state.positions[(M, B)] = Pos(-WAD, -2000, 400, 1)
    r.state.positions[(M, C)] = Pos(-WAD, -2000, 400, 2)
    shorts = r.state.queues.setdefault((M, False), queue.Side())
    for who in (B, C):
        queue.insert(shorts, lambda a: r.state.positions.get((M, a)), who, False, queue.ZERO, r.scale,
                     r.state.indices[M].ref_shift)
    tx(r, adl(B, 2, WAD // 2, 1850 * WAD, 1, 5, notional=925), pos(B, -WAD // 2, -1000, 200, 1000),
       adl(C, 2, WAD // 2, 1850 * WAD, 2, 4, notional=924), pos(C, -WAD // 2, -1000, 200, 1000),
       ("FundUpdated", {"marketId": M, "cash": -50, "size": 0, "openNotional": 0}))
    prices = [f.detail for f in r.findings if f.invariant == "adl_price"]
    assert any(d.startswith(f"Type 2 at {1850 * WAD} below the fund's bankruptcy price {1900 * WAD}") for d in prices)
    assert any(d.startswith(f"Type 2 notional 924 != 925 for {WAD // 2} at {1850 * WAD}") for d in prices)
