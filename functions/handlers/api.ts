import { type APIGatewayProxyResult, getConnInfo, handle, type LambdaEvent } from "hono/aws-lambda";
import { type AppDeps, createApp } from "../../api/app.ts";
import { HttpApiEventSchema, lambdaHandler } from "../handler-setup.ts";
import type { HandlerOptions } from "../logger.ts";

/** HTTP API (payload format 2.0) → the same hono app the local runtime serves. */
export function createApiHandler(deps: AppDeps, options: HandlerOptions = {}) {
  // API Gateway's sourceIp is the peer it saw; a client cannot forge it with a header.
  const app = handle(createApp(deps, { clientAddress: (c) => getConnInfo(c).remote.address }));
  return lambdaHandler<LambdaEvent, APIGatewayProxyResult>("HTTP API", HttpApiEventSchema, options, (event, context) => app(event, context));
}
