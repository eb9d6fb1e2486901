// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title TestToken
 * @notice A 6-decimal stand-in for a stablecoin on local and test chains.
 * WARNING: anyone may mint; never deploy it where the token must have value.
 */
contract TestToken is ERC20 {
    constructor() ERC20("Test USD", "tUSD") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` to `to`; open to anyone, for tests and local demos.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
