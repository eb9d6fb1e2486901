import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { memoryDeps } from "../auth/test-support.ts";
import { eventFromItem, eventWrite } from "../events.ts";
import { dispatchWebhook } from "./dispatch.ts";
import type { WebhookMessage } from "./model.ts";
import { checkedLookup } from "./pinned-agent.ts";
import { routeEvent } from "./route-event.ts";
import { createWebhook } from "./webhooks.ts";

// These tests need a "public" address that a test can listen on: 127.0.0.1 plays
// one here, 127.0.0.2 plays a private one; everything else keeps the real policy.
vi.mock(import("./url-policy.ts"), async (original) => {
  const real = await original();
  const isPrivateAddress = (a: string) => (a === "127.0.0.1" ? false : a === "127.0.0.2" ? true : real.isPrivateAddress(a));
  return { ...real, isPrivateAddress };
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

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
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

describe("dispatchWebhook in the cloud (DNS rebinding)", () => {
  async function cloudDelivery(port: number) {
    const alice = { address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" };
    const deps = memoryDeps({ allowPrivateWebhookUrls: true });
    await createWebhook(deps, alice, { url: `https://hooks.test:${port}/hook`, events: ["*"] });
    const op = eventWrite("datanet.created", { datanetId: "dn_1" }, [alice.address], deps.clock.now());
    await routeEvent(deps, eventFromItem("put" in op ? op.put : undefined)!);
    deps.config.allowPrivateWebhookUrls = false;
    return { deps, message: deps.queue.on("webhooks")[0]!.body as WebhookMessage };
  }

  it("connects to the address it checked, not to what DNS answers next", async () => {
    // Prepare: the name answers a public address first and a private one after.
    const { port, hits } = await listeners();
    const { deps, message } = await cloudDelivery(port);
    const dns = rebinding(["127.0.0.1"], ["127.0.0.2"]);
    // Act
    const outcome = await dispatchWebhook(deps, message, { resolve: dns.resolve, random: () => 0, timeoutMs: 5_000 });
    // Assess: one resolution, one connection, to the checked address (the TLS handshake then fails).
    expect(outcome).toMatchObject({ result: "retrying" });
    expect(dns.calls).toEqual(["hooks.test"]);
    expect(hits).toEqual({ "127.0.0.1": 1, "127.0.0.2": 0 });
  });

  it("refuses before connecting when the name resolves to a private address", async () => {
    const { port, hits } = await listeners();
    const { deps, message } = await cloudDelivery(port);
    const dns = rebinding(["127.0.0.2"]);
    const outcome = await dispatchWebhook(deps, message, { resolve: dns.resolve, random: () => 0, timeoutMs: 5_000 });
    expect(outcome).toMatchObject({ result: "retrying", error: expect.stringContaining("refused") });
    expect(hits).toEqual({ "127.0.0.1": 0, "127.0.0.2": 0 });
  });
});
