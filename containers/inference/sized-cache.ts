// An async memo with a byte budget: one load per key at a time, least recently used first out,
// what a load failed with forgotten (the next call loads again). The attribution caches of span
// indexes and of gradient inputs both grow with the training set, so they are bounded in bytes.

/** What an entry costs besides what `sizeOf` counts (and all it costs while it loads). */
export const ENTRY_BYTES = 1024;

/** `get(key, load)`: the value `load` gave for `key`, loaded once and kept while `budget` bytes allow (the newest entry stays even when it alone is over). */
export function sizedCache<T>(budget: number, sizeOf: (value: T) => number): (key: string, load: () => Promise<T>) => Promise<T> {
  const entries = new Map<string, { value: Promise<T>; bytes: number }>();
  let held = 0;
  const forget = (key: string) => {
    const e = entries.get(key);
    if (e) (entries.delete(key), (held -= e.bytes));
  };
  const evict = () => {
    while (held > budget && entries.size > 1) forget(entries.keys().next().value!);
  };
  return (key, load) => {
    const hit = entries.get(key);
    if (hit) {
      entries.delete(key); // re-insert: most recently used last
      entries.set(key, hit);
      return hit.value;
    }
    const entry = { value: load(), bytes: ENTRY_BYTES };
    entries.set(key, entry);
    held += entry.bytes;
    entry.value.then(
      (v) => {
        if (entries.get(key) !== entry) return; // evicted while it loaded
        const bytes = ENTRY_BYTES + sizeOf(v);
        held += bytes - entry.bytes;
        entry.bytes = bytes;
        evict();
      },
      () => { if (entries.get(key) === entry) forget(key); },
    );
    evict();
    return entry.value;
  };
}
