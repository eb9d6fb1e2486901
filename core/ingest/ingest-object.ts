import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { Address } from "../account.ts";
import {
  acceptedBlobKey,
  contributionId,
  contributionKey,
  contributionsByStatusPk,
  datanetKey,
  parseUploadBlobKey,
  uploadKey,
} from "../datanets/keys.ts";
import type { DatanetSchemaKind } from "../datanets/model.ts";
import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, TransactionCanceledError } from "../errors.ts";
import { eventWrite } from "../events.ts";
import type { Item } from "../ports/tables.ts";
import { BlobLineWriter } from "./blob-line-writer.ts";
import { claimContentHashes } from "./claim-content-hashes.ts";
import { releaseUploadRecords } from "./release-upload-records.ts";
import type { UploadFormat } from "./formats.ts";
import { detectFormat, formatProblem, parseRecords } from "./formats.ts";
import { normaliseRecord } from "./normalise-record.ts";

export interface IngestObjectInput {
  /** The stored object's key, e.g. `uploads/dn_…/up_…`. */
  key: string;
  /** The stored object's size in bytes, as the notification reports it. */
  size: number;
}

export interface IngestResult {
  /** `skipped`: not an upload, or an upload already finished (a repeated notification). */
  status: "done" | "failed" | "skipped";
  accepted: number;
  rejected: number;
}

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

  const run = new UploadRun(deps, datanetId, uploadId, upload);
  const datanet = await main.get(datanetKey(datanetId));
  if (!datanet) return run.fail("the Datanet no longer exists", undefined);
  if (input.size !== upload.size) {
    return run.fail(`object is ${input.size} bytes but the upload declared ${upload.size as number}`, datanet);
  }
  const format = (upload.format as UploadFormat | undefined) ?? detectFormat(upload.filename as string, upload.contentType as string);
  const problem = format ? formatProblem(format, datanet.schema as DatanetSchemaKind) : "unsupported file type";
  if (!format || problem) return run.fail(problem!, datanet);
  const body = await deps.blobs.get(input.key);
  if (!body) return run.fail("the uploaded object is missing", datanet);

  return run.process(body, format, datanet);
}

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

/** One pass over one upload. */
class UploadRun {
  readonly #deps: CoreDeps;
  readonly #datanetId: string;
  readonly #uploadId: string;
  readonly #upload: Item;
  #accepted = 0;
  #rejected = 0;

  constructor(deps: CoreDeps, datanetId: string, uploadId: string, upload: Item) {
    this.#deps = deps;
    this.#datanetId = datanetId;
    this.#uploadId = uploadId;
    this.#upload = upload;
  }

  async process(body: Readable, format: UploadFormat, datanet: Item): Promise<IngestResult> {
    const { config } = this.#deps;
    const declaredSize = this.#upload.size as number;
    const sha256 = createHash("sha256");
    let bytes = 0;
    // Hash and count the bytes as they stream to the parser; stop reading at
    // the first byte beyond the declared size.
    async function* verified(): AsyncGenerator<Buffer> {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > declaredSize) return;
        sha256.update(chunk);
        yield chunk;
      }
    }

    const writer = new BlobLineWriter(this.#deps.blobs, acceptedBlobKey(this.#datanetId, this.#uploadId));
    try {
      let batch: Pending[] = [];
      let batchBytes = 0;
      const schema = datanet.schema as DatanetSchemaKind;
      const license = datanet.license as string;
      for await (const parsed of parseRecords(format, schema, verified(), { maxRecordBytes: config.maxRecordBytes })) {
        const id = contributionId(this.#uploadId, parsed.line);
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
          await this.#flush(batch, license, writer);
          batch = [];
          batchBytes = 0;
        }
      }
      await this.#flush(batch, license, writer);
      await writer.end();
    } catch (error) {
      await writer.abort(error as Error);
      throw error;
    }

    const digest = sha256.digest("hex");
    if (bytes !== declaredSize || digest !== this.#upload.sha256) {
      // S3 and the local upload route enforce both; if a body still slipped
      // through, nothing it contained may count.
      await this.#rollback();
      const why = bytes !== declaredSize ? `object is ${bytes > declaredSize ? "larger" : "smaller"} than the declared ${declaredSize} bytes` : "object's sha256 differs from the declared one";
      return this.fail(why, datanet);
    }
    return this.#complete(datanet);
  }

  /** Dedupes and writes one batch: hash claims, contribution items, accepted lines. */
  async #flush(batch: Pending[], license: string, writer: BlobLineWriter): Promise<void> {
    if (batch.length === 0) return;
    const { contributions } = this.#deps.tables;
    const contributor = this.#upload.contributor as Address;
    // Only the first record with a given hash in the batch claims it.
    const claims = new Map<string, string>();
    for (const p of batch) if ("contentHash" in p && !claims.has(p.contentHash)) claims.set(p.contentHash, p.id);
    const owners = await claimContentHashes(
      this.#deps,
      this.#datanetId,
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
        ...contributionKey(this.#datanetId, p.id),
        gsi1pk: contributionsByStatusPk(this.#datanetId, status),
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

  /** Removes every trace of this upload's records: contributions, their hash claims, the accepted blob. */
  async #rollback(): Promise<void> {
    await releaseUploadRecords(this.#deps, this.#datanetId, this.#uploadId);
  }
}
