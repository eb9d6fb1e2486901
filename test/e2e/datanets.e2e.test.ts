import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { Wallet } from "ethers";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EthersChain } from "../../adapters/chain/ethers-chain.ts";
import { ApiError, DevClient } from "../../local/dev-client.ts";
import { startPlatform, type Platform } from "../../local/platform.ts";

/**
 * The Datanets slice end to end, through the local platform's real HTTP
 * server: sign-in with two wallets, a Datanet, an upload with good and bad
 * records through the signed URL, ingest by the queue consumer, a version,
 * a proof checked with @openzeppelin/merkle-tree, webhooks, and a restart.
 */

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver that answers 500 to the first request and 200 after. */
async function flakyReceiver(): Promise<{ server: Server; url: string; received: Received[]; statuses: number[] }> {
  const received: Received[] = [];
  const statuses: number[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      const status = statuses.length === 0 ? 500 : 200;
      statuses.push(status);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, statuses };
}

const records = [
  { instruction: "Translate to French: cat", output: "chat" },
  { instruction: "Translate to French: dog", input: "", output: "chien" },
  { instruction: "Translate to French: bird", output: "oiseau" },
];
const jsonl = [
  JSON.stringify(records[0]),
  '{"instruction": "broken", "output": ', // line 2: invalid JSON
  JSON.stringify(records[1]),
  JSON.stringify({ instruction: "x", output: "y", rating: 5 }), // line 4: unknown field
  JSON.stringify({ instruction: "no output" }), // line 5: missing field
  JSON.stringify(records[0]), // line 6: duplicate of line 1
  JSON.stringify(records[2]),
].join("\n");

describe("Datanets end to end on the local platform", () => {
  let dataDir: string;
  let platform: Platform;
  let hook: Awaited<ReturnType<typeof flakyReceiver>>;
  const ownerWallet = Wallet.createRandom();
  const otherWallet = Wallet.createRandom();
  let owner: DevClient;
  let other: DevClient;
  let datanetOnChain: { id: string; root: string } | undefined;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "mf-e2e-"));
    hook = await flakyReceiver();
    // No jitter: the retry after the 500 comes without waiting.
    platform = await startPlatform({ dataDir, port: 0, web: false, logLevel: "SILENT", webhookDispatch: { random: () => 0 } });
    owner = new DevClient(platform.url);
    other = new DevClient(platform.url);
    await owner.signIn(new Wallet(ownerWallet.privateKey));
    await other.signIn(new Wallet(otherWallet.privateKey));
  });

  afterAll(async () => {
    await platform?.stop();
    hook?.server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses requests without or with a wrong API key, as problem+json", async () => {
    // (GET /v1/datanets is a public read now: a visitor sees public Datanets without a key.)
    const none = await fetch(`${platform.url}/v1/jobs`);
    expect(none.status).toBe(401);
    expect(none.headers.get("content-type")).toContain("application/problem+json");
    expect((await none.json()).type).toMatch(/missing-api-key$/);
    const wrong = await fetch(`${platform.url}/v1/datanets`, { headers: { authorization: "Bearer mf_not-a-key" } });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).type).toMatch(/invalid-api-key$/);
  });

  it("ingests an upload, publishes a version and proves a contribution", async () => {
    const webhook = await owner.request<{ id: string; secret: string }>("POST", "/v1/webhooks", {
      url: hook.url,
      events: ["upload.completed", "datanet.version.published", "datanet.version.onchain"],
    });
    expect(webhook.secret).toMatch(/^whsec_/);

    const datanet = await owner.request<{ id: string }>("POST", "/v1/datanets", {
      name: "French words",
      description: "English to French vocabulary",
      license: "CC-BY-4.0",
      schema: "instruction",
      visibility: "public",
      tags: ["french", "vocabulary"],
    });

    // The other wallet contributes to the owner's public Datanet.
    const uploadId = await other.upload(datanet.id, "words.jsonl", "application/x-ndjson", Buffer.from(jsonl));
    const upload = await other.waitForUpload(datanet.id, uploadId);
    expect(upload).toMatchObject({ status: "done", accepted: 3, rejected: 4 });

    const rejected = await owner.request<{ items: { line: number; reason: string; contributor: string }[] }>(
      "GET",
      `/v1/datanets/${datanet.id}/contributions?status=rejected`,
    );
    const reasons = Object.fromEntries(rejected.items.map((c) => [c.line, c.reason]));
    expect(reasons[2]).toMatch(/invalid JSON/i);
    expect(reasons[4]).toMatch(/rating/);
    expect(reasons[5]).toMatch(/output/);
    expect(reasons[6]).toMatch(/duplicate/i);

    const accepted = await owner.request<{ items: { id: string; contributor: string; contentHash: string; tokens: number; license: string }[] }>(
      "GET",
      `/v1/datanets/${datanet.id}/contributions?status=accepted`,
    );
    expect(accepted.items).toHaveLength(3);
    for (const c of accepted.items) {
      expect(c.contributor).toBe(otherWallet.address);
      expect(c.license).toBe("CC-BY-4.0");
      expect(c.contentHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(c.tokens).toBeGreaterThan(0);
    }

    // Only the owner publishes.
    await expect(other.request("POST", `/v1/datanets/${datanet.id}/versions`)).rejects.toMatchObject({ status: 403 });
    const version = await owner.request<{ version: number; root: string; records: number; tokens: number }>(
      "POST",
      `/v1/datanets/${datanet.id}/versions`,
    );
    expect(version).toMatchObject({ version: 1, records: 3 });
    expect(version.tokens).toBe(accepted.items.reduce((s, c) => s + c.tokens, 0));
    // Chain sync publishes the version on the local chain; the API shows the transaction.
    await platform.idle();
    const shown = await owner.request<{ root: string; chain: { status: string; txHash: string; blockNumber: number } }>(
      "GET",
      `/v1/datanets/${datanet.id}/versions/1`,
    );
    expect(shown.root).toBe(version.root);
    expect(shown.chain.status).toBe("confirmed");
    expect(shown.chain.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(shown.chain.blockNumber).toBeGreaterThan(0);
    const onChain = await new EthersChain(platform.chain.signer, platform.chain.addresses).findDatanetVersion(datanet.id, 1);
    expect(onChain).toMatchObject({ root: version.root, records: 3, tokens: version.tokens });
    datanetOnChain = { id: datanet.id, root: version.root };

    const target = accepted.items[1]!;
    const proof = await other.request<{ root: string; leafEncoding: string[]; leaf: [string, string, string]; proof: string[] }>(
      "GET",
      `/v1/datanets/${datanet.id}/versions/1/proof?contribution=${target.id}`,
    );
    expect(proof.root).toBe(version.root);
    expect(proof.leafEncoding).toEqual(["address", "bytes32", "uint256"]);
    expect(proof.leaf).toEqual([target.contributor, target.contentHash, String(target.tokens)]);
    expect(StandardMerkleTree.verify(proof.root, proof.leafEncoding, proof.leaf, proof.proof)).toBe(true);
    // A tampered leaf does not verify against the same proof.
    expect(StandardMerkleTree.verify(proof.root, proof.leafEncoding, [proof.leaf[0], proof.leaf[1], "1"], proof.proof)).toBe(false);

    // Webhooks: the 500 is retried, then both events arrive, signed per Standard Webhooks.
    await platform.idle();
    const deadline = Date.now() + 20_000;
    while (!hook.received.some((r) => r.body.includes("datanet.version.onchain")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      await platform.idle();
    }
    expect(hook.statuses[0]).toBe(500);
    const verifier = new Webhook(webhook.secret);
    const types = hook.received.map((r) => {
      const payload = verifier.verify(r.body, r.headers as Record<string, string>) as { type: string; data: Record<string, unknown> };
      return payload.type;
    });
    expect(types.filter((t) => t === "upload.completed").length).toBeGreaterThanOrEqual(2); // the 500, then the retry
    expect(types).toContain("datanet.version.published");
    expect(types).toContain("datanet.version.onchain");
    const deliveries = await owner.request<{ items: { status: string }[] }>("GET", `/v1/webhooks/${webhook.id}/deliveries`);
    expect(deliveries.items.map((d) => d.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
  });

  it("hides another account's private Datanet", async () => {
    const secret = await owner.request<{ id: string }>("POST", "/v1/datanets", {
      name: "Private notes",
      license: "CC-BY-4.0",
      schema: "text",
      visibility: "private",
    });
    const err = await other.request("GET", `/v1/datanets/${secret.id}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);
    const search = await other.request<{ items: { id: string }[] }>("GET", "/v1/datanets?q=private");
    expect(search.items.map((d) => d.id)).not.toContain(secret.id);
    await expect(
      other.request("POST", `/v1/datanets/${secret.id}/uploads`, { filename: "a.txt", contentType: "text/plain", size: 1, sha256: "0".repeat(64) }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it("refuses an oversized upload and a body whose sha256 differs", async () => {
    const datanet = await owner.request<{ id: string }>("POST", "/v1/datanets", { name: "Limits", license: "MIT", schema: "text" });
    const huge = owner.request("POST", `/v1/datanets/${datanet.id}/uploads`, {
      filename: "huge.txt",
      contentType: "text/plain",
      size: platform.deps.config.maxUploadBytes + 1,
      sha256: "0".repeat(64),
    });
    await expect(huge).rejects.toMatchObject({ status: 413 });

    const declared = Buffer.from("hello\n");
    const signed = await owner.request<{ url: string; headers: Record<string, string> }>("POST", `/v1/datanets/${datanet.id}/uploads`, {
      filename: "a.txt",
      contentType: "text/plain",
      size: declared.length,
      sha256: createHash("sha256").update(declared).digest("hex"),
    });
    const put = await fetch(signed.url, { method: "PUT", headers: signed.headers, body: "HELLO\n" });
    expect(put.status).toBe(400);
    expect((await put.json()).type).toMatch(/checksum-mismatch$/);
  });

  it("keeps its state across a restart", async () => {
    const before = await owner.request<{ items: { id: string }[] }>("GET", "/v1/datanets");
    await platform.stop();
    platform = await startPlatform({ dataDir, port: 0, web: false, logLevel: "SILENT" });
    const client = new DevClient(platform.url, owner.apiKey); // the API key survives too
    const after = await client.request<{ items: { id: string }[] }>("GET", "/v1/datanets");
    expect(after.items.map((d) => d.id)).toEqual(before.items.map((d) => d.id));
    // The local chain starts empty each time; what was published is written onto it again, same root.
    const { id, root } = datanetOnChain!;
    const onChain = await new EthersChain(platform.chain.signer, platform.chain.addresses).findDatanetVersion(id, 1);
    expect(onChain?.root).toBe(root);
    const shown = await client.request<{ chain: { status: string } }>("GET", `/v1/datanets/${id}/versions/1`);
    expect(shown.chain.status).toBe("confirmed");
  });
});
