import { randomUUID } from "node:crypto";
import type { Context } from "aws-lambda";

/**
 * A Lambda `Context` for handlers the local runtime invokes itself (queue
 * poller, stream dispatcher), so the same handler code runs unchanged on both.
 */
export function localLambdaContext(functionName: string, timeoutMs = 15 * 60_000): Context {
  const deadline = Date.now() + timeoutMs;
  const unsupported = (what: string) => () => {
    throw new Error(`context.${what}() is not supported; return or throw from the handler`);
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: "1024",
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported("done"),
    fail: unsupported("fail"),
    succeed: unsupported("succeed"),
  };
}
