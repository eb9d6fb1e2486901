import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import { type APIGatewayProxyResult, handle, type LambdaEvent } from "hono/aws-lambda";
import { createApp } from "../../api/app.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { TrainingCompute } from "../../core/ports/training-compute.ts";
import { type HandlerOptions, logger as sharedLogger } from "../logger.ts";

/** HTTP API (payload format 2.0) → the same hono app the local runtime serves. */
export function createApiHandler(deps: CoreDeps & { compute?: TrainingCompute }, options: HandlerOptions = {}) {
  const app = handle(createApp(deps));
  return middy<LambdaEvent, APIGatewayProxyResult>()
    .use(injectLambdaContext(options.logger ?? sharedLogger))
    .handler((event, context) => app(event, context));
}
