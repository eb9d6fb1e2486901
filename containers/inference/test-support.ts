// Factories for the inference service's tests and benchmark (not used at runtime): the
// committed tiny base model, adapter records and PEFT files in a table store and blob store,
// API keys, and the app served on a loopback port for the openai client.
import type { AddressInfo } from "node:net";
import { DatabaseSync } from "node:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve, type ServerType } from "@hono/node-server";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { adapterItem, type Adapter } from "../../core/adapters/index.ts";
import { apiKeyItem, newApiKey } from "../../core/auth/api-keys.ts";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import type { Tables } from "../../core/ports/tables.ts";
import { MemoryBlobStore } from "../../test/fakes/memory-blob-store.ts";
import { BASE_MODEL_DIR, createLora, loadHfModel, serializeAdapter, type LoadedModel, type SchedulerOptions } from "../engine/index.ts";
import type { AdmissionOptions } from "./admission.ts";
import { apiKeyAuthorizer } from "./api-key-authorizer.ts";
import { createInferenceApp, type InferenceApp } from "./app.ts";
import { ModelCatalog } from "./catalog.ts";
import { EmbeddedBackend } from "./embedded-backend.ts";
import type { Authorizer, GenerationHook } from "./hooks.ts";
import { InferenceMetrics } from "./metrics.ts";

export const BASE_ID = "mf-tiny-sotu";
export const OWNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
export const OTHER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

let loaded: LoadedModel | undefined;
/** The committed tiny base model, loaded once per process. */
export function tinyBase(): LoadedModel {
  return (loaded ??= loadHfModel(BASE_MODEL_DIR));
}

export interface AdapterSpec {
  id: string;
  owner?: string;
  visibility?: "public" | "private";
  promptTemplate?: "text" | "instruction" | "chat";
  baseModel?: string;
  /** Write no files (the record exists, the blob does not). */
  noFiles?: boolean;
  seed?: number;
}

/** An adapter record as finalize writes it, with only the fields serving reads filled in for real. */
export function adapterRecord(spec: AdapterSpec, createdAt = "2026-12-01T00:00:00.000Z"): Adapter {
  const prefix = `jobs/job_${spec.id}/output/`;
  return {
    id: spec.id,
    owner: spec.owner ?? OWNER,
    visibility: spec.visibility ?? "public",
    promptTemplate: spec.promptTemplate ?? "instruction",
    jobId: `job_${spec.id}`,
    baseModel: spec.baseModel ?? BASE_ID,
    pricePerCall: "1000",
    createdAt,
    files: { config: `${prefix}adapter_config.json`, weights: `${prefix}adapter_model.safetensors`, attribution: `${prefix}attribution.json`, metrics: `${prefix}metrics.json` },
  } as unknown as Adapter;
}

/** Writes an adapter's record and (unless noFiles) its PEFT files with random, non-zero weights. */
export async function addAdapter(tables: Tables, blobs: BlobStore, spec: AdapterSpec): Promise<void> {
  const record = adapterRecord(spec);
  await tables.main.put(adapterItem(record));
  if (spec.noFiles) return;
  const lora = createLora(tinyBase().model.config, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj"] }, { id: spec.id, seed: spec.seed ?? hashSeed(spec.id), randomB: true, baseModel: BASE_ID });
  const { config, weights } = serializeAdapter(lora);
  await blobs.put(record.files.config, config);
  await blobs.put(record.files.weights, weights);
}

function hashSeed(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export interface TestService {
  tables: Tables;
  blobs: MemoryBlobStore;
  backend: EmbeddedBackend;
  service: InferenceApp;
  /** API keys of OWNER and OTHER. */
  keys: { owner: string; other: string };
  close(): Promise<void>;
}

export interface TestServiceOptions {
  adapters?: AdapterSpec[];
  budgetAdapters?: number;
  /** Overrides budgetAdapters with an exact byte budget. */
  budgetBytes?: number;
  admission?: Partial<AdmissionOptions>;
  scheduler?: Partial<SchedulerOptions>;
  hooks?: GenerationHook[];
  requestTimeoutMs?: number;
  blobs?: MemoryBlobStore;
  /** The adapter cache's deadline for a blob fetch (ms; its default otherwise). */
  fetchTimeoutMs?: number;
  /** Another authorizer than the API keys' (it gets those as `inner`), e.g. pay-per-call. */
  authorizer?: (tables: Tables, inner: Authorizer) => Authorizer;
}

/** The inference app over the tiny base model, an in-memory table and blob store, and adapters. */
export async function testService(opts: TestServiceOptions = {}): Promise<TestService> {
  const db = new DatabaseSync(":memory:");
  const main = new SqliteTableStore(db, "main", { stream: false });
  const tables = { main, contributions: new SqliteTableStore(db, "contributions", { stream: false }) } as unknown as Tables;
  const blobs = opts.blobs ?? new MemoryBlobStore();
  for (const a of opts.adapters ?? []) await addAdapter(tables, blobs, a);
  const keys = { owner: newApiKey(), other: newApiKey() };
  await tables.main.put(apiKeyItem(keys.owner, OWNER, Date.now()));
  await tables.main.put(apiKeyItem(keys.other, OTHER, Date.now()));
  const metrics = new InferenceMetrics({ defaultMetrics: false });
  const base = tinyBase();
  const catalog = new ModelCatalog({ tables, baseModels: [{ id: BASE_ID, contextLength: base.model.config.maxSeqLen }] });
  const probe = createLora(base.model.config, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj"] });
  const adapterBytes = serializeAdapter(probe).weights.byteLength;
  const diskDir = mkdtempSync(join(tmpdir(), "inference-cache-"));
  const backend = new EmbeddedBackend({
    baseModelId: BASE_ID,
    loaded: base,
    cache: { budgetBytes: opts.budgetBytes ?? (opts.budgetAdapters ?? 64) * adapterBytes, diskDir, blobs, blobKeys: (id) => catalog.files(id), ...(opts.fetchTimeoutMs ? { fetchTimeoutMs: opts.fetchTimeoutMs } : {}) },
    scheduler: { maxBatch: 64, maxSequences: 64, prefillChunk: 16, ...opts.scheduler },
    events: metrics,
  });
  const service = createInferenceApp({
    backend,
    catalog,
    authorizer: opts.authorizer ? opts.authorizer(tables, apiKeyAuthorizer({ tables })) : apiKeyAuthorizer({ tables }),
    metrics,
    log: () => {},
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(opts.admission ? { admission: opts.admission } : {}),
    ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
  });
  // close() also removes the cache's local-disk tier: each service's copies live in a folder of its own
  return { tables, blobs, backend, service, keys, close: async () => { db.close(); rmSync(diskDir, { recursive: true, force: true }); } };
}

/** Serves an app on 127.0.0.1 with a free port; returns its base URL and a stop function. */
export async function listenLoopback(fetch: (r: Request) => Response | Promise<Response>): Promise<{ url: string; server: ServerType; stop(): Promise<void> }> {
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    stop: () => new Promise<void>((r) => { (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.(); server.close(() => r()); }),
  };
}
