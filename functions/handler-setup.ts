import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import type { Tracer } from "@aws-lambda-powertools/tracer";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import middy from "@middy/core";
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { z } from "zod";
import { DynamoStreamEventSchema, SqsEventSchema } from "./handlers/events.ts";
import { type HandlerOptions, logger as sharedLogger, tracer as sharedTracer } from "./logger.ts";
import { parseEvent } from "./middleware/parse-event.ts";

/**
 * The set-up every handler shares, so a handler file holds only what it does
 * with one event or record: the invocation's context on every log line, an
 * X-Ray segment per invocation (Powertools Tracer; a no-op outside Lambda),
 * the event envelope checked against a schema before anything runs, and for
 * batches, per-record failures reported so only those are retried.
 */

/** The logger and tracer a handler factory was given, or the function's shared ones. */
export function handlerTools(options: HandlerOptions = {}): { logger: Logger; tracer: Tracer } {
  return { logger: options.logger ?? sharedLogger, tracer: options.tracer ?? sharedTracer };
}

/** An invocation handler: logger context, tracing, and `schema` checked on the envelope (`what` names it in the error). */
export function lambdaHandler<TEvent, TResult>(
  what: string,
  schema: z.ZodType,
  options: HandlerOptions,
  handle: (event: TEvent, context: Context) => Promise<TResult>,
) {
  const { logger, tracer } = handlerTools(options);
  return middy<TEvent, TResult>()
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(logger))
    .use(parseEvent(what, schema))
    .handler(handle);
}

export interface SqsBatchOptions extends HandlerOptions {
  /** One record after another, in batch order (default: all at once). */
  inOrder?: boolean;
}

/** The parts of an API Gateway HTTP API event (payload format 2.0) the hono adapter relies on. */
export const HttpApiEventSchema = z.looseObject({
  version: z.literal("2.0"),
  rawPath: z.string(),
  requestContext: z.looseObject({ http: z.looseObject({ method: z.string().min(1), sourceIp: z.string() }) }),
});

/** An SQS consumer: `processRecord` per message; a message whose call throws is reported as a batch item failure. */
export function sqsBatchHandler(processRecord: (record: SQSRecord) => Promise<void>, options: SqsBatchOptions = {}) {
  return lambdaHandler<SQSEvent, SQSBatchResponse>("SQS", SqsEventSchema, options, (event, context) =>
    processPartialResponse(event, processRecord, new BatchProcessor(EventType.SQS), { context, processInParallel: !options.inOrder }),
  );
}

/**
 * A DynamoDB stream consumer: `processRecord` per record, always in stream order; the first
 * failure's SequenceNumber is reported, so the stream resumes from there.
 */
export function streamBatchHandler(processRecord: (record: DynamoDBRecord) => Promise<void>, options: HandlerOptions = {}) {
  return lambdaHandler<DynamoDBStreamEvent, DynamoDBBatchResponse>("DynamoDB stream", DynamoStreamEventSchema, options, (event, context) =>
    processPartialResponse(event, processRecord, new BatchProcessor(EventType.DynamoDBStreams), { context, processInParallel: false }),
  );
}
