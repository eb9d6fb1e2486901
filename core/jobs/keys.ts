import type { Key } from "../ports/tables.ts";

/**
 * Item and blob keys of the job domain (main table):
 * - job: `pk JOB#{id}`, `sk META`; on gsi1 `ACCOUNT#{owner}` / `JOB#{id}` (the owner's jobs, newest first by ULID).
 * - active marker: `pk JOBS#ACTIVE`, `sk {id}` while the job is not terminal, so the sweeper finds live jobs
 *   without scanning; written and deleted in the same transaction as the job.
 */
export const jobKey = (jobId: string): Key => ({ pk: `JOB#${jobId}`, sk: "META" });

export const ACTIVE_JOBS_PK = "JOBS#ACTIVE";
export const activeJobKey = (jobId: string): Key => ({ pk: ACTIVE_JOBS_PK, sk: jobId });

export const ownerJobsGsiPk = (owner: string) => `ACCOUNT#${owner}`;
export const JOB_GSI_SK_PREFIX = "JOB#";

/** The spec of one attempt, as the trainer reads it. */
export const jobSpecBlobKey = (jobId: string, attempt: number) => `jobs/${jobId}/spec-${attempt}.json`;
/** Everything the trainer writes; the same for every attempt, so a retry finds the checkpoints. */
export const jobOutputPrefix = (jobId: string) => `jobs/${jobId}/output/`;

/** The adapter a job produces has an id derived from the job's, so finalizing twice writes one adapter. */
export const adapterIdForJob = (jobId: string) => `ad_${jobId.replace(/^job_/, "")}`;
