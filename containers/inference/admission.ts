// Admission control in front of the backend: at most `maxRunning` calls generate at once (the
// scheduler's sequences), at most `maxQueued` wait behind them in arrival order, and no key or
// adapter holds more than its cap of running + queued calls, so one tenant cannot fill the
// queue the others wait in. Anything over a bound is refused at once with 429 and Retry-After:
// a refused call was never queued, so it is neither lost nor answered twice.
import { rateLimited } from "./errors.ts";

export interface AdmissionOptions {
  maxRunning: number;
  maxQueued: number;
  /** Running + queued calls one principal (API key, payer) may have. */
  perPrincipal: number;
  /** Running + queued calls for one model (adapter or base). */
  perModel: number;
  /** What Retry-After says on a 429, in seconds. */
  retryAfterSeconds: number;
}

export const DEFAULT_ADMISSION: AdmissionOptions = { maxRunning: 32, maxQueued: 256, perPrincipal: 64, perModel: 128, retryAfterSeconds: 1 };

interface Waiter { resolve: () => void; reject: (e: unknown) => void }

/** A held slot; release() exactly once when the call ends (extra calls are ignored). */
export type Release = () => void;

export class Admission {
  readonly opts: AdmissionOptions;
  #running = 0;
  #queue: Waiter[] = [];
  #byPrincipal = new Map<string, number>();
  #byModel = new Map<string, number>();

  constructor(opts: Partial<AdmissionOptions> = {}) {
    this.opts = { ...DEFAULT_ADMISSION, ...opts };
  }

  get running(): number { return this.#running; }
  get queued(): number { return this.#queue.length; }

  /**
   * Waits for a slot. Throws a 429 InferenceError when a bound is reached; rejects with the
   * signal's reason when it aborts while queued (the slot is then never taken). `onQueued` runs
   * once when the call has to wait (not when it is refused or runs at once).
   */
  async enter(principal: string, model: string, signal: AbortSignal, onQueued?: () => void): Promise<Release> {
    const o = this.opts;
    if ((this.#byPrincipal.get(principal) ?? 0) >= o.perPrincipal) throw rateLimited(`Too many concurrent requests for this API key (limit ${o.perPrincipal}).`, o.retryAfterSeconds);
    if ((this.#byModel.get(model) ?? 0) >= o.perModel) throw rateLimited(`Too many concurrent requests for the model \`${model}\` (limit ${o.perModel}).`, o.retryAfterSeconds);
    const mustWait = this.#running >= o.maxRunning || this.#queue.length > 0;
    if (mustWait && this.#queue.length >= o.maxQueued) throw rateLimited(`The server is at capacity (${o.maxRunning} running, ${o.maxQueued} queued). Try again shortly.`, o.retryAfterSeconds);
    signal.throwIfAborted();
    bump(this.#byPrincipal, principal, 1);
    bump(this.#byModel, model, 1);
    const leave = () => {
      bump(this.#byPrincipal, principal, -1);
      bump(this.#byModel, model, -1);
    };
    if (mustWait) {
      const waiter = {} as Waiter;
      const queued = new Promise<void>((resolve, reject) => Object.assign(waiter, { resolve, reject }));
      const onAbort = () => {
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) {
          this.#queue.splice(i, 1);
          waiter.reject(signal.reason);
        }
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(waiter);
      onQueued?.();
      try {
        await queued; // #next() hands over a running slot already counted
      } catch (e) {
        leave();
        throw e;
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    } else this.#running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      leave();
      this.#running--;
      this.#next();
    };
  }

  #next(): void {
    while (this.#running < this.opts.maxRunning && this.#queue.length) {
      this.#running++;
      this.#queue.shift()!.resolve();
    }
  }
}

function bump(m: Map<string, number>, k: string, d: number): void {
  const v = (m.get(k) ?? 0) + d;
  if (v <= 0) m.delete(k);
  else m.set(k, v);
}
