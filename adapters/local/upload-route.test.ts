import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { serve } from "@hono/node-server";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PROBLEM_BASE } from "../../api/problem.ts";
import { DiskBlobStore } from "./disk-blob-store.ts";
import { FakeClock } from "../../test/fakes/fake-clock.ts";
import { createLocalUploadRoutes, type ObjectCreated } from "./upload-route.ts";
import { uploadUrl } from "./upload-signature.ts";

const SECRET = "test-secret";
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const root = mkdtempSync(join(tmpdir(), "mf-upload-"));
  dirs.push(root);
  const clock = new FakeClock();
  const blobs = new DiskBlobStore({ root, apiOrigin: "http://localhost:8787", secret: SECRET, clock });
  const created: ObjectCreated[] = [];
  const app = createLocalUploadRoutes({ blobs, secret: SECRET, clock, onObjectCreated: (o) => void created.push(o) });
  // Leftovers of refused uploads would show in the store's temp directory.
  const stored = () => (existsSync(join(root, "tmp")) ? readdirSync(join(root, "tmp")).length : 0);
  return { root, clock, blobs, app, created, stored };
}

const sha = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

/** A streamed body of `chunks` × `chunkSize` deterministic bytes, counting the chunks pulled. */
function generated(chunks: number, chunkSize = 64 * 1024) {
  const chunk = (i: number) => {
    const bytes = Buffer.alloc(chunkSize, i & 0xff);
    bytes.writeUInt32BE(i, 0);
    return new Uint8Array(bytes);
  };
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled === chunks) return controller.close();
      controller.enqueue(chunk(pulled++));
    },
  });
  const sha256 = () => {
    const hash = createHash("sha256");
    for (let i = 0; i < chunks; i++) hash.update(chunk(i));
    return hash.digest("hex");
  };
  return { stream, size: chunks * chunkSize, sha256, pulled: () => pulled };
}

async function presign(blobs: DiskBlobStore, body: { size: number; sha256: string }, key = "datanets/dn_1/up_1/data.jsonl") {
  const signed = await blobs.presignUpload({ key, contentType: "application/jsonl", expiresInSeconds: 900, ...body });
  return { ...signed, path: signed.url.replace("http://localhost:8787", "http://localhost") };
}

async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(((await res.json()) as { type: string }).type).toBe(PROBLEM_BASE + code);
}

describe("local upload route", () => {
  it("streams a 20 MB body into place and reports the object created", async () => {
    const { app, blobs, created } = setup();
    const body = generated(320); // 320 × 64 KiB = 20 MiB
    const sha256 = body.sha256();
    const url = await presign(blobs, { size: body.size, sha256 });
    const res = await app.request(url.path, { method: "PUT", headers: url.headers, body: body.stream, duplex: "half" } as RequestInit);
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe(`"${sha256}"`);
    expect(created).toEqual([{ bucket: "local", key: "datanets/dn_1/up_1/data.jsonl", size: body.size, eTag: sha256 }]);
    expect(await blobs.head("datanets/dn_1/up_1/data.jsonl")).toEqual({
      key: "datanets/dn_1/up_1/data.jsonl",
      size: 20 * 1024 * 1024,
      contentType: "application/jsonl",
    });
    const hash = createHash("sha256");
    for await (const chunk of (await blobs.get("datanets/dn_1/up_1/data.jsonl"))!) hash.update(chunk as Buffer);
    expect(hash.digest("hex")).toBe(sha256);
  });

  it("refuses a tampered URL with invalid-signature", async () => {
    const { app, blobs, created } = setup();
    const url = await presign(blobs, { size: 2, sha256: sha("{}") });
    const tampered = [
      url.path.replace("data.jsonl", "other.jsonl"),
      url.path.replace("size=2", "size=3"),
      url.path.replace(/sig=[^&]+/, "sig=AAAA"),
      url.path.replace(/&sig=[^&]+/, ""),
      url.path.replace(/expires=(\d+)/, (_, e: string) => `expires=${Number(e) + 3600}`),
    ];
    for (const path of tampered) {
      expect(path).not.toBe(url.path);
      const res = await app.request(path, { method: "PUT", headers: url.headers, body: "{}" });
      await expectProblem(res, 403, "invalid-signature");
    }
    expect(created).toEqual([]);
  });

  it("refuses an expired URL with url-expired", async () => {
    const { app, blobs, clock } = setup();
    const url = await presign(blobs, { size: 2, sha256: sha("{}") });
    clock.advance(900_000);
    await expectProblem(await app.request(url.path, { method: "PUT", headers: url.headers, body: "{}" }), 403, "url-expired");
  });

  it("requires the signed content type", async () => {
    const { app, blobs } = setup();
    const url = await presign(blobs, { size: 2, sha256: sha("{}") });
    await expectProblem(await app.request(url.path, { method: "PUT", body: new Uint8Array([123, 125]) }), 400, "missing-content-type");
    await expectProblem(
      await app.request(url.path, { method: "PUT", headers: { "content-type": "text/plain" }, body: "{}" }),
      415,
      "content-type-mismatch",
    );
    const res = await app.request(url.path, { method: "PUT", headers: { "content-type": "Application/JSONL" }, body: "{}" });
    expect(res.status).toBe(200);
  });

  it("refuses a body larger than signed when Content-Length says so, before reading it", async () => {
    const { app, blobs, created, stored } = setup();
    const url = await presign(blobs, { size: 2, sha256: sha("{}") });
    const res = await app.request(url.path, { method: "PUT", headers: { ...url.headers, "content-length": "3" }, body: "{} " });
    await expectProblem(res, 413, "payload-too-large");
    expect(created).toEqual([]);
    expect(stored()).toBe(0);
  });

  it("cuts off a streamed body without Content-Length as soon as it passes the signed size", async () => {
    const { app, blobs, created, stored } = setup();
    const body = generated(1000); // 64 MB on offer
    const url = await presign(blobs, { size: 3 * 64 * 1024, sha256: "0".repeat(64) });
    const res = await app.request(url.path, { method: "PUT", headers: url.headers, body: body.stream, duplex: "half" } as RequestInit);
    await expectProblem(res, 413, "payload-too-large");
    expect(body.pulled()).toBeLessThan(10); // a few chunks of read-ahead, not the whole body
    expect(await blobs.head("datanets/dn_1/up_1/data.jsonl")).toBeUndefined();
    expect(created).toEqual([]);
    expect(stored()).toBe(0);
  });

  it("refuses a body of another length or hash with checksum-mismatch, storing nothing", async () => {
    const { app, blobs, created, stored } = setup();
    await blobs.put("datanets/dn_1/up_1/data.jsonl", "previous");
    const url = await presign(blobs, { size: 4, sha256: sha("good") });
    for (const [body, headers] of [
      ["evil", url.headers], // same length, other bytes
      ["goo", url.headers], // short, sent with its Content-Length
      [new Blob(["goo"]).stream(), url.headers], // short, streamed
    ] as const) {
      const init = { method: "PUT", headers, body, duplex: "half" } as RequestInit;
      await expectProblem(await app.request(url.path, init), 400, "checksum-mismatch");
    }
    expect(await text((await blobs.get("datanets/dn_1/up_1/data.jsonl"))!)).toBe("previous");
    expect(created).toEqual([]);
    expect(stored()).toBe(0);
  });

  it("answers 400 invalid-blob-key for a correctly signed URL whose key the store refuses", async () => {
    // Prepare: URLs signed with the store's secret for keys DiskBlobStore would never presign.
    const { app, created, stored } = setup();
    const expires = Math.floor(Date.UTC(2025, 0, 1) / 1000) + 60;
    for (const key of ["../escape.jsonl", "a//b", "/abs", "a\\b"]) {
      const url = uploadUrl("http://localhost", SECRET, { key, size: 2, sha256: sha("{}"), contentType: "application/jsonl", expires });
      // Act
      const res = await app.request(url, { method: "PUT", headers: { "content-type": "application/jsonl" }, body: "{}" });
      // Assess
      await expectProblem(res, 400, "invalid-blob-key");
    }
    expect(created).toEqual([]);
    expect(stored()).toBe(0);
  });

  it("answers 500 problem+json when the created-object callback fails", async () => {
    const { blobs, clock } = setup();
    const app = createLocalUploadRoutes({
      blobs,
      secret: SECRET,
      clock,
      onObjectCreated: () => {
        throw new Error("queue down");
      },
    });
    const url = await presign(blobs, { size: 2, sha256: sha("{}") });
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    await expectProblem(await app.request(url.path, { method: "PUT", headers: url.headers, body: "{}" }), 500, "upload-failed");
    expect(errors).toHaveBeenCalled();
    errors.mockRestore();
  });

  it("stops reading a real connection's body once it passes the signed size", async () => {
    const { app, blobs } = setup();
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    try {
      await new Promise((resolve) => server.once("listening", resolve));
      const { port } = server.address() as AddressInfo;
      const url = await presign(blobs, { size: 10, sha256: "0".repeat(64) });
      const offered = 256 * 1024 * 1024;
      let sent = 0;
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(url.path.replace("http://localhost", `http://127.0.0.1:${port}`), { method: "PUT", headers: url.headers });
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on("error", reject);
        const chunk = Buffer.alloc(64 * 1024);
        const pump = (): void => {
          while (sent < offered) {
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once("drain", pump);
          }
          req.end();
        };
        pump();
      });
      expect(status).toBe(413);
      expect(sent).toBeLessThan(offered / 4); // only what socket buffers took before the answer
      expect(await blobs.head("datanets/dn_1/up_1/data.jsonl")).toBeUndefined();
    } finally {
      (server as Server).closeAllConnections(); // the refused client may still hold its socket
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("works over a real HTTP connection with a chunked body", async () => {
    const { app, blobs, created } = setup();
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    try {
      await new Promise((resolve) => server.once("listening", resolve));
      const { port } = server.address() as AddressInfo;
      const url = await presign(blobs, { size: 11, sha256: sha("hello world") });
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(url.path.replace("http://localhost", `http://127.0.0.1:${port}`), {
          method: "PUT",
          headers: url.headers, // no Content-Length: Node sends it chunked
        });
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on("error", reject);
        req.write("hello ");
        setTimeout(() => req.end("world"), 10);
      });
      expect(status).toBe(200);
      expect(created.map((o) => o.key)).toEqual(["datanets/dn_1/up_1/data.jsonl"]);
      expect(await text((await blobs.get("datanets/dn_1/up_1/data.jsonl"))!)).toBe("hello world");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
