import { Logger } from "@aws-lambda-powertools/logger";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { CoreDeps } from "../../core/deps.ts";
import { eventWrite } from "../../core/events.ts";
import type { Item } from "../../core/ports/tables.ts";
import { createRouteEventsHandler } from "./route-events.ts";
import { streamEvent, streamRecord, testContext } from "./test-events.ts";

const routeEvent = vi.hoisted(() => vi.fn());
vi.mock(import("../../core/webhooks/index.ts"), async (original) => ({ ...(await original()), routeEvent }));

const deps = { marker: "deps" } as unknown as CoreDeps;
const handler = createRouteEventsHandler(deps, { logger: new Logger({ logLevel: "SILENT" }) });
const alice = "0x00000000000000000000000000000000000000a1";

function eventItem(type: "datanet.created" | "upload.completed", data: Record<string, unknown>): Item {
  const write = eventWrite(type, data, [alice], Date.parse("2024-05-01T00:00:00Z"));
  if (!("put" in write)) throw new Error("eventWrite should put");
  return write.put;
}

beforeEach(() => {
  routeEvent.mockReset();
  routeEvent.mockResolvedValue(["msg_1"]);
});

describe("route-events handler", () => {
  it("routes inserted event items and skips every other change", async () => {
    const created = eventItem("datanet.created", { datanetId: "dn_1" });
    const event = streamEvent(
      streamRecord("100", "INSERT", created),
      streamRecord("101", "INSERT", { pk: "DATANET#dn_1", sk: "META", name: "not an event" }),
      streamRecord("102", "MODIFY", eventItem("upload.completed", {})),
      streamRecord("103", "REMOVE"),
    );
    const result = await handler(event, testContext());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(routeEvent).toHaveBeenCalledTimes(1);
    expect(routeEvent).toHaveBeenCalledWith(deps, {
      id: created.id,
      type: "datanet.created",
      occurredAt: "2024-05-01T00:00:00.000Z",
      audience: [alice],
      data: { datanetId: "dn_1" },
    });
  });

  it("reports failures by SequenceNumber, in stream order", async () => {
    routeEvent.mockImplementation(async (_deps, e: { data: { n: number } }) => {
      if (e.data.n === 2) throw new Error("queue down");
      return [];
    });
    const event = streamEvent(
      streamRecord("200", "INSERT", eventItem("upload.completed", { n: 1 })),
      streamRecord("201", "INSERT", eventItem("upload.completed", { n: 2 })),
      streamRecord("202", "INSERT", { ...eventItem("upload.completed", { n: 3 }), type: "no.such.type" }),
    );
    const result = await handler(event, testContext());
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: "201" }, { itemIdentifier: "202" }] });
    expect(routeEvent.mock.calls.map((c) => c[1].data.n)).toEqual([1, 2]);
  });

  it("refuses an event that is not a DynamoDB stream batch", async () => {
    await expect(handler({ Records: [{ eventName: "INSERT" }] } as never, testContext())).rejects.toThrow(/Invalid DynamoDB stream event/);
  });
});
