// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/**
 * @title PaymentEscrow
 * @notice Pay-per-call escrow in the style of x402's batch settlement, with the
 * "upto" scheme. A payer opens a channel to a service with a deposit of
 * {token} and names the plain key that signs its vouchers. For each request
 * the signing key signs an EIP-712 voucher authorising a *cumulative maximum*
 * (what was charged so far plus the most this request can cost); the service
 * charges what the request really cost and, once per epoch, redeems for many
 * channels in one transaction the cumulative amount it charged, up to the
 * signed maximum. Each channel pays the difference to what it had already
 * redeemed, so only the latest voucher matters and redemption is idempotent.
 *
 * A payer leaves by {requestWithdrawal} of a stated amount, waits
 * {withdrawDelay} seconds (the service keeps redeeming what it is owed first),
 * then {withdraw}s at most that amount of what is left.
 *
 * NOTE: vouchers are checked with `ecrecover` against the channel's signing
 * key only, never through ERC-1271: a payer who later turns its address into
 * a contract (EIP-7702 delegation, or a counterfactual wallet) cannot void
 * vouchers the service already accepted. The reentrancy guard uses transient
 * storage (EIP-1153, Cancun).
 *
 * WARNING: a voucher lets the service redeem up to its maximum until its
 * expiry; the signing key must be kept like the deposit itself.
 */
contract PaymentEscrow is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(bytes32 channelId,address payer,address service,uint256 cumulativeAmount,uint64 expiry)");

    /// @notice Bounds of {withdrawDelay}: long enough for an epoch's settlement to land, short enough to not trap funds.
    uint64 public constant MIN_WITHDRAW_DELAY = 15 minutes;
    uint64 public constant MAX_WITHDRAW_DELAY = 30 days;

    /// @dev Why {redeem} skipped an item (emitted in {RedemptionSkipped}); `None` is never emitted.
    enum SkipReason {
        None,
        UnknownChannel,
        WrongService,
        PayerMismatch,
        Expired,
        ChargeAboveVoucher,
        AlreadyRedeemed,
        DepositExhausted,
        BadSignature
    }

    /// @dev Five slots; {redeem} reads the first four (payer, service, signer, then deposit and redeemed together).
    struct Channel {
        address payer;
        /// @dev Unix seconds from which the pending withdrawal may be taken; 0 when none is pending.
        uint64 withdrawableAt;
        address service;
        /// @dev The plain (EOA) key whose ECDSA signatures authorise vouchers.
        address signer;
        uint128 deposit;
        uint128 redeemed;
        /// @dev The most the pending withdrawal may take.
        uint128 withdrawalAmount;
    }

    /// @dev What the signing key signs: the channel's cumulative maximum until `expiry`.
    struct Voucher {
        bytes32 channelId;
        address payer;
        address service;
        /// @dev The most the service may have redeemed from this channel in total, in token base units.
        uint256 cumulativeAmount;
        uint64 expiry;
    }

    /// @dev One channel's redemption: the latest voucher and the cumulative amount really charged under it.
    struct Redemption {
        Voucher voucher;
        bytes signature;
        /// @dev Cumulative amount charged on the channel (≤ voucher.cumulativeAmount); becomes the channel's redeemed total.
        uint256 charged;
    }

    IERC20 public immutable token;
    uint64 public immutable withdrawDelay;

    mapping(bytes32 channelId => Channel) private _channels;

    event ChannelOpened(bytes32 indexed channelId, address indexed payer, address indexed service, address signer);
    event Deposited(bytes32 indexed channelId, address indexed from, uint256 amount, uint256 deposit);
    /// @notice `redeemed` is the channel's new redeemed total: below `charged` when the deposit ran short.
    event Redeemed(bytes32 indexed channelId, address indexed service, uint256 charged, uint256 redeemed, uint256 amount);
    /// @notice Item `index` of a {redeem} batch was skipped; nothing of it was redeemed.
    event RedemptionSkipped(bytes32 indexed channelId, uint256 index, SkipReason reason);
    event BatchRedeemed(address indexed service, address indexed to, uint256 redeemed, uint256 skipped, uint256 total);
    event WithdrawalRequested(bytes32 indexed channelId, uint256 amount, uint256 withdrawableAt);
    event WithdrawalCancelled(bytes32 indexed channelId);
    event Withdrawn(bytes32 indexed channelId, address indexed payer, uint256 amount);

    error PaymentEscrowZeroAddress();
    error PaymentEscrowBadWithdrawDelay(uint256 delay, uint256 min, uint256 max);
    error PaymentEscrowChannelExists(bytes32 channelId);
    error PaymentEscrowUnknownChannel(bytes32 channelId);
    error PaymentEscrowNotPayer(bytes32 channelId, address account);
    error PaymentEscrowBadWithdrawalAmount(bytes32 channelId, uint256 amount, uint256 available);
    error PaymentEscrowNoWithdrawalRequested(bytes32 channelId);
    error PaymentEscrowWithdrawalNotReady(bytes32 channelId, uint256 withdrawableAt);
    error PaymentEscrowAmountTooLarge();

    /**
     * @param withdrawDelay_ seconds between a withdrawal request and the withdrawal, within
     * [{MIN_WITHDRAW_DELAY}, {MAX_WITHDRAW_DELAY}]; it must exceed the service's settlement horizon.
     */
    constructor(IERC20 token_, uint64 withdrawDelay_) EIP712("PaymentEscrow", "1") {
        if (address(token_) == address(0)) revert PaymentEscrowZeroAddress();
        if (withdrawDelay_ < MIN_WITHDRAW_DELAY || withdrawDelay_ > MAX_WITHDRAW_DELAY) {
            revert PaymentEscrowBadWithdrawDelay(withdrawDelay_, MIN_WITHDRAW_DELAY, MAX_WITHDRAW_DELAY);
        }
        token = token_;
        withdrawDelay = withdrawDelay_;
    }

    /// @notice The id of the channel `payer` opens to `service` with `salt`.
    function channelIdOf(address payer, address service, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(payer, service, salt));
    }

    /**
     * @notice Opens a channel from the caller to `service` whose vouchers `signer`
     * signs, and deposits `amount` (after `approve`).
     * NOTE: `signer` is fixed for the channel's life: a key change would let a
     * payer void vouchers already accepted. Open a new channel to change keys.
     */
    function open(address service, address signer, bytes32 salt, uint256 amount)
        external
        nonReentrant
        returns (bytes32 channelId)
    {
        if (service == address(0) || signer == address(0)) revert PaymentEscrowZeroAddress();
        channelId = channelIdOf(msg.sender, service, salt);
        Channel storage c = _channels[channelId];
        if (c.payer != address(0)) revert PaymentEscrowChannelExists(channelId);
        c.payer = msg.sender;
        c.service = service;
        c.signer = signer;
        emit ChannelOpened(channelId, msg.sender, service, signer);
        if (amount > 0) _deposit(channelId, c, amount);
    }

    /// @notice Adds `amount` to a channel's deposit; anyone may top up.
    function deposit(bytes32 channelId, uint256 amount) external nonReentrant {
        Channel storage c = _channels[channelId];
        if (c.payer == address(0)) revert PaymentEscrowUnknownChannel(channelId);
        _deposit(channelId, c, amount);
    }

    /**
     * @notice Redeems, for each item, the cumulative amount the service charged
     * on the voucher's channel (at most the voucher's signed maximum, at most
     * the deposit) and pays the total to `to` in one transfer. The caller must
     * be the service of each channel.
     *
     * An item that cannot be redeemed (unknown channel, another service's,
     * payer mismatch, expired, charge above the voucher, nothing new to redeem,
     * deposit exhausted, bad signature) is skipped with a {RedemptionSkipped}
     * event and the rest of the batch goes through. A charge above what the
     * deposit still holds redeems what it holds ({Redeemed} shows the shortfall).
     * Re-submitting a batch redeems nothing twice: `charged` is cumulative.
     */
    function redeem(Redemption[] calldata items, address to) external nonReentrant returns (uint256 total) {
        if (to == address(0)) revert PaymentEscrowZeroAddress();
        uint256 skipped = 0;
        for (uint256 i = 0; i < items.length; ++i) {
            (uint256 amount, SkipReason reason) = _redeemOne(items[i]);
            if (reason != SkipReason.None) {
                ++skipped;
                emit RedemptionSkipped(items[i].voucher.channelId, i, reason);
            } else {
                total += amount;
            }
        }
        emit BatchRedeemed(msg.sender, to, items.length - skipped, skipped, total);
        if (total > 0) token.safeTransfer(to, total);
    }

    /**
     * @notice Asks to withdraw up to `amount` of the unredeemed deposit after
     * {withdrawDelay}; only the payer. Each request replaces the previous one
     * and starts a fresh delay, so a request that ripened long ago cannot be
     * used to withdraw ahead of a redemption.
     */
    function requestWithdrawal(bytes32 channelId, uint256 amount) external {
        Channel storage c = _onlyPayer(channelId);
        uint256 available = c.deposit - c.redeemed;
        if (amount == 0 || amount > available) revert PaymentEscrowBadWithdrawalAmount(channelId, amount, available);
        uint64 withdrawableAt = uint64(block.timestamp) + withdrawDelay;
        c.withdrawableAt = withdrawableAt;
        // Fits: amount <= deposit, a uint128.
        c.withdrawalAmount = uint128(amount);
        emit WithdrawalRequested(channelId, amount, withdrawableAt);
    }

    /// @notice Drops the pending withdrawal request; only the payer.
    function cancelWithdrawal(bytes32 channelId) external {
        Channel storage c = _onlyPayer(channelId);
        if (c.withdrawableAt == 0) revert PaymentEscrowNoWithdrawalRequested(channelId);
        c.withdrawableAt = 0;
        c.withdrawalAmount = 0;
        emit WithdrawalCancelled(channelId);
    }

    /**
     * @notice Pays the payer the requested amount, or what is left unredeemed
     * when less, once the delay has passed; only the payer.
     */
    function withdraw(bytes32 channelId) external nonReentrant returns (uint256 amount) {
        Channel storage c = _onlyPayer(channelId);
        uint256 withdrawableAt = c.withdrawableAt;
        if (withdrawableAt == 0) revert PaymentEscrowNoWithdrawalRequested(channelId);
        if (block.timestamp < withdrawableAt) revert PaymentEscrowWithdrawalNotReady(channelId, withdrawableAt);
        uint256 left = c.deposit - c.redeemed;
        amount = c.withdrawalAmount < left ? c.withdrawalAmount : left;
        c.deposit -= uint128(amount);
        c.withdrawableAt = 0;
        c.withdrawalAmount = 0;
        emit Withdrawn(channelId, msg.sender, amount);
        if (amount > 0) token.safeTransfer(msg.sender, amount);
    }

    /// @notice A channel's state (payer is zero when unknown).
    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        return _channels[channelId];
    }

    /// @notice The EIP-712 digest the channel's signing key signs for `v`.
    function hashVoucher(Voucher calldata v) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(VOUCHER_TYPEHASH, v.channelId, v.payer, v.service, v.cumulativeAmount, v.expiry))
        );
    }

    /// @notice The EIP-712 domain separator of this escrow.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev Checks one item and, when it is good, records its redemption; returns the amount or why it was skipped.
    function _redeemOne(Redemption calldata r) private returns (uint256 amount, SkipReason reason) {
        Voucher calldata v = r.voucher;
        Channel storage c = _channels[v.channelId];
        address service = c.service;
        if (service == address(0)) return (0, SkipReason.UnknownChannel);
        if (service != msg.sender || v.service != service) return (0, SkipReason.WrongService);
        if (v.payer != c.payer) return (0, SkipReason.PayerMismatch);
        if (block.timestamp > v.expiry) return (0, SkipReason.Expired);
        if (r.charged > v.cumulativeAmount) return (0, SkipReason.ChargeAboveVoucher);
        uint256 redeemed = c.redeemed;
        if (r.charged <= redeemed) return (0, SkipReason.AlreadyRedeemed);
        uint256 deposit_ = c.deposit;
        if (deposit_ <= redeemed) return (0, SkipReason.DepositExhausted);
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hashVoucher(v), r.signature);
        if (err != ECDSA.RecoverError.NoError || recovered != c.signer) return (0, SkipReason.BadSignature);

        uint256 target = r.charged < deposit_ ? r.charged : deposit_;
        amount = target - redeemed;
        // Fits: target <= deposit, a uint128.
        c.redeemed = uint128(target);
        emit Redeemed(v.channelId, msg.sender, r.charged, target, amount);
        return (amount, SkipReason.None);
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
