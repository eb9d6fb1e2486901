/** Exponential backoff with full jitter; the delays of attempt n lie in [0, min(maxMs, baseMs·2^n)). */
export interface RetryOptions {
  /** Tries in all, the first included (default 5). */
  attempts?: number;
  baseMs?: number;
  maxMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `fn` until it succeeds, an error is not retryable, or the attempts are spent (then the last error is thrown). */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, retryable: (error: unknown) => boolean, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  const base = options.baseMs ?? 200;
  const max = options.maxMs ?? 10_000;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt + 1 >= attempts || !retryable(error)) throw error;
      await sleep(Math.floor(random() * Math.min(max, base * 2 ** attempt)));
    }
  }
}

const TRANSIENT_CODES = new Set(["NETWORK_ERROR", "TIMEOUT", "SERVER_ERROR", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EAI_AGAIN", "UND_ERR_SOCKET"]);

/**
 * Whether an RPC error is worth retrying: the node could not be reached,
 * timed out, rate-limited us or failed inside. A revert, a bad argument or
 * missing funds are not.
 */
export function isTransientRpcError(error: unknown): boolean {
  type RpcLike = { code?: unknown; message?: unknown };
  const e = error as RpcLike & { status?: unknown; data?: unknown; error?: RpcLike; info?: { responseStatus?: string; error?: RpcLike }; cause?: unknown };
  if (!e || typeof e !== "object") return false;
  // JSON-RPC: -32005 limit exceeded / rate limited; -32603 internal error.
  const inner = [e.error, e.info?.error].find((x) => x && typeof x.code === "number");
  const innerTransient = inner?.code === -32005 || inner?.code === -32603;
  // ethers reports any failed eth_call/estimateGas as CALL_EXCEPTION; a real revert carries data ("0x" at least).
  if (e.code === "CALL_EXCEPTION") return e.data == null && innerTransient;
  if (typeof e.code === "string" && TRANSIENT_CODES.has(e.code)) return true;
  if (typeof e.status === "number" && (e.status === 429 || e.status >= 500)) return true;
  if (innerTransient) return true;
  if (typeof e.info?.responseStatus === "string" && /^(429|5\d\d)/.test(e.info.responseStatus)) return true;
  if (typeof e.message === "string" && /fetch failed|socket hang up|rate limit|too many requests|timeout/i.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== error && isTransientRpcError(e.cause);
}
