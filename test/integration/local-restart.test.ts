import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterEach, describe, expect, it } from "vitest";
import { DevClient } from "../../local/dev-client.ts";
import { startPlatform, type Platform } from "../../local/platform.ts";

/**
 * What a crash of the local platform leaves behind is repaired at the next
 * start: an upload whose bytes landed but whose ingest message was never
 * sent gets ingested, and half-written temporary files are removed.
 */
describe("local platform restart after a crash", () => {
  let platform: Platform | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await platform?.stop();
    platform = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("ingests an upload whose object landed without its queue message, and cleans temp files", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "mf-restart-"));
    dirs.push(dataDir);
    platform = await startPlatform({ dataDir, port: 0, web: false, logLevel: "SILENT" });
    const client = new DevClient(platform.url);
    await client.signIn(new Wallet(Wallet.createRandom().privateKey));
    const datanet = await client.request<{ id: string }>("POST", "/v1/datanets", { name: "Crash test", license: "MIT", schema: "text" });
    const body = Buffer.from("first line\nsecond line\n");
    const signed = await client.request<{ uploadId: string }>("POST", `/v1/datanets/${datanet.id}/uploads`, {
      filename: "notes.txt",
      contentType: "text/plain",
      size: body.length,
      sha256: createHash("sha256").update(body).digest("hex"),
    });
    // The bytes reach the store, then the process dies before the ingest message is sent.
    await platform.deps.blobs.put(`uploads/${datanet.id}/${signed.uploadId}`, body, { contentType: "text/plain" });
    await platform.stop();
    const tmp = join(dataDir, "blobs", "tmp");
    mkdirSync(tmp, { recursive: true });
    writeFileSync(join(tmp, "half-written-upload"), "partial");

    platform = await startPlatform({ dataDir, port: 0, web: false, logLevel: "SILENT" });
    const again = new DevClient(platform.url, client.apiKey);
    const upload = await again.waitForUpload(datanet.id, signed.uploadId, 20_000);
    expect(upload).toMatchObject({ status: "done", accepted: 2, rejected: 0 });
    expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
  });
});
