import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { AddressSchema } from "../../core/account.ts";
import type { TableStore } from "../../core/ports/tables.ts";
import { getUsage, listUsage, UsageRecord } from "../../core/payments/usage.ts";
import { CallSettlement, callSettlement, FeeSplit } from "../../core/settlement/call-split.ts";
import type { App } from "../env.ts";
import { bearer, CursorQuery, errorResponses, json, LimitQuery, page } from "../openapi.ts";

const UsageView = UsageRecord.extend({
  settlement: CallSettlement,
  split: FeeSplit.nullable().meta({ description: "The fee split by the call's final attribution: platform, owner and each contributor, in base units; null until the call has joined a settlement period, and for calls that charged nothing" }),
}).meta({ id: "UsageView" });

const listRoute = createRoute({
  method: "get",
  path: "/v1/usage",
  tags: ["payments"],
  summary: "List usage records",
  description: "Your calls as a payer (`payer` = you, the default), or the calls of an adapter you own (`adapter`), newest first.",
  security: bearer,
  request: { query: z.object({ adapter: z.string().max(64).optional(), payer: AddressSchema.optional(), cursor: CursorQuery, limit: LimitQuery }) },
  responses: { 200: json(page(UsageRecord, "UsagePage"), "Usage records"), ...errorResponses(400, 401, 403) },
});

const getRoute = createRoute({
  method: "get",
  path: "/v1/usage/{requestId}",
  tags: ["payments"],
  summary: "One usage record",
  description:
    "A call's record, for its payer or the adapter's owner (anyone else: 404): its final attribution (`attribution.status` is `pending` until the asynchronous method has run), where its settlement stands, and the fee split that attribution produced.",
  security: bearer,
  request: { params: z.object({ requestId: z.string().min(1).max(128) }) },
  responses: { 200: json(UsageView, "The record"), ...errorResponses(401, 404) },
});

/** Usage records. */
export function usageRoutes(app: App, usage: TableStore): void {
  app.openapi(listRoute, async (c) => c.json(await listUsage(usage, c.get("caller").address, c.req.valid("query")), 200));
  app.openapi(getRoute, async (c) => {
    const record = await getUsage(usage, c.get("caller").address, c.req.valid("param").requestId);
    return c.json({ ...record, ...(await callSettlement(usage, record)) }, 200);
  });
}
