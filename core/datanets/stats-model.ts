import { z } from "zod";
import { AddressSchema } from "../account.ts";
import { UploadStatus } from "./model.ts";

/** What GET /v1/datanets/{id}/stats returns (core/datanets/stats.ts computes it). */
export const DatanetStats = z
  .object({
    datanetId: z.string(),
    /** Accepted records. */
    accepted: z.number().int(),
    rejected: z.number().int(),
    /** Tokens of the accepted records (pre-token counts, core/ingest/token-count.ts). */
    tokens: z.number().int(),
    /** Distinct contributors of accepted records. */
    contributors: z.number().int(),
    /** Accepted records no version holds yet: 0 means a new version would freeze the same records again. */
    unpublished: z.number().int(),
    /** Accepted records by length in tokens; `maxTokens` null for the open last bucket. */
    lengthHistogram: z.array(z.object({ minTokens: z.number().int(), maxTokens: z.number().int().nullable(), count: z.number().int() })),
    /** Every upload with its file name, oldest first. */
    uploads: z.array(z.object({
      uploadId: z.string(),
      filename: z.string(),
      contributor: AddressSchema,
      status: UploadStatus,
      accepted: z.number().int(),
      rejected: z.number().int(),
      createdAt: z.string(),
    })),
    /** False when the Datanet has more contributions than one request reads (the figures cover the first 200,000). */
    complete: z.boolean(),
  })
  .meta({ id: "DatanetStats" });
export type DatanetStats = z.infer<typeof DatanetStats>;
