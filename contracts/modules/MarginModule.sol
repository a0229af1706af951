// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IPerpetualCore} from "../../interfaces/IPerpetual.sol";
import {Position} from "../../interfaces/IPerpetualTypes.sol";
import {PerpBase} from "../base/PerpBase.sol";
import {PerpMath} from "../libraries/PerpMath.sol";

/// @title MarginModule
/// @notice The collateral vault: deposits, withdrawals of free collateral, and margin moved between free
///         collateral and an isolated position.
abstract contract MarginModule is PerpBase, ReentrancyGuardTransient, IPerpetualCore {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @inheritdoc IPerpetualCore
    function freeCollateral(address account) external view returns (uint256) {
        return _accounts[account].freeCollateral;
    }

    /// @inheritdoc IPerpetualCore
    function orderEpoch(address account) external view returns (uint256) {
        return _accounts[account].orderEpoch;
    }

    /// @inheritdoc IPerpetualCore
    function deposit(uint256 amount) external nonReentrant {
        _deposit(msg.sender, amount);
    }

    /// @inheritdoc IPerpetualCore
    function depositFor(address account, uint256 amount) external nonReentrant {
        _deposit(account, amount);
    }

    /// @inheritdoc IPerpetualCore
    function depositForMany(address[] calldata accounts, uint256[] calldata amounts) external nonReentrant {
        if (accounts.length != amounts.length) revert InvalidParameter("amounts.length", amounts.length);
        uint256 total;
        for (uint256 i; i < accounts.length; ++i) {
            uint256 amount = amounts[i];
            if (amount == 0) revert ZeroAmount();
            if (accounts[i] == address(0)) revert InvalidParameter("account", 0);
            uint256 free = _credit(accounts[i], amount);
            total += amount;
            emit Deposited(accounts[i], msg.sender, amount, free);
        }
        _pullCollateral(msg.sender, total);
    }

    /// @inheritdoc IPerpetualCore
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 free = _debit(msg.sender, amount);
        emit Withdrawn(msg.sender, amount, free);
        collateral.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IPerpetualCore
    function addMargin(uint256 marketId, uint256 amount) external nonReentrant {
        _addMargin(marketId, amount, address(0));
    }

    /// @inheritdoc IPerpetualCore
    function addMargin(uint256 marketId, uint256 amount, address hint) external nonReentrant {
        _addMargin(marketId, amount, hint);
    }

    /// @inheritdoc IPerpetualCore
    function removeMargin(uint256 marketId, uint256 amount) external nonReentrant {
        _removeMargin(marketId, amount, address(0));
    }

    /// @inheritdoc IPerpetualCore
    function removeMargin(uint256 marketId, uint256 amount, address hint) external nonReentrant {
        _removeMargin(marketId, amount, hint);
    }

    function _addMargin(uint256 marketId, uint256 amount, address hint) private {
        Market storage mkt = _market(marketId);
        if (amount == 0) revert ZeroAmount();
        Position storage pos = _positions[marketId][msg.sender];
        if (pos.size == 0) revert NoPosition(marketId, msg.sender);
        _debit(msg.sender, amount);
        _accrueFunding(marketId, mkt, 0); // (no oracle read here: adding margin works without a usable price)
        _settleIndex(marketId, mkt, msg.sender, pos);
        pos.margin = (uint256(pos.margin) + amount).toUint96();
        _requeue(marketId, msg.sender, hint);
        _emitPosition(marketId, msg.sender);
    }

    function _removeMargin(uint256 marketId, uint256 amount, address hint) private {
        Market storage mkt = _activeMarket(marketId);
        if (amount == 0) revert ZeroAmount();
        Position storage pos = _positions[marketId][msg.sender];
        if (pos.size == 0) revert NoPosition(marketId, msg.sender);
        uint256 price = _markPrice(marketId, mkt);
        if (pos.margin < amount) revert InsufficientPositionMargin(marketId, msg.sender, pos.margin, amount);
        _accrueFunding(marketId, mkt, price);
        _settleIndex(marketId, mkt, msg.sender, pos);
        pos.margin -= uint96(amount);
        _credit(msg.sender, amount);
        // Health after the write, with unrealized profit left out (the usual exchange rule: profit can be taken out
        // once realized, never against the open position, so a removal cannot spend the margin that ADL and
        // liquidation rely on): equity must cover initial margin, the margin itself must too when the position
        // is in profit, and leverage over the smaller of the two stay within the maximum.
        _requireInitialMargin(marketId, msg.sender, mkt, price);
        uint256 notional = _notionalUp(pos.size, price);
        uint256 backing = uint256(_equity(mkt, pos, price)); // >= initial margin > 0 after the check above
        if (backing > pos.margin) {
            uint256 im = PerpMath.wadMulUp(notional, mkt.params.imr);
            if (pos.margin < im) revert ProfitNotWithdrawable(marketId, msg.sender, pos.margin, im);
            backing = pos.margin;
        }
        uint256 leverage = backing == 0 ? type(uint256).max : PerpMath.wadDivUp(notional, backing);
        if (leverage > mkt.params.maxLeverage) revert LeverageTooHigh(leverage, mkt.params.maxLeverage);
        _requeue(marketId, msg.sender, hint);
        _emitPosition(marketId, msg.sender);
    }

    function _deposit(address account, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        if (account == address(0)) revert InvalidParameter("account", 0);
        uint256 free = _credit(account, amount);
        emit Deposited(account, msg.sender, amount, free);
        _pullCollateral(msg.sender, amount);
    }
}
