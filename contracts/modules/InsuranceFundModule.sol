// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IPerpetualRisk} from "../../interfaces/IPerpetual.sol";
import {RefusalReason, DistressReason} from "../../interfaces/IPerpetualTypes.sol";
import {PerpBase} from "../base/PerpBase.sol";
import {PerpMath} from "../libraries/PerpMath.sol";

/// @title InsuranceFundModule
/// @notice One insurance fund per market: cash plus the positions it inherits from liquidations. It refuses
///         positions that would leave its equity (or its cash) below zero, push its net notional above its risk
///         limit, or put its drawdown at or past the trigger line. Distress (equity below zero, drawdown from the
///         high-water mark past the trigger line until it recovers to the stop line, or net notional above the
///         limit) allows Type 2 ADL. The high-water mark is the largest equity sample of its window
///         (`PerpBase._updateWatermark`, `libraries/FundWatermark.sol`).
abstract contract InsuranceFundModule is PerpBase, ReentrancyGuardTransient, IPerpetualRisk {
    /// @dev Whether (and why) the fund refuses a position of `size` arriving at bankruptcy notional `nb` (reasons in
    ///      order: negative equity or cash, risk limit, drawdown), after this call sampled its high-water mark.
    function _fundRefusal(uint256 marketId, Market storage mkt, int256 size, uint256 nb, uint256 price)
        internal
        view
        returns (RefusalReason)
    {
        int256 signedNb = size > 0 ? int256(nb) : -int256(nb);
        int256 equityAfter = _fundEquity(mkt, price) + _unrealizedPnl(size, signedNb, price);
        if (equityAfter < 0) return RefusalReason.NegativeEquity;
        int256 fundSize = mkt.fundSize;
        if (fundSize != 0 && (fundSize > 0) != (size > 0)) {
            // Netting against the fund's opposite position realizes PnL: its cash must stay >= 0.
            (,,, int256 pnl) = _reduction(fundSize, mkt.fundOpenNotional, PerpMath.abs(size), nb);
            if (mkt.fundCash + pnl < 0) return RefusalReason.NegativeEquity;
        }
        uint256 netAfter = _notionalUp(fundSize + size, price);
        if (netAfter > mkt.params.maxFundNotional && netAfter > _notionalUp(fundSize, price)) {
            return RefusalReason.RiskLimit;
        }
        // The drawdown the fund would be in after accepting, from its high-water mark (as just sampled) or from
        // its equity after acceptance if that is higher.
        (int256 hwm,) = _highWaterMark(marketId, mkt);
        if (PerpMath.drawdown(equityAfter > hwm ? equityAfter : hwm, equityAfter) >= mkt.params.drawdownTrigger) {
            return RefusalReason.Drawdown;
        }
        return RefusalReason.None;
    }

    /// @dev Whether (and why) the fund is in distress, given its equity at `price`.
    function _distress(Market storage mkt, int256 equity, uint256 price)
        internal
        view
        returns (DistressReason reason, uint256 netNotional)
    {
        netNotional = _notionalUp(mkt.fundSize, price);
        if (equity < 0) return (DistressReason.NegativeEquity, netNotional);
        if (mkt.fundDistressed) return (DistressReason.Drawdown, netNotional);
        if (netNotional > mkt.params.maxFundNotional) return (DistressReason.RiskLimit, netNotional);
        return (DistressReason.None, netNotional);
    }
}
