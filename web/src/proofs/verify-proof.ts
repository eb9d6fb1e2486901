import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Proof } from "../../../core/datanets/model.ts";

/** The outcome of checking one inclusion proof in the browser. */
export interface ProofCheck {
  /** The leaf hashes up to `proof.root` along `proof.proof`. */
  included: boolean;
  /** `proof.root` equals the root the version was published with (when known). */
  rootMatches: boolean | undefined;
  /** Both hold: the record is part of that published version. */
  ok: boolean;
  /** Why it failed to verify at all (e.g. a malformed leaf), if it threw. */
  error?: string;
}

/**
 * Verifies a contribution's inclusion proof with OpenZeppelin's
 * StandardMerkleTree (the same leaf hashing the on-chain MerkleProof uses),
 * and checks the proof's root against the version's published root.
 */
export function verifyProof(proof: Proof, publishedRoot?: string): ProofCheck {
  const rootMatches = publishedRoot === undefined ? undefined : publishedRoot.toLowerCase() === proof.root.toLowerCase();
  let included = false;
  let error: string | undefined;
  try {
    included = StandardMerkleTree.verify(proof.root, proof.leafEncoding, proof.leaf, proof.proof);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  return { included, rootMatches, ok: included && rootMatches !== false, ...(error ? { error } : {}) };
}
