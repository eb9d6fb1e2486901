// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/**
 * @title PaymentEscrow
 * @notice Pay-per-call escrow in the style of x402's batch settlement. A payer
 * opens a channel to a service with a deposit of {token}; for each request the
 * payer signs an EIP-712 voucher for the *cumulative* amount owed so far; the
 * service redeems the latest voucher of many channels in one transaction and
 * receives the difference to what it had already redeemed.
 *
 * A payer leaves by {requestWithdrawal}, waits {withdrawDelay} seconds (during
 * which the service can still redeem what it is owed), then {withdraw}s the rest.
 *
 * NOTE: the reentrancy guard uses transient storage (EIP-1153, Cancun); deploy
 * only to chains that have it (every major EVM chain does since 2024).
 *
 * WARNING: a voucher is valid until its expiry for any amount up to the
 * deposit; payers should sign short expiries and amounts they owe.
 */
contract PaymentEscrow is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(bytes32 channelId,address payer,address service,uint256 cumulativeAmount,uint64 expiry)");

    struct Channel {
        address payer;
        uint64 withdrawRequestedAt;
        address service;
        uint128 deposit;
        uint128 redeemed;
    }

    struct Voucher {
        bytes32 channelId;
        address payer;
        address service;
        uint256 cumulativeAmount;
        uint64 expiry;
    }

    struct SignedVoucher {
        Voucher voucher;
        bytes signature;
    }

    IERC20 public immutable token;
    uint64 public immutable withdrawDelay;

    mapping(bytes32 channelId => Channel) private _channels;

    event ChannelOpened(bytes32 indexed channelId, address indexed payer, address indexed service);
    event Deposited(bytes32 indexed channelId, address indexed from, uint256 amount, uint256 deposit);
    event Redeemed(bytes32 indexed channelId, address indexed service, uint256 cumulativeAmount, uint256 amount);
    event BatchRedeemed(address indexed service, address indexed to, uint256 vouchers, uint256 total);
    event WithdrawalRequested(bytes32 indexed channelId, uint256 availableAt);
    event Withdrawn(bytes32 indexed channelId, address indexed payer, uint256 amount);

    error PaymentEscrowZeroAddress();
    error PaymentEscrowChannelExists(bytes32 channelId);
    error PaymentEscrowUnknownChannel(bytes32 channelId);
    error PaymentEscrowNotPayer(bytes32 channelId, address account);
    error PaymentEscrowWrongService(bytes32 channelId, address account);
    error PaymentEscrowVoucherMismatch(bytes32 channelId);
    error PaymentEscrowVoucherExpired(bytes32 channelId, uint64 expiry);
    /// @dev The voucher's cumulative amount is not above what was already redeemed (a replay, or an older voucher).
    error PaymentEscrowAlreadyRedeemed(bytes32 channelId, uint256 cumulativeAmount, uint256 redeemed);
    error PaymentEscrowAboveDeposit(bytes32 channelId, uint256 cumulativeAmount, uint256 deposit);
    error PaymentEscrowBadSignature(bytes32 channelId);
    error PaymentEscrowNoWithdrawalRequested(bytes32 channelId);
    error PaymentEscrowWithdrawalNotReady(bytes32 channelId, uint256 availableAt);
    error PaymentEscrowAmountTooLarge();

    constructor(IERC20 token_, uint64 withdrawDelay_) EIP712("PaymentEscrow", "1") {
        if (address(token_) == address(0)) revert PaymentEscrowZeroAddress();
        token = token_;
        withdrawDelay = withdrawDelay_;
    }

    /// @notice The id of the channel `payer` opens to `service` with `salt`.
    function channelIdOf(address payer, address service, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(payer, service, salt));
    }

    /// @notice Opens a channel from the caller to `service` and deposits `amount` (after `approve`).
    function open(address service, bytes32 salt, uint256 amount) external nonReentrant returns (bytes32 channelId) {
        if (service == address(0)) revert PaymentEscrowZeroAddress();
        channelId = channelIdOf(msg.sender, service, salt);
        Channel storage c = _channels[channelId];
        if (c.payer != address(0)) revert PaymentEscrowChannelExists(channelId);
        c.payer = msg.sender;
        c.service = service;
        emit ChannelOpened(channelId, msg.sender, service);
        if (amount > 0) _deposit(channelId, c, amount);
    }

    /// @notice Adds `amount` to a channel's deposit; anyone may top up.
    function deposit(bytes32 channelId, uint256 amount) external nonReentrant {
        Channel storage c = _channels[channelId];
        if (c.payer == address(0)) revert PaymentEscrowUnknownChannel(channelId);
        _deposit(channelId, c, amount);
    }

    /**
     * @notice Redeems the latest voucher of each listed channel; the caller must
     * be the service of every voucher. Pays the total to `to` in one transfer.
     * Reverts as a whole if any voucher is invalid (replayed or older, above the
     * deposit, expired, or badly signed), so the service checks them first.
     */
    function redeem(SignedVoucher[] calldata vouchers, address to) external nonReentrant returns (uint256 total) {
        if (to == address(0)) revert PaymentEscrowZeroAddress();
        for (uint256 i = 0; i < vouchers.length; ++i) {
            Voucher calldata v = vouchers[i].voucher;
            Channel storage c = _channels[v.channelId];
            if (c.payer == address(0)) revert PaymentEscrowUnknownChannel(v.channelId);
            if (v.service != msg.sender) revert PaymentEscrowWrongService(v.channelId, msg.sender);
            if (c.payer != v.payer || c.service != v.service) revert PaymentEscrowVoucherMismatch(v.channelId);
            if (block.timestamp > v.expiry) revert PaymentEscrowVoucherExpired(v.channelId, v.expiry);
            uint256 redeemed = c.redeemed;
            if (v.cumulativeAmount <= redeemed) {
                revert PaymentEscrowAlreadyRedeemed(v.channelId, v.cumulativeAmount, redeemed);
            }
            if (v.cumulativeAmount > c.deposit) revert PaymentEscrowAboveDeposit(v.channelId, v.cumulativeAmount, c.deposit);
            if (!SignatureChecker.isValidSignatureNow(v.payer, hashVoucher(v), vouchers[i].signature)) {
                revert PaymentEscrowBadSignature(v.channelId);
            }
            uint256 amount = v.cumulativeAmount - redeemed;
            // Fits: cumulativeAmount <= deposit, a uint128.
            c.redeemed = uint128(v.cumulativeAmount);
            total += amount;
            emit Redeemed(v.channelId, msg.sender, v.cumulativeAmount, amount);
        }
        emit BatchRedeemed(msg.sender, to, vouchers.length, total);
        if (total > 0) token.safeTransfer(to, total);
    }

    /// @notice Starts the withdrawal delay of a channel; only its payer.
    function requestWithdrawal(bytes32 channelId) external {
        Channel storage c = _onlyPayer(channelId);
        uint256 availableAt = block.timestamp + withdrawDelay;
        c.withdrawRequestedAt = uint64(block.timestamp);
        emit WithdrawalRequested(channelId, availableAt);
    }

    /// @notice Pays the unredeemed deposit back to the payer once the delay has passed; only the payer.
    function withdraw(bytes32 channelId) external nonReentrant returns (uint256 amount) {
        Channel storage c = _onlyPayer(channelId);
        if (c.withdrawRequestedAt == 0) revert PaymentEscrowNoWithdrawalRequested(channelId);
        uint256 availableAt = uint256(c.withdrawRequestedAt) + withdrawDelay;
        if (block.timestamp < availableAt) revert PaymentEscrowWithdrawalNotReady(channelId, availableAt);
        amount = c.deposit - c.redeemed;
        c.deposit = c.redeemed;
        c.withdrawRequestedAt = 0;
        emit Withdrawn(channelId, msg.sender, amount);
        if (amount > 0) token.safeTransfer(msg.sender, amount);
    }

    /// @notice A channel's state (payer is zero when unknown).
    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        return _channels[channelId];
    }

    /// @notice The EIP-712 digest a payer signs for `v`.
    function hashVoucher(Voucher calldata v) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(VOUCHER_TYPEHASH, v.channelId, v.payer, v.service, v.cumulativeAmount, v.expiry))
        );
    }

    /// @notice The EIP-712 domain separator of this escrow.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _onlyPayer(bytes32 channelId) private view returns (Channel storage c) {
        c = _channels[channelId];
        if (c.payer == address(0)) revert PaymentEscrowUnknownChannel(channelId);
        if (c.payer != msg.sender) revert PaymentEscrowNotPayer(channelId, msg.sender);
    }

    /// @dev Credits what actually arrived, so a fee-on-transfer token cannot overstate a deposit.
    function _deposit(bytes32 channelId, Channel storage c, uint256 amount) private {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        uint256 total = uint256(c.deposit) + received;
        if (total > type(uint128).max) revert PaymentEscrowAmountTooLarge();
        c.deposit = uint128(total);
        emit Deposited(channelId, msg.sender, received, total);
    }
}
