import { z } from "zod";

/** The parts of a Lambda SQS event the handlers rely on. */
export const SqsEventSchema = z.object({
  Records: z.array(z.looseObject({ messageId: z.string().min(1), body: z.string() })),
});

/** The parts of a Lambda DynamoDB stream event the handlers rely on. */
export const DynamoStreamEventSchema = z.object({
  Records: z.array(
    z.looseObject({
      eventName: z.enum(["INSERT", "MODIFY", "REMOVE"]),
      dynamodb: z.looseObject({
        SequenceNumber: z.string().min(1),
        NewImage: z.record(z.string(), z.unknown()).optional(),
      }),
    }),
  ),
});
