import { describe, expect, it } from "vitest";
import { eventFromItem, eventWrite } from "../../core/events.ts";
import { dispatchWebhook, routeEvent, type WebhookMessage } from "../../core/webhooks/index.ts";
import { PROBLEM_BASE } from "../problem.ts";
import { signedInClient, testApp } from "../test-support.ts";

const publicDns = async () => ["93.184.216.34"];

describe("webhook routes", () => {
  it("returns the secret once on create, never on list or get", async () => {
    // Prepare
    const { app } = testApp({}, { resolve: publicDns });
    const alice = await signedInClient(app);
    // Act
    const res = await alice.request("/v1/webhooks", { json: { url: "https://hooks.example.com/in", events: ["datanet.created", "upload.completed"] } });
    // Assess
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; secret: string };
    expect(created.secret).toMatch(/^whsec_/);
    const list = await (await alice.request("/v1/webhooks")).text();
    const one = await (await alice.request(`/v1/webhooks/${created.id}`)).text();
    expect(list).toContain(created.id);
    expect(list).not.toContain("secret");
    expect(one).not.toContain("secret");
  });

  it("refuses a loopback or private URL in the cloud with 400 unsafe-webhook-url", async () => {
    const { app } = testApp({ allowPrivateWebhookUrls: false }, { resolve: async () => ["10.0.0.7"] });
    const alice = await signedInClient(app);
    for (const url of ["https://127.0.0.1/hook", "https://intranet.example/hook", "http://hooks.example.com/hook"]) {
      const res = await alice.request("/v1/webhooks", { json: { url, events: ["*"] } });
      expect(res.status, url).toBe(400);
      expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}unsafe-webhook-url`);
    }
  });

  it("answers a forged list cursor with 400 invalid-cursor", async () => {
    const { app } = testApp();
    const alice = await signedInClient(app);
    const res = await alice.request("/v1/webhooks?cursor=bm9wZQ");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}invalid-cursor`);
  });

  it("accepts a loopback http URL locally", async () => {
    const { app } = testApp({ allowPrivateWebhookUrls: true });
    const alice = await signedInClient(app);
    const res = await alice.request("/v1/webhooks", { json: { url: "http://127.0.0.1:3000/hook", events: ["*"] } });
    expect(res.status).toBe(201);
  });

  it("lets only the owner delete and see deliveries; deleting answers 204", async () => {
    const { app } = testApp({}, { resolve: publicDns });
    const alice = await signedInClient(app);
    const bob = await signedInClient(app);
    const { id } = (await (await alice.request("/v1/webhooks", { json: { url: "https://hooks.example.com/", events: ["*"] } })).json()) as { id: string };

    expect((await bob.request(`/v1/webhooks/${id}/deliveries`)).status).toBe(404);
    expect((await bob.request(`/v1/webhooks/${id}`, { method: "DELETE" })).status).toBe(404);
    const deliveries = await alice.request(`/v1/webhooks/${id}/deliveries`);
    expect(deliveries.status).toBe(200);
    expect(await deliveries.json()).toEqual({ items: [] });

    const del = await alice.request(`/v1/webhooks/${id}`, { method: "DELETE" });
    expect(del.status).toBe(204);
    expect((await alice.request(`/v1/webhooks/${id}`)).status).toBe(404);
  });

  it("shows the deliveries an event produced", async () => {
    // Prepare: an endpoint, and an event for its owner as the change stream would hand it to the router.
    const { app, deps } = testApp({}, { resolve: publicDns });
    const alice = await signedInClient(app);
    const { id } = (await (await alice.request("/v1/webhooks", { json: { url: "https://hooks.example.com/", events: ["datanet.created"] } })).json()) as { id: string };
    const op = eventWrite("datanet.created", { datanetId: "dn_1" }, [alice.address], deps.clock.now());
    const event = eventFromItem("put" in op ? op.put : undefined)!;
    // Act
    const [deliveryId] = await routeEvent(deps, event);
    // Assess
    const res = await alice.request(`/v1/webhooks/${id}/deliveries`);
    expect(await res.json()).toEqual({
      items: [expect.objectContaining({ deliveryId, webhookId: id, eventId: event.id, eventType: "datanet.created", status: "pending", attempts: [] })],
    });
  });

  it("shows a delivery given up on as dead-lettered, without internal counters", async () => {
    // Prepare: an endpoint that answers 500, and one event routed to it.
    const { app, deps } = testApp({}, { resolve: publicDns });
    const alice = await signedInClient(app);
    const { id } = (await (await alice.request("/v1/webhooks", { json: { url: "https://hooks.example.com/", events: ["*"] } })).json()) as { id: string };
    const op = eventWrite("datanet.created", { datanetId: "dn_1" }, [alice.address], deps.clock.now());
    await routeEvent(deps, eventFromItem("put" in op ? op.put : undefined)!);
    const message = deps.queue.on("webhooks").at(-1)!.body as WebhookMessage;
    // Act: the only attempt fails.
    await dispatchWebhook(deps, message, { maxAttempts: 1, fetch: async () => new Response("no", { status: 500 }) });
    // Assess
    const body = (await (await alice.request(`/v1/webhooks/${id}/deliveries`)).json()) as { items: Record<string, unknown>[] };
    expect(body.items).toEqual([expect.objectContaining({ status: "dead-lettered", attempts: [expect.objectContaining({ attempt: 1, statusCode: 500, error: "HTTP 500" })] })]);
    expect(Object.keys(body.items[0]!).sort()).toEqual(["attempts", "createdAt", "deliveryId", "eventId", "eventType", "status", "updatedAt", "webhookId"]);
  });
});
