import { createServer as createHttpServer, type IncomingHttpHeaders } from "node:http";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { WebhookRequest } from "../../core/ports/webhook-sender.ts";
import { checkedLookup } from "./pinned-agent.ts";
import { UndiciWebhookSender } from "./undici-webhook-sender.ts";

// These tests need a "public" address that a test can listen on: 127.0.0.1 plays
// one here, 127.0.0.2 plays a private one; everything else keeps the real policy.
vi.mock(import("../../core/webhooks/url-policy.ts"), async (original) => {
  const real = await original();
  const isPrivateAddress = (a: string) => (a === "127.0.0.1" ? false : a === "127.0.0.2" ? true : real.isPrivateAddress(a));
  return { ...real, isPrivateAddress };
});

const servers: Server[] = [];
const senders: UndiciWebhookSender[] = [];
afterEach(async () => {
  await Promise.all(senders.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

function sender(...args: ConstructorParameters<typeof UndiciWebhookSender>) {
  const made = new UndiciWebhookSender(...args);
  senders.push(made);
  return made;
}

const request = (url: string, more: Partial<WebhookRequest> = {}): WebhookRequest => ({
  url,
  headers: { "content-type": "application/json", "webhook-id": "msg_1" },
  body: '{"type":"datanet.created"}',
  timeoutMs: 5_000,
  allowPrivateAddresses: true,
  ...more,
});

/** An HTTP receiver on 127.0.0.1 that answers `status` (and `location`), recording what it got. */
async function receiver(status: number, options: { location?: string; hang?: boolean } = {}) {
  const received: { method: string; headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ method: req.method!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (options.hang) return; // never answers
      res.writeHead(status, options.location ? { location: options.location } : {});
      res.end("a body nobody reads");
    });
  });
  servers.push(server as unknown as Server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

describe("UndiciWebhookSender", () => {
  it("POSTs the body and headers as given and reports the status", async () => {
    const { url, received } = await receiver(204);
    expect(await sender().send(request(url))).toEqual({ statusCode: 204 });
    expect(received).toEqual([{ method: "POST", headers: expect.objectContaining({ "content-type": "application/json", "webhook-id": "msg_1" }), body: '{"type":"datanet.created"}' }]);
  });

  it("reports a redirect as its status without following it", async () => {
    const target = await receiver(200);
    const { url } = await receiver(307, { location: target.url });
    expect(await sender().send(request(url))).toEqual({ statusCode: 307 });
    expect(target.received).toEqual([]);
  });

  it("reports a refused connection and a timeout as errors, without throwing", async () => {
    const closed = await receiver(200);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    expect(await sender().send(request(closed.url))).toEqual({ error: expect.stringContaining("ECONNREFUSED") });
    const { url } = await receiver(200, { hang: true });
    expect(await sender().send(request(url, { timeoutMs: 50 }))).toEqual({ error: "timed out" });
  });
});

/** A resolver that answers `answers[i]` to its i-th call (the last one repeats), counting calls. */
function rebinding(...answers: string[][]) {
  const calls: string[] = [];
  const resolve = async (host: string) => {
    calls.push(host);
    return answers[Math.min(calls.length - 1, answers.length - 1)]!;
  };
  return { resolve, calls };
}

function lookupOnce(lookup: ReturnType<typeof checkedLookup>, options: object) {
  return new Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family?: number }>((resolve) =>
    lookup("hooks.test", options, (error, address, family) => resolve({ error, address, family })),
  );
}

describe("checkedLookup", () => {
  it("resolves once and yields the checked public addresses, in both callback shapes", async () => {
    const dns = rebinding(["127.0.0.1"], ["127.0.0.2"]);
    const lookup = checkedLookup(dns.resolve);
    expect(await lookupOnce(lookup, { all: true })).toEqual({ error: null, address: [{ address: "127.0.0.1", family: 4 }], family: undefined });
    expect(dns.calls).toEqual(["hooks.test"]);
    // A second connection resolves again, and is refused when the answer turned private.
    expect((await lookupOnce(lookup, {})).error).toMatchObject({ code: "unsafe-webhook-url", message: expect.stringContaining("private") });
  });

  it("gives the single-address shape and honours the family asked for", async () => {
    const lookup = checkedLookup(rebinding(["127.0.0.1", "2606:4700:4700::1111"]).resolve);
    expect(await lookupOnce(lookup, {})).toMatchObject({ error: null, address: "127.0.0.1", family: 4 });
    expect(await lookupOnce(lookup, { family: 6 })).toMatchObject({ error: null, address: "2606:4700:4700::1111", family: 6 });
    const v4only = checkedLookup(rebinding(["127.0.0.1"]).resolve);
    expect((await lookupOnce(v4only, { family: 6 })).error).toMatchObject({ code: "ENOTFOUND" });
  });
});

/** TCP listeners on 127.0.0.1 and 127.0.0.2 on one port, counting the connections each gets. */
async function listeners() {
  const hits = { "127.0.0.1": 0, "127.0.0.2": 0 };
  const listen = (host: keyof typeof hits, port: number) =>
    new Promise<number>((resolve, reject) => {
      const server = createServer((socket: Socket) => {
        hits[host]++;
        socket.destroy(); // no TLS here: seeing the connection is the point
      });
      servers.push(server);
      server.once("error", reject);
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
    });
  const port = await listen("127.0.0.1", 0);
  await listen("127.0.0.2", port);
  return { port, hits };
}

describe("UndiciWebhookSender refusing private addresses (DNS rebinding)", () => {
  it("connects to the address it checked, not to what DNS answers next", async () => {
    // Prepare: the name answers a public address first and a private one after.
    const { port, hits } = await listeners();
    const dns = rebinding(["127.0.0.1"], ["127.0.0.2"]);
    // Act
    const response = await sender({ resolve: dns.resolve }).send(request(`https://hooks.test:${port}/hook`, { allowPrivateAddresses: false }));
    // Assess: one resolution, one connection, to the checked address (the TLS handshake then fails).
    expect(response).toMatchObject({ error: expect.any(String) });
    expect(dns.calls).toEqual(["hooks.test"]);
    expect(hits).toEqual({ "127.0.0.1": 1, "127.0.0.2": 0 });
  });

  it("refuses before connecting when the name resolves to a private address", async () => {
    const { port, hits } = await listeners();
    const dns = rebinding(["127.0.0.2"]);
    const response = await sender({ resolve: dns.resolve }).send(request(`https://hooks.test:${port}/hook`, { allowPrivateAddresses: false }));
    expect(response).toEqual({ error: expect.stringContaining("refused") });
    expect(hits).toEqual({ "127.0.0.1": 0, "127.0.0.2": 0 });
  });

  it("leaves name resolution to the system when private addresses are allowed (local)", async () => {
    const { url, received } = await receiver(200);
    const dns = rebinding(["127.0.0.2"]);
    expect(await sender({ resolve: dns.resolve }).send(request(url.replace("127.0.0.1", "localhost")))).toEqual({ statusCode: 200 });
    expect(dns.calls).toEqual([]);
    expect(received).toHaveLength(1);
  });
});
