import type { CoreDeps } from "../deps.ts";
import type { TrainingSettings } from "../jobs/model.ts";
import { JOB_GSI_SK_PREFIX, ownerJobsGsiPk } from "../jobs/keys.ts";
import type { Item, WriteOp } from "../ports/tables.ts";
import { queryAll } from "../query-all.ts";
import { accountQuotaKey } from "./quotas.ts";

/**
 * The training sequences (rows of a batch) a job asks for: steps × batch ×
 * accumulation with `maxSteps`, else one row per record and epoch. That is
 * what a trainer slot spends its time on, whatever the model.
 */
export function jobSequences(training: Pick<TrainingSettings, "maxSteps" | "epochs" | "batchSize" | "gradientAccumulation">, records: number): number {
  if (training.maxSteps !== undefined) return training.maxSteps * training.batchSize * training.gradientAccumulation;
  return Math.ceil(training.epochs * records);
}

const RUNNING = new Set(["STARTING", "RUNNING", "EVALUATING"]);
/** How many of an account's newest jobs are looked at (jobs are short-lived: active ones are recent). */
const RECENT_JOBS = 1000;

/** The account's jobs waiting and running, among its newest ones; `except` is left out. */
export async function countActiveJobs(deps: Pick<CoreDeps, "tables">, owner: string, except?: string): Promise<{ queued: number; running: number }> {
  let queued = 0;
  let running = 0;
  let seen = 0;
  for await (const item of queryAll(deps.tables.main, { pk: ownerJobsGsiPk(owner), index: "gsi1", skPrefix: JOB_GSI_SK_PREFIX, reverse: true })) {
    if (++seen > RECENT_JOBS) break;
    if (item.id === except) continue;
    if (item.status === "QUEUED") queued++;
    else if (RUNNING.has(item.status as string)) running++;
  }
  return { queued, running };
}

/**
 * Whether the account may start one more job now, and the write that claims
 * the start: it commits with the job's move to STARTING, conditional on the
 * account's start counter, so two starts of one account are serialised and
 * never both take the last running slot.
 */
export async function claimRunningSlot(deps: Pick<CoreDeps, "tables" | "config">, owner: string, jobId: string): Promise<{ allowed: boolean; running: number; write: WriteOp }> {
  const key = { ...accountQuotaKey(owner), sk: "QUOTA#STARTS" };
  const current: Item | undefined = await deps.tables.main.get(key);
  const { running } = await countActiveJobs(deps, owner, jobId);
  const rev = (current?.rev as number | undefined) ?? 0;
  return {
    allowed: running < deps.config.quotas.runningJobs,
    running,
    write: { put: { ...key, rev: rev + 1, lastJobId: jobId }, condition: current ? { equals: { rev } } : { notExists: true } },
  };
}
