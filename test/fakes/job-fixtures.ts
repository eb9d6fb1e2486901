import type { Caller } from "../../core/account.ts";
import { versionRecordsBlobKey } from "../../core/datanets/keys.ts";
import type { DatanetVersion } from "../../core/datanets/model.ts";
import { publishVersion } from "../../core/datanets/versions.ts";
import { outputFiles } from "../../core/jobs/finalize.ts";
import { trainingConfigHash } from "../../core/jobs/fingerprint.ts";
import type { Job, JobEvent, TrainerAttribution } from "../../core/jobs/model.ts";
import type { TrainingCompute } from "../../core/ports/training-compute.ts";
import { jsonl, newDatanet, uploadAndIngest } from "./datanet-fixtures.ts";
import { memoryDeps, type TestDeps } from "./memory-deps.ts";

/** Test factories for the job use cases, routes and handlers (not used at runtime). */

/** A compute that records what it was asked to run and stop. */
export class FakeCompute implements TrainingCompute {
  readonly submitted: { jobId: string; attempt: number; specKey: string; externalId: string }[] = [];
  readonly cancelled: string[] = [];
  /** Makes the next submit throw this error. */
  failNextSubmit: Error | undefined;
  async submit(run: { jobId: string; attempt: number; specKey: string }): Promise<{ externalId: string }> {
    if (this.failNextSubmit) {
      const error = this.failNextSubmit;
      this.failNextSubmit = undefined;
      throw error;
    }
    const externalId = `run-${this.submitted.length + 1}`;
    this.submitted.push({ ...run, externalId });
    return { externalId };
  }
  async cancel(externalId: string): Promise<void> {
    this.cancelled.push(externalId);
  }
}

export type JobTestDeps = TestDeps & { compute: FakeCompute };

/** JobDeps on in-memory tables and blobs, a recording queue and a fake compute. */
export function jobTestDeps(): JobTestDeps {
  return Object.assign(memoryDeps(), { compute: new FakeCompute() });
}

/** A Datanet of `owner` with one published version holding `texts` (uploaded by `contributors` in turn). */
export async function publishedDatanet(
  deps: TestDeps,
  owner: Caller,
  texts: string[],
  options: { contributors?: Caller[]; visibility?: "public" | "private" } = {},
): Promise<DatanetVersion> {
  const datanet = await newDatanet(deps, owner, { visibility: options.visibility ?? "public" });
  const contributors = options.contributors ?? [owner];
  for (const [i, who] of contributors.entries()) {
    const mine = texts.filter((_, t) => t % contributors.length === i);
    if (mine.length) await uploadAndIngest(deps, who, datanet.id, jsonl(...mine.map((text) => ({ text }))));
  }
  return publishVersion(deps, owner, datanet.id);
}

export const SAMPLE_TEXTS = [
  "We hold these truths to be self-evident.",
  "The only thing we have to fear is fear itself.",
  "Ask not what your country can do for you.",
  "A house divided against itself cannot stand.",
  "The state of our union is strong.",
  "Government of the people, by the people, for the people.",
];

/**
 * Writes what a trainer that succeeded leaves under the job's output prefix:
 * PEFT files and an attribution.json counting every record of the versions
 * except the first (held out), with the tokens the records carry.
 */
export async function writeTrainerOutput(deps: TestDeps, job: Job, options: { trainerVersion?: string; weights?: Buffer } = {}): Promise<TrainerAttribution> {
  const files = outputFiles(job.id);
  const trainerVersion = options.trainerVersion ?? "test-trainer/1";
  const attribution: TrainerAttribution = {
    trainerVersion,
    trainingConfigHash: trainingConfigHash({ baseModel: { id: job.baseModel }, lora: job.lora, training: job.training }, trainerVersion),
    tokensByContribution: {},
    contributors: {},
    datanets: [],
  };
  for (const d of job.datanets) {
    const blob = deps.blobs.blobs.get(versionRecordsBlobKey(d.id, d.version));
    if (!blob) throw new Error(`no records for ${d.id} v${d.version}`);
    const lines = blob.bytes.toString("utf8").trim().split("\n").map((l) => JSON.parse(l) as { contributionId: string; contributor: string; tokens: number });
    let tokens = 0;
    for (const line of lines.slice(1)) {
      attribution.tokensByContribution[line.contributionId] = line.tokens;
      attribution.contributors[line.contributor] = (attribution.contributors[line.contributor] ?? 0) + line.tokens;
      tokens += line.tokens;
    }
    attribution.datanets.push({ id: d.id, version: d.version, root: d.root, tokens });
  }
  await deps.blobs.put(files.weights, options.weights ?? Buffer.from(`weights of ${job.id}`));
  await deps.blobs.put(files.config, JSON.stringify({ peft_type: "LORA", task_type: "CAUSAL_LM", base_model_name_or_path: job.baseModel, r: job.lora.rank, lora_alpha: job.lora.alpha }));
  await deps.blobs.put(files.attribution, JSON.stringify(attribution));
  await deps.blobs.put(files.metrics, JSON.stringify(METRICS));
  return attribution;
}

export const METRICS = { trainLoss: 2.1, evalLoss: 2.4, evalPerplexity: 11.02, baseEvalLoss: 3.0, baseEvalPerplexity: 20.09, trainTokens: 120 };

/** Job events of one attempt with increasing `seq`, as a trainer would send them. */
export function trainerEvents(jobId: string, attempt: number, at = Date.UTC(2025, 0, 1)) {
  let seq = 0;
  const base = () => ({ jobId, attempt, seq: ++seq, at: at + seq * 1000 });
  return {
    started: (resumedFromStep: number | null = null): JobEvent => ({ type: "started", ...base(), resumedFromStep }),
    progress: (step: number, loss: number, extra: { evalLoss?: number; at?: number } = {}): JobEvent => {
      const b = base();
      return { type: "progress", ...b, at: extra.at ?? b.at, step, totalSteps: 100, loss, tokensPerSecond: 1000, etaSeconds: 100 - step, ...(extra.evalLoss !== undefined ? { evalLoss: extra.evalLoss } : {}) };
    },
    evaluating: (): JobEvent => ({ type: "evaluating", ...base() }),
    succeeded: (): JobEvent => ({ type: "succeeded", ...base(), metrics: METRICS }),
    failed: (reason: string, retryable = true): JobEvent => ({ type: "failed", ...base(), reason, retryable }),
    exited: (exitCode: number | null, reason = ""): JobEvent => ({ type: "exited", ...base(), exitCode, reason }),
  };
}
