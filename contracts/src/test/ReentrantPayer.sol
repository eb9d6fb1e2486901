// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PaymentEscrow} from "../PaymentEscrow.sol";

/**
 * @title ReentrantPayer
 * @notice TEST ONLY. A payer contract that tries to withdraw its channel twice:
 * {HookToken} calls {reenter} while the escrow pays out the first withdrawal.
 */
contract ReentrantPayer {
    PaymentEscrow public immutable escrow;
    bytes32 public channelId;

    constructor(PaymentEscrow escrow_) {
        escrow = escrow_;
    }

    function open(address service, uint256 amount) external {
        IERC20(address(escrow.token())).approve(address(escrow), amount);
        channelId = escrow.open(service, address(this), bytes32(0), amount);
    }

    function requestWithdrawal() external {
        escrow.requestWithdrawal(channelId, escrow.getChannel(channelId).deposit);
    }

    function withdraw() external returns (uint256) {
        return escrow.withdraw(channelId);
    }

    /// @notice The reentrant call; bubbles the escrow's revert so the token records it.
    function reenter() external {
        (bool ok, bytes memory ret) = address(escrow).call(abi.encodeCall(PaymentEscrow.withdraw, (channelId)));
        if (!ok) {
            assembly {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}
