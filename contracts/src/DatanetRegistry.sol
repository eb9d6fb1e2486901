// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/**
 * @title DatanetRegistry
 * @notice Registry of Datanets and of their published versions. A version is
 * the Merkle root of its accepted contributions, built with OpenZeppelin's
 * `StandardMerkleTree` over `(address contributor, bytes32 contentHash,
 * uint256 tokens)`, so any contributor can prove inclusion against it.
 *
 * A Datanet is keyed by a `bytes32` id the caller chooses (the platform uses
 * `keccak256` of its off-chain id), so the same Datanet has the same key on
 * every chain and a retried creation cannot make a second one. Because that
 * key is public before it is used, creation is bound to the platform's
 * registrar, which knows each Datanet's real owner: a registrar creates it
 * directly, or signs an EIP-712 {DatanetAttestation} that anyone (the owner,
 * paying its own gas) may submit with {createDatanetWithSignature}. Nobody can
 * claim a Datanet's key first by naming themselves its owner.
 *
 * NOTE: the manifest URI of a version is only emitted in {VersionPublished}
 * (logs are the cheap place for strings nobody reads on chain).
 */
contract DatanetRegistry is AccessControl, EIP712 {
    /// @notice May create Datanets on behalf of their owners (the platform's signer).
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice What a registrar signs for {createDatanetWithSignature}.
    bytes32 public constant DATANET_TYPEHASH =
        keccak256("DatanetAttestation(bytes32 id,address owner,bytes32 metadataURIHash,uint256 deadline)");

    struct Datanet {
        address owner;
        uint32 versionCount;
        string metadataURI;
    }

    /// @dev One storage slot besides the root: records, tokens and publication time.
    struct Version {
        bytes32 root;
        uint64 records;
        uint128 tokens;
        uint64 publishedAt;
    }

    mapping(bytes32 id => Datanet) private _datanets;
    mapping(bytes32 id => mapping(uint32 version => Version)) private _versions;
    mapping(bytes32 id => mapping(address curator => bool)) private _curators;

    event DatanetCreated(bytes32 indexed id, address indexed owner, string metadataURI);
    event MetadataURIUpdated(bytes32 indexed id, string metadataURI);
    event CuratorSet(bytes32 indexed id, address indexed curator, bool allowed);
    event VersionPublished(
        bytes32 indexed id,
        uint32 indexed version,
        bytes32 root,
        uint64 records,
        uint128 tokens,
        string manifestURI,
        address publisher
    );

    error DatanetRegistryExists(bytes32 id);
    error DatanetRegistryUnknown(bytes32 id);
    error DatanetRegistryNotOwner(bytes32 id, address account);
    error DatanetRegistryNotPublisher(bytes32 id, address account);
    error DatanetRegistryNotRegistrar(address account);
    error DatanetRegistryZeroAddress();
    error DatanetRegistryEmptyRoot();
    error DatanetRegistryAttestationExpired(uint256 deadline);
    error DatanetRegistryBadAttestation(address signer);
    /// @dev Versions are numbered 1, 2, 3...; `expected` is the only one that may be published next.
    error DatanetRegistryBadVersion(bytes32 id, uint32 version, uint32 expected);

    constructor(address admin) EIP712("DatanetRegistry", "1") {
        if (admin == address(0)) revert DatanetRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    modifier onlyDatanetOwner(bytes32 id) {
        address owner = _datanets[id].owner;
        if (owner == address(0)) revert DatanetRegistryUnknown(id);
        if (owner != msg.sender) revert DatanetRegistryNotOwner(id, msg.sender);
        _;
    }

    /**
     * @notice Creates Datanet `id` owned by `owner`; only a registrar, which
     * becomes a curator of the Datanet (the owner may revoke it with {setCurator}).
     */
    function createDatanet(bytes32 id, address owner, string calldata metadataURI) external {
        if (!hasRole(REGISTRAR_ROLE, msg.sender)) revert DatanetRegistryNotRegistrar(msg.sender);
        _create(id, owner, metadataURI, msg.sender);
    }

    /**
     * @notice Creates Datanet `id` with a registrar's EIP-712 attestation of
     * `(id, owner, metadataURI)` until `deadline`; anyone may submit it. The
     * signing registrar becomes a curator.
     * @param signer the registrar that signed (an EOA, or a contract wallet via ERC-1271).
     */
    function createDatanetWithSignature(
        bytes32 id,
        address owner,
        string calldata metadataURI,
        uint256 deadline,
        address signer,
        bytes calldata signature
    ) external {
        if (block.timestamp > deadline) revert DatanetRegistryAttestationExpired(deadline);
        bytes32 digest = hashDatanetAttestation(id, owner, metadataURI, deadline);
        if (!hasRole(REGISTRAR_ROLE, signer) || !SignatureChecker.isValidSignatureNowCalldata(signer, digest, signature)) {
            revert DatanetRegistryBadAttestation(signer);
        }
        _create(id, owner, metadataURI, signer);
    }

    /// @notice The EIP-712 digest a registrar signs to attest the creation of Datanet `id` for `owner`.
    function hashDatanetAttestation(bytes32 id, address owner, string calldata metadataURI, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(DATANET_TYPEHASH, id, owner, keccak256(bytes(metadataURI)), deadline)));
    }

    /// @notice Replaces the metadata URI; only the Datanet's owner.
    function setMetadataURI(bytes32 id, string calldata metadataURI) external onlyDatanetOwner(id) {
        _datanets[id].metadataURI = metadataURI;
        emit MetadataURIUpdated(id, metadataURI);
    }

    /// @notice Allows or revokes a curator that may publish versions; only the Datanet's owner.
    function setCurator(bytes32 id, address curator, bool allowed) external onlyDatanetOwner(id) {
        if (curator == address(0)) revert DatanetRegistryZeroAddress();
        _curators[id][curator] = allowed;
        emit CuratorSet(id, curator, allowed);
    }

    /**
     * @notice Publishes version `version` of Datanet `id`; only its owner or a curator.
     * @dev `version` must be exactly the next number, so a replayed transaction
     * reverts instead of publishing the same version twice.
     */
    function publishVersion(
        bytes32 id,
        uint32 version,
        bytes32 root,
        uint64 records,
        uint128 tokens,
        string calldata manifestURI
    ) external {
        Datanet storage d = _datanets[id];
        if (d.owner == address(0)) revert DatanetRegistryUnknown(id);
        if (msg.sender != d.owner && !_curators[id][msg.sender]) revert DatanetRegistryNotPublisher(id, msg.sender);
        uint32 expected = d.versionCount + 1;
        if (version != expected) revert DatanetRegistryBadVersion(id, version, expected);
        if (root == bytes32(0)) revert DatanetRegistryEmptyRoot();
        d.versionCount = version;
        _versions[id][version] = Version(root, records, tokens, uint64(block.timestamp));
        emit VersionPublished(id, version, root, records, tokens, manifestURI, msg.sender);
    }

    /// @notice Owner, version count and metadata URI of a Datanet (owner is zero when unknown).
    function getDatanet(bytes32 id) external view returns (Datanet memory) {
        return _datanets[id];
    }

    /// @notice A published version (all zero when not published).
    function getVersion(bytes32 id, uint32 version) external view returns (Version memory) {
        return _versions[id][version];
    }

    /// @notice Whether `account` may publish versions of Datanet `id`.
    function canPublish(bytes32 id, address account) external view returns (bool) {
        address owner = _datanets[id].owner;
        return owner != address(0) && (account == owner || _curators[id][account]);
    }

    /**
     * @notice Whether a contribution is included in a published version, with a
     * proof from `StandardMerkleTree.of(leaves, ["address","bytes32","uint256"])`.
     */
    function verifyContribution(
        bytes32 id,
        uint32 version,
        address contributor,
        bytes32 contentHash,
        uint256 tokens,
        bytes32[] calldata proof
    ) external view returns (bool) {
        bytes32 root = _versions[id][version].root;
        if (root == bytes32(0)) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(contributor, contentHash, tokens))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    function _create(bytes32 id, address owner, string calldata metadataURI, address registrar) private {
        if (owner == address(0)) revert DatanetRegistryZeroAddress();
        if (_datanets[id].owner != address(0)) revert DatanetRegistryExists(id);
        if (registrar != owner) {
            _curators[id][registrar] = true;
            emit CuratorSet(id, registrar, true);
        }
        Datanet storage d = _datanets[id];
        d.owner = owner;
        d.metadataURI = metadataURI;
        emit DatanetCreated(id, owner, metadataURI);
    }
}
