/** Errors of the Chain port. Each sets `retryable`, which the stream consumers use to decide on a retry. */
export class ChainError extends Error {
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.retryable = retryable;
  }
}

/** The chain refused the transaction (at estimation or when mined); sending it again would fail again. */
export class ChainRevertedError extends ChainError {
  /** Decoded custom error, e.g. `DatanetRegistryNotPublisher(0x.., 0x..)`, or the node's message. */
  readonly reason: string;
  readonly txHash?: string;
  constructor(reason: string, txHash?: string) {
    super(`transaction reverted: ${reason}`, false);
    this.reason = reason;
    this.txHash = txHash;
  }
}

/** The RPC could not be reached or kept failing after retries; try again later. */
export class ChainUnavailableError extends ChainError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, true, options);
  }
}

/** A step the chain needs first has not happened yet (e.g. the previous Datanet version); try again later. */
export class ChainNotReadyError extends ChainError {
  constructor(message: string) {
    super(message, true);
  }
}

/** Another worker holds the record's lease; try again later. */
export class ChainSyncBusyError extends ChainError {
  constructor(key: string) {
    super(`chain sync of ${key} is in progress elsewhere`, true);
  }
}
