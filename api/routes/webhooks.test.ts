import { describe, expect, it } from "vitest";
import { eventFromItem, eventWrite } from "../../core/events.ts";
import { dispatchWebhook, routeEvent, type DispatchOptions, type WebhookMessage } from "../../core/webhooks/index.ts";
import { FakeWebhookSender } from "../../test/fakes/fake-webhook-sender.ts";
import { PROBLEM_BASE } from "../problem.ts";
import { signedInClient, testApp } from "../test-support.ts";

const publicDns = async () => ["93.184.216.34"];

/** Routes one `datanet.created` event of `owner` and runs its delivery until it is given up on or delivered. */
async function deliverOneEvent(deps: ReturnType<typeof testApp>["deps"], owner: string, sender: FakeWebhookSender, options: DispatchOptions = {}) {
  const op = eventWrite("datanet.created", { datanetId: "dn_1" }, [owner], deps.clock.now());
  const routed = await routeEvent(deps, eventFromItem("put" in op ? op.put : undefined)!);
  if (routed.length === 0) return undefined;
  const message = deps.queue.on("webhooks").at(-1)!.body as WebhookMessage;
  return dispatchWebhook({ ...deps, webhookSender: sender }, message, { maxAttempts: 1, ...options });
}

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
    // Act: the only attempt fails.
    await deliverOneEvent(deps, alice.address, new FakeWebhookSender(500));
    // Assess
    const body = (await (await alice.request(`/v1/webhooks/${id}/deliveries`)).json()) as { items: Record<string, unknown>[] };
    expect(body.items).toEqual([expect.objectContaining({ status: "dead-lettered", attempts: [expect.objectContaining({ attempt: 1, statusCode: 500, error: "HTTP 500" })] })]);
    expect(Object.keys(body.items[0]!).sort()).toEqual(["attempts", "createdAt", "deliveryId", "eventId", "eventType", "status", "updatedAt", "webhookId"]);
  });

  it("enables an endpoint the dispatcher disabled: failure count reset, events delivered again", async () => {
    // Prepare: an endpoint that failed twice in a row and was disabled at the threshold.
    const { app, deps } = testApp({}, { resolve: publicDns });
    const alice = await signedInClient(app);
    const bob = await signedInClient(app);
    const { id } = (await (await alice.request("/v1/webhooks", { json: { url: "https://hooks.example.com/", events: ["*"] } })).json()) as { id: string };
    const failing = new FakeWebhookSender(500);
    await deliverOneEvent(deps, alice.address, failing, { disableAfterFailures: 2 });
    expect(await deliverOneEvent(deps, alice.address, failing, { disableAfterFailures: 2 })).toMatchObject({ endpointDisabled: true });
    expect(await (await alice.request(`/v1/webhooks/${id}`)).json()).toMatchObject({ enabled: false, disabledReason: expect.stringContaining("2 deliveries") });
    expect(await deliverOneEvent(deps, alice.address, failing)).toBeUndefined(); // a disabled endpoint is routed nothing
    // Act: someone else tries, then the owner enables it.
    const denied = await bob.request(`/v1/webhooks/${id}/enable`, { method: "POST" });
    const res = await alice.request(`/v1/webhooks/${id}/enable`, { method: "POST" });
    // Assess: enabled, without the disable fields, and the count starts from 0 (one more failure does not disable it).
    expect(denied.status).toBe(404);
    expect(res.status).toBe(200);
    const enabled = (await res.json()) as Record<string, unknown>;
    expect(enabled).toMatchObject({ id, enabled: true });
    expect(enabled).not.toHaveProperty("disabledAt");
    expect(enabled).not.toHaveProperty("disabledReason");
    expect((await deps.tables.main.get({ pk: `WEBHOOK#${id}`, sk: "WEBHOOK" }))?.consecutiveFailures).toBe(0);
    expect(await deliverOneEvent(deps, alice.address, failing, { disableAfterFailures: 2 })).toMatchObject({ result: "dead-lettered", endpointDisabled: false });
    expect(await deliverOneEvent(deps, alice.address, new FakeWebhookSender(200))).toEqual({ result: "delivered", statusCode: 200 });
  });

  it("refuses to enable an endpoint whose URL the SSRF policy now refuses", async () => {
    // Prepare: registered while its name resolved to a public address; now it answers a private one.
    let answer = ["93.184.216.34"];
    const { app } = testApp({}, { resolve: async () => answer });
    const alice = await signedInClient(app);
    const { id } = (await (await alice.request("/v1/webhooks", { json: { url: "https://hooks.example.com/", events: ["*"] } })).json()) as { id: string };
    answer = ["10.0.0.7"];
    // Act
    const res = await alice.request(`/v1/webhooks/${id}/enable`, { method: "POST" });
    // Assess
    expect(res.status).toBe(400);
    expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}unsafe-webhook-url`);
    expect((await alice.request(`/v1/webhooks/${id}/enable`, { method: "POST", headers: { authorization: "Bearer nope" } })).status).toBe(401);
  });
});
