import { Logger } from "@aws-lambda-powertools/logger";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { WebhookDispatchDeps } from "../../core/webhooks/index.ts";
import { createWebhookDispatchHandler } from "./webhook-dispatch.ts";
import { sqsEvent, sqsRecord, testContext } from "./test-events.ts";

const dispatchWebhook = vi.hoisted(() => vi.fn());
vi.mock(import("../../core/webhooks/index.ts"), async (original) => ({ ...(await original()), dispatchWebhook }));

const deps = { marker: "deps" } as unknown as WebhookDispatchDeps;
const handler = createWebhookDispatchHandler(deps, { logger: new Logger({ logLevel: "SILENT" }), dispatch: { maxAttempts: 3, timeoutMs: 2_000 } });

const message = (deliveryId: string) => ({
  deliveryId,
  webhookId: "wh_1",
  attempt: 1,
  event: { id: "evt_1", type: "datanet.created", occurredAt: "2024-05-01T00:00:00.000Z", audience: ["0xabc"], data: {} },
});

beforeEach(() => {
  dispatchWebhook.mockReset();
  dispatchWebhook.mockResolvedValue({ result: "delivered", statusCode: 200 });
});

describe("webhook-dispatch handler", () => {
  it("dispatches each message with the configured options", async () => {
    const result = await handler(sqsEvent(sqsRecord("m1", message("msg_a")), sqsRecord("m2", message("msg_b"))), testContext());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(dispatchWebhook).toHaveBeenCalledWith(deps, message("msg_a"), { maxAttempts: 3, timeoutMs: 2_000 });
    expect(dispatchWebhook).toHaveBeenCalledWith(deps, message("msg_b"), { maxAttempts: 3, timeoutMs: 2_000 });
  });

  it("fails only the records that threw or were malformed", async () => {
    dispatchWebhook.mockImplementation(async (_deps, m: { deliveryId: string }) => {
      if (m.deliveryId === "msg_bad") throw new Error("table unavailable");
      return { result: "retrying", delaySeconds: 30, error: "HTTP 500" };
    });
    const event = sqsEvent(
      sqsRecord("ok", message("msg_ok")),
      sqsRecord("throws", message("msg_bad")),
      sqsRecord("malformed", { ...message("msg_x"), attempt: 0 }),
    );
    const result = await handler(event, testContext());
    expect(result.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(["malformed", "throws"]);
  });
});
