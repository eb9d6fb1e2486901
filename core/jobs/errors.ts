import { DomainError } from "../errors.ts";

/** Errors of the job domain, each with a stable `code` (the problem type's last segment). */

/** A Datanet version a job names does not exist (or its Datanet is not visible to the caller). */
export class DatanetVersionNotFoundError extends DomainError {
  constructor(datanetId: string, version: number) {
    super("datanet-version-not-found", 404, `Version ${version} of Datanet ${datanetId} not found`);
  }
}

/** A Datanet version a job names is still being published. */
export class DatanetVersionNotPublishedError extends DomainError {
  constructor(datanetId: string, version: number) {
    super("datanet-version-not-published", 409, `Version ${version} of Datanet ${datanetId} is not published yet`);
  }
}

/** The base model a job names is not in the catalog. */
export class UnknownBaseModelError extends DomainError {
  constructor(id: string) {
    super("unknown-base-model", 400, `Unknown base model "${id}"; see GET /v1/base-models`);
  }
}

/** The job has ended and cannot be changed. */
export class JobFinishedError extends DomainError {
  constructor(jobId: string, status: string) {
    super("job-finished", 409, `Job ${jobId} has already ended (${status})`);
  }
}

/** The Datanet versions hold too few records to train on and hold some out. */
export class NotEnoughRecordsError extends DomainError {
  constructor(records: number) {
    super("not-enough-records", 409, `The Datanet versions hold ${records} record(s); a job needs at least 2 (one is held out for evaluation)`);
  }
}
