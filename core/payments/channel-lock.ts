/**
 * First-come first-served locks per channel within one process: calls on one
 * channel run their authorise → generate → charge one after another, in
 * arrival order, so two calls can never spend the same headroom. (Across
 * processes the ledger's hold does the same, see channel-ledger.ts.)
 */
export class ChannelLocks {
  readonly #tails = new Map<string, Promise<void>>();

  /** Resolves once every earlier holder of `key` released it; call the returned function to release. */
  async acquire(key: string, timeoutMs: number): Promise<() => void> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const outcome = await Promise.race([previous.then(() => "ok" as const), timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      // Give up our place without blocking those behind us: they wait for `previous` through `mine`.
      previous.then(done, done);
      throw new ChannelBusyError(key);
    }
    return done;
  }
}

export class ChannelBusyError extends Error {
  readonly channelId: string;
  constructor(channelId: string) {
    super(`channel ${channelId} is busy with an earlier call`);
    this.channelId = channelId;
    this.name = "ChannelBusyError";
  }
}
