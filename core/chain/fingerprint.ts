import { AbiCoder, keccak256, toUtf8Bytes } from "ethers";

/** One Datanet version an adapter was trained on, with its attribution weight. */
export interface AttributionSource {
  /** The on-chain Datanet key (see `datanetKey`). */
  datanetId: string;
  version: number;
  /** The version's Merkle root, 0x + 64 hex. */
  root: string;
  /** Share of the attribution in basis points; all sources add up to 10 000. */
  weightBps: number;
}

/** What an attribution fingerprint binds. Hashes are 0x + 64 hex (bytes32). */
export interface AttributionBinding {
  baseModelHash: string;
  weightsHash: string;
  trainingConfigHash: string;
  sources: AttributionSource[];
}

const SOURCE_TUPLE = "tuple(bytes32 datanetId,bytes32 root,uint32 version,uint16 weightBps)[]";

/** The on-chain key of an off-chain Datanet id: `keccak256(utf8(id))`, the same on every chain. */
export function datanetKey(datanetId: string): string {
  return keccak256(toUtf8Bytes(datanetId));
}

/** Sources in the order AdapterRegistry requires: by datanetId, then version. */
export function sortSources(sources: AttributionSource[]): AttributionSource[] {
  return [...sources].sort((a, b) => {
    const x = BigInt(a.datanetId), y = BigInt(b.datanetId);
    return x !== y ? (x < y ? -1 : 1) : a.version - b.version;
  });
}

/**
 * The attribution fingerprint, exactly as `AdapterRegistry.fingerprintOf` computes it:
 * `keccak256(abi.encode(baseModelHash, weightsHash, trainingConfigHash, sortedSources))`.
 */
export function attributionFingerprint(binding: AttributionBinding): string {
  const sources = sortSources(binding.sources).map((s) => [s.datanetId, s.root, s.version, s.weightBps]);
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["bytes32", "bytes32", "bytes32", SOURCE_TUPLE],
      [binding.baseModelHash, binding.weightsHash, binding.trainingConfigHash, sources],
    ),
  );
}
