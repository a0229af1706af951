// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MarketParams, Position} from "../interfaces/IPerpetualTypes.sol";
import {PerpStorage} from "./base/PerpStorage.sol";
import {MarginModule} from "./modules/MarginModule.sol";
import {MarketModule} from "./modules/MarketModule.sol";
import {TradingModule} from "./modules/TradingModule.sol";
import {LiquidationModule} from "./modules/LiquidationModule.sol";

/// @title Perpetual
/// @notice Perpetual futures on one collateral token: isolated-margin positions in several markets, trading by
///         matched EIP-712 orders, liquidation into a per-market insurance fund, and ranked auto-deleveraging.
/// @dev Mechanism by file: margin `modules/MarginModule.sol`, markets `modules/MarketModule.sol`, trading
///      `modules/TradingModule.sol`, liquidation `modules/LiquidationModule.sol`, insurance fund
///      `modules/InsuranceFundModule.sol`, ADL `modules/AdlModule.sol`, accounting and oracle `base/PerpBase.sol`.
contract Perpetual is MarginModule, MarketModule, TradingModule, LiquidationModule {
    constructor(IERC20Metadata collateral_, address owner_)
        PerpStorage(collateral_, _checkedDecimals(collateral_))
        Ownable(owner_)
        EIP712("ADL Perpetual", "1")
    {}

    function _checkedDecimals(IERC20Metadata token) private view returns (uint8 decimals) {
        decimals = token.decimals();
        if (decimals > 18) revert UnsupportedDecimals(decimals);
    }

    // ------------------------------------------------------------------ views

    /// @notice Mark price (WAD) of a market; reverts if the oracle is stale or non-positive.
    function markPrice(uint256 marketId) external view returns (uint256) {
        return _markPrice(marketId, _market(marketId));
    }

    /// @notice A market's name, oracle, parameters and pause flag.
    function marketInfo(uint256 marketId)
        external
        view
        returns (string memory name, address oracle, MarketParams memory params, bool paused)
    {
        Market storage mkt = _market(marketId);
        return (mkt.name, address(mkt.oracle), mkt.params, mkt.paused);
    }

    /// @notice The stored position (size, cost basis, margin, opening sequence, list index).
    function getPosition(uint256 marketId, address account) external view returns (Position memory) {
        return _positions[marketId][account];
    }

    /// @notice Up to `count` open positions on one side of a market from list index `start`, raw as stored (the
    ///         lens values them at mark); `total` is the side's length, for paging through large markets.
    function sidePositions(uint256 marketId, bool isLong, uint256 start, uint256 count)
        external
        view
        returns (address[] memory accounts, Position[] memory positions, uint256 total)
    {
        address[] storage side = _sideAccounts[marketId][isLong];
        total = side.length;
        uint256 end = start + count < total ? start + count : total;
        uint256 n = end > start ? end - start : 0;
        accounts = new address[](n);
        positions = new Position[](n);
        for (uint256 i; i < n; ++i) {
            accounts[i] = side[start + i];
            positions[i] = _positions[marketId][accounts[i]];
        }
    }

    /// @notice Accounts holding an open position on one side of a market (the ADL scan's input).
    function sideAccounts(uint256 marketId, bool isLong) external view returns (address[] memory) {
        return _sideAccounts[marketId][isLong];
    }
}
