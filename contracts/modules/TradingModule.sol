// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IPerpetualCore} from "../../interfaces/IPerpetual.sol";
import {Order, Match} from "../../interfaces/IPerpetualTypes.sol";
import {PerpBase} from "../base/PerpBase.sol";
import {PerpMath} from "../libraries/PerpMath.sol";

/// @title TradingModule
/// @notice Positions change only by matching two EIP-712 signed orders; anyone may submit a matched pair. After a
///         fill, each side's position is re-sorted in its ADL queue (after the submitter's hint) and must stay at or
///         above the market's minimum notional.
/// @dev The EIP-712 domain is "ADL Perpetual" version "1" with this chain's id and this contract's address, built
///      on each call (OpenZeppelin's EIP712 keeps storage fallbacks, which the two halves' shared layout avoids).
abstract contract TradingModule is PerpBase, ReentrancyGuardTransient, IPerpetualCore {
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("ADL Perpetual");
    bytes32 private constant VERSION_HASH = keccak256("1");

    /// @notice EIP-712 type hash of `Order`.
    bytes32 public constant ORDER_TYPEHASH = keccak256(
        "Order(address account,uint256 marketId,bool isBuy,uint256 size,uint256 limitPrice,uint256 leverage,"
        "bool reduceOnly,bool isMaker,uint256 nonce,uint256 epoch,uint256 expiry)"
    );

    /// @inheritdoc IPerpetualCore
    function settle(Match calldata m) external nonReentrant {
        _settle(m);
    }

    /// @inheritdoc IPerpetualCore
    function settleBatch(Match[] calldata matches) external nonReentrant {
        for (uint256 i; i < matches.length; ++i) {
            _settle(matches[i]);
        }
    }

    /// @inheritdoc IPerpetualCore
    function cancelOrder(Order calldata order) external nonReentrant {
        if (order.account != msg.sender) revert NotOrderOwner(msg.sender, order.account);
        bytes32 orderHash = hashOrder(order);
        filledAmount[orderHash] = type(uint256).max;
        emit OrderCancelled(orderHash, msg.sender);
    }

    /// @inheritdoc IPerpetualCore
    function cancelAllOrders() external nonReentrant {
        _bumpOrderEpoch(msg.sender);
    }

    /// @inheritdoc IPerpetualCore
    function hashOrder(Order calldata order) public view returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(
            domainSeparator(),
            keccak256(
                abi.encode(
                    ORDER_TYPEHASH,
                    order.account,
                    order.marketId,
                    order.isBuy,
                    order.size,
                    order.limitPrice,
                    order.leverage,
                    order.reduceOnly,
                    order.isMaker,
                    order.nonce,
                    order.epoch,
                    order.expiry
                )
            )
        );
    }

    /// @notice The EIP-712 domain separator (chain id and this contract's address included).
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function _settle(Match calldata m) private {
        uint256 marketId = m.maker.marketId;
        if (m.taker.marketId != marketId) revert MarketMismatch(marketId, m.taker.marketId);
        if (m.maker.isBuy == m.taker.isBuy) revert SameSide(m.maker.isBuy);
        if (m.maker.account == m.taker.account) revert SelfTrade(m.maker.account);
        if (m.fillSize == 0) revert ZeroAmount();
        Market storage mkt = _activeMarket(marketId);
        uint256 mark = _markPrice(marketId, mkt);
        uint256 band = PerpMath.bpsDown(mark, mkt.params.oracleBandBps);
        if (m.fillPrice > mark + band || m.fillPrice + band < mark) {
            revert PriceOutsideOracleBand(m.fillPrice, mark, mkt.params.oracleBandBps);
        }
        // The buyer pays the notional rounded up, the seller receives it rounded down, the fund keeps the difference:
        // no fill, however small, moves a unit from one trader to the other.
        uint256 sellerNotional = PerpMath.notionalDown(m.fillSize, m.fillPrice, _scale);
        if (sellerNotional == 0) revert NotionalTooSmall(m.fillSize, m.fillPrice);
        uint256 buyerNotional = PerpMath.notionalUp(m.fillSize, m.fillPrice, _scale);
        _updateWatermark(marketId, mkt, mark); // every trade samples the fund's high-water mark, before it acts

        (bytes32 makerHash, uint256 makerFee) = _fillOrder(
            mkt, m.maker, m.makerSignature, m, m.maker.isBuy ? buyerNotional : sellerNotional, mark, true, m.makerHint
        );
        (bytes32 takerHash, uint256 takerFee) = _fillOrder(
            mkt, m.taker, m.takerSignature, m, m.taker.isBuy ? buyerNotional : sellerNotional, mark, false, m.takerHint
        );
        uint256 toFund = makerFee + takerFee + (buyerNotional - sellerNotional);
        if (toFund != 0) mkt.fundCash += int256(toFund);
        if (mkt.fundingPeriod != 0) {
            // the funding rate's target: this fill's premium over the oracle, clamped (FundingParams)
            int256 premium = (int256(m.fillPrice) - int256(mark)) * int256(PerpMath.WAD) / int256(mark);
            int256 cap = int256(uint256(mkt.fundingMaxRate));
            mkt.fundingTarget = int64(premium > cap ? cap : premium < -cap ? -cap : premium);
        }
        if (m.maker.isBuy) {
            emit Trade(
                marketId, m.maker.account, m.taker.account, m.fillSize, m.fillPrice, buyerNotional, sellerNotional,
                makerFee, takerFee, makerHash, takerHash
            );
        } else {
            emit Trade(
                marketId, m.taker.account, m.maker.account, m.fillSize, m.fillPrice, buyerNotional, sellerNotional,
                takerFee, makerFee, takerHash, makerHash
            );
        }
        _emitPosition(marketId, m.maker.account);
        _emitPosition(marketId, m.taker.account);
    }

    /// @dev One side of a match (`asMaker`: its maker side): checks and records the order (its signed role included),
    ///      applies the fill to the position at this side's `notional` (the buyer's rounded up, the seller's down),
    ///      enforces reduce-only and the minimum notional, re-sorts the position in its ADL queue (after `hint`),
    ///      charges the fee of its role (rounded up, from free collateral, where released margin has just landed)
    ///      and, if exposure grew, checks initial margin after the write. Returns the order hash and fee.
    function _fillOrder(
        Market storage mkt,
        Order calldata order,
        bytes calldata signature,
        Match calldata m,
        uint256 notional,
        uint256 mark,
        bool asMaker,
        address hint
    ) private returns (bytes32 orderHash, uint256 fee) {
        orderHash = _useOrder(order, signature, m.fillSize, m.fillPrice, mkt.params.maxLeverage, mkt.params.minFillSize);
        if (order.isMaker != asMaker) revert OrderRoleMismatch(orderHash, order.isMaker);
        uint256 marketId = order.marketId;
        int256 before = _positions[marketId][order.account].size;
        bool increased = _fillTrader(
            marketId, order.account, order.isBuy ? int256(m.fillSize) : -int256(m.fillSize), notional, order.leverage, mark
        );
        if (order.reduceOnly && increased) {
            revert ReduceOnlyViolated(orderHash, before, _positions[marketId][order.account].size);
        }
        _requireMinNotional(marketId, mkt, order.account, m.fillPrice);
        _requeue(marketId, order.account, hint);
        uint256 feeBps = asMaker ? mkt.params.makerFeeBps : mkt.params.takerFeeBps;
        if (feeBps != 0) {
            fee = PerpMath.bpsUp(notional, feeBps);
            _debit(order.account, fee);
        }
        if (increased) _requireInitialMargin(marketId, order.account, mkt, mark);
    }

    /// @dev Checks an order for a fill (signature, expiry, epoch, cancellation, remaining size, minimum fill, limit
    ///      price, leverage) and records the fill against it.
    function _useOrder(
        Order calldata order,
        bytes calldata signature,
        uint256 fillSize,
        uint256 fillPrice,
        uint256 maxLeverage,
        uint256 minFillSize
    ) private returns (bytes32 orderHash) {
        orderHash = hashOrder(order);
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(orderHash, signature);
        if (err != ECDSA.RecoverError.NoError || recovered != order.account) {
            revert InvalidSignature(order.account, recovered);
        }
        if (block.timestamp > order.expiry) revert OrderExpired(orderHash, order.expiry, block.timestamp);
        uint256 epoch = _accounts[order.account].orderEpoch;
        if (order.epoch != epoch) revert OrderEpochStale(orderHash, order.epoch, epoch);
        if (order.leverage > maxLeverage) revert LeverageTooHigh(order.leverage, maxLeverage);
        if (order.leverage < PerpMath.WAD) revert LeverageTooLow(order.leverage);
        if (order.isBuy ? fillPrice > order.limitPrice : fillPrice < order.limitPrice) {
            revert PriceOutsideLimit(orderHash, fillPrice, order.limitPrice);
        }
        uint256 filledBefore = filledAmount[orderHash];
        if (filledBefore == type(uint256).max) revert OrderIsCancelled(orderHash);
        if (filledBefore + fillSize > order.size) {
            revert OrderOverfilled(orderHash, filledBefore, fillSize, order.size);
        }
        if (fillSize < minFillSize && filledBefore + fillSize != order.size) {
            revert FillBelowMinimum(orderHash, fillSize, minFillSize);
        }
        filledAmount[orderHash] = filledBefore + fillSize;
    }
}
