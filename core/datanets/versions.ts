import { Readable } from "node:stream";
import { z } from "zod";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import { eventWrite } from "../events.ts";
import { newId } from "../ids.ts";
import { splitRecords } from "../ingest/split-records.ts";
import type { BlobStore } from "../ports/blob-store.ts";
import { QueueNames } from "../ports/queue.ts";
import type { Item } from "../ports/tables.ts";
import { queryAll } from "../query-all.ts";
import { loadOwnedDatanet, loadVisibleDatanet } from "./access.ts";
import { CONTRIBUTION_SK_PREFIX, contributionLayout } from "./contribution-layout.ts";
import { versionFromItem } from "./items.ts";
import { mergeShards } from "./merge-shards.ts";
import {
  acceptedBlobKey,
  acceptedPrefix,
  datanetKey,
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
/** The same for a background publish, which may wait in the queue and retry first. */
const BACKGROUND_RESERVATION_MS = 2 * 60 * 60 * 1000;

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
 * into the next version, in this call: a StandardMerkleTree over
 * (contributor, contentHash, tokens), the records and the tree stored as
 * blobs, the version item and a `datanet.version.published` event. Owner
 * only. The version number is reserved with a conditional write first, so two
 * concurrent publishes never share a number (the second gets a ConflictError).
 * The API calls `requestPublish`, which hands large Datanets to a background job.
 */
export async function publishVersion(deps: CoreDeps, caller: Caller, datanetId: string): Promise<DatanetVersion> {
  const datanet = await loadOwnedDatanet(deps, caller, datanetId, "publish a version");
  const leaves = await acceptedLeaves(deps, datanet);
  if (leaves.length === 0) throw new ConflictError("There are no accepted contributions to publish", "nothing-to-publish");
  const now = deps.clock.now();
  const version = (datanet.versions as number) + 1;
  const publishId = newId("pub", now);
  await reserveVersion(deps, datanetId, version, publishId, now, RESERVATION_MS);
  try {
    return await buildVersion(deps, datanet, version, publishId, leaves);
  } catch (error) {
    // Give the number back so the next attempt need not wait out the reservation.
    await deps.tables.main.delete(versionKey(datanetId, version), { equals: { publishId, state: "publishing" } }).catch(() => undefined);
    throw error;
  }
}

/** A version being built in the background, or whose build failed (owner only). */
export const VersionPublication = z
  .object({
    datanetId: z.string(),
    version: z.number().int().positive(),
    state: z.enum(["publishing", "failed"]),
    /** Accepted records of finished uploads when the publish was asked for. */
    records: z.number().int(),
    error: z.string().optional(),
    startedAt: z.string(),
  })
  .meta({ id: "VersionPublication" });
export type VersionPublication = z.infer<typeof VersionPublication>;

/** A message of the versions queue: build this reserved version. */
export const PublishMessage = z.object({ datanetId: z.string().min(1), version: z.number().int().positive(), publishId: z.string().min(1) });
export type PublishMessage = z.infer<typeof PublishMessage>;

/**
 * What `POST …/versions` does: a Datanet of at most `config.syncPublishMaxRecords`
 * accepted records is published in this request (`{published}`); a larger one
 * gets its version number reserved and is built by the versions-queue consumer
 * (`{publishing}`), whose progress `getPublication` tells. Building takes
 * about 13 s per 100k records, more than an API request may last.
 */
export async function requestPublish(
  deps: CoreDeps,
  caller: Caller,
  datanetId: string,
): Promise<{ published: DatanetVersion } | { publishing: VersionPublication }> {
  const datanet = await loadOwnedDatanet(deps, caller, datanetId, "publish a version");
  const { accepted } = await finishedUploads(deps, datanetId);
  if (accepted === 0) throw new ConflictError("There are no accepted contributions to publish", "nothing-to-publish");
  if (accepted <= deps.config.syncPublishMaxRecords) return { published: await publishVersion(deps, caller, datanetId) };
  const now = deps.clock.now();
  const version = (datanet.versions as number) + 1;
  const publishId = newId("pub", now);
  await reserveVersion(deps, datanetId, version, publishId, now, BACKGROUND_RESERVATION_MS, { records: accepted, startedAt: new Date(now).toISOString() });
  const message: PublishMessage = { datanetId, version, publishId };
  await deps.queue.send(QueueNames.versions, message);
  return { publishing: { datanetId, version, state: "publishing", records: accepted, startedAt: new Date(now).toISOString() } };
}

/**
 * The versions-queue consumer: builds a reserved version. A message for a
 * version already published, or whose reservation another publish took over,
 * does nothing. A failure is thrown for the queue to retry, and on the
 * `finalAttempt` recorded on the version (`failed`, with the reason) so the
 * owner sees it and may publish again.
 */
export async function completePublish(deps: CoreDeps, message: PublishMessage, options: { finalAttempt: boolean }): Promise<"published" | "skipped"> {
  const { datanetId, version, publishId } = message;
  const main = deps.tables.main;
  const reservation = await main.get(versionKey(datanetId, version));
  if (!reservation || reservation.publishId !== publishId || reservation.state !== "publishing") return "skipped";
  const datanet = await main.get(datanetKey(datanetId));
  if (!datanet) return "skipped";
  try {
    const leaves = await acceptedLeaves(deps, datanet);
    if (leaves.length === 0) throw new ConflictError("There are no accepted contributions to publish", "nothing-to-publish");
    await buildVersion(deps, datanet, version, publishId, leaves);
    return "published";
  } catch (error) {
    if (options.finalAttempt) {
      await main
        .put({ ...reservation, state: "failed", error: (error as Error).message.slice(0, 500) }, { equals: { publishId, state: "publishing" } })
        .catch(() => undefined);
    }
    throw error;
  }
}

/** Where a version being published in the background stands (owner only; published versions: `getVersion`). */
export async function getPublication(deps: CoreDeps, caller: Caller, datanetId: string, version: number): Promise<VersionPublication | undefined> {
  await loadOwnedDatanet(deps, caller, datanetId, "see a publication in progress");
  const item = await deps.tables.main.get(versionKey(datanetId, version));
  if (!item || (item.state !== "publishing" && item.state !== "failed")) return undefined;
  return {
    datanetId,
    version,
    state: item.state,
    records: (item.records as number | undefined) ?? 0,
    ...(typeof item.error === "string" ? { error: item.error } : {}),
    startedAt: (item.startedAt as string | undefined) ?? new Date((item.reservedUntil as number) - RESERVATION_MS).toISOString(),
  };
}

/** Writes the records and tree blobs of a reserved version, then the version, the Datanet's count and the event in one transaction. */
async function buildVersion(deps: CoreDeps, datanet: Item, version: number, publishId: string, leaves: Leaf[]): Promise<DatanetVersion> {
  const datanetId = datanet.id as string;
  const now = deps.clock.now();
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
async function reserveVersion(
  deps: CoreDeps,
  datanetId: string,
  version: number,
  publishId: string,
  now: number,
  holdMs: number,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const main = deps.tables.main;
  const key = versionKey(datanetId, version);
  const reservation: Item = { ...key, datanetId, version, state: "publishing", publishId, reservedUntil: now + holdMs, ...extra };
  try {
    await main.put(reservation, { notExists: true });
    return;
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
  }
  // A publish that died (its hold expired) or failed gives its number up to the next one.
  const existing = await main.get(key);
  if ((existing?.state === "publishing" && (existing.reservedUntil as number) < now) || existing?.state === "failed") {
    try {
      await main.put(reservation, { equals: { publishId: existing.publishId } });
      return;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
    }
  }
  throw new ConflictError(`Version ${version} of this Datanet is being published by another request`, "version-conflict");
}

/** The Datanet's finished uploads and their accepted records (what a version would hold). */
async function finishedUploads(deps: CoreDeps, datanetId: string): Promise<{ uploadIds: string[]; accepted: number }> {
  const uploadIds: string[] = [];
  let accepted = 0;
  for await (const item of queryAll(deps.tables.main, { pk: datanetPk(datanetId), skPrefix: UPLOAD_SK_PREFIX })) {
    if (item.status !== "done") continue;
    uploadIds.push(item.uploadId as string);
    accepted += (item.accepted as number | undefined) ?? 0;
  }
  return { uploadIds, accepted };
}

/**
 * Accepted contributions of finished uploads, in contribution-id order
 * (upload, then line): one merge over the Datanet's row shards (ids sort by
 * upload ULID, so the merged order is upload by upload). Read from the base
 * table: the by-status index is eventually consistent on DynamoDB and could
 * still miss rows of an upload that just finished.
 */
async function acceptedLeaves(deps: CoreDeps, datanet: Item): Promise<Leaf[]> {
  const datanetId = datanet.id as string;
  // Contributions of an upload still processing are not final (nor is its accepted blob).
  const finished = new Set((await finishedUploads(deps, datanetId)).uploadIds);
  const leaves: Leaf[] = [];
  const rows = mergeShards(deps.tables.contributions, { partitions: contributionLayout(datanet).rowPartitions, skPrefix: CONTRIBUTION_SK_PREFIX });
  for await (const item of rows) {
    if (item.status !== "accepted" || !finished.has(item.uploadId as string)) continue;
    leaves.push({
      id: item.id as string,
      uploadId: item.uploadId as string,
      contributor: item.contributor as string,
      contentHash: item.contentHash as string,
      tokens: item.tokens as number,
    });
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

