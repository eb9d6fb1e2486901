import { InvalidCursorError } from "../errors.ts";
import type { Item, Page, TableStore } from "../ports/tables.ts";

/** Sort keys above every key we write (the SQLite store bounds prefixes the same way). */
const SK_MAX = "\u{10FFFF}";

export interface ShardedQuery {
  /** The partitions to merge (the base table's `pk`s, or gsi1's `gsi1pk`s with `index`). */
  partitions: string[];
  index?: "gsi1";
  /** Only sort keys starting with this prefix ("" for all). */
  skPrefix: string;
  /** Only sort keys strictly greater than this one (where the previous page ended). */
  after?: string;
  /** Items per query of one shard (default 1000, the port's maximum). */
  pageSize?: number;
  /**
   * Ask for a shard's next page as soon as one arrives (default): a walk over
   * everything then waits on one round trip at a time at most. A client page
   * turns it off, so it reads no page it will not use.
   */
  prefetch?: boolean;
}

/**
 * Every item of several partitions in ascending sort-key order, as if they
 * were one partition: a k-way merge over one lazily paged query per
 * partition, each fetching its next page while the merge consumes the
 * current one (unless `prefetch` is off). Sort keys must be unique across the partitions (contribution
 * ids are).
 */
export async function* mergeShards(table: TableStore, query: ShardedQuery): AsyncGenerator<Item> {
  const sortKeyOf = (item: Item) => (query.index === "gsi1" ? (item.gsi1sk as string) : item.sk);
  const streams = query.partitions.map((pk) => new ShardStream(table, query, pk, sortKeyOf));
  await Promise.all(streams.map((s) => s.fill()));
  for (;;) {
    // A linear scan is cheapest for the few shards a Datanet has.
    let best: ShardStream | undefined;
    for (const s of streams) {
      const head = s.head();
      if (head !== undefined && (best === undefined || sortKeyOf(head) < sortKeyOf(best.head()!))) best = s;
    }
    if (!best) return;
    yield best.take();
    await best.fill();
  }
}

/** A promise-like that starts its work only when awaited. */
function lazy<T>(start: () => Promise<T>): Promise<T> {
  let started: Promise<T> | undefined;
  return { then: (ok, fail) => (started ??= start()).then(ok, fail) } as Promise<T>;
}

/** One partition's items in sort-key order, a page at a time, the next page requested as soon as one arrives. */
class ShardStream {
  #buffer: Item[] = [];
  #next: Promise<Page<Item>> | undefined;
  readonly #table: TableStore;
  readonly #query: ShardedQuery;
  readonly #pk: string;
  readonly #sortKeyOf: (item: Item) => string;

  constructor(table: TableStore, query: ShardedQuery, pk: string, sortKeyOf: (item: Item) => string) {
    this.#table = table;
    this.#query = query;
    this.#pk = pk;
    this.#sortKeyOf = sortKeyOf;
    this.#next = this.#fetch(undefined);
  }

  head(): Item | undefined {
    return this.#buffer[0];
  }

  take(): Item {
    return this.#buffer.shift()!;
  }

  /** Waits for the next page when the buffer ran dry and more items exist. */
  async fill(): Promise<void> {
    while (this.#buffer.length === 0 && this.#next) {
      const page = await this.#next;
      this.#next = page.cursor ? (this.#query.prefetch === false ? lazy(() => this.#fetch(page.cursor)) : this.#fetch(page.cursor)) : undefined;
      const after = this.#query.after;
      // The range below is inclusive of `after`; the item there was on the previous page.
      this.#buffer = after === undefined ? page.items : page.items.filter((item) => this.#sortKeyOf(item) !== after);
    }
  }

  #fetch(cursor: string | undefined): Promise<Page<Item>> {
    const { index, skPrefix, after, pageSize = 1000 } = this.#query;
    const range = after === undefined ? { skPrefix } : { skBetween: [after, `${skPrefix}${SK_MAX}`] as [string, string] };
    const page = this.#table.query({ pk: this.#pk, ...(index ? { index } : {}), ...range, limit: pageSize, ...(cursor ? { cursor } : {}) });
    // A reader that stops early leaves its prefetches unawaited; their failure is theirs to drop (fill awaits and rethrows).
    page.catch(() => undefined);
    return page;
  }
}

/**
 * One page of a merged listing for a client: at most `limit` items and, when
 * more follow, a cursor naming the last sort key returned. The cursor is the
 * same for every shard count, so it stays valid while pages are read.
 */
export async function mergedPage(
  table: TableStore,
  query: Omit<ShardedQuery, "after" | "pageSize">,
  limit: number,
  cursor: string | undefined,
): Promise<Page<Item>> {
  const after = cursor === undefined ? undefined : decodeMergeCursor(cursor, query.skPrefix);
  // Each shard holds about limit / shards of the next items (round-robin by line); one more tells whether it has more.
  const pageSize = Math.min(1000, Math.ceil(limit / query.partitions.length) + 1);
  const items: Item[] = [];
  let more = false;
  for await (const item of mergeShards(table, { ...query, ...(after !== undefined ? { after } : {}), pageSize, prefetch: false })) {
    if (items.length === limit) {
      more = true;
      break;
    }
    items.push(item);
  }
  const last = items.at(-1);
  const sortKey = last && (query.index === "gsi1" ? (last.gsi1sk as string) : last.sk);
  return { items, ...(more && sortKey ? { cursor: Buffer.from(JSON.stringify({ after: sortKey })).toString("base64url") } : {}) };
}

/** The sort key a merged-listing cursor holds; refuses anything `mergedPage` could not have issued for this listing. */
function decodeMergeCursor(cursor: string, skPrefix: string): string {
  let after: unknown;
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(cursor)) throw new InvalidCursorError();
  try {
    after = (JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { after?: unknown }).after;
  } catch {
    after = undefined;
  }
  if (typeof after !== "string" || !after.startsWith(skPrefix) || after.length > 512) throw new InvalidCursorError();
  return after;
}
