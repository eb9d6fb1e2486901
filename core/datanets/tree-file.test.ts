import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { describe, expect, it, vi } from "vitest";
import { chunked, collect } from "../ingest/test-sources.ts";
import { LEAF_ENCODING } from "./model.ts";
import { type LeafValue, type ParsedTree, proofOf, readTreeFile, TreeCache, treeFileChunks } from "./tree-file.ts";

const leafValues = (n: number): LeafValue[] =>
  Array.from({ length: n }, (_, i) => [`0x${(i % 7).toString(16).padStart(40, "0")}`, `0x${i.toString(16).padStart(64, "0")}`, String(i % 100)]);
const ids = (n: number) => Array.from({ length: n }, (_, i) => `ct_U_${String(i).padStart(10, "0")}`);

describe("tree file", () => {
  it("streams a file that is the OpenZeppelin dump as JSON, loadable by StandardMerkleTree.load", async () => {
    const tree = StandardMerkleTree.of(leafValues(5), [...LEAF_ENCODING]);
    const text = Buffer.concat(await collect(treeFileChunks(tree.dump(), ids(5)))).toString();
    const json = JSON.parse(text);
    expect(json).toEqual({ ...tree.dump(), contributionIds: ids(5) });
    expect(StandardMerkleTree.load(json).root).toBe(tree.root);
  });

  it("gives the library's proofs for a 20,000-leaf tree without loading it, and they verify", async () => {
    const values = leafValues(20_000);
    const tree = StandardMerkleTree.of(values, [...LEAF_ENCODING]);
    const bytes = Buffer.concat(await collect(treeFileChunks(tree.dump(), ids(values.length))));
    const load = vi.spyOn(StandardMerkleTree, "load");

    const parsed = await readTreeFile(chunked(bytes, 64 * 1024));
    for (const i of [0, 1, 2, 9_999, 12_345, 19_998, 19_999]) {
      expect(parsed.indexOf(ids(values.length)[i]!)).toBe(i);
      const proof = proofOf(parsed, i);
      expect(proof).toEqual(tree.getProof(i));
      expect(StandardMerkleTree.verify(tree.root, [...LEAF_ENCODING], parsed.values[i]!.value, proof)).toBe(true);
    }
    expect(load).not.toHaveBeenCalled();
    load.mockRestore();
  });

  it("reads the one-line files that earlier versions wrote", async () => {
    const tree = StandardMerkleTree.of(leafValues(3), [...LEAF_ENCODING]);
    const parsed = await readTreeFile(chunked(JSON.stringify({ ...tree.dump(), contributionIds: ids(3) }), 50));
    expect(proofOf(parsed, 2)).toEqual(tree.getProof(2));
    expect(parsed.indexOf("ct_nope")).toBe(-1);
  });
});

describe("TreeCache", () => {
  const fake = (leaves: number): ParsedTree => ({ tree: [], values: Array.from({ length: leaves }, () => ({ value: ["", "", ""], treeIndex: 0 })), contributionIds: [], indexOf: () => -1 });

  it("loads a tree once for concurrent and later readers", async () => {
    const cache = new TreeCache(100);
    const load = vi.fn(async () => fake(10));
    const [a, b] = await Promise.all([cache.get("k", load), cache.get("k", load)]);
    expect(a).toBe(b);
    expect(await cache.get("k", load)).toBe(a);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it("evicts the least recently used trees beyond its leaf budget, and forgets failed loads", async () => {
    const cache = new TreeCache(25);
    const loads: string[] = [];
    const get = (key: string) => cache.get(key, async () => (loads.push(key), fake(10)));
    await get("a");
    await get("b");
    await get("a"); // a is now the most recent
    await get("c"); // 30 leaves: b goes
    await get("a");
    await get("b");
    expect(loads).toEqual(["a", "b", "c", "b"]);
    await expect(cache.get("x", async () => Promise.reject(new Error("store down")))).rejects.toThrow("store down");
    expect(await cache.get("x", async () => fake(1))).toBeDefined();
  });
});
