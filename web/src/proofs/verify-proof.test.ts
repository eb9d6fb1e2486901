import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { describe, expect, it } from "vitest";
import { LEAF_ENCODING, type Proof } from "../../../core/datanets/model.ts";
import { verifyProof } from "./verify-proof.ts";

const h = (n: number) => "0x" + n.toString(16).padStart(64, "0");
const leaves: [string, string, string][] = [
  ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8", h(1), "12"],
  ["0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", h(2), "40"],
  ["0x90F79bf6EB2c4f870365E785982E1f101E93b906", h(3), "7"],
];
const tree = StandardMerkleTree.of(leaves, [...LEAF_ENCODING]);
const proofOf = (i: number): Proof => ({
  root: tree.root,
  leafEncoding: [...LEAF_ENCODING],
  leaf: leaves[i]!,
  proof: tree.getProof(i),
});

describe("verifyProof", () => {
  it("accepts a real proof whose root is the published one", () => {
    expect(verifyProof(proofOf(1), tree.root)).toEqual({ included: true, rootMatches: true, ok: true });
  });

  it("rejects a leaf whose token count was changed", () => {
    const proof = proofOf(1);
    const check = verifyProof({ ...proof, leaf: [proof.leaf[0], proof.leaf[1], "41"] }, tree.root);
    expect(check).toMatchObject({ included: false, ok: false });
  });

  it("rejects a valid proof against a different published root", () => {
    expect(verifyProof(proofOf(0), h(99))).toMatchObject({ included: true, rootMatches: false, ok: false });
  });

  it("reports a malformed leaf as an error instead of throwing", () => {
    const check = verifyProof({ ...proofOf(0), leaf: ["not-an-address", h(1), "1"] as unknown as Proof["leaf"] });
    expect(check.ok).toBe(false);
    expect(check.error).toBeTruthy();
  });
});
