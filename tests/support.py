"""Test harness: a deployment plus signers, order helpers and the invariant audit after every action."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from brownie import chain, web3

from perp.audit import Audit
from perp.model import format_error_arg
from perp.orders import Order, match_tuple, sign_order
from perp.units import WAD

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ORACLE_DECIMALS = 8
DEFAULT_LEVERAGE = 5 * WAD
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass
class Env:
    dep: object  # scripts.deploy.Deployment
    signers: list  # brownie LocalAccounts with private keys (same addresses as the unlocked dev accounts)
    nonces: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.perp = self.dep.perp
        self.lens = self.dep.lens
        self.token = self.dep.token
        self.decimals = self.token.decimals()
        self.scale = 10 ** (18 - self.decimals)
        self.chain_id = chain.id
        self.ETH = self.dep.market_id("ETH-PERP")
        self.BTC = self.dep.market_id("BTC-PERP")
        self.keeper = self.signers[9]
        self.audit = Audit(web3, self.perp.address, self.lens.address, {str(s) for s in self.signers})

    # ---------------------------------------------------------------- amounts
    def units(self, x) -> int:
        """Human collateral amount (int or str) to token units."""
        from perp.units import units

        return units(str(x), self.decimals)

    # ---------------------------------------------------------------- collateral
    def fund(self, account, amount: int) -> None:
        """Mints `amount` token units to `account` and deposits them."""
        self.token.faucet(account, amount, {"from": account})
        self.token.approve(self.perp, amount, {"from": account})
        self.perp.deposit(amount, {"from": account})

    # ---------------------------------------------------------------- oracle
    def oracle(self, market_id: int):
        name = "ETH-PERP" if market_id == self.ETH else "BTC-PERP"
        return self.dep.oracle(name)

    def set_price(self, market_id: int, price) -> None:
        """Sets the mock feed (human price, int or str)."""
        from decimal import Decimal

        self.oracle(market_id).setPrice(int(Decimal(str(price)) * 10**ORACLE_DECIMALS), {"from": self.dep.deployer})

    # ---------------------------------------------------------------- orders
    def order(self, account, market_id, is_buy, size, limit_price, **kw) -> Order:
        nonce = kw.pop("nonce", None)
        if nonce is None:
            nonce = self.nonces.get(str(account), 0) + 1
            self.nonces[str(account)] = nonce
        kw.setdefault("leverage", DEFAULT_LEVERAGE)
        kw.setdefault("expiry", chain.time() + 3600)
        kw.setdefault("epoch", self.perp.orderEpoch(account))
        return Order(
            account=str(account), market_id=market_id, is_buy=is_buy, size=size, limit_price=limit_price, nonce=nonce, **kw
        )

    def sign(self, order: Order, signer=None, chain_id=None, contract=None) -> bytes:
        signer = signer or self.signer_of(order.account)
        return sign_order(order, signer.private_key, chain_id or self.chain_id, contract or self.perp.address)

    def signer_of(self, address):
        for s in self.signers:
            if str(s) == str(address):
                return s
        raise KeyError(address)

    def match(self, maker: Order, taker: Order, fill_size=None, fill_price=None, maker_sig=None, taker_sig=None):
        """The pair as `settle` takes it. An order this helper signs is signed in the role it is given here (the
        role is part of the signed order: `Order.is_maker`); an order with its own signature keeps its role."""
        if maker_sig is None:
            maker = self.as_maker(maker)
        if taker_sig is None:
            taker = replace(taker, is_maker=False)
        return match_tuple(
            maker,
            maker_sig or self.sign(maker),
            taker,
            taker_sig or self.sign(taker),
            fill_size if fill_size is not None else min(maker.size, taker.size),
            fill_price if fill_price is not None else maker.limit_price,
        )

    @staticmethod
    def as_maker(order: Order) -> Order:
        """`order` signed as a resting (maker) order: the one `match` settles as the maker."""
        return replace(order, is_maker=True)

    def trade(self, buyer, seller, market_id, size, price, buyer_leverage=DEFAULT_LEVERAGE, seller_leverage=DEFAULT_LEVERAGE,
              submitter=None, **kw):
        """Buyer (maker) and seller (taker) each sign an order; `submitter` settles the pair."""
        maker = self.order(buyer, market_id, True, size, price, leverage=buyer_leverage, is_maker=True)
        taker = self.order(seller, market_id, False, size, price, leverage=seller_leverage)
        return self.perp.settle(self.match(maker, taker), {"from": submitter or self.keeper, **kw})

    # ---------------------------------------------------------------- reads
    def position(self, market_id, account) -> dict:
        v = self.lens.positionInfo(market_id, account)
        keys = ("account", "size", "open_notional", "margin", "entry_price", "notional", "upnl", "equity",
                "bankruptcy_price", "state", "open_seq")
        return dict(zip(keys, v))

    def fund_state(self, market_id) -> dict:
        keys = ("cash", "size", "open_notional", "equity", "net_notional", "hwm", "drawdown", "distressed")
        return dict(zip(keys, self.lens.fundState(market_id)))

    def free(self, account) -> int:
        return self.perp.freeCollateral(account)

    def side_accounts(self, market_id, is_long) -> list:
        """The accounts with an open position on one side, in the ADL queue's storage order (``sidePositions``)."""
        accounts, _, _ = self.perp.sidePositions(market_id, is_long, ZERO_ADDRESS, 2**256 - 1)
        return [str(a) for a in accounts]

    # ---------------------------------------------------------------- invariants
    def check(self, after_keeper: bool = False):
        """Conservation, balanced book, non-negative fund cash, the ADL queue (and no bad debt after keepers)."""
        return self.audit.assert_ok(after_keeper=after_keeper)


def err(name: str, *args) -> str:
    """The revert string Brownie reports for custom error `name(args...)`, e.g.
    ``brownie.reverts(err("InsufficientFreeCollateral", alice, 0, 5))``. Addresses are lower-cased, bytes32
    values (order hashes) are shown as Python bytes, bools as True/False, ints in decimal."""
    return f"{name}: " + ", ".join(format_error_arg(a) for a in args)
