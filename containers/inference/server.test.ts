// The service's HTTP server: idle keep-alive connections are left for the client to close (the
// ALB's idle timeout is 600 s), so no client reuses a connection the server has just closed.
import { get } from "node:http";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import type { Tables } from "../../core/ports/tables.ts";
import { MemoryBlobStore } from "../../test/fakes/memory-blob-store.ts";
import type { GenerationBackend } from "./backend.ts";
import { KEEP_ALIVE_MS, startInferenceServer } from "./server.ts";

// a backend that serves nothing: the test only talks to /healthz
const idleBackend = (): GenerationBackend => ({
  name: "idle",
  baseModels: () => [{ id: "m", contextLength: 8 }],
  tokenize: async () => [],
  generate: async () => { throw new Error("not used"); },
  ready: async () => ({ ready: true }),
  stats: () => ({ adaptersResident: 0, adaptersLoading: 0, residentBytes: 0, cache: { hits: 0, diskLoads: 0, blobLoads: 0, evictions: 0 } }),
  close: async () => {},
});

describe("startInferenceServer", () => {
  it("sets its keep-alive timeout past the ALB's 600 s idle timeout and announces it in Keep-Alive (the connection itself is not held for 600 s here)", async () => {
    expect(KEEP_ALIVE_MS).toBeGreaterThan(600_000);
    const db = new DatabaseSync(":memory:");
    const tables = { main: new SqliteTableStore(db, "main", { stream: false }), contributions: new SqliteTableStore(db, "contributions", { stream: false }) } as unknown as Tables;
    const server = await startInferenceServer({ tables, blobs: new MemoryBlobStore(), port: 0, backend: idleBackend, log: () => {} });
    try {
      const header = await new Promise<unknown>((resolve, reject) => {
        get(`${server.url}/healthz`, { headers: { connection: "keep-alive" } }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.headers["keep-alive"]));
        }).on("error", reject);
      });
      expect(header).toBe(`timeout=${KEEP_ALIVE_MS / 1000}`);
    } finally {
      await server.stop(100);
      db.close();
    }
  });
});
