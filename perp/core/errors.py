"""The protocol's custom errors (``IPerpetualErrors``) as Python exceptions, and the revert-string format that
Brownie prints (``"InsufficientFreeCollateral: 0xabc..., 0, 5"``). Pure Python."""
from __future__ import annotations

ERROR_NAMES = (
    "ZeroAmount", "TokenTransferMismatch", "UnsupportedDecimals", "InsufficientFreeCollateral", "UnknownMarket",
    "MarketPaused", "InvalidParameter", "InvalidOraclePrice", "StaleOraclePrice", "OracleUpdatedInFuture", "NoPosition",
    "InsufficientPositionMargin", "InsufficientMargin", "ProfitNotWithdrawable", "LeverageTooHigh", "LeverageTooLow", "TradeLeavesBadDebt",
    "InvalidSignature", "OrderExpired", "OrderIsCancelled", "OrderEpochStale", "OrderOverfilled", "MarketMismatch",
    "SameSide", "SelfTrade", "PriceOutsideLimit", "PriceOutsideOracleBand", "ReduceOnlyViolated",
    "NotionalTooSmall", "NotOrderOwner", "NotLiquidatable", "FundNotDistressed", "FundFlat",
    "InsufficientAdlCapacity", "ValueOverflow", "PositionBelowMinimum", "QueueHintTooFar", "AdlWorkLimit",
    "SequencerDown", "SequencerGracePeriod", "Type2Preview", "PartMismatch", "NotInOverflow",
    "Panic", "SafeCastOverflowedUintDowncast",
    "SafeCastOverflowedIntDowncast", "ERC20InsufficientBalance",
)


def format_error_arg(a) -> str:
    """Formats one custom-error argument as Brownie shows it in a revert string (also used by tests/support.err)."""
    if hasattr(a, "address"):
        return a.address.lower()
    if isinstance(a, str) and a.startswith("0x") and len(a) == 42:
        return a.lower()
    if isinstance(a, str) and a.startswith("0x") and len(a) == 66:
        return str(bytes.fromhex(a[2:]))
    if isinstance(a, (bytes, bytearray)):
        return str(bytes(a))
    return str(a)


class ModelError(Exception):
    """A custom error of the contracts: ``ModelError("InsufficientFreeCollateral", account, available, needed)``.

    Constructing ``ModelError(name, *args)`` returns an instance of the subclass named ``name`` (so
    ``except InsufficientFreeCollateral`` and ``except ModelError`` both work); ``.name`` and ``.args_`` hold
    the error and its arguments."""

    _classes: dict = {}

    def __new__(cls, name=None, *args):
        if cls is ModelError and name in ModelError._classes:
            cls = ModelError._classes[name]
        return super().__new__(cls)

    def __init__(self, name, *args):
        super().__init__(name, *args)
        self.name = name
        self.args_ = tuple(args)

    def revert_string(self) -> str:
        return f"{self.name}: " + ", ".join(format_error_arg(a) for a in self.args_)

    def __str__(self) -> str:
        return self.revert_string()

    def __eq__(self, other):
        return isinstance(other, ModelError) and (self.name, self.args_) == (other.name, other.args_)

    def __hash__(self):
        return hash((self.name, self.args_))


ERRORS: dict = {}
for _n in ERROR_NAMES:
    ERRORS[_n] = ModelError._classes[_n] = type(_n, (ModelError,), {"__module__": __name__})
    globals()[_n] = ERRORS[_n]


def fail(name: str, *args):
    """Raises the custom error ``name`` with ``args``."""
    raise ModelError(name, *args)
