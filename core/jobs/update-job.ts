import type { CoreDeps } from "../deps.ts";
import { ConditionFailedError, TransactionCanceledError } from "../errors.ts";
import type { WriteOp } from "../ports/tables.ts";
import type { JobItem } from "./items.ts";
import { activeJobKey, jobKey } from "./keys.ts";
import { TERMINAL_STATUSES } from "./model.ts";

/** One state change of a job: the new item, what commits with it, and what runs once it has committed. */
export interface JobChange {
  next: JobItem;
  /** Written in the same transaction (events, the adapter record). */
  writes?: WriteOp[];
  /** Side effects after the commit (queue sends, compute.cancel); never before, so a lost race does nothing. */
  after?: () => Promise<void>;
}

/** How often a change is recomputed when another writer got there first. */
const MAX_TRIES = 8;

export const isTerminal = (status: string) => (TERMINAL_STATUSES as readonly string[]).includes(status);

/**
 * Reads a job, lets `decide` compute a change from what it finds (undefined:
 * nothing to do), and writes it conditionally on the item's `rev`; when
 * another writer changed the job meanwhile, reads again and decides again.
 * Leaving a non-terminal status for a terminal one removes the job's active
 * marker in the same transaction. Returns the job as it stands afterwards
 * (undefined when there is no such job).
 */
export async function updateJob(
  deps: Pick<CoreDeps, "tables">,
  jobId: string,
  decide: (job: JobItem) => JobChange | undefined | Promise<JobChange | undefined>,
): Promise<{ job: JobItem | undefined; changed: boolean }> {
  const main = deps.tables.main;
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    const job = (await main.get(jobKey(jobId))) as JobItem | undefined;
    if (!job) return { job: undefined, changed: false };
    const change = await decide(job);
    if (!change) return { job, changed: false };
    const next: JobItem = { ...change.next, rev: job.rev + 1 };
    const ops: WriteOp[] = [{ put: next, condition: { equals: { rev: job.rev } } }, ...(change.writes ?? [])];
    if (!isTerminal(job.status) && isTerminal(next.status)) ops.push({ delete: activeJobKey(jobId) });
    try {
      await main.transact(ops);
    } catch (error) {
      if (error instanceof TransactionCanceledError || error instanceof ConditionFailedError) continue;
      throw error;
    }
    await change.after?.();
    return { job: next, changed: true };
  }
  throw new Error(`job ${jobId}: too many concurrent updates`);
}
