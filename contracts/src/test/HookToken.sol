// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title HookToken
 * @notice TEST ONLY. A hostile ERC-20 that, like an ERC-777 hook, calls back
 * into an attacker-chosen contract on every transfer. It records the outcome
 * of the callback instead of bubbling it, so a test can assert both that the
 * outer call went through once and that the reentrant call was refused.
 */
contract HookToken is ERC20 {
    address public hookTarget;
    bytes public hookData;
    bool public lastHookOk;
    bytes public lastHookReturn;
    uint256 public hookCalls;

    constructor() ERC20("Hook Token", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the hook: the next transfers call `target` with `data` (once each).
    function setHook(address target, bytes calldata data) external {
        hookTarget = target;
        hookData = data;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address target = hookTarget;
        if (target != address(0) && from != address(0)) {
            hookTarget = address(0); // one shot, so the test sees a single reentry attempt
            hookCalls += 1;
            (lastHookOk, lastHookReturn) = target.call(hookData);
        }
    }
}
