import type { Readable } from "node:stream";
import { createSHA256, type IHasher } from "hash-wasm";
import type { Address } from "../account.ts";
import {
  acceptedPartKey,
  contributionId,
  datanetKey,
  ingestCheckpointKey,
  parseUploadBlobKey,
  uploadKey,
} from "../datanets/keys.ts";
import { type ContributionLayout, contributionLayout } from "../datanets/contribution-layout.ts";
import type { DatanetSchemaKind } from "../datanets/model.ts";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, TransactionCanceledError } from "../errors.ts";
import { eventWrite } from "../events.ts";
import { newId } from "../ids.ts";
import type { Item } from "../ports/tables.ts";
import { BlobLineWriter } from "./blob-line-writer.ts";
import { claimContentHashes } from "./claim-content-hashes.ts";
import { releaseUploadRecords } from "./release-upload-records.ts";
import type { UploadFormat } from "./formats.ts";
import { detectFormat, formatProblem, parseRecords } from "./formats.ts";
import { normaliseRecord } from "./normalise-record.ts";
import type { Position } from "./split-records.ts";

export interface IngestObjectInput {
  /** The stored object's key, e.g. `uploads/dn_…/up_…`. */
  key: string;
  /** The stored object's size in bytes, as the notification reports it. */
  size: number;
  /**
   * Epoch ms by which this run must have stopped (a Lambda's time limit):
   * before it, the run checkpoints and returns `paused`, and the caller queues
   * a continuation that resumes from the checkpoint. Default: no limit.
   */
  deadline?: number;
  /** How often a long run checkpoints (ms, default 60 s). */
  checkpointEveryMs?: number;
}

export interface IngestResult {
  /**
   * `skipped`: not an upload, or an upload already finished (a repeated notification).
   * `paused`: checkpointed before the deadline; ingest the same object again to resume.
   * `busy`: another run holds the upload's lease and carries on with it.
   */
  status: "done" | "failed" | "skipped" | "paused" | "busy";
  accepted: number;
  rejected: number;
}

/**
 * Where a run stopped, kept in the contributions table: every record before
 * `offset` is written (rows, claims, accepted parts `0..part-1`), and the
 * SHA-256 of the bytes before it is `hashState` (hash-wasm's saved state).
 * A run holds the upload with `lease` until `leaseUntil`, so two runs never
 * write the same parts with different boundaries.
 */
interface Checkpoint {
  offset: number;
  line: number;
  part: number;
  accepted: number;
  rejected: number;
  /** base64 of the SHA-256 state after the first `hashOffset` bytes (≤ offset: a chunk end). */
  hashState: string | null;
  hashOffset: number;
  /** The CSV header's column names, once read. */
  csvHeader: string[] | null;
  lease: string;
  leaseUntil: number;
}

/** How long before the deadline a run stops to checkpoint (the last batch and the part upload must fit). */
export const PAUSE_MARGIN_MS = 90_000;
const DEFAULT_CHECKPOINT_EVERY_MS = 60_000;

/**
 * Records per batch of table writes, and the normalised bytes that close a
 * batch early. A batch of 2,000 is 20 claim transactions and 80 BatchWriteItem
 * calls, enough for the stores to keep 8 of each in flight.
 */
const BATCH_RECORDS = 2000;
const BATCH_BYTES = 4 * 1024 ** 2;

/**
 * Ingests one uploaded object (called once per object-created notification):
 * streams it, verifies its size and sha256 against the upload record, parses,
 * validates, normalises and dedupes each record, writes accepted and rejected
 * contributions, the accepted records' blob, and finally the upload's counts
 * with an `upload.completed` event in one transaction.
 *
 * Safe to repeat and to run concurrently for the same object: contribution
 * ids follow from upload and line, content-hash claims are conditional, and
 * only one run can move the upload from `processing` to `done`. A malformed
 * record never throws; a failing stream or store does, so the queue retries.
 */
export async function ingestObject(deps: CoreDeps, input: IngestObjectInput): Promise<IngestResult> {
  const target = parseUploadBlobKey(input.key);
  if (!target) return { status: "skipped", accepted: 0, rejected: 0 };
  const { datanetId, uploadId } = target;
  const main = deps.tables.main;

  let upload = await main.get(uploadKey(datanetId, uploadId));
  if (!upload) return { status: "skipped", accepted: 0, rejected: 0 };
  if (isFinished(upload)) return finishedResult(upload);

  if (upload.status === "pending") {
    const processing = { ...upload, status: "processing", startedAt: new Date(deps.clock.now()).toISOString() };
    try {
      await main.put(processing, { equals: { status: "pending" } });
      upload = processing;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      // Another delivery got here first: carry on beside it unless it finished.
      upload = (await main.get(uploadKey(datanetId, uploadId)))!;
      if (isFinished(upload)) return finishedResult(upload);
    }
  }

  const checkpoint = await takeLease(deps, datanetId, uploadId, input.checkpointEveryMs ?? DEFAULT_CHECKPOINT_EVERY_MS);
  if (!checkpoint) return { status: "busy", accepted: 0, rejected: 0 };
  const run = new UploadRun(deps, datanetId, uploadId, upload, checkpoint, input);
  const datanet = await main.get(datanetKey(datanetId));
  if (!datanet) return run.fail("the Datanet no longer exists", undefined);
  if (input.size !== upload.size) {
    return run.fail(`object is ${input.size} bytes but the upload declared ${upload.size as number}`, datanet);
  }
  const format = (upload.format as UploadFormat | undefined) ?? detectFormat(upload.filename as string, upload.contentType as string);
  const problem = format ? formatProblem(format, datanet.schema as DatanetSchemaKind) : "unsupported file type";
  if (!format || problem) return run.fail(problem!, datanet);
  // A resumed run reads from its checkpoint on (an S3 range GET), not from byte 0.
  const body = await deps.blobs.get(input.key, { start: checkpoint.hashOffset });
  if (!body) return run.fail("the uploaded object is missing", datanet);

  return run.process(body, format, datanet);
}

/**
 * Takes (or renews) the upload's lease: a new checkpoint at byte 0, or the
 * one a stopped run left. Undefined when another live run holds it.
 */
async function takeLease(deps: CoreDeps, datanetId: string, uploadId: string, everyMs: number): Promise<Checkpoint | undefined> {
  const table = deps.tables.contributions;
  const key = ingestCheckpointKey(datanetId, uploadId);
  const now = deps.clock.now();
  const current = await table.get(key);
  if (current && (current.leaseUntil as number) > now) return undefined;
  const checkpoint: Checkpoint = {
    ...(current
      ? (current as unknown as Checkpoint)
      : { offset: 0, line: 1, part: 0, accepted: 0, rejected: 0, hashState: null, hashOffset: 0, csvHeader: null }),
    lease: newId("lease", now),
    leaseUntil: now + leaseMs(everyMs),
  };
  try {
    await table.put({ ...key, ...checkpoint }, current ? { equals: { lease: current.lease } } : { notExists: true });
  } catch (error) {
    if (error instanceof ConditionFailedError) return undefined;
    throw error;
  }
  return checkpoint;
}

/** A lease outlives a couple of checkpoint intervals, so only a run that died loses it. */
export const leaseMs = (everyMs: number) => 2 * everyMs + 60_000;
/** The lease of a run at the default checkpoint interval: how long a duplicate notification should wait. */
export const DEFAULT_LEASE_MS = leaseMs(DEFAULT_CHECKPOINT_EVERY_MS);

function isFinished(upload: Item): boolean {
  return upload.status === "done" || upload.status === "failed";
}

function finishedResult(upload: Item): IngestResult {
  return { status: "skipped", accepted: upload.accepted as number, rejected: upload.rejected as number };
}

/** A record waiting in the current batch. */
type Pending =
  | { id: string; line: number; reason: string }
  | { id: string; line: number; contentHash: string; tokens: number; json: string };

/** One pass over one upload (or over its rest, from a checkpoint). */
class UploadRun {
  readonly #deps: CoreDeps;
  readonly #datanetId: string;
  readonly #uploadId: string;
  readonly #upload: Item;
  readonly #checkpoint: Checkpoint;
  readonly #deadline: number;
  readonly #everyMs: number;
  #accepted: number;
  #rejected: number;
  /** The checkpoint as last written (a resumed run's starting point until it saves its own). */
  #saved: Checkpoint;

  constructor(deps: CoreDeps, datanetId: string, uploadId: string, upload: Item, checkpoint: Checkpoint, input: IngestObjectInput) {
    this.#deps = deps;
    this.#datanetId = datanetId;
    this.#uploadId = uploadId;
    this.#upload = upload;
    this.#checkpoint = checkpoint;
    this.#deadline = input.deadline ?? Number.POSITIVE_INFINITY;
    this.#everyMs = input.checkpointEveryMs ?? DEFAULT_CHECKPOINT_EVERY_MS;
    this.#accepted = checkpoint.accepted;
    this.#rejected = checkpoint.rejected;
    this.#saved = checkpoint;
  }

  async process(body: Readable, format: UploadFormat, datanet: Item): Promise<IngestResult> {
    const { config } = this.#deps;
    const declaredSize = this.#upload.size as number;
    const cp = this.#checkpoint;
    const layout = contributionLayout(datanet);
    // hash-wasm's SHA-256 can save and restore its state, so a resumed run hashes on where the last one stopped.
    const sha256 = await createSHA256();
    if (cp.hashState) sha256.load(Buffer.from(cp.hashState, "base64"));
    else sha256.init();
    const hashes = new ChunkHashes(sha256, cp.hashOffset);
    let bytes = cp.hashOffset;
    // Hash and count the bytes as they stream to the parser (which starts at
    // the checkpoint's record boundary, a few bytes after the saved hash);
    // stop reading at the first byte beyond the declared size.
    async function* verified(): AsyncGenerator<Buffer> {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        const start = bytes;
        bytes += chunk.length;
        if (bytes > declaredSize) return;
        sha256.update(chunk);
        hashes.record(bytes);
        if (bytes <= cp.offset) continue;
        yield start < cp.offset ? chunk.subarray(cp.offset - start) : chunk;
      }
    }

    let part = cp.part;
    let writer = new BlobLineWriter(this.#deps.blobs, acceptedPartKey(this.#datanetId, this.#uploadId, part));
    let csvHeader = cp.csvHeader;
    let lastCheckpointAt = this.#deps.clock.now();
    try {
      let batch: Pending[] = [];
      let batchBytes = 0;
      let resumeAt: Position = { offset: cp.offset, line: cp.line };
      const schema = datanet.schema as DatanetSchemaKind;
      const license = datanet.license as string;
      const records = parseRecords(format, schema, verified(), {
        maxRecordBytes: config.maxRecordBytes,
        from: resumeAt,
        ...(csvHeader ? { header: csvHeader } : {}),
        onHeader: (names) => {
          csvHeader = names;
        },
      });
      for await (const parsed of records) {
        const id = contributionId(this.#uploadId, parsed.line);
        resumeAt = parsed.next;
        if (parsed.error !== undefined) {
          batch.push({ id, line: parsed.line, reason: parsed.error });
        } else {
          const outcome = normaliseRecord(schema, license, parsed.record);
          if (outcome.ok) {
            batch.push({ id, line: parsed.line, contentHash: outcome.contentHash, tokens: outcome.tokens, json: outcome.json });
            batchBytes += outcome.json.length;
          } else {
            batch.push({ id, line: parsed.line, reason: outcome.reason });
          }
        }
        if (batch.length >= BATCH_RECORDS || batchBytes >= BATCH_BYTES) {
          await this.#flush(layout, batch, license, writer);
          batch = [];
          batchBytes = 0;
          hashes.atOrBefore(resumeAt.offset); // forget states no checkpoint can need any more
          const now = this.#deps.clock.now();
          const pause = now >= this.#deadline - PAUSE_MARGIN_MS;
          if (pause || now - lastCheckpointAt >= this.#everyMs) {
            // Close this part at the boundary, then record where the next run starts.
            await writer.end();
            part++;
            await this.#saveCheckpoint({ ...resumeAt, part, hash: hashes.atOrBefore(resumeAt.offset), csvHeader, pause });
            if (pause) return { status: "paused", accepted: this.#accepted, rejected: this.#rejected };
            writer = new BlobLineWriter(this.#deps.blobs, acceptedPartKey(this.#datanetId, this.#uploadId, part));
            lastCheckpointAt = now;
          }
        }
      }
      await this.#flush(layout, batch, license, writer);
      await writer.end();
    } catch (error) {
      await writer.abort(error as Error);
      // Let a retry resume at once from the last checkpoint instead of waiting out our lease.
      await this.#releaseLease().catch(() => undefined);
      throw error;
    }

    const digest = sha256.digest("hex");
    if (bytes !== declaredSize || digest !== this.#upload.sha256) {
      // S3 and the local upload route enforce both; if a body still slipped
      // through, nothing it contained may count.
      await releaseUploadRecords(this.#deps, layout, this.#uploadId);
      const why = bytes !== declaredSize ? `object is ${bytes > declaredSize ? "larger" : "smaller"} than the declared ${declaredSize} bytes` : "object's sha256 differs from the declared one";
      return this.fail(why, datanet);
    }
    return this.#complete(datanet);
  }

  /** Gives up this run's lease, keeping its last checkpoint. */
  async #releaseLease(): Promise<void> {
    await this.#deps.tables.contributions.put(
      { ...ingestCheckpointKey(this.#datanetId, this.#uploadId), ...this.#saved, leaseUntil: 0 },
      { equals: { lease: this.#checkpoint.lease } },
    );
  }

  /** Records where a later run resumes, under this run's lease (renewed, or released when pausing). */
  async #saveCheckpoint(at: { offset: number; line: number; part: number; hash: { end: number; state: string }; csvHeader: string[] | null; pause: boolean }): Promise<void> {
    const now = this.#deps.clock.now();
    const next: Checkpoint = {
      offset: at.offset,
      line: at.line,
      part: at.part,
      accepted: this.#accepted,
      rejected: this.#rejected,
      hashState: at.hash.state,
      hashOffset: at.hash.end,
      csvHeader: at.csvHeader,
      lease: this.#checkpoint.lease,
      leaseUntil: at.pause ? 0 : now + leaseMs(this.#everyMs),
    };
    // Conditional on our lease: a run that lost it (it outlived its lease) must stop, not overwrite.
    await this.#deps.tables.contributions.put({ ...ingestCheckpointKey(this.#datanetId, this.#uploadId), ...next }, { equals: { lease: this.#checkpoint.lease } });
    this.#saved = next;
  }

  /**
   * Dedupes and writes one batch: hash claims, contribution items, accepted
   * lines. The layout spreads the batch's rows over the Datanet's shards and
   * its claims over 256 hash prefixes (see contribution-layout.ts).
   */
  async #flush(layout: ContributionLayout, batch: Pending[], license: string, writer: BlobLineWriter): Promise<void> {
    if (batch.length === 0) return;
    const { contributions } = this.#deps.tables;
    const contributor = this.#upload.contributor as Address;
    // Only the first record with a given hash in the batch claims it.
    const claims = new Map<string, string>();
    for (const p of batch) if ("contentHash" in p && !claims.has(p.contentHash)) claims.set(p.contentHash, p.id);
    const owners = await claimContentHashes(
      this.#deps,
      layout,
      [...claims].map(([contentHash, id]) => ({ contentHash, contributionId: id, uploadId: this.#uploadId })),
    );

    const items: Item[] = [];
    let lines = "";
    for (const p of batch) {
      const base = { id: p.id, datanetId: this.#datanetId, uploadId: this.#uploadId, contributor, license, line: p.line };
      let status: "accepted" | "rejected";
      let extra: Record<string, unknown>;
      if ("reason" in p) {
        status = "rejected";
        extra = { tokens: 0, reason: p.reason };
      } else {
        const owner = owners.get(p.contentHash)!;
        status = owner === p.id ? "accepted" : "rejected";
        extra = { contentHash: p.contentHash, tokens: p.tokens, ...(status === "rejected" ? { reason: `duplicate of contribution ${owner}` } : {}) };
        if (status === "accepted") lines += `{"contributionId":"${p.id}","contentHash":"${p.contentHash}","record":${p.json}}\n`;
      }
      if (status === "accepted") this.#accepted++;
      else this.#rejected++;
      items.push({
        ...layout.rowKey(p.id),
        gsi1pk: layout.statusPartition(p.id, status),
        gsi1sk: p.id,
        ...base,
        status,
        ...extra,
      });
    }
    await contributions.batchPut(items);
    if (lines) await writer.write(lines);
  }

  /** Marks the upload done with its counts and records `upload.completed`, once. */
  async #complete(datanet: Item): Promise<IngestResult> {
    const counts = { accepted: this.#accepted, rejected: this.#rejected };
    const ended = await this.#finish({ status: "done", ...counts }, datanet);
    // The checkpoint has served; a repeated notification now finds the upload done.
    await this.#deps.tables.contributions.delete(ingestCheckpointKey(this.#datanetId, this.#uploadId));
    return ended ?? { status: "done", ...counts };
  }

  /** Marks the upload failed: nothing of it is recorded. */
  async fail(error: string, datanet: Item | undefined): Promise<IngestResult> {
    const ended = await this.#finish({ status: "failed", accepted: 0, rejected: 0, error }, datanet);
    return ended ?? { status: "failed", accepted: 0, rejected: 0 };
  }

  /**
   * Writes the final status and the event in one transaction. Returns the
   * result to report when another run finished the upload first.
   */
  async #finish(
    outcome: { status: "done" | "failed"; accepted: number; rejected: number; error?: string },
    datanet: Item | undefined,
  ): Promise<IngestResult | undefined> {
    const main = this.#deps.tables.main;
    const now = this.#deps.clock.now();
    const audience = [this.#upload.contributor as Address, ...(datanet ? [datanet.owner as Address] : [])];
    try {
      await main.transact([
        {
          put: { ...this.#upload, ...outcome, completedAt: new Date(now).toISOString() },
          condition: { equals: { status: this.#upload.status } },
        },
        eventWrite("upload.completed", { datanetId: this.#datanetId, uploadId: this.#uploadId, ...outcome }, audience, now),
      ]);
      return undefined;
    } catch (error) {
      if (!(error instanceof TransactionCanceledError) || !error.failedIndexes.includes(0)) throw error;
      const current = await main.get(uploadKey(this.#datanetId, this.#uploadId));
      if (current && isFinished(current)) return finishedResult(current);
      throw error;
    }
  }
}


/**
 * The SHA-256 state saved after each chunk read, back to the last one at or
 * before the latest record boundary asked for. The parser reads ahead of the
 * records it has yielded, so the running hash is past any boundary; a
 * checkpoint keeps the state at the chunk end just before its boundary, and a
 * resumed run re-hashes the few bytes from there to the boundary.
 */
class ChunkHashes {
  readonly #hasher: IHasher;
  #entries: { end: number; state: Uint8Array }[];

  constructor(hasher: IHasher, start: number) {
    this.#hasher = hasher;
    this.#entries = [{ end: start, state: hasher.save() }];
  }

  /** Call after the hasher took a chunk ending at byte `end`. */
  record(end: number): void {
    this.#entries.push({ end, state: this.#hasher.save() });
  }

  /** The saved state at the latest chunk end ≤ `offset`; older ones are forgotten. */
  atOrBefore(offset: number): { end: number; state: string } {
    let i = 0;
    while (i + 1 < this.#entries.length && this.#entries[i + 1]!.end <= offset) i++;
    this.#entries = this.#entries.slice(i);
    const { end, state } = this.#entries[0]!;
    return { end, state: Buffer.from(state).toString("base64") };
  }
}
