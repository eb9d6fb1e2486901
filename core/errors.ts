/**
 * Domain errors. Each carries a stable `code` that the HTTP layer maps to a
 * problem type (`https://modelfactory.dev/problems/<code>`) and a status, so
 * clients can branch on `type` rather than on message text.
 */
export class DomainError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details?: unknown;

  constructor(code: string, status: number, message: string, details?: unknown) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = details;
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
