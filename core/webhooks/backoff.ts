/** SQS refuses a DelaySeconds above 15 minutes. */
export const MAX_DELAY_SECONDS = 900;

/**
 * Seconds to wait before retry number `attempt + 1`, after attempt `attempt`
 * (1-based) failed: exponential backoff with full jitter, i.e. uniform in
 * [0, min(cap, base · 2^(attempt-1))], rounded up to whole seconds.
 * `random` returns a value in [0, 1); inject a seeded one in tests.
 * Example: attempt 3, base 10 → somewhere in 0..40 s.
 */
export function retryDelaySeconds(
  attempt: number,
  random: () => number = Math.random,
  { baseSeconds = 10, capSeconds = MAX_DELAY_SECONDS }: { baseSeconds?: number; capSeconds?: number } = {},
): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be a positive integer, got ${attempt}`);
  const ceiling = Math.min(capSeconds, MAX_DELAY_SECONDS, baseSeconds * 2 ** (attempt - 1));
  return Math.min(Math.ceil(random() * ceiling), Math.floor(ceiling));
}
