// Factories for the trainer's tests: the committed base model and a small Datanet in a blob
// store, job specs, and a queue that records what it is sent.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { JobEvent, JobSpec, LoraSettings, TrainingSettings } from "../../core/jobs/model.ts";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import type { QueueName, QueueSender } from "../../core/ports/queue.ts";
import { BASE_MODEL_DIR } from "../engine/index.ts";
import type { RecordSchema } from "./records.ts";

export const CONTRIBUTORS = ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "0x90F79bf6EB2c4f870365E51803C6A1bA2CA3C2E8"] as const;

/** Uploads the committed tiny base model under `prefix`; returns the spec's baseModel. */
export async function putBaseModel(blobs: BlobStore, prefix = "base-models/mf-tiny-sotu/"): Promise<JobSpec["baseModel"]> {
  for (const name of readdirSync(BASE_MODEL_DIR)) if (name !== "README.md") await blobs.put(`${prefix}${name}`, readFileSync(join(BASE_MODEL_DIR, name)));
  const sha256 = `0x${createHash("sha256").update(readFileSync(join(BASE_MODEL_DIR, "model.safetensors"))).digest("hex")}`;
  return { id: "mf-tiny-sotu", prefix, sha256 };
}

/** A small, very regular domain the base model has not seen: the adapter learns it in a few steps. */
export function domainRecords(n: number): { text: string }[] {
  const animals = ["cat", "dog", "owl", "fox", "bee", "elk", "yak", "ant"];
  const colours = ["red", "blue", "green", "gold", "grey", "pink"];
  return Array.from({ length: n }, (_, i) => ({ text: `zorp ${animals[i % animals.length]} ${colours[i % colours.length]} zorp ${i % 5} blip blip blip.` }));
}

/** Frozen-records JSONL lines, contributors taking turns. */
export function frozenLines(records: unknown[], prefix = "c"): string[] {
  return records.map((record, i) => {
    const contentHash = `0x${createHash("sha256").update(JSON.stringify(record)).digest("hex")}`;
    return JSON.stringify({ contributionId: `${prefix}${i}`, contributor: CONTRIBUTORS[i % CONTRIBUTORS.length], contentHash, tokens: 10, record });
  });
}

/** A job spec over one text Datanet with its records in the store; training settings merged. */
export async function putJob(blobs: BlobStore, opts: { jobId?: string; records?: unknown[]; lines?: string[]; training?: Partial<TrainingSettings>; attempt?: number; schema?: RecordSchema } = {}): Promise<{ spec: JobSpec; specKey: string }> {
  const jobId = opts.jobId ?? "job_1";
  const baseModel = await putBaseModel(blobs);
  const recordsKey = `datanets/dn_1/versions/1/records.jsonl`;
  const lines = opts.lines ?? frozenLines(opts.records ?? domainRecords(48));
  await blobs.put(recordsKey, lines.join("\n") + "\n");
  const spec: JobSpec = {
    jobId,
    attempt: opts.attempt ?? 1,
    baseModel,
    datanets: [{ id: "dn_1", version: 1, root: `0x${"ab".repeat(32)}`, recordsKey, schema: opts.schema ?? "text" }],
    lora: LoraSettings.parse({ rank: 4, alpha: 8, dropout: 0, targetModules: ["q_proj", "v_proj"] }),
    training: TrainingSettings.parse({ maxSteps: 12, batchSize: 2, learningRate: 1e-2, warmupSteps: 2, evalEvery: 6, checkpointEvery: 4, evalFraction: 0.15, ...opts.training }),
    outputPrefix: `jobs/${jobId}/`,
  };
  const specKey = `jobs/${jobId}/spec.json`;
  await blobs.put(specKey, JSON.stringify(spec));
  return { spec, specKey };
}

/** A QueueSender that keeps what it is sent (bodies JSON round-tripped, as a real queue would). */
export function recordingQueue(): QueueSender & { sent: { queue: QueueName; body: unknown }[]; events(): JobEvent[] } {
  const sent: { queue: QueueName; body: unknown }[] = [];
  return {
    sent,
    send: async (queue, body) => {
      sent.push({ queue, body: JSON.parse(JSON.stringify(body)) });
    },
    events: () => sent.filter((m) => m.queue === "job-events").map((m) => JobEvent.parse(m.body)),
  };
}
