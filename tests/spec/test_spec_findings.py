"""Where the reference model disagreed with the SPEC oracle beyond a rounding, each on a small hand-made book, and
how it follows the SPEC now (``tests/model/test_findings_oracle.py`` runs the same books on the contracts through
the differential harness, which checks that the contracts and the model agree at every step). Each test pins the
model's numbers, exactly, and checks that the oracle predicts the same outcome.

1. The keeper's reward was 0.5% of the notional rounded *up* (up to 1 unit above the exact reward); it is now 0.5%
   of the notional rounded down. SPEC 2: "Every rounding has a stated direction and rounds against the account that
   is paid."
2. The fund accepted a position whose acceptance put its drawdown past the trigger line (it refused only while
   latched); it now refuses it. SPEC 5.
3. A trade did not sample the fund's high-water mark; every trade does now. SPEC 5: "sampled on every trade,
   liquidation and ADL, so that nobody decides it by timing a call".
4. A bankrupt position paid no keeper reward; the fund pays it now (capped, never below zero cash). SPEC 5.
5. The high-water mark reset to the current equity once its window had passed since it was set; it is now the
   largest sample of the window that ends now. SPEC 5: "a true maximum over its window".
"""
from fractions import Fraction as Q

import pytest

import oracle as O
from model_bridge import View
from perp.model import WAD, Match, ModelError, SimpleOrder, reference_model

T0 = 1_700_000_000
U = 10**6
ALICE, BOB, CAROL, DAVE, KEEPER = (f"0x{i:040x}" for i in (1, 2, 3, 4, 9))


class Book:
    """A 6-decimal reference model (ETH-PERP at 2,000) with four funded traders."""

    def __init__(self, fund_seed):
        self.m = reference_model(6, fund_seed=fund_seed * U, now=T0)
        self.v = View(self.m, 1)
        self.now, self.nonce = T0, 0
        for a in (ALICE, BOB, CAROL, DAVE):
            self.m.deposit(a, 10_000 * U)

    def trade(self, buyer, seller, size, price, lev_b, lev_s):
        self.now += 1
        self.nonce += 2
        b = SimpleOrder(buyer, 1, True, size, price * WAD, lev_b * WAD, self.nonce, T0 + 10**6, False,
                        self.m.order_epoch(buyer), True)  # the buyer rests (maker)
        s = SimpleOrder(seller, 1, False, size, price * WAD, lev_s * WAD, self.nonce + 1, T0 + 10**6, False,
                        self.m.order_epoch(seller))
        self.m.settle(Match(b, s, size, price * WAD), self.now)

    def price(self, p, seconds=1):
        self.now += seconds
        self.m.set_price(1, p * 10**8, self.now)

    def mark(self):
        return self.v.mark(self.now)

    def act(self, name, *args):
        """Runs a keeper action; returns the first event other than the fund's sample (``FundWatermarkUpdated``)."""
        self.now += 1
        getattr(self.m, name)(KEEPER, 1, *args, self.now)
        events = [d for n, d in self.m.events if n != "FundWatermarkUpdated"]
        return dict(events[0]) if events else None

    def names(self):
        return [n for n, _ in self.m.events]


# ------------------------------------------------------------------------------------------ 1. keeper reward


def test_keeper_reward_is_rounded_against_the_keeper():
    """Alice long 1 ETH less 1 wei at 2,000 (19x), the mark at 1,950: notional 1,949.999999999999998050 exactly.
    (At 20x = 1/imr the buyer, who pays the notional rounded up, would miss the initial margin by one unit.)"""
    b = Book(0)
    b.trade(ALICE, BOB, WAD - 1, 2000, 19, 2)
    b.price(1950)
    p = b.v.position(ALICE)
    exact = p.notional(b.mark()) * b.v.params.reward_rate  # 0.5%: 9.74999999999999999025
    liq = b.act("liquidate", ALICE)
    assert exact == Q(38999999999999999961, 4 * 10**18)
    assert liq["keeperReward"] == 9_749_999 and b.m.free_collateral(KEEPER) == 9_749_999
    assert 0 <= exact - b.v.money(liq["keeperReward"]) < b.v.unit  # at most the exact reward, by less than 1 unit
    assert exact < p.equity(b.mark()) and exact < b.v.params.max_reward  # the 0.5% term is the binding one


# ------------------------------------------------------------------------------------------ 2. drawdown refusal


def test_fund_refuses_a_position_that_would_put_its_drawdown_past_the_trigger():
    """A fund of 500 (plus 1.40 of fees); alice long 1 @ 2,000 at 20x; the mark gaps to 1,700: alice's equity is
    -200, so taking her position would leave the fund at 301.40 - 8.50 (the keeper's reward, from the fund) below its
    high-water mark of 501.40: a 41.6% drawdown, past the 30% trigger. The fund refuses; Type 1 closes alice against
    bob (short 1 @ 2,000) at her bankruptcy price of 1,900."""
    b = Book(500)
    b.trade(ALICE, BOB, WAD, 2000, 20, 2)
    b.price(1700)
    book, fund, mark = b.v.book(), b.v.fund(), b.mark()
    t = O.HighWaterMark(b.v.params)
    t.sample(b.now + 1, fund.equity(mark), "liquidation")
    spec = O.liquidate(book, fund, ALICE, mark, b.v.params, t.value(), t.latched)
    liq = b.act("liquidate", ALICE)
    assert b.names() == ["FundWatermarkUpdated", "Liquidated", "OrderEpochBumped", "FundRefused", "OrderEpochBumped",
                         "AdlFill"]
    assert liq["keeperReward"] == 8_500_000  # 0.5% of 1,700, from the fund: alice has no equity
    refused = [d for n, d in b.m.events if n == "FundRefused"][0]
    fill = [d for n, d in b.m.events if n == "AdlFill"][0]
    assert refused["reason"] == 3  # RefusalReason.Drawdown
    assert (fill["account"], fill["sizeDelta"], fill["price"], fill["rank"]) == (BOB, WAD, 1900 * WAD, 1)
    assert b.m.fund(1) == (492_900_000, 0, 0, 501_400_000, T0 + 3, False)  # 501.40 less the reward, flat
    assert (spec.accepted, spec.reasons, spec.reward) == (False, {"drawdown"}, Q("8.5"))
    assert [(f.account, f.size, f.price) for f in spec.fills] == [(BOB, 1, 1900)]


# ------------------------------------------------------------------------------------------ 3. trades sample


def trade_sample_book():
    """A fund of 500 takes alice's long at 1,909.725 (timely at 1,945); the mark rises to 2,400 (fund equity
    991.675) and carol and dave trade there; the mark falls back to 2,000 (fund equity 591.843)."""
    b = Book(500)
    b.trade(ALICE, BOB, WAD, 2000, 20, 2)
    b.price(1945)
    b.act("liquidate", ALICE)
    spec = O.HighWaterMark(b.v.params)
    spec.sample(b.now, Q("501.4"), "liquidation")
    b.price(2400)
    spec.sample(b.now + 1, b.v.fund().equity(b.mark()), "trade")
    b.trade(CAROL, DAVE, WAD // 10, 2400, 5, 5)
    stored = b.m.fund(1)
    b.price(2000)
    spec.sample(b.now + 1, b.v.fund().equity(b.mark()), "adl")
    with pytest.raises(ModelError) as exc:
        b.act("deleverage_fund")
    return b, spec, stored, exc.value.revert_string()


def test_every_trade_samples_the_high_water_mark():
    b, spec, stored, err = trade_sample_book()
    assert stored[3:] == (991_675_000, T0 + 5, False)  # the trade's sample (the fund's equity at 2,400) is the mark
    assert (spec.value(), spec.latched) == (Q("991.675"), True)
    # Type 2's sample (591.843, a 40.3% drawdown) sets the latch, so Type 2 runs, and reverts as a whole because the
    # one eligible short (dave, 0.1) cannot take the fund's whole long 1; a poke keeps the latch
    assert err == "InsufficientAdlCapacity: 1, 1000000000000000000, 100000000000000000"
    assert b.m.fund(1) == stored
    b.act("poke_fund")
    assert b.m.fund(1)[3:] == (991_675_000, T0 + 5, True)


# ------------------------------------------------------------------------------------------ 4. bankrupt reward


def test_a_bankrupt_position_pays_its_keeper_from_the_fund():
    b = Book(500)
    b.trade(ALICE, BOB, WAD, 2000, 20, 2)
    b.price(1850)  # alice: equity 100 - 150 = -50
    book, fund, mark = b.v.book(), b.v.fund(), b.mark()
    spec = O.liquidate(book, fund, ALICE, mark, b.v.params, fund.equity(mark), False)
    liq = b.act("liquidate", ALICE)
    assert (liq["equity"], liq["keeperReward"]) == (-50 * U, 9_250_000)  # min(0.5% x 1,850, 100), from the fund
    assert b.m.free_collateral(KEEPER) == 9_250_000
    assert b.names() == ["FundWatermarkUpdated", "Liquidated", "OrderEpochBumped", "FundAccepted"]
    assert b.m.fund(1)[:3] == (501_400_000 - 9_250_000, WAD, 1_900_000_000)  # its cash paid the keeper
    assert (spec.reward, spec.reward_from_fund, spec.accepted) == (Q("9.25"), True, True)


def test_an_empty_fund_pays_what_it_has():
    """A fund with 1.40 of cash (fees) pays a bankrupt position's keeper 1.40, not 9.25, and stays at zero."""
    b = Book(0)
    b.trade(ALICE, BOB, WAD, 2000, 20, 2)
    b.price(1850)
    liq = b.act("liquidate", ALICE)
    assert liq["keeperReward"] == 1_400_000 == b.m.free_collateral(KEEPER)
    assert b.m.fund(1)[0] == 0


# ------------------------------------------------------------------------------------------ 5. rolling window


def test_the_high_water_mark_is_the_largest_sample_of_its_window():
    """The fund takes alice's long at 1,909.725 (its mark: 501.40, sampled then); an hour later a poke samples 491.675
    (mark 1,900); seven hours later (eight after the first sample) the mark is 1,750 and the fund's equity 341.675.
    The first sample has left the 8-hour window, the poke's has not: the mark is 491.675, a drawdown of 30.5%, past
    the 30% trigger, and Type 2 runs (before, the mark reset to 341.675 and Type 2 reverted FundNotDistressed)."""
    b = Book(500)
    b.trade(ALICE, BOB, WAD, 2000, 20, 2)
    b.price(1945)
    spec = O.HighWaterMark(b.v.params)

    def sample(action):
        spec.sample(b.now + 1, b.v.fund().equity(b.mark()), action)

    sample("liquidation")
    b.act("liquidate", ALICE)
    assert b.m.fund(1)[:4] == (501_400_000, WAD, 1_909_725_000, 501_400_000)
    b.price(1900, 3600)
    sample("poke")
    b.act("poke_fund")
    poke_time = b.now
    b.price(1750, 7 * 3600 + 10)  # 8 h after the first sample, 7 h after the poke
    sample("poke")
    b.act("poke_fund")
    assert b.m.fund(1)[3:] == (491_675_000, poke_time, True)
    assert (spec.value(), spec.latched) == (Q("491.675"), True)
    book, fund, mark = b.v.book(), b.v.fund(), b.mark()
    d = O.deleverage_fund(book, fund, mark, b.v.params, spec.value(), spec.latched)
    b.act("deleverage_fund")
    fills = [(e["account"], e["adlType"], e["sizeDelta"]) for n, e in b.m.events if n == "AdlFill"]
    assert d.causes == {"drawdown"} and [(f.account, f.size) for f in d.fills] == [(BOB, 1)]
    assert fills == [(BOB, 2, WAD)]
