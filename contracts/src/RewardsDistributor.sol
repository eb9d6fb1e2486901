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
 * allocated: a bad root can never draw from other epochs. What a bad root
 * strands (leaves adding up to less than the allocation, or claims cut off by
 * the cap of a root that promised more) the operator recovers with
 * {recoverEpoch} once the epoch's {claimWindow} has passed: the epoch closes
 * and the rest returns to the unallocated balance, for a corrected epoch.
 * The reentrancy guard uses transient storage (EIP-1153, Cancun).
 */
contract RewardsDistributor is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice May publish epochs (the platform's settlement signer).
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    uint16 public constant TOTAL_BPS = 10_000;
    /// @notice Bounds of {claimWindow}: long enough for every account to claim, short enough to fix a bad root.
    uint64 public constant MIN_CLAIM_WINDOW = 7 days;
    uint64 public constant MAX_CLAIM_WINDOW = 3650 days;

    /// @notice How each epoch's fees are split, in basis points adding up to {TOTAL_BPS}.
    struct Shares {
        uint16 contributorsBps;
        uint16 ownersBps;
        uint16 platformBps;
    }

    /// @dev Two slots: the root, then the amounts, publication time and closed flag together (one read per claim).
    struct Epoch {
        bytes32 root;
        uint96 total;
        uint96 claimed;
        uint40 publishedAt;
        /// @dev Recovered by the operator after the claim window: no more claims.
        bool closed;
    }

    IERC20 public immutable token;
    /// @notice Seconds after publication during which an epoch can only be claimed, not recovered.
    uint64 public immutable claimWindow;
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
    /// @notice The unclaimed rest of `epoch` went back to the unallocated balance; the epoch is closed.
    event EpochRecovered(uint256 indexed epoch, uint256 amount);

    error RewardsDistributorZeroAddress();
    error RewardsDistributorBadShares();
    error RewardsDistributorBadEpoch(uint256 epoch, uint256 expected);
    error RewardsDistributorEmptyRoot();
    error RewardsDistributorInsufficientFunds(uint256 fees, uint256 unallocated);
    error RewardsDistributorUnknownEpoch(uint256 epoch);
    error RewardsDistributorAlreadyClaimed(uint256 epoch, address account);
    error RewardsDistributorInvalidProof(uint256 epoch, address account);
    error RewardsDistributorEpochOverdrawn(uint256 epoch);
    error RewardsDistributorEpochClosed(uint256 epoch);
    error RewardsDistributorClaimWindowOpen(uint256 epoch, uint256 closesAt);
    error RewardsDistributorBadClaimWindow(uint256 window, uint256 min, uint256 max);
    error RewardsDistributorAmountTooLarge(uint256 amount);

    /// @param claimWindow_ seconds an epoch stays claim-only, within [{MIN_CLAIM_WINDOW}, {MAX_CLAIM_WINDOW}].
    constructor(address admin, IERC20 token_, address treasury_, Shares memory shares_, uint64 claimWindow_) {
        if (admin == address(0) || address(token_) == address(0)) revert RewardsDistributorZeroAddress();
        if (claimWindow_ < MIN_CLAIM_WINDOW || claimWindow_ > MAX_CLAIM_WINDOW) {
            revert RewardsDistributorBadClaimWindow(claimWindow_, MIN_CLAIM_WINDOW, MAX_CLAIM_WINDOW);
        }
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        token = token_;
        claimWindow = claimWindow_;
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
        if (total > type(uint96).max) revert RewardsDistributorAmountTooLarge(total);
        epochCount = epoch;
        _epochs[epoch] = Epoch(root, uint96(total), 0, uint40(block.timestamp), false);
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

    /**
     * @notice Closes `epoch` once its claim window has passed and returns what
     * it has not paid out to the unallocated balance, where a later epoch can
     * allocate it again; only an operator.
     * WARNING: accounts that had not claimed `epoch` by then can no longer claim
     * it; the operator owes them a place in a later epoch's root.
     */
    function recoverEpoch(uint256 epoch) external onlyRole(OPERATOR_ROLE) returns (uint256 amount) {
        Epoch storage e = _epochs[epoch];
        if (e.root == bytes32(0)) revert RewardsDistributorUnknownEpoch(epoch);
        if (e.closed) revert RewardsDistributorEpochClosed(epoch);
        uint256 closesAt = uint256(e.publishedAt) + claimWindow;
        if (block.timestamp < closesAt) revert RewardsDistributorClaimWindowOpen(epoch, closesAt);
        amount = uint256(e.total) - e.claimed;
        e.closed = true;
        allocated -= amount;
        emit EpochRecovered(epoch, amount);
    }

    /// @notice An epoch's root, allocated total, claimed amount, publication time and whether it was recovered.
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
        if (e.closed) revert RewardsDistributorEpochClosed(epoch);
        if (_claimed[epoch][account]) revert RewardsDistributorAlreadyClaimed(epoch, account);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
        if (!MerkleProof.verifyCalldata(proof, e.root, leaf)) revert RewardsDistributorInvalidProof(epoch, account);
        uint256 claimed = uint256(e.claimed) + amount;
        if (claimed > e.total) revert RewardsDistributorEpochOverdrawn(epoch);
        _claimed[epoch][account] = true;
        // Fits: claimed <= total, a uint96.
        e.claimed = uint96(claimed);
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
