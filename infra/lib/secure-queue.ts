import { Duration } from "aws-cdk-lib";
import { type DeadLetterQueue, Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";

/** A queue with SSE-SQS, TLS-only access and two weeks' retention; S3 notifications can write to SSE-SQS queues. */
export function secureQueue(
  scope: Construct,
  id: string,
  props: { visibilityTimeout?: Duration; deadLetterQueue?: DeadLetterQueue } = {},
): Queue {
  return new Queue(scope, id, {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    ...props,
  });
}
