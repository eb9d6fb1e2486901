import { Readable } from "node:stream";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import { eventWrite } from "../events.ts";
import { newId } from "../ids.ts";
import { splitRecords } from "../ingest/split-records.ts";
import type { BlobStore } from "../ports/blob-store.ts";
import type { Item } from "../ports/tables.ts";
import { queryAll } from "../query-all.ts";
import { loadOwnedDatanet, loadVisibleDatanet } from "./access.ts";
import { versionFromItem } from "./items.ts";
import {
  acceptedBlobKey,
  acceptedPrefix,
  CONTRIBUTION_SK_PREFIX,
  contributionIdPrefix,
  datanetPk,
  UPLOAD_SK_PREFIX,
  versionKey,
  versionRecordsBlobKey,
  versionTreeBlobKey,
} from "./keys.ts";
import type { DatanetVersion, Proof } from "./model.ts";
import { LEAF_ENCODING } from "./model.ts";
import { type LeafValue, proofOf, readTreeFile, TreeCache, treeFileChunks } from "./tree-file.ts";

/** How long a started publish holds its version number before another may take it over. */
const RESERVATION_MS = 15 * 60 * 1000;

/** A frozen contribution, in leaf order. */
interface Leaf {
  id: string;
  uploadId: string;
  contributor: string;
  contentHash: string;
  tokens: number;
}

/** Parsed trees of published versions (immutable), per blob store. */
const treeCaches = new WeakMap<BlobStore, TreeCache>();

/**
 * Freezes the Datanet's accepted contributions (those of finished uploads)
 * into the next version: a StandardMerkleTree over (contributor, contentHash,
 * tokens), the records and the tree stored as blobs, the version item and a
 * `datanet.version.published` event. Owner only. The version number is
 * reserved with a conditional write first, so two concurrent publishes never
 * share a number (the second gets a ConflictError).
 */
export async function publishVersion(deps: CoreDeps, caller: Caller, datanetId: string): Promise<DatanetVersion> {
  const datanet = await loadOwnedDatanet(deps, caller, datanetId, "publish a version");
  const leaves = await acceptedLeaves(deps, datanetId);
  if (leaves.length === 0) throw new ConflictError("There are no accepted contributions to publish", "nothing-to-publish");

  const now = deps.clock.now();
  const version = (datanet.versions as number) + 1;
  const publishId = newId("pub", now);
  await reserveVersion(deps, datanetId, version, publishId, now);
  // The records stream's own error (e.g. a version-conflict) wins over how the store reports the aborted body.
  let recordsFailure: unknown;
  try {
    const values = leaves.map((l): LeafValue => [l.contributor, l.contentHash, String(l.tokens)]);
    const tree = StandardMerkleTree.of(values, [...LEAF_ENCODING]);
    const records = async function* () {
      try {
        yield* frozenRecords(deps, datanetId, leaves);
      } catch (error) {
        recordsFailure = error;
        throw error;
      }
    };
    await deps.blobs.put(versionRecordsBlobKey(datanetId, version), Readable.from(records(), { objectMode: false }), {
      contentType: "application/jsonl",
    });
    // Streamed: the dump of a large tree is longer than any one string may be.
    const treeFile = treeFileChunks(tree.dump(), leaves.map((l) => l.id));
    await deps.blobs.put(versionTreeBlobKey(datanetId, version), Readable.from(treeFile, { objectMode: false }), { contentType: "application/json" });

    const result: DatanetVersion = {
      datanetId,
      version,
      root: tree.root,
      records: leaves.length,
      tokens: leaves.reduce((sum, l) => sum + l.tokens, 0),
      createdAt: new Date(now).toISOString(),
    };
    await deps.tables.main.transact([
      { put: { ...versionKey(datanetId, version), ...result, state: "published", publishId }, condition: { equals: { publishId } } },
      { put: { ...datanet, versions: version }, condition: { equals: { versions: version - 1 } } },
      eventWrite(
        "datanet.version.published",
        { datanetId, version, root: result.root, records: result.records, tokens: result.tokens },
        [datanet.owner as string],
        now,
      ),
    ]);
    return result;
  } catch (error) {
    // Give the number back so the next attempt need not wait out the reservation.
    await deps.tables.main.delete(versionKey(datanetId, version), { equals: { publishId, state: "publishing" } }).catch(() => undefined);
    throw recordsFailure ?? error;
  }
}

/** A published version of a Datanet the caller may see. */
export async function getVersion(deps: CoreDeps, caller: Caller, datanetId: string, version: number): Promise<DatanetVersion> {
  if (!Number.isInteger(version) || version < 1) throw new ValidationError("version must be a positive integer");
  await loadVisibleDatanet(deps, caller, datanetId);
  const item = await deps.tables.main.get(versionKey(datanetId, version));
  if (!item || item.state !== "published") throw new NotFoundError(`Version ${version}`);
  return versionFromItem(item);
}

/**
 * The inclusion proof of one contribution in a version, such that
 * `StandardMerkleTree.verify(root, leafEncoding, leaf, proof)` holds and
 * OpenZeppelin's `MerkleProof.verify` accepts it on chain.
 */
export async function getProof(deps: CoreDeps, caller: Caller, datanetId: string, version: number, contributionId: string): Promise<Proof> {
  const published = await getVersion(deps, caller, datanetId, version);
  let cache = treeCaches.get(deps.blobs);
  if (!cache) treeCaches.set(deps.blobs, (cache = new TreeCache()));
  const tree = await cache.get(`${datanetId}/${version}`, async () => {
    const blob = await deps.blobs.get(versionTreeBlobKey(datanetId, version));
    if (!blob) throw new Error(`tree of ${datanetId} version ${version} is missing`);
    return readTreeFile(blob);
  });
  const index = tree.indexOf(contributionId);
  if (index === -1) throw new NotFoundError(`Contribution ${contributionId} in version ${version}`);
  // The sibling path straight from the stored nodes: StandardMerkleTree.load
  // would re-hash every leaf to validate a file we wrote ourselves.
  return {
    root: published.root,
    leafEncoding: [...LEAF_ENCODING],
    leaf: tree.values[index]!.value,
    proof: proofOf(tree, index),
  };
}

/**
 * Takes version number `version` for this publish. A reservation left by a
 * publish that died is taken over once it has expired.
 */
async function reserveVersion(deps: CoreDeps, datanetId: string, version: number, publishId: string, now: number): Promise<void> {
  const main = deps.tables.main;
  const key = versionKey(datanetId, version);
  const reservation: Item = { ...key, datanetId, version, state: "publishing", publishId, reservedUntil: now + RESERVATION_MS };
  try {
    await main.put(reservation, { notExists: true });
    return;
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
  }
  const existing = await main.get(key);
  if (existing?.state === "publishing" && (existing.reservedUntil as number) < now) {
    try {
      await main.put(reservation, { equals: { publishId: existing.publishId } });
      return;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
    }
  }
  throw new ConflictError(`Version ${version} of this Datanet is being published by another request`, "version-conflict");
}

/**
 * Accepted contributions of finished uploads, in contribution-id order
 * (upload, then line). Read from the base table, upload by upload: the
 * by-status index is eventually consistent on DynamoDB and could still miss
 * rows of an upload that just finished.
 */
async function acceptedLeaves(deps: CoreDeps, datanetId: string): Promise<Leaf[]> {
  // Contributions of an upload still processing are not final (nor is its accepted blob).
  const done: string[] = [];
  for await (const item of queryAll(deps.tables.main, { pk: datanetPk(datanetId), skPrefix: UPLOAD_SK_PREFIX })) {
    if (item.status === "done") done.push(item.uploadId as string);
  }
  const leaves: Leaf[] = [];
  for (const uploadId of done.sort()) {
    const skPrefix = `${CONTRIBUTION_SK_PREFIX}${contributionIdPrefix(uploadId)}`;
    for await (const item of queryAll(deps.tables.contributions, { pk: datanetPk(datanetId), skPrefix })) {
      if (item.status !== "accepted") continue;
      leaves.push({
        id: item.id as string,
        uploadId,
        contributor: item.contributor as string,
        contentHash: item.contentHash as string,
        tokens: item.tokens as number,
      });
    }
  }
  return leaves;
}

/** The bytes of several blobs one after the other; a part that vanished meanwhile is a conflict. */
async function* concatBlobs(deps: CoreDeps, keys: string[]): AsyncGenerator<Buffer> {
  for (const key of keys) {
    const blob = await deps.blobs.get(key);
    if (!blob) throw versionConflict(`accepted records part ${key} is missing`);
    for await (const chunk of blob as AsyncIterable<Buffer>) yield chunk;
  }
}

/**
 * The records of `leaves`, one JSON line each and in the same order, read from
 * each upload's accepted-records blob (which holds exactly the upload's
 * accepted contributions, in line order).
 */
async function* frozenRecords(deps: CoreDeps, datanetId: string, leaves: Leaf[]): AsyncGenerator<Buffer> {
  let out = "";
  let i = 0;
  // One listing for the whole Datanet, grouped by upload (part keys extend their part 0's key).
  const partsByUpload = new Map<string, string[]>();
  for (const key of await deps.blobs.list(acceptedPrefix(datanetId))) {
    const first = key.slice(0, key.indexOf(".jsonl") + ".jsonl".length);
    partsByUpload.set(first, [...(partsByUpload.get(first) ?? []), key]);
  }
  while (i < leaves.length) {
    const uploadId = leaves[i]!.uploadId;
    // The upload's parts in order (one, unless its ingest was resumed from checkpoints).
    const parts = partsByUpload.get(acceptedBlobKey(datanetId, uploadId)) ?? [];
    if (parts.length === 0) throw versionConflict(`accepted records of upload ${uploadId} are missing`);
    for await (const raw of splitRecords(concatBlobs(deps, parts), Number.MAX_SAFE_INTEGER)) {
      if (!raw.bytes || raw.bytes.length === 0) continue;
      const line = JSON.parse(raw.bytes.toString("utf8")) as { contributionId: string; contentHash: string; record: unknown };
      const leaf = leaves[i];
      if (!leaf || leaf.uploadId !== uploadId || leaf.id !== line.contributionId) {
        throw versionConflict(`accepted records of upload ${uploadId} disagree with its contributions at ${line.contributionId}`);
      }
      out += `${JSON.stringify({ contributionId: leaf.id, contributor: leaf.contributor, contentHash: leaf.contentHash, tokens: leaf.tokens, record: line.record })}\n`;
      if (out.length >= 64 * 1024) {
        yield Buffer.from(out);
        out = "";
      }
      i++;
    }
    if (leaves[i]?.uploadId === uploadId) throw versionConflict(`accepted records of upload ${uploadId} end early`);
  }
  if (out) yield Buffer.from(out);
}

/**
 * Contributions and accepted records that disagree: an upload changed while
 * the version was frozen (e.g. failed by the ingest dead-letter consumer).
 * Publishing again reads a settled state, so this is a retryable 409.
 */
function versionConflict(detail: string): ConflictError {
  return new ConflictError(`The Datanet's contributions changed while the version was being published; try again (${detail})`, "version-conflict");
}

