"""Reference model: ``MarginModule`` (contracts/modules/MarginModule.sol): the vault: deposits, withdrawals, margin added to and removed from a position."""
from __future__ import annotations

from ..core.valuation import equity as equity_at
from ..core import UINT256_MAX, fail, notional_up, queue, wad_mul_up
from .base import wad_div_up
from .storage import ZERO, _uint96, _uint128, addr


class MarginModule:
    def deposit(self, sender, amount: int) -> None:
        self._tx(self._deposit, addr(sender), amount)

    def deposit_for(self, sender, account, amount: int) -> None:
        self._tx(self._deposit, addr(account), amount)

    def _deposit(self, account, amount):
        if amount == 0:
            fail("ZeroAmount")
        if account == ZERO:
            fail("InvalidParameter", "account", 0)
        self._credit(account, amount)
        self.vault += amount

    def deposit_for_many(self, sender, accounts, amounts) -> None:
        def run():
            if len(accounts) != len(amounts):
                fail("InvalidParameter", "amounts.length", len(amounts))
            total = 0
            for a, amount in zip(accounts, amounts):
                if amount == 0:
                    fail("ZeroAmount")
                if addr(a) == ZERO:
                    fail("InvalidParameter", "account", 0)
                self._credit(addr(a), amount)
                total += amount
            self.vault += total

        self._tx(run)

    def withdraw(self, sender, amount: int) -> None:
        def run():
            if amount == 0:
                fail("ZeroAmount")
            self._debit(addr(sender), amount)
            if self.vault < amount:  # the token's transfer fails: the vault holds less than it owes
                fail("ERC20InsufficientBalance", self.address, self.vault, amount)
            self.vault -= amount

        self._tx(run)

    def add_margin(self, sender, mid: int, amount: int, hint=ZERO, now: int | None = None) -> None:
        """MarginModule.addMargin (``now``: the block time, which funding accrues to; needed once funding is on)."""
        def run():
            a = addr(sender)
            m = self._market(mid)
            if amount == 0:
                fail("ZeroAmount")
            pos = self.positions.get((mid, a))
            if pos is None:
                fail("NoPosition", mid, a)
            self._debit(a, amount)
            if m.funding_period != 0:
                if now is None:
                    raise ValueError("add_margin needs `now` once the market has funding")
                self._accrue_funding(mid, m, now)
            self._settle_index(mid, m, a, pos)
            pos.margin = _uint96(pos.margin + amount)
            self._requeue(mid, a, hint)

        self._tx(run)

    def remove_margin(self, sender, mid: int, amount: int, now: int, hint=ZERO) -> None:
        def run():
            a = addr(sender)
            m = self._active_market(mid)
            if amount == 0:
                fail("ZeroAmount")
            pos = self.positions.get((mid, a))
            if pos is None:
                fail("NoPosition", mid, a)
            price = self._mark(mid, m, now)
            if pos.margin < amount:
                fail("InsufficientPositionMargin", mid, a, pos.margin, amount)
            self._accrue_funding(mid, m, now, price)
            self._settle_index(mid, m, a, pos)
            pos.margin -= amount
            self._credit(a, amount)
            self._require_im(mid, a, m, price)
            notional = notional_up(abs(pos.size), price, self.scale)
            backing = equity_at(pos.size, pos.open_notional, pos.margin, price, self.scale)
            if backing > pos.margin:  # in profit: the profit does not count (MarginModule._removeMargin)
                im = wad_mul_up(notional, m.params.imr)
                if pos.margin < im:
                    fail("ProfitNotWithdrawable", mid, a, pos.margin, im)
                backing = pos.margin
            leverage = UINT256_MAX if backing == 0 else wad_div_up(notional, backing)
            if leverage > m.params.max_leverage:
                fail("LeverageTooHigh", leverage, m.params.max_leverage)
            self._requeue(mid, a, hint)

        self._tx(run)

    def requeue(self, sender, mid: int, account, hint=ZERO) -> None:
        """QueueModule.requeue: a position waiting in the overflow list goes back into its tier (anyone may call)."""
        def run():
            self._market(mid)
            a = addr(account)
            pos = self.positions.get((mid, a))
            if pos is None or not pos.queued or pos.tier != queue.OVERFLOW:
                fail("NotInOverflow", mid, a)
            self._requeue(mid, a, hint)
            self.events.append(("PositionRequeued", {"marketId": mid, "account": a}))

        self._tx(run)
