import { describe, expect, it } from "vitest";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { createWebhook, deleteWebhook, getWebhook, listDeliveries, listWebhooks, MAX_WEBHOOKS_PER_ACCOUNT } from "./webhooks.ts";

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
});
