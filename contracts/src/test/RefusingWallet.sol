// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

/**
 * @title RefusingWallet
 * @notice TEST ONLY. Code a payer delegates its address to (EIP-7702) to void
 * its vouchers: it refuses every ERC-1271 signature check. An escrow that
 * asked the payer's address would then refuse vouchers already accepted.
 */
contract RefusingWallet is IERC1271 {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        return 0xffffffff;
    }
}
