/** Byte sources for the parser tests (not used at runtime). */

/** `text` as a stream of `size`-byte chunks, so records straddle chunk borders. */
export async function* chunked(text: string | Buffer, size = 7): AsyncGenerator<Buffer> {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/**
 * `before`, then one line of `lineBytes` bytes of `a` (inside a JSON string
 * when `json`), then `after`; generated chunk by chunk, never held whole.
 */
export async function* withHugeLine(before: string, lineBytes: number, after: string, json = true): AsyncGenerator<Buffer> {
  yield Buffer.from(before + (json ? '{"text":"' : ""));
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let left = lineBytes;
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    yield n === chunk.length ? chunk : chunk.subarray(0, n);
    left -= n;
  }
  yield Buffer.from((json ? '"}' : "") + "\n" + after);
}

/** Collects an async generator's values. */
export async function collect<T>(gen: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of gen) out.push(v);
  return out;
}

/** Collects parsed records without their resume positions (what most parser tests compare). */
export async function collectRecords<T extends { next: unknown }>(gen: AsyncIterable<T>): Promise<Omit<T, "next">[]> {
  return (await collect(gen)).map(({ next: _next, ...rest }) => rest);
}
