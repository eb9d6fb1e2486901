import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import type { Hono } from "hono";
import { systemClock } from "../../core/ports/clock.ts";
import { describeBlobStoreConformance } from "../../test/conformance/blob-store.ts";
import { DiskBlobStore } from "./disk-blob-store.ts";
import { createLocalDownloadRoutes } from "./download-route.ts";
import { createLocalUploadRoutes } from "./upload-route.ts";

// The presigned cases PUT to and GET from the signed URLs with fetch, so each
// store gets the local upload and download routes on a real port, as the local
// runtime serves them.
describeBlobStoreConformance("DiskBlobStore with the local upload route", async () => {
  const root = await mkdtemp(join(tmpdir(), "mf-blob-conformance-"));
  const secret = "conformance-secret";
  let app: Hono | undefined;
  const server = serve({ fetch: (request) => app!.fetch(request), port: 0, hostname: "127.0.0.1" });
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  const store = new DiskBlobStore({ root, apiOrigin: `http://127.0.0.1:${port}`, secret, clock: systemClock });
  const routes = createLocalUploadRoutes({ blobs: store, secret, clock: systemClock, onObjectCreated: () => {} });
  routes.route("/", createLocalDownloadRoutes({ blobs: store, secret, clock: systemClock }));
  app = routes;
  return {
    store,
    cleanup: async () => {
      await new Promise((resolve) => server.close(resolve));
      await rm(root, { recursive: true, force: true });
    },
  };
});
