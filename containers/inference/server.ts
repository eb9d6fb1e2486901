// Builds and serves the inference service over given table and blob ports: the part of main.ts
// that tests and the benchmark can start in-process too.
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import type { Tables } from "../../core/ports/tables.ts";
import type { AdmissionOptions } from "./admission.ts";
import { apiKeyAuthorizer } from "./api-key-authorizer.ts";
import { createInferenceApp, type InferenceApp } from "./app.ts";
import type { GenerationBackend } from "./backend.ts";
import { ModelCatalog } from "./catalog.ts";
import type { Authorizer, GenerationHook } from "./hooks.ts";
import { InferenceMetrics } from "./metrics.ts";

/** How long an idle keep-alive connection stays open (ms): past the ALB's 600 s idle timeout. */
export const KEEP_ALIVE_MS = 610_000;

export interface InferenceServerOptions {
  tables: Tables;
  blobs: BlobStore;
  /** Builds the backend once the catalog exists (the adapter cache asks it for blob keys). */
  backend: (ctx: { catalog: () => ModelCatalog; metrics: InferenceMetrics }) => GenerationBackend;
  port?: number;
  hostname?: string;
  authorizer?: Authorizer;
  hooks?: GenerationHook[];
  admission?: Partial<AdmissionOptions>;
  requestTimeoutMs?: number;
  log?: (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
}

export interface InferenceServer {
  url: string;
  port: number;
  service: InferenceApp;
  backend: GenerationBackend;
  /** Stops accepting connections, lets running calls finish for up to `graceMs`, then closes. */
  stop(graceMs?: number): Promise<void>;
}

/** Serves the OpenLoRA service on a port (0 = a free one). */
export async function startInferenceServer(opts: InferenceServerOptions): Promise<InferenceServer> {
  const metrics = new InferenceMetrics();
  let catalog: ModelCatalog | undefined;
  const backend = opts.backend({ catalog: () => catalog!, metrics });
  catalog = new ModelCatalog({ tables: opts.tables, baseModels: backend.baseModels() });
  const service = createInferenceApp({
    backend,
    catalog,
    authorizer: opts.authorizer ?? apiKeyAuthorizer({ tables: opts.tables }),
    metrics,
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(opts.admission ? { admission: opts.admission } : {}),
    ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: service.app.fetch, port: opts.port ?? 8788, hostname: opts.hostname ?? "127.0.0.1" }, () => resolve(s));
    s.once("error", reject);
  });
  // streams can idle between tokens: no request timeout (a call has its own, requestTimeoutMs)
  (server as unknown as { requestTimeout: number }).requestTimeout = 0;
  // an idle keep-alive connection is closed by the client first, never by this server: a
  // client that reuses one just as the server closes it gets a reset (ECONNRESET; behind the
  // ALB, a 502). So longer than any client's idle timeout: the ALB's is 600 s (infra/lib/inference.ts)
  (server as unknown as { keepAliveTimeout: number }).keepAliveTimeout = KEEP_ALIVE_MS;
  const port = (server as unknown as { address(): AddressInfo }).address().port;
  return {
    url: `http://${opts.hostname ?? "127.0.0.1"}:${port}`,
    port,
    service,
    backend,
    async stop(graceMs = 10_000) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      const deadline = Date.now() + graceMs;
      while (service.admission.running + service.admission.queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
      await backend.close();
    },
  };
}
