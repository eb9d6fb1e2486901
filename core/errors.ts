/**
 * Domain errors. Each carries a stable `code` that the HTTP layer maps to a
 * problem type (`https://modelfactory.dev/problems/<code>`) and a status, so
 * clients can branch on `type` rather than on message text.
 */
export class DomainError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details?: unknown;
  /** Extra members of the problem document (RFC 9457 extensions), e.g. which limit was hit. */
  readonly extensions?: Record<string, unknown>;
  /** Response headers the HTTP layer adds, e.g. `retry-after`. */
  readonly headers?: Record<string, string>;

  constructor(code: string, status: number, message: string, details?: unknown, more: { extensions?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = details;
    if (more.extensions) this.extensions = more.extensions;
    if (more.headers) this.headers = more.headers;
  }
}

/** Too many requests under a named rate limit (429 with Retry-After). */
export class RateLimitedError extends DomainError {
  constructor(limit: string, retryAfterSeconds: number) {
    super("rate-limited", 429, `Rate limit "${limit}" exceeded; retry in ${retryAfterSeconds} s`, undefined, {
      extensions: { limit, retryAfterSeconds },
      headers: { "retry-after": String(retryAfterSeconds) },
    });
  }
}

/** An account quota would be exceeded (403): the quota, its limit, what is used and what was asked for. */
export class QuotaExceededError extends DomainError {
  constructor(quota: string, limit: number, used: number, requested: number, unit: string) {
    super("quota-exceeded", 403, `Quota "${quota}" exceeded: ${used} of ${limit} ${unit} used, this request needs ${requested}`, undefined, {
      extensions: { quota, limit, used, requested, unit },
    });
  }
}

export class ValidationError extends DomainError {
  constructor(message: string, details?: unknown) {
    super("validation-failed", 400, message, details);
  }
}

export class UnauthorizedError extends DomainError {
  constructor(message = "A valid API key is required", code = "unauthorized") {
    super(code, 401, message);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = "You may not do this") {
    super("forbidden", 403, message);
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string) {
    super("not-found", 404, `${what} not found`);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string, code = "conflict") {
    super(code, 409, message);
  }
}

export class PayloadTooLargeError extends DomainError {
  constructor(message: string) {
    super("payload-too-large", 413, message);
  }
}

/** A pagination cursor that the store did not issue, or one for another query. */
export class InvalidCursorError extends DomainError {
  constructor(message = "Invalid pagination cursor: not one this API issued for this query") {
    super("invalid-cursor", 400, message);
  }
}

/** A conditional write found the item in another state than required. */
export class ConditionFailedError extends Error {
  constructor(message = "The conditional request failed") {
    super(message);
    this.name = "ConditionFailedError";
  }
}

/** A transaction was cancelled; `failedIndexes` are the ops whose condition failed. */
export class TransactionCanceledError extends Error {
  readonly failedIndexes: number[];
  constructor(failedIndexes: number[], message = "The transaction was cancelled") {
    super(message);
    this.name = "TransactionCanceledError";
    this.failedIndexes = failedIndexes;
  }
}
