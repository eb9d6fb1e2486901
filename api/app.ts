import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import type { Context } from "hono";
import { memoryRateLimiter } from "../adapters/rate-limits/memory-rate-limiter.ts";
import type { CoreDeps } from "../core/deps.ts";
import type { RateLimiter } from "../core/ports/rate-limiter.ts";
import type { TrainingCompute } from "../core/ports/training-compute.ts";
import type { HostResolver } from "../core/webhooks/index.ts";
import { isAnonymous, PUBLIC_READS, requireApiKey } from "./auth-middleware.ts";
import type { App, AppEnv } from "./env.ts";
import { notFound, onError, validationHook } from "./errors.ts";
import { SECURITY_SCHEME } from "./openapi.ts";
import { problemResponse } from "./problem.ts";
import { byAccount, rateLimit } from "./rate-limit.ts";
import type { TableStore } from "../core/ports/tables.ts";
import { adapterRoutes } from "./routes/adapters.ts";
import { chainRoutes, type ChainInfo } from "./routes/chain.ts";
import { priceRoutes } from "./routes/prices.ts";
import { rewardRoutes } from "./routes/rewards.ts";
import { usageRoutes } from "./routes/usage.ts";
import { authRoutes } from "./routes/auth.ts";
import { baseModelRoutes } from "./routes/base-models.ts";
import { contributionRoutes } from "./routes/contributions.ts";
import { datanetStatsRoutes } from "./routes/datanet-stats.ts";
import { datanetRoutes } from "./routes/datanets.ts";
import { jobRoutes, type JobStreamOptions } from "./routes/jobs.ts";
import { keyRoutes } from "./routes/keys.ts";
import { uploadRoutes } from "./routes/uploads.ts";
import { versionRoutes } from "./routes/versions.ts";
import { webhookRoutes } from "./routes/webhooks.ts";

/** Options of `createApp`; its defaults suit both deployments. */
export interface AppOptions {
  /**
   * Adds deployment-specific routes (the local runtime's signed-upload
   * endpoint and static web UI) after the API's and before the 404 handler.
   * Routes outside `/v1/` need no API key; list others in `publicPrefixes`.
   */
  mount?: (app: App) => void;
  /** More path prefixes that need no API key. */
  publicPrefixes?: string[];
  /** Origins the web UI is served from; `*` (the default) allows any, which is safe with bearer tokens and no cookies. */
  corsOrigins?: string[] | "*";
  /** Largest JSON request body in bytes (default 64 KiB). */
  maxJsonBytes?: number;
  /** DNS resolver for the webhook SSRF check (tests). */
  resolve?: HostResolver;
  /** Polling and lifetime of `GET /v1/jobs/{id}/events` streams (tests shorten them). */
  jobEvents?: JobStreamOptions;
  /**
   * The client's network address, which sign-in is rate-limited by: the socket's peer locally, API
   * Gateway's `sourceIp` on AWS. Without it every unsigned request shares one bucket.
   */
  clientAddress?: (c: Context) => string | undefined;
  /** The chain and contract addresses `GET /v1/chain` tells wallets; undefined (404) until a chain is up. */
  chain?: () => ChainInfo | undefined;
}

/**
 * What the app needs: the core deps, the training compute where jobs may be cancelled (without it
 * cancel answers 503), and the rate limiter (default: counters in this process's memory).
 */
export type AppDeps = CoreDeps & { compute?: TrainingCompute; rateLimiter?: RateLimiter; payments?: PaymentsApiDeps };

/** What the payment routes need: the usage table, and the distributor's claim status (when a chain is wired). */
export interface PaymentsApiDeps {
  usage: TableStore;
  isClaimed?: (epoch: number, account: string) => Promise<boolean>;
}

/** The API version reported in the OpenAPI document. */
export const API_VERSION = "0.1.0";

/**
 * Builds the HTTP app: the one place it is built. Lambda wraps it with
 * `handle(app)`; the local runtime serves it with @hono/node-server.
 */
export function createApp(deps: AppDeps, options: AppOptions = {}): App {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use(
    "*",
    cors({
      origin: options.corsOrigins ?? "*",
      // Requested headers are echoed back: signed uploads (mounted locally) name their own.
      allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
      maxAge: 600,
    }),
  );
  const maxJsonBytes = options.maxJsonBytes ?? 64 * 1024;
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: maxJsonBytes,
      onError: () => problemResponse(413, "payload-too-large", `Request bodies are limited to ${maxJsonBytes} bytes`),
    }),
  );
  const limiter = deps.rateLimiter ?? memoryRateLimiter(deps.config.rateLimits);
  const byClient = (c: Context) => options.clientAddress?.(c) ?? "unknown-client";
  app.use("/v1/auth/nonce", rateLimit(limiter, "auth-nonce", byClient));
  app.use("/v1/auth/siwe", rateLimit(limiter, "auth-sign-in", byClient));
  app.use("/v1/*", requireApiKey(deps, { publicPrefixes: ["/v1/auth/", ...(options.publicPrefixes ?? [])], publicReads: PUBLIC_READS }));
  // Visitors without a key share no account: each client address gets its own bucket.
  app.use("/v1/*", rateLimit(limiter, "api", (c) => (isAnonymous(c) ? `client:${byClient(c)}` : byAccount(c))));
  app.on("POST", "/v1/jobs", rateLimit(limiter, "jobs-create", byAccount));
  app.on("POST", "/v1/datanets/:id/uploads", rateLimit(limiter, "uploads-create", byAccount));

  authRoutes(app, deps);
  keyRoutes(app, deps);
  datanetRoutes(app, deps);
  uploadRoutes(app, deps);
  contributionRoutes(app, deps);
  datanetStatsRoutes(app, deps);
  versionRoutes(app, deps);
  webhookRoutes(app, deps, options.resolve ? { resolve: options.resolve } : {});
  baseModelRoutes(app);
  jobRoutes(app, deps, options.jobEvents);
  adapterRoutes(app, deps);
  priceRoutes(app, deps);
  chainRoutes(app, options.chain ?? (() => undefined));
  if (deps.payments) {
    usageRoutes(app, deps.payments.usage);
    rewardRoutes(app, deps.payments.usage, deps.payments.isClaimed);
  }

  app.get("/health", (c) => c.json({ status: "ok" }));
  app.openAPIRegistry.registerComponent("securitySchemes", SECURITY_SCHEME, {
    type: "http",
    scheme: "bearer",
    description: "An API key from `POST /v1/auth/siwe`",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Model Factory & OpenLoRA API",
      version: API_VERSION,
      description: "Datanets with provable provenance. Errors are `application/problem+json`; branch on their `type`.",
    },
    servers: [{ url: deps.config.apiOrigin }],
  });

  options.mount?.(app);
  app.notFound(notFound);
  app.onError(onError);
  return app;
}
