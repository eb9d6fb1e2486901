import { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { Hono } from "hono";
import type { LambdaEvent } from "hono/aws-lambda";
import { describe, expect, it, vi } from "vitest";
import type { CoreDeps } from "../../core/deps.ts";
import { createApiHandler } from "./api.ts";
import { testContext } from "./test-events.ts";

// The app has its own tests; this checks the Lambda wiring around it.
const createApp = vi.hoisted(() =>
  vi.fn((deps: { config: { apiOrigin: string } }, options: { clientAddress: (c: unknown) => string | undefined }) =>
    new Hono().get("/v1/echo/:id", (c) =>
      c.json({ id: c.req.param("id"), q: c.req.query("q"), origin: deps.config.apiOrigin, client: options.clientAddress(c) }),
    ),
  ),
);
vi.mock("../../api/app.ts", () => ({ createApp }));

function httpApiEvent(method: string, rawPath: string, rawQueryString = ""): LambdaEvent {
  const event: APIGatewayProxyEventV2 = {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString,
    headers: { host: "api.example.com", accept: "application/json" },
    requestContext: {
      accountId: "123456789012",
      apiId: "api",
      domainName: "api.example.com",
      domainPrefix: "api",
      http: { method, path: rawPath, protocol: "HTTP/1.1", sourceIp: "203.0.113.9", userAgent: "test" },
      requestId: "r1",
      routeKey: "$default",
      stage: "$default",
      time: "01/Jan/2024:00:00:00 +0000",
      timeEpoch: 1704067200000,
    },
    isBase64Encoded: false,
  };
  // hono declares its own copy of the Lambda event types; the shapes agree.
  return event as unknown as LambdaEvent;
}

describe("api handler", () => {
  const deps = { config: { apiOrigin: "https://app.example.com" } } as unknown as CoreDeps;
  const handler = createApiHandler(deps, { logger: new Logger({ logLevel: "SILENT" }) });

  it("builds the app once from the deps and answers HTTP API v2 events", async () => {
    const response = await handler(httpApiEvent("GET", "/v1/echo/42", "q=a%20b"), testContext());
    expect(response.statusCode).toBe(200);
    // Rate limits count unsigned requests by API Gateway's sourceIp, which a client cannot forge with a header.
    expect(JSON.parse(response.body)).toEqual({ id: "42", q: "a b", origin: "https://app.example.com", client: "203.0.113.9" });
    await handler(httpApiEvent("GET", "/v1/echo/43"), testContext());
    expect(createApp).toHaveBeenCalledTimes(1);
    expect(createApp).toHaveBeenCalledWith(deps, { clientAddress: expect.any(Function) });
  });

  it("passes the app's 404 through", async () => {
    const response = await handler(httpApiEvent("GET", "/nowhere"), testContext());
    expect(response.statusCode).toBe(404);
  });
});
