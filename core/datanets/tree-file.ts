import type { StandardMerkleTreeData } from "@openzeppelin/merkle-tree/dist/standard.js";
import { splitRecords } from "../ingest/split-records.ts";

/**
 * A version's `tree.json`: OpenZeppelin's StandardMerkleTree dump plus the
 * contribution behind each value, so `StandardMerkleTree.load` reads it as is.
 * It is written one array element per line (still one JSON document), which
 * lets it be streamed out and read back line by line: no single string ever
 * holds the whole file, whose size (≈330 bytes a leaf) passes V8's string
 * limit at ~1.6M leaves.
 */

export type LeafValue = [contributor: string, contentHash: string, tokens: string];

export type TreeFile = StandardMerkleTreeData<LeafValue> & { contributionIds: string[] };

/** What a proof needs of a tree, parsed once and kept (versions are immutable). */
export interface ParsedTree {
  /** Nodes in OpenZeppelin's heap layout: root at 0, children of i at 2i+1 and 2i+2; hex. */
  tree: string[];
  values: { value: LeafValue; treeIndex: number }[];
  contributionIds: string[];
  /** Index of a contribution id in `values`. */
  indexOf(contributionId: string): number;
}

const CHUNK = 64 * 1024;

/** The file's bytes, in chunks of about 64 KiB. */
export async function* treeFileChunks(dump: StandardMerkleTreeData<LeafValue>, contributionIds: readonly string[]): AsyncGenerator<Buffer> {
  let out = `{"format":${JSON.stringify(dump.format)},"leafEncoding":${JSON.stringify(dump.leafEncoding)},"tree":[\n`;
  const lists: [string, readonly unknown[]][] = [
    ["tree", dump.tree],
    ["values", dump.values],
    ["contributionIds", contributionIds],
  ];
  for (const [l, [name, list]] of lists.entries()) {
    if (l > 0) out += `],"${name}":[\n`;
    for (let i = 0; i < list.length; i++) {
      out += `${JSON.stringify(list[i])}${i < list.length - 1 ? "," : ""}\n`;
      if (out.length >= CHUNK) {
        yield Buffer.from(out);
        out = "";
      }
    }
  }
  yield Buffer.from(`${out}]}\n`);
}

/**
 * Reads a tree file as written by `treeFileChunks`, or (files of earlier
 * versions) as one JSON document on one line. Does not re-hash anything:
 * the file is ours and was hashed when it was published.
 */
export async function readTreeFile(source: AsyncIterable<Uint8Array | string>): Promise<ParsedTree> {
  const lines = splitRecords(source, Number.MAX_SAFE_INTEGER)[Symbol.asyncIterator]();
  const first = await lines.next();
  const head = first.done ? "" : first.value.bytes!.toString("utf8");
  if (!head.endsWith('"tree":[')) {
    // One-line file: the document is this line (nothing but whitespace follows).
    return parsed(JSON.parse(head) as TreeFile);
  }
  const file = JSON.parse(`${head}]}`) as TreeFile;
  const lists: unknown[][] = [file.tree, (file.values = []), (file.contributionIds = [])];
  let list = 0;
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const line = next.value.bytes!.toString("utf8");
    if (line.startsWith("]")) {
      list++;
      continue;
    }
    if (line === "") continue;
    lists[list]!.push(JSON.parse(line.endsWith(",") ? line.slice(0, -1) : line));
  }
  if (file.values.length !== file.contributionIds.length) throw new Error("tree file: values and contribution ids differ in number");
  return parsed(file);
}

function parsed(file: TreeFile): ParsedTree {
  let index: Map<string, number> | undefined;
  return {
    tree: file.tree,
    values: file.values,
    contributionIds: file.contributionIds,
    indexOf(contributionId) {
      index ??= new Map(file.contributionIds.map((id, i) => [id, i]));
      return index.get(contributionId) ?? -1;
    },
  };
}

/**
 * The sibling path from leaf `valueIndex` to the root: the same hashes, in
 * the same order, as OpenZeppelin's `getProof` gives (sibling of node i is
 * i+1 when i is odd, else i-1; parent of i is (i-1)>>1).
 */
export function proofOf(tree: ParsedTree, valueIndex: number): string[] {
  const value = tree.values[valueIndex];
  if (!value) throw new RangeError(`no value ${valueIndex} in the tree`);
  let i = value.treeIndex;
  if (2 * i + 1 < tree.tree.length || i >= tree.tree.length) throw new Error(`tree file: node ${i} is not a leaf`);
  const proof: string[] = [];
  while (i > 0) {
    proof.push(tree.tree[i % 2 === 1 ? i + 1 : i - 1]!);
    i = (i - 1) >> 1;
  }
  return proof;
}

/**
 * A small least-recently-used cache of parsed trees, bounded by their total
 * number of leaves (a 100k-leaf tree takes ~30 MB parsed).
 */
export class TreeCache {
  readonly #maxLeaves: number;
  readonly #entries = new Map<string, Promise<ParsedTree>>();
  readonly #sizes = new Map<string, number>();
  #leaves = 0;

  constructor(maxLeaves = 500_000) {
    this.#maxLeaves = maxLeaves;
  }

  /** The cached tree under `key`, or the one `load` gives (loaded once however many ask at the same time). */
  get(key: string, load: () => Promise<ParsedTree>): Promise<ParsedTree> {
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const loading = load();
    this.#entries.set(key, loading);
    loading.then(
      (tree) => {
        if (this.#entries.get(key) !== loading) return;
        this.#sizes.set(key, tree.values.length);
        this.#leaves += tree.values.length;
        this.#evict(key);
      },
      () => {
        if (this.#entries.get(key) === loading) this.#entries.delete(key);
      },
    );
    return loading;
  }

  /** Drops the least recently used trees until the rest fit (the newest always stays). */
  #evict(newest: string): void {
    for (const key of this.#entries.keys()) {
      if (this.#leaves <= this.#maxLeaves) return;
      if (key === newest || !this.#sizes.has(key)) continue;
      this.#leaves -= this.#sizes.get(key)!;
      this.#sizes.delete(key);
      this.#entries.delete(key);
    }
  }
}
