import { DatabaseSync } from "node:sqlite";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { defaultConfig, type PlatformConfig } from "../../core/config.ts";
import type { CoreDeps } from "../../core/deps.ts";
import { FakeClock } from "./fake-clock.ts";
import { FakeQueue, type SentMessage } from "./fake-queue.ts";
import { MemoryBlobStore } from "./memory-blob-store.ts";

/** CoreDeps for unit tests, with handles on the fakes behind them. */
export interface TestDeps extends CoreDeps {
  /** The in-memory SQLite database both tables live in (for outbox and row checks). */
  db: DatabaseSync;
  blobs: MemoryBlobStore;
  queue: FakeQueue;
  clock: FakeClock;
  /** Everything sent to any queue, oldest first: the same array as `queue.sent`. */
  sent: SentMessage[];
}

/**
 * The one fake deps factory: CoreDeps on in-memory SQLite tables (the real
 * table store, so conditions and transactions behave as in production), an
 * in-memory blob store, a recording queue and a hand-moved clock.
 */
export function memoryDeps(config: Partial<PlatformConfig> = {}, blobOptions: { chunkSize?: number } = {}): TestDeps {
  const db = new DatabaseSync(":memory:");
  const clock = new FakeClock();
  const queue = new FakeQueue();
  return {
    db,
    tables: {
      main: new SqliteTableStore(db, "main", { stream: true }),
      contributions: new SqliteTableStore(db, "contributions", { stream: false }),
    },
    blobs: new MemoryBlobStore({ ...blobOptions, now: clock.now }),
    queue,
    clock,
    config: { ...defaultConfig, ...config },
    sent: queue.sent,
  };
}
