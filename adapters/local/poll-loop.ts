/** How a PollLoop tells that its owner has caught up; see `waitUntilCaughtUp`. */
export interface CatchUp {
  /** Give up after this many milliseconds (default 30 000). */
  timeoutMs?: number | undefined;
  /** Longest pause between checks; the poll interval caps it. */
  recheckMs: number;
  caughtUp: () => boolean | Promise<boolean>;
  /** The error to reject with when the time is up. */
  timeoutError: () => Error | Promise<Error>;
}

/**
 * The background loop behind QueuePoller and OutboxStream. Polls are
 * serialised (one at a time, whether from the loop, `pollOnce` or an idle
 * wait); the loop polls again at once while there is work, else sleeps for the
 * poll interval or until `stop` wakes it. Subclasses supply one poll.
 */
export abstract class PollLoop {
  readonly #pollIntervalMs: number;
  readonly #onError: (error: unknown) => void;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** The poll now in progress; polls are serialised through it. */
  #current: Promise<number> = Promise.resolve(0);

  /** `onError` receives the errors of background polls; the loop keeps going. */
  constructor(pollIntervalMs: number, onError: (error: unknown) => void) {
    this.#pollIntervalMs = pollIntervalMs;
    this.#onError = onError;
  }

  /** One poll; resolves to how much it handled (0: nothing was waiting). */
  protected abstract poll(): Promise<number>;

  /** Starts polling in the background; calling it twice is harmless. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops polling and resolves once the batch in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    await this.#current;
  }

  /** Runs one poll after any in progress; resolves to how much it handled. */
  pollOnce(): Promise<number> {
    const next = this.#current.then(() => this.poll());
    this.#current = next.catch(() => 0);
    return next;
  }

  /** Resolves once the poll in progress, if any, has finished. */
  protected async settled(): Promise<void> {
    await this.#current;
  }

  /** Waits until `caughtUp` holds with no poll in progress, polling by itself when not started. */
  protected async waitUntilCaughtUp(check: CatchUp): Promise<void> {
    const deadline = Date.now() + (check.timeoutMs ?? 30_000);
    for (;;) {
      await this.#current;
      if (await check.caughtUp()) return;
      if (Date.now() >= deadline) throw await check.timeoutError();
      const handled = this.#running ? 0 : await this.pollOnce();
      if (handled === 0) await sleep(Math.min(this.#pollIntervalMs, check.recheckMs));
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let handled = 0;
      try {
        handled = await this.pollOnce();
      } catch (error) {
        this.#onError(error);
      }
      if (handled === 0 && this.#running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#pollIntervalMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
      }
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
