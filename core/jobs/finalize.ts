import { createHash } from "node:crypto";
import { attributionFingerprint, datanetKey } from "../chain/fingerprint.ts";
import { adapterItem } from "../adapters/adapters.ts";
import { promptTemplateOf } from "../adapters/access.ts";
import type { Adapter } from "../adapters/model.ts";
import type { CoreDeps } from "../deps.ts";
import { eventWrite } from "../events.ts";
import type { WriteOp } from "../ports/tables.ts";
import { splitBps } from "./attribution.ts";
import { getBaseModel } from "./base-models.ts";
import { trainingConfigHash } from "./fingerprint.ts";
import { jobFromItem, type JobItem } from "./items.ts";
import { adapterIdForJob, jobOutputPrefix } from "./keys.ts";
import { TrainerAttribution, type JobEvent } from "./model.ts";
import type { JobChange } from "./update-job.ts";

/** The trainer's output is missing or does not match the job: the attempt failed (a retry may rewrite it). */
export class FinalizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FinalizeError";
  }
}

/** The files finalize reads under the job's output prefix. */
export const outputFiles = (jobId: string) => {
  const prefix = jobOutputPrefix(jobId);
  return {
    config: `${prefix}adapter/adapter_config.json`,
    weights: `${prefix}adapter/adapter_model.safetensors`,
    attribution: `${prefix}attribution.json`,
    metrics: `${prefix}metrics.json`,
  };
};

/**
 * Builds the adapter record of a job whose trainer reported success: hashes
 * the weights, checks the attribution file against the job (same Datanet
 * versions and roots, training config hash recomputed from the job's
 * settings), weights the Datanet versions and contributors by training tokens
 * (largest remainder, 10 000 bps each), and computes the attribution
 * fingerprint exactly as the AdapterRegistry does (docs/attribution.md).
 * Throws FinalizeError when the output is missing or inconsistent.
 */
export async function buildAdapter(deps: Pick<CoreDeps, "blobs" | "clock">, job: JobItem, metrics: Adapter["metrics"]): Promise<Adapter> {
  const files = outputFiles(job.id);
  const base = getBaseModel(job.baseModel);
  if (!base) throw new FinalizeError(`base model ${job.baseModel} is not in the catalog`);

  const weightsSha = await sha256Blob(deps, files.weights);
  if (!weightsSha) throw new FinalizeError(`the trainer wrote no ${files.weights}`);
  const config = await jsonBlob(deps, files.config);
  if (!config || typeof config !== "object" || (config as { peft_type?: unknown }).peft_type !== "LORA") {
    throw new FinalizeError(`${files.config} is missing or not a PEFT LoRA config`);
  }
  if ((config as { r?: unknown }).r !== job.lora.rank) throw new FinalizeError(`${files.config} has rank ${String((config as { r?: unknown }).r)}, the job asked for ${job.lora.rank}`);
  const parsed = TrainerAttribution.safeParse(await jsonBlob(deps, files.attribution));
  if (!parsed.success) throw new FinalizeError(`${files.attribution} is missing or invalid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const attribution = parsed.data;

  const expectedConfigHash = trainingConfigHash({ baseModel: { id: job.baseModel }, lora: job.lora, training: job.training }, attribution.trainerVersion);
  if (attribution.trainingConfigHash !== expectedConfigHash) throw new FinalizeError("attribution.json's trainingConfigHash does not match the job's settings");

  // The attribution must cover exactly the job's Datanet versions, with the roots the job was created with.
  const datanets = job.datanets.map((d) => {
    const used = attribution.datanets.filter((a) => a.id === d.id && a.version === d.version);
    if (used.length !== 1) throw new FinalizeError(`attribution.json must list ${d.id} version ${d.version} once`);
    if (used[0]!.root !== d.root) throw new FinalizeError(`attribution.json gives ${d.id} version ${d.version} another root`);
    return { id: d.id, version: d.version, root: d.root, tokens: used[0]!.tokens };
  });
  if (attribution.datanets.length !== datanets.length) throw new FinalizeError("attribution.json lists Datanet versions the job did not use");
  const total = datanets.reduce((s, d) => s + d.tokens, 0);
  if (total === 0) throw new FinalizeError("the trainer used no training tokens");
  const datanetBps = splitBps(datanets.map((d) => d.tokens));

  // Contributors in address order, so the weights (ties in rounding included) do not depend on the file's key order.
  const contributorEntries = Object.entries(attribution.contributors).sort(([a], [b]) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0));
  const contributorTokens = contributorEntries.reduce((s, [, t]) => s + t, 0);
  if (contributorTokens !== total) throw new FinalizeError(`attribution.json: contributors hold ${contributorTokens} tokens, the Datanet versions ${total}`);
  const contributorBps = splitBps(contributorEntries.map(([, t]) => t));

  const sources = datanets.map((d, i) => ({ datanetId: d.id, version: d.version, root: d.root, weightBps: datanetBps[i]! }));
  const fingerprint = attributionFingerprint({
    baseModelHash: base.sha256,
    weightsHash: weightsSha,
    trainingConfigHash: attribution.trainingConfigHash,
    sources: sources.map((s) => ({ ...s, datanetId: datanetKey(s.datanetId) })),
  });

  return {
    id: adapterIdForJob(job.id),
    owner: job.owner,
    visibility: jobFromItem(job).visibility,
    promptTemplate: promptTemplateOf(job.specDatanets.map((d) => d.schema)),
    jobId: job.id,
    baseModel: job.baseModel,
    fingerprint,
    baseModelHash: base.sha256,
    weightsHash: weightsSha,
    trainingConfigHash: attribution.trainingConfigHash,
    trainerVersion: attribution.trainerVersion,
    lora: job.lora,
    files,
    metrics,
    datanets: datanets.map((d, i) => ({ ...d, weightBps: datanetBps[i]! })),
    contributors: contributorEntries.map(([address, tokens], i) => ({ address, tokens, weightBps: contributorBps[i]! })),
    pricePerCall: "0",
    createdAt: new Date(deps.clock.now()).toISOString(),
  };
}

/**
 * The change that finalizes a job whose current attempt succeeded: the
 * adapter record, the job SUCCEEDED with its adapter id, `job.succeeded` and
 * `adapter.created` (which chain sync turns into the on-chain registration),
 * all in one transaction. The adapter id follows from the job id and its
 * write is conditional on absence, so a duplicate success creates nothing.
 */
export async function finalizeJob(deps: Pick<CoreDeps, "blobs" | "clock">, job: JobItem, event: Extract<JobEvent, { type: "succeeded" }>): Promise<JobChange> {
  const adapter = await buildAdapter(deps, job, event.metrics);
  const now = deps.clock.now();
  const writes: WriteOp[] = [
    { put: adapterItem(adapter), condition: { notExists: true } },
    eventWrite("job.succeeded", { jobId: job.id, adapterId: adapter.id, metrics: event.metrics, attempts: job.attempts }, [job.owner], now),
    eventWrite("adapter.created", { adapterId: adapter.id, jobId: job.id, fingerprint: adapter.fingerprint }, [job.owner], now),
  ];
  return {
    next: {
      ...job,
      status: "SUCCEEDED",
      adapterId: adapter.id,
      metrics: event.metrics,
      error: null,
      endedAttempt: job.attempts,
      exitedAt: null,
      finishedAt: new Date(now).toISOString(),
    },
    writes,
  };
}

async function sha256Blob(deps: Pick<CoreDeps, "blobs">, key: string): Promise<string | undefined> {
  const stream = await deps.blobs.get(key);
  if (!stream) return undefined;
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Uint8Array);
  return `0x${hash.digest("hex")}`;
}

async function jsonBlob(deps: Pick<CoreDeps, "blobs">, key: string): Promise<unknown> {
  const stream = await deps.blobs.get(key);
  if (!stream) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return undefined;
  }
}
