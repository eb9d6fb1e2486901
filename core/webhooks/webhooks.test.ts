import { describe, expect, it } from "vitest";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { webhookKey } from "./items.ts";
import { createWebhook, deleteWebhook, enableWebhook, getWebhook, listDeliveries, listWebhooks, MAX_WEBHOOKS_PER_ACCOUNT } from "./webhooks.ts";

const alice = { address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" };
const bob = { address: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" };
const publicDns = { resolve: async () => ["93.184.216.34"] };

describe("webhook endpoints", () => {
  it("returns a whsec_ secret once, never in a read", async () => {
    // Prepare
    const deps = memoryDeps();
    // Act
    const created = await createWebhook(deps, alice, { url: "https://hooks.example.com/in", events: ["datanet.created"] }, publicDns);
    // Assess
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(Buffer.from(created.secret.slice(6), "base64")).toHaveLength(24);
    const listed = await listWebhooks(deps, alice);
    expect(listed.items).toEqual([{ id: created.id, url: created.url, events: created.events, enabled: true, createdAt: created.createdAt }]);
    expect(JSON.stringify(listed)).not.toContain(created.secret);
    expect(JSON.stringify(await getWebhook(deps, alice, created.id))).not.toContain(created.secret);
  });

  it("refuses a private target in the cloud and allows it locally", async () => {
    const cloud = memoryDeps({ allowPrivateWebhookUrls: false });
    await expect(createWebhook(cloud, alice, { url: "https://127.0.0.1/hook", events: ["*"] })).rejects.toMatchObject({ code: "unsafe-webhook-url" });
    await expect(
      createWebhook(cloud, alice, { url: "https://metadata.internal/", events: ["*"] }, { resolve: async () => ["169.254.169.254"] }),
    ).rejects.toMatchObject({ code: "unsafe-webhook-url" });
    const local = memoryDeps({ allowPrivateWebhookUrls: true });
    await expect(createWebhook(local, alice, { url: "http://127.0.0.1:9/hook", events: ["*"] })).resolves.toMatchObject({ enabled: true });
  });

  it("refuses unknown event types and an empty list", async () => {
    const deps = memoryDeps();
    for (const events of [["model.trained"], [], ["*", "*"]]) {
      await expect(createWebhook(deps, alice, { url: "https://hooks.example.com/", events: events as never }, publicDns)).rejects.toMatchObject({ code: "validation-failed" });
    }
  });

  it("lets only the owner see, list deliveries of, and delete an endpoint", async () => {
    const deps = memoryDeps();
    const created = await createWebhook(deps, alice, { url: "https://hooks.example.com/", events: ["*"] }, publicDns);
    await expect(getWebhook(deps, bob, created.id)).rejects.toMatchObject({ code: "not-found" });
    await expect(listDeliveries(deps, bob, created.id)).rejects.toMatchObject({ code: "not-found" });
    await expect(deleteWebhook(deps, bob, created.id)).rejects.toMatchObject({ code: "not-found" });
    expect((await listWebhooks(deps, bob)).items).toEqual([]);
    await deleteWebhook(deps, alice, created.id);
    expect((await listWebhooks(deps, alice)).items).toEqual([]);
    await expect(getWebhook(deps, alice, created.id)).rejects.toMatchObject({ code: "not-found" });
  });

  it("caps endpoints per account", async () => {
    const deps = memoryDeps();
    for (let i = 0; i < MAX_WEBHOOKS_PER_ACCOUNT; i++) {
      await createWebhook(deps, alice, { url: `https://hooks.example.com/${i}`, events: ["*"] }, publicDns);
    }
    await expect(createWebhook(deps, alice, { url: "https://hooks.example.com/x", events: ["*"] }, publicDns)).rejects.toMatchObject({ code: "too-many-webhooks", status: 409 });
  });

  describe("enableWebhook", () => {
    /** An endpoint of alice's as the dispatcher leaves it after disabling it. */
    async function disabledEndpoint(deps: ReturnType<typeof memoryDeps>) {
      const created = await createWebhook(deps, alice, { url: "https://hooks.example.com/", events: ["*"] }, publicDns);
      const item = (await deps.tables.main.get(webhookKey(created.id)))!;
      await deps.tables.main.put({ ...item, enabled: false, consecutiveFailures: 5, disabledAt: "2025-01-01T00:00:00.000Z", disabledReason: "5 deliveries in a row failed" });
      return created.id;
    }

    it("enables the endpoint, clears why it was disabled and resets its failure count", async () => {
      const deps = memoryDeps();
      const id = await disabledEndpoint(deps);
      const enabled = await enableWebhook(deps, alice, id, publicDns);
      expect(enabled).toEqual({ id, url: "https://hooks.example.com/", events: ["*"], enabled: true, createdAt: expect.any(String) });
      expect(await getWebhook(deps, alice, id)).toEqual(enabled);
      expect((await deps.tables.main.get(webhookKey(id)))?.consecutiveFailures).toBe(0);
    });

    it("reads again when a failure is counted between its read and its write", async () => {
      // Prepare: the dispatcher counts one more failure just before enable writes.
      const deps = memoryDeps();
      const id = await disabledEndpoint(deps);
      const put = deps.tables.main.put.bind(deps.tables.main);
      let raced = false;
      deps.tables.main.put = async (item, condition) => {
        if (!raced && item.enabled === true) {
          raced = true;
          const now = (await deps.tables.main.get(webhookKey(id)))!;
          await put({ ...now, consecutiveFailures: 6 });
        }
        return put(item, condition);
      };
      // Act
      await enableWebhook(deps, alice, id, publicDns);
      // Assess: the stale write was refused, the fresh one won.
      expect(raced).toBe(true);
      expect(await deps.tables.main.get(webhookKey(id))).toMatchObject({ enabled: true, consecutiveFailures: 0 });
    });

    it("answers not-found to another account and keeps a URL the policy now refuses disabled", async () => {
      const deps = memoryDeps();
      const id = await disabledEndpoint(deps);
      await expect(enableWebhook(deps, bob, id, publicDns)).rejects.toMatchObject({ code: "not-found" });
      await expect(enableWebhook(deps, alice, id, { resolve: async () => ["10.0.0.7"] })).rejects.toMatchObject({ code: "unsafe-webhook-url" });
      expect(await getWebhook(deps, alice, id)).toMatchObject({ enabled: false, disabledReason: "5 deliveries in a row failed" });
    });
  });
});
