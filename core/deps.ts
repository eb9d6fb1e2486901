import type { PlatformConfig } from "./config.ts";
import type { BlobStore } from "./ports/blob-store.ts";
import type { Clock } from "./ports/clock.ts";
import type { QueueSender } from "./ports/queue.ts";
import type { Tables } from "./ports/tables.ts";

/** Everything a use case may touch. Built once per deployment (local runtime, Lambda). */
export interface CoreDeps {
  tables: Tables;
  blobs: BlobStore;
  queue: QueueSender;
  clock: Clock;
  config: PlatformConfig;
}
