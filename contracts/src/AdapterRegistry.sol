// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {DatanetRegistry} from "./DatanetRegistry.sol";

/**
 * @title AdapterRegistry
 * @notice Registry of LoRA adapters under their attribution fingerprint. The
 * fingerprint is computed here from what it binds (base model, adapter
 * weights, training config, and the Datanet versions the adapter was trained
 * on with their attribution weights), so a registered fingerprint proves that
 * binding and nobody can register different data under it.
 *
 * Registration is bound to the platform's registrar, which knows who really
 * trained an adapter: a registrar registers directly, or signs an EIP-712
 * {RegistrationAttestation} that anyone (the owner, paying its own gas) may
 * submit with {registerWithSignature}. A front-runner who copies a public
 * registration cannot put itself in as owner, since a binding's fingerprint
 * does not include the owner and self-registration is not allowed.
 *
 * The owner (or the registrar, recording a price set through the platform)
 * may change the prices; the owner the URI; nobody the binding.
 *
 * NOTE: each source must name a version published in {DatanetRegistry} with
 * the same root; sources are sorted by (datanetId, version), without repeats,
 * and their weights add up to 10 000 basis points.
 */
contract AdapterRegistry is AccessControl, EIP712 {
    /// @notice May register adapters on behalf of their owners (the platform's signer).
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    uint16 public constant TOTAL_BPS = 10_000;
    /// @notice What a registrar signs for {registerWithSignature}: the whole registration, hashed.
    bytes32 public constant REGISTRATION_TYPEHASH = keccak256(
        "RegistrationAttestation(bytes32 fingerprint,address owner,uint96 pricePerCall,uint96 pricePerThousandOutputTokens,bytes32 uriHash,uint256 deadline)"
    );

    /// @dev Three storage slots: version and weight share one.
    struct Source {
        bytes32 datanetId;
        bytes32 root;
        uint32 version;
        uint16 weightBps;
    }

    struct Registration {
        bytes32 baseModelHash;
        bytes32 weightsHash;
        bytes32 trainingConfigHash;
        Source[] sources;
        address owner;
        uint96 pricePerCall;
        uint96 pricePerThousandOutputTokens;
        string uri;
    }

    /// @dev Owner and price per call share a slot; the registration time is in the event's block.
    struct Adapter {
        address owner;
        uint96 pricePerCall;
        /// @dev Token base units per 1 000 output tokens generated.
        uint96 pricePerThousandOutputTokens;
        bytes32 baseModelHash;
        bytes32 weightsHash;
        bytes32 trainingConfigHash;
        string uri;
    }

    DatanetRegistry public immutable datanets;

    mapping(bytes32 fingerprint => Adapter) private _adapters;
    mapping(bytes32 fingerprint => Source[]) private _sources;

    event AdapterRegistered(
        bytes32 indexed fingerprint,
        address indexed owner,
        bytes32 baseModelHash,
        bytes32 weightsHash,
        bytes32 trainingConfigHash,
        uint96 pricePerCall,
        uint96 pricePerThousandOutputTokens,
        string uri
    );
    /// @notice `by` is the owner, or the registrar recording a price the owner set through the platform.
    event PriceUpdated(bytes32 indexed fingerprint, uint96 pricePerCall, uint96 pricePerThousandOutputTokens, address by);
    event URIUpdated(bytes32 indexed fingerprint, string uri);
    event AdapterOwnershipTransferred(bytes32 indexed fingerprint, address indexed from, address indexed to);

    error AdapterRegistryExists(bytes32 fingerprint);
    error AdapterRegistryUnknown(bytes32 fingerprint);
    error AdapterRegistryNotOwner(bytes32 fingerprint, address account);
    error AdapterRegistryNotRegistrar(address account);
    error AdapterRegistryZeroAddress();
    error AdapterRegistryNoSources();
    error AdapterRegistrySourcesNotSorted(uint256 index);
    error AdapterRegistryUnknownVersion(bytes32 datanetId, uint32 version, bytes32 root);
    error AdapterRegistryBadWeights(uint256 totalBps);
    error AdapterRegistryNotOwnerOrRegistrar(bytes32 fingerprint, address account);
    error AdapterRegistryAttestationExpired(uint256 deadline);
    error AdapterRegistryBadAttestation(address signer);

    constructor(address admin, DatanetRegistry datanetRegistry) EIP712("AdapterRegistry", "1") {
        if (admin == address(0) || address(datanetRegistry) == address(0)) revert AdapterRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        datanets = datanetRegistry;
    }

    modifier onlyAdapterOwner(bytes32 fingerprint) {
        address owner = _adapters[fingerprint].owner;
        if (owner == address(0)) revert AdapterRegistryUnknown(fingerprint);
        if (owner != msg.sender) revert AdapterRegistryNotOwner(fingerprint, msg.sender);
        _;
    }

    /**
     * @notice The attribution fingerprint of a binding:
     * `keccak256(abi.encode(baseModelHash, weightsHash, trainingConfigHash, sources))`.
     */
    function fingerprintOf(
        bytes32 baseModelHash,
        bytes32 weightsHash,
        bytes32 trainingConfigHash,
        Source[] calldata sources
    ) public pure returns (bytes32) {
        return keccak256(abi.encode(baseModelHash, weightsHash, trainingConfigHash, sources));
    }

    /**
     * @notice Registers an adapter for `r.owner`; only a registrar.
     * @return fingerprint the adapter's attribution fingerprint, unique and immutable.
     */
    function register(Registration calldata r) external returns (bytes32 fingerprint) {
        if (!hasRole(REGISTRAR_ROLE, msg.sender)) revert AdapterRegistryNotRegistrar(msg.sender);
        return _register(r);
    }

    /**
     * @notice Registers an adapter with a registrar's EIP-712 attestation of
     * exactly this registration (fingerprint, owner, prices, URI) until `deadline`;
     * anyone may submit it. A copy of the transaction registers the same owner.
     * @param signer the registrar that signed (an EOA, or a contract wallet via ERC-1271).
     */
    function registerWithSignature(Registration calldata r, uint256 deadline, address signer, bytes calldata signature)
        external
        returns (bytes32 fingerprint)
    {
        if (block.timestamp > deadline) revert AdapterRegistryAttestationExpired(deadline);
        bytes32 fp = fingerprintOf(r.baseModelHash, r.weightsHash, r.trainingConfigHash, r.sources);
        if (!hasRole(REGISTRAR_ROLE, signer) || !SignatureChecker.isValidSignatureNowCalldata(signer, hashRegistration(fp, r, deadline), signature)) {
            revert AdapterRegistryBadAttestation(signer);
        }
        return _register(r);
    }

    /// @notice The EIP-712 digest a registrar signs to attest registration `r` of fingerprint `fp`.
    function hashRegistration(bytes32 fp, Registration calldata r, uint256 deadline) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    REGISTRATION_TYPEHASH,
                    fp,
                    r.owner,
                    r.pricePerCall,
                    r.pricePerThousandOutputTokens,
                    keccak256(bytes(r.uri)),
                    deadline
                )
            )
        );
    }

    /**
     * @notice Sets the prices, in token base units: per call and per 1 000
     * output tokens; the adapter's owner, or a registrar recording a price the
     * owner set through the platform.
     */
    function setPrice(bytes32 fingerprint, uint96 pricePerCall, uint96 pricePerThousandOutputTokens) external {
        Adapter storage a = _adapters[fingerprint];
        if (a.owner == address(0)) revert AdapterRegistryUnknown(fingerprint);
        if (a.owner != msg.sender && !hasRole(REGISTRAR_ROLE, msg.sender)) {
            revert AdapterRegistryNotOwnerOrRegistrar(fingerprint, msg.sender);
        }
        a.pricePerCall = pricePerCall;
        a.pricePerThousandOutputTokens = pricePerThousandOutputTokens;
        emit PriceUpdated(fingerprint, pricePerCall, pricePerThousandOutputTokens, msg.sender);
    }

    /// @notice Sets the URI where the adapter's files are found; only the adapter's owner.
    function setURI(bytes32 fingerprint, string calldata uri) external onlyAdapterOwner(fingerprint) {
        _adapters[fingerprint].uri = uri;
        emit URIUpdated(fingerprint, uri);
    }

    /// @notice Hands the adapter (and its share of future fees) to `to`; only the adapter's owner.
    function transferAdapterOwnership(bytes32 fingerprint, address to) external onlyAdapterOwner(fingerprint) {
        if (to == address(0)) revert AdapterRegistryZeroAddress();
        _adapters[fingerprint].owner = to;
        emit AdapterOwnershipTransferred(fingerprint, msg.sender, to);
    }

    /// @notice The adapter registered under `fingerprint` (owner is zero when unknown).
    function getAdapter(bytes32 fingerprint) external view returns (Adapter memory) {
        return _adapters[fingerprint];
    }

    /// @notice The Datanet versions the adapter was trained on, with their attribution weights.
    function getSources(bytes32 fingerprint) external view returns (Source[] memory) {
        return _sources[fingerprint];
    }

    function _register(Registration calldata r) private returns (bytes32 fingerprint) {
        if (r.owner == address(0)) revert AdapterRegistryZeroAddress();
        _checkSources(r.sources);

        fingerprint = fingerprintOf(r.baseModelHash, r.weightsHash, r.trainingConfigHash, r.sources);
        if (_adapters[fingerprint].owner != address(0)) revert AdapterRegistryExists(fingerprint);

        _adapters[fingerprint] = Adapter({
            owner: r.owner,
            pricePerCall: r.pricePerCall,
            pricePerThousandOutputTokens: r.pricePerThousandOutputTokens,
            baseModelHash: r.baseModelHash,
            weightsHash: r.weightsHash,
            trainingConfigHash: r.trainingConfigHash,
            uri: r.uri
        });
        Source[] storage stored = _sources[fingerprint];
        for (uint256 i = 0; i < r.sources.length; ++i) stored.push(r.sources[i]);

        emit AdapterRegistered(
            fingerprint,
            r.owner,
            r.baseModelHash,
            r.weightsHash,
            r.trainingConfigHash,
            r.pricePerCall,
            r.pricePerThousandOutputTokens,
            r.uri
        );
    }

    function _checkSources(Source[] calldata sources) private view {
        if (sources.length == 0) revert AdapterRegistryNoSources();
        uint256 total = 0;
        for (uint256 i = 0; i < sources.length; ++i) {
            Source calldata s = sources[i];
            if (i > 0) {
                Source calldata p = sources[i - 1];
                bool ascending = p.datanetId < s.datanetId || (p.datanetId == s.datanetId && p.version < s.version);
                if (!ascending) revert AdapterRegistrySourcesNotSorted(i);
            }
            if (s.root == bytes32(0) || datanets.getVersion(s.datanetId, s.version).root != s.root) {
                revert AdapterRegistryUnknownVersion(s.datanetId, s.version, s.root);
            }
            total += s.weightBps;
        }
        if (total != TOTAL_BPS) revert AdapterRegistryBadWeights(total);
    }
}
