import { createHash } from "node:crypto";
import type { DatabaseSync } from "node:sqlite";
import type { Caller } from "../../core/account.ts";
import { createDatanet } from "../../core/datanets/datanets.ts";
import { uploadBlobKey } from "../../core/datanets/keys.ts";
import type { CreateDatanetInput, Datanet } from "../../core/datanets/model.ts";
import { createUpload } from "../../core/datanets/uploads.ts";
import type { CoreDeps } from "../../core/deps.ts";
import { eventFromItem, type DomainEvent } from "../../core/events.ts";
import { ingestObject, type IngestResult } from "../../core/ingest/ingest-object.ts";
import type { TestDeps } from "./memory-deps.ts";

/** Test factories for the Datanet and ingest tests (not used at runtime). */

export const alice: Caller = { address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" };
export const bob: Caller = { address: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" };
export const carol: Caller = { address: "0x90F79bf6EB2c4f870365E785982E1f101E93b906" };

/** A Datanet with sensible defaults. */
export function newDatanet(deps: CoreDeps, owner: Caller, input: Partial<CreateDatanetInput> = {}): Promise<Datanet> {
  return createDatanet(deps, owner, {
    name: "Test set",
    description: "",
    license: "CC-BY-4.0",
    schema: "text",
    visibility: "public",
    tags: [],
    ...input,
  });
}

export const sha256Hex = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** Starts an upload and stores its body, as a client's PUT to the signed URL would. */
export async function putUpload(
  deps: TestDeps,
  caller: Caller,
  datanetId: string,
  body: string | Buffer,
  filename = "data.jsonl",
  contentType = "application/jsonl",
): Promise<{ uploadId: string; key: string; size: number }> {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const { uploadId } = await createUpload(deps, caller, datanetId, { filename, contentType, size: bytes.length, sha256: sha256Hex(bytes) });
  const key = uploadBlobKey(datanetId, uploadId);
  await deps.blobs.put(key, bytes);
  return { uploadId, key, size: bytes.length };
}

/** Upload and ingest in one go. */
export async function uploadAndIngest(
  deps: TestDeps,
  caller: Caller,
  datanetId: string,
  body: string | Buffer,
  filename?: string,
  contentType?: string,
): Promise<IngestResult & { uploadId: string; key: string; size: number }> {
  const upload = await putUpload(deps, caller, datanetId, body, filename, contentType);
  const result = await ingestObject(deps, { key: upload.key, size: upload.size });
  return { ...result, ...upload };
}

/** JSONL text from records. */
export const jsonl = (...records: unknown[]) => records.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n") + "\n";

/** Domain events recorded in the main table's outbox, oldest first. */
export function eventsIn(db: DatabaseSync): DomainEvent[] {
  const rows = db.prepare("SELECT new_image FROM stream_records WHERE table_name = 'main' AND event_name = 'INSERT' ORDER BY seq").all() as {
    new_image: string;
  }[];
  return rows.map((r) => eventFromItem(JSON.parse(r.new_image))).filter((e): e is DomainEvent => e !== undefined);
}

/** Every row of a table, for comparing whole states. */
export function tableRows(db: DatabaseSync, table: "main" | "contributions"): unknown[] {
  return db.prepare(`SELECT pk, sk, data FROM items_${table} ORDER BY pk, sk`).all();
}
