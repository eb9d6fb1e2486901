// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/**
 * @title RewardsDistributor
 * @notice Pays out redeemed fees per epoch. The escrow redeems vouchers into
 * this contract; an operator then publishes an epoch over some of the
 * unallocated balance: the platform's share goes to the treasury at once, and
 * the contributors' and adapter owners' shares are allocated to a Merkle root
 * of `(address account, uint256 amount)` leaves (OpenZeppelin
 * `StandardMerkleTree`, one leaf per account) that accounts claim with proofs.
 *
 * NOTE: the split of each epoch's fees follows {shares}; the root's leaves
 * cannot be summed on chain, so claims of an epoch are capped at what it was
 * allocated: a bad root can never draw from other epochs. The reentrancy
 * guard uses transient storage (EIP-1153, Cancun).
 */
contract RewardsDistributor is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice May publish epochs (the platform's settlement signer).
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    uint16 public constant TOTAL_BPS = 10_000;

    /// @notice How each epoch's fees are split, in basis points adding up to {TOTAL_BPS}.
    struct Shares {
        uint16 contributorsBps;
        uint16 ownersBps;
        uint16 platformBps;
    }

    struct Epoch {
        bytes32 root;
        uint128 total;
        uint128 claimed;
    }

    IERC20 public immutable token;
    Shares public shares;
    address public treasury;
    uint256 public epochCount;
    /// @notice Published to epochs and not yet claimed.
    uint256 public allocated;

    mapping(uint256 epoch => Epoch) private _epochs;
    mapping(uint256 epoch => mapping(address account => bool)) private _claimed;

    event SharesSet(uint16 contributorsBps, uint16 ownersBps, uint16 platformBps);
    event TreasurySet(address treasury);
    event EpochPublished(
        uint256 indexed epoch, bytes32 root, uint256 fees, uint256 contributors, uint256 owners, uint256 platform
    );
    event Claimed(uint256 indexed epoch, address indexed account, uint256 amount);

    error RewardsDistributorZeroAddress();
    error RewardsDistributorBadShares();
    error RewardsDistributorBadEpoch(uint256 epoch, uint256 expected);
    error RewardsDistributorEmptyRoot();
    error RewardsDistributorInsufficientFunds(uint256 fees, uint256 unallocated);
    error RewardsDistributorUnknownEpoch(uint256 epoch);
    error RewardsDistributorAlreadyClaimed(uint256 epoch, address account);
    error RewardsDistributorInvalidProof(uint256 epoch, address account);
    error RewardsDistributorEpochOverdrawn(uint256 epoch);

    constructor(address admin, IERC20 token_, address treasury_, Shares memory shares_) {
        if (admin == address(0) || address(token_) == address(0)) revert RewardsDistributorZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        token = token_;
        _setTreasury(treasury_);
        _setShares(shares_);
    }

    /// @notice Changes the split of future epochs; only the admin.
    function setShares(Shares calldata shares_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setShares(shares_);
    }

    /// @notice Changes where the platform's share goes; only the admin.
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(treasury_);
    }

    /// @notice How `fees` split under the current shares; contributors get the rounding remainder.
    function splitFees(uint256 fees) public view returns (uint256 contributors, uint256 owners, uint256 platform) {
        Shares memory s = shares;
        owners = (fees * s.ownersBps) / TOTAL_BPS;
        platform = (fees * s.platformBps) / TOTAL_BPS;
        contributors = fees - owners - platform;
    }

    /// @notice Tokens held here that no epoch has claimed yet (redeemed fees waiting for an epoch).
    function unallocated() public view returns (uint256) {
        return token.balanceOf(address(this)) - allocated;
    }

    /**
     * @notice Publishes epoch `epoch` (exactly the next number) over `fees` of
     * the unallocated balance; only an operator. The root's leaves must add up
     * to the contributors' plus the owners' share of `splitFees(fees)`.
     */
    function publishEpoch(uint256 epoch, bytes32 root, uint256 fees) external onlyRole(OPERATOR_ROLE) nonReentrant {
        uint256 expected = epochCount + 1;
        if (epoch != expected) revert RewardsDistributorBadEpoch(epoch, expected);
        if (root == bytes32(0)) revert RewardsDistributorEmptyRoot();
        uint256 available = unallocated();
        if (fees > available) revert RewardsDistributorInsufficientFunds(fees, available);
        (uint256 contributors, uint256 owners, uint256 platform) = splitFees(fees);
        uint256 total = contributors + owners;
        epochCount = epoch;
        _epochs[epoch] = Epoch(root, uint128(total), 0);
        allocated += total;
        emit EpochPublished(epoch, root, fees, contributors, owners, platform);
        if (platform > 0) token.safeTransfer(treasury, platform);
    }

    /// @notice Pays `amount` to `account` for `epoch` with a proof of the leaf `(account, amount)`; anyone may submit.
    function claim(uint256 epoch, address account, uint256 amount, bytes32[] calldata proof) external nonReentrant {
        _claim(epoch, account, amount, proof);
    }

    /// @notice Claims several epochs for one account in one transaction.
    function claimMany(
        uint256[] calldata epochs,
        address account,
        uint256[] calldata amounts,
        bytes32[][] calldata proofs
    ) external nonReentrant {
        for (uint256 i = 0; i < epochs.length; ++i) _claim(epochs[i], account, amounts[i], proofs[i]);
    }

    /// @notice An epoch's root, allocated total and claimed amount.
    function getEpoch(uint256 epoch) external view returns (Epoch memory) {
        return _epochs[epoch];
    }

    /// @notice Whether `account` has claimed its reward of `epoch`.
    function isClaimed(uint256 epoch, address account) external view returns (bool) {
        return _claimed[epoch][account];
    }

    function _claim(uint256 epoch, address account, uint256 amount, bytes32[] calldata proof) private {
        Epoch storage e = _epochs[epoch];
        if (e.root == bytes32(0)) revert RewardsDistributorUnknownEpoch(epoch);
        if (_claimed[epoch][account]) revert RewardsDistributorAlreadyClaimed(epoch, account);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
        if (!MerkleProof.verifyCalldata(proof, e.root, leaf)) revert RewardsDistributorInvalidProof(epoch, account);
        uint256 claimed = uint256(e.claimed) + amount;
        if (claimed > e.total) revert RewardsDistributorEpochOverdrawn(epoch);
        _claimed[epoch][account] = true;
        e.claimed = uint128(claimed);
        allocated -= amount;
        emit Claimed(epoch, account, amount);
        token.safeTransfer(account, amount);
    }

    function _setShares(Shares memory s) private {
        if (uint256(s.contributorsBps) + s.ownersBps + s.platformBps != TOTAL_BPS) revert RewardsDistributorBadShares();
        shares = s;
        emit SharesSet(s.contributorsBps, s.ownersBps, s.platformBps);
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert RewardsDistributorZeroAddress();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }
}
