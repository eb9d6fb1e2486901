import { z } from "zod";
import { RATE_LIMIT_NAMES, type RateLimit, type RateLimitName } from "./ports/rate-limiter.ts";

/** Settings the domain needs; each deployment fills them from its own sources. */
export interface PlatformConfig {
  /** Origin clients use to reach the API, e.g. `http://localhost:8787`; its host is the SIWE domain. */
  apiOrigin: string;
  /** EVM chain id SIWE messages must name (31337 locally). */
  chainId: number;
  /** Largest upload accepted, in bytes. */
  maxUploadBytes: number;
  /** Largest single record (one JSONL line, CSV row or text line), in bytes. */
  maxRecordBytes: number;
  /** Lifetime of a signed upload URL. */
  uploadUrlTtlSeconds: number;
  /** Lifetime of a SIWE nonce. */
  nonceTtlSeconds: number;
  /** Whether webhook URLs may point at loopback/private addresses (true locally only). */
  allowPrivateWebhookUrls: boolean;
  /** Largest Datanet (accepted records) published within the request; larger ones are built by a background job. */
  syncPublishMaxRecords: number;
  /** Request rates: nonces and sign-ins per client address, the rest per account (429 beyond). */
  rateLimits: Record<RateLimitName, RateLimit>;
  /** What one account may hold of training compute and storage (403 beyond). */
  quotas: AccountQuotas;
}

/**
 * Per-account limits on training compute and storage. A "sequence" is one
 * training row: steps × batch size × gradient accumulation, the unit of work
 * a trainer slot spends time on.
 */
export interface AccountQuotas {
  /** Jobs of one account that may be starting, running or evaluating at once; more wait their turn. */
  runningJobs: number;
  /** Jobs of one account that may be waiting (QUEUED) at once. */
  queuedJobs: number;
  /** Training sequences one job may ask for. */
  sequencesPerJob: number;
  /** Training sequences one account may ask for per UTC day. */
  sequencesPerDay: number;
  /** Bytes of an account's uploads not yet ingested. */
  uploadBytesInFlight: number;
  /** Bytes an account may upload per UTC day. */
  uploadBytesPerDay: number;
}

export const defaultRateLimits: Record<RateLimitName, RateLimit> = {
  "auth-nonce": { points: 30, durationSeconds: 60 },
  "auth-sign-in": { points: 30, durationSeconds: 60 },
  api: { points: 1200, durationSeconds: 60 },
  "jobs-create": { points: 20, durationSeconds: 60 },
  "uploads-create": { points: 120, durationSeconds: 60 },
};

export const defaultQuotas: AccountQuotas = {
  runningJobs: 1,
  queuedJobs: 10,
  sequencesPerJob: 100_000,
  sequencesPerDay: 400_000,
  uploadBytesInFlight: 4 * 1024 ** 3,
  uploadBytesPerDay: 20 * 1024 ** 3,
};

export const defaultConfig: PlatformConfig = {
  apiOrigin: "http://localhost:8787",
  chainId: 31337,
  maxUploadBytes: 2 * 1024 ** 3,
  maxRecordBytes: 1024 ** 2,
  uploadUrlTtlSeconds: 15 * 60,
  nonceTtlSeconds: 10 * 60,
  allowPrivateWebhookUrls: false,
  // About 6 s of tree building and snapshot writing: well inside the API function's 29 s.
  syncPublishMaxRecords: 50_000,
  rateLimits: defaultRateLimits,
  quotas: defaultQuotas,
};

const PositiveInt = z.number().int().positive();
const LimitOverrides = z
  .object({
    rateLimits: z.partialRecord(z.enum(RATE_LIMIT_NAMES), z.object({ points: PositiveInt, durationSeconds: PositiveInt }).strict()).optional(),
    quotas: z
      .object({
        runningJobs: PositiveInt,
        queuedJobs: PositiveInt,
        sequencesPerJob: PositiveInt,
        sequencesPerDay: PositiveInt,
        uploadBytesInFlight: PositiveInt,
        uploadBytesPerDay: PositiveInt,
      })
      .partial()
      .strict()
      .optional(),
  })
  .strict();

/**
 * Rate limits and quotas with a deployment's overrides applied: `LIMITS` is
 * JSON such as `{"quotas": {"runningJobs": 2}, "rateLimits": {"api": {"points": 100, "durationSeconds": 60}}}`.
 * Unknown names or non-positive numbers throw, so a typo never silently keeps a default.
 */
export function limitsFrom(json: string | undefined): Pick<PlatformConfig, "rateLimits" | "quotas"> {
  if (!json) return { rateLimits: defaultRateLimits, quotas: defaultQuotas };
  const parsed = LimitOverrides.safeParse(JSON.parse(json));
  if (!parsed.success) throw new Error(`LIMITS is invalid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return {
    rateLimits: { ...defaultRateLimits, ...parsed.data.rateLimits },
    quotas: { ...defaultQuotas, ...parsed.data.quotas },
  };
}
