import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Logger } from "@aws-lambda-powertools/logger";
import { serve, type ServerType } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import {
  DiskBlobStore,
  OutboxStream,
  QueuePoller,
  SqliteQueue,
  SqliteTableStore,
  createLocalDownloadRoutes,
  createLocalUploadRoutes,
  deadLetterQueueOf,
} from "../adapters/local/index.ts";
import { s3ObjectCreatedEvent } from "../functions/handlers/s3-notification.ts";
import { ChildProcessCompute } from "../adapters/local/child-process-compute.ts";
import { EthersChain } from "../adapters/chain/ethers-chain.ts";
import { startLocalChain, type LocalChain } from "../adapters/chain/local-chain.ts";
import { createApp } from "../api/app.ts";
import type { App } from "../api/env.ts";
import { defaultConfig, type PlatformConfig } from "../core/config.ts";
import type { CoreDeps } from "../core/deps.ts";
import { systemClock } from "../core/ports/clock.ts";
import { QueueNames } from "../core/ports/queue.ts";
import type { DispatchOptions } from "../core/webhooks/index.ts";
import { EthersEscrowEvents } from "../adapters/chain/escrow-events.ts";
import { EthersSettlementChain } from "../adapters/chain/settlement-client.ts";
import { MIRROR_CURSOR_KEY } from "../core/payments/keys.ts";
import { createChainEventsHandler } from "../functions/handlers/chain-events.ts";
import { createRecordUsageHandler } from "../functions/handlers/record-usage.ts";
import { createSettleEpochHandler } from "../functions/handlers/settle-epoch.ts";
import { createRedeemClosingChannelsHandler } from "../functions/handlers/redeem-closing-channels.ts";
import { createChainSyncHandler } from "../functions/handlers/chain-sync.ts";
import { createIngestHandler } from "../functions/handlers/ingest.ts";
import { createIngestDlqHandler } from "../functions/handlers/ingest-dlq.ts";
import { createJobEventsHandler } from "../functions/handlers/job-events.ts";
import { createJobSweepHandler, scheduledEvent } from "../functions/handlers/job-sweep.ts";
import { createStartJobHandler } from "../functions/handlers/start-job.ts";
import { createPublishVersionHandler, PUBLISH_MAX_RECEIVES } from "../functions/handlers/publish-version.ts";
import { localLambdaContext } from "../adapters/local/lambda-context.ts";
import type { JobDeps } from "../core/jobs/deps.ts";
import { ensureBaseModelsInBlobStore } from "./base-models.ts";
import { createRouteEventsHandler } from "../functions/handlers/route-events.ts";
import { createWebhookDispatchHandler } from "../functions/handlers/webhook-dispatch.ts";
import { UndiciWebhookSender } from "../adapters/webhooks/undici-webhook-sender.ts";
import { buildWeb, WEB_DIST_DIR } from "../web/build.ts";
import { serveWebAsset } from "../web/serve.ts";
import { reconcileAfterRestart } from "./reconcile.ts";
import { OPENAI_PROXY_PATHS, openaiProxyRoutes } from "../api/routes/openai-proxy.ts";
import { InferenceSupervisor } from "./inference-supervisor.ts";
import type { ChainInfo } from "../api/routes/chain.ts";
import { gradientAttributor } from "../containers/inference/gradient-attribution.ts";
import { BASE_MODEL_DIR } from "../containers/engine/index.ts";
import { replayOntoFreshChain } from "./replay-chain.ts";

export interface PlatformOptions {
  /** Where all state lives (SQLite database, blobs, secret). Created when missing. */
  dataDir: string;
  /** TCP port; 0 picks a free one. Default 8787. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1 (the platform is for this machine). */
  hostname?: string;
  /** Origin clients use (SIWE domain, signed URLs). Default `http://localhost:<port>`. */
  publicOrigin?: string;
  /** Build and serve the web UI at `/`. Default true. */
  web?: boolean;
  /**
   * Where the web UI is built and served from (default web/dist). Each start rebuilds it from
   * scratch, so platforms that run at once (parallel browser tests) each need their own.
   */
  webDistDir?: string;
  /** Structured logs of the handlers: "INFO", "WARN" (default), "ERROR", "SILENT". */
  logLevel?: "DEBUG" | "INFO" | "WARN" | "ERROR" | "SILENT";
  /** Overrides of the platform's settings (limits, TTLs). */
  config?: Partial<PlatformConfig>;
  /** Trainer processes running at once (default 1). */
  trainerConcurrency?: number;
  /** Arguments to `node` that start a trainer (default: containers/trainer/main.ts); tests substitute their own. */
  trainerCommand?: string[];
  /** The OpenLoRA inference service as a child process (default on); `false` runs none. */
  inference?: false | { env?: Record<string, string>; command?: string[] };
  /** How often stale jobs are swept (default 60 s). */
  jobSweepIntervalMs?: number;
  /** Serve the local chain's JSON-RPC on this port (for wallets and scripts); not served when absent. */
  chainRpcPort?: number;
  /** Settlement periods (default 60 s) and the wait after one ends before it is settled (default 10 s). */
  settlement?: { epochSeconds?: number; graceSeconds?: number };
  /** Webhook dispatcher settings (jitter source, attempts), e.g. for tests. */
  webhookDispatch?: DispatchOptions;
}

export interface Platform {
  /** The origin the platform answers on, e.g. `http://localhost:8787`. */
  url: string;
  deps: CoreDeps;
  app: App;
  /** The in-process EVM chain with the platform's contracts deployed. */
  chain: LocalChain;
  /** The inference service's child process (restarted when it dies); null when disabled. */
  inference: InferenceSupervisor | null;
  /** Resolves once the queues are empty, nothing is in flight and the outbox is consumed. */
  idle(timeoutMs?: number): Promise<void>;
  /** Stops accepting requests, lets the batches in progress finish, closes the database. */
  stop(): Promise<void>;
}

/** Queue settings mirroring the AWS stack's (infra/lib): visibility ≥ the consumer's work, 5 receives then DLQ. */
const QUEUE_SETTINGS = {
  [QueueNames.ingest]: { visibilityTimeoutSeconds: 30 * 60, maxReceives: 5 },
  [QueueNames.webhooks]: { visibilityTimeoutSeconds: 60, maxReceives: 5 },
  [QueueNames.jobs]: { visibilityTimeoutSeconds: 60, maxReceives: 5 },
  [QueueNames.jobEvents]: { visibilityTimeoutSeconds: 60, maxReceives: 5 },
  [QueueNames.versions]: { visibilityTimeoutSeconds: 15 * 60, maxReceives: PUBLISH_MAX_RECEIVES },
};

/**
 * Starts the whole platform in this process: the HTTP API (and web UI) on a
 * local port, and the same Lambda handlers AWS runs, fed by SQLite queues and
 * the SQLite outbox stream instead of SQS and DynamoDB Streams.
 */
export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const dataDir = options.dataDir;
  mkdirSync(dataDir, { recursive: true });
  const db = new DatabaseSync(join(dataDir, "platform.db"));
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");

  const secret = loadOrCreateSecret(join(dataDir, "secret"));
  const config: PlatformConfig = { ...defaultConfig, allowPrivateWebhookUrls: true, ...options.config };
  const queues = new SqliteQueue(db, { queues: QUEUE_SETTINGS });
  const tables = {
    main: new SqliteTableStore(db, "main", { stream: true }),
    contributions: new SqliteTableStore(db, "contributions", { stream: false }),
  };
  // Usage records, mirrored payment channels and settlement state (the usage table with its stream on AWS).
  const usage = new SqliteTableStore(db, "usage", { stream: true });
  const settlementTiming = { epochSeconds: options.settlement?.epochSeconds ?? 60, graceSeconds: options.settlement?.graceSeconds ?? 10 };
  let settlementChain: EthersSettlementChain | undefined;
  let chainInfo: ChainInfo | undefined;

  // The origin depends on the port, which is known only once the server listens.
  let app: App | undefined;
  // The node server's bindings go on as the app's env: getConnInfo reads the client address from them.
  const server = await listen((request, env) => (app ? app.fetch(request, env) : new Response("starting", { status: 503 })), options);
  const port = (server.address() as AddressInfo).port;
  config.apiOrigin = options.publicOrigin ?? `http://localhost:${port}`;

  const blobs = new DiskBlobStore({ root: join(dataDir, "blobs"), apiOrigin: config.apiOrigin, secret });
  const deps: CoreDeps = { tables, blobs, queue: queues, clock: systemClock, config };
  // Trainers are child processes that open the same database and blob directory.
  const compute = new ChildProcessCompute({
    dataDir,
    queue: queues,
    maxConcurrent: options.trainerConcurrency ?? 1,
    ...(options.trainerCommand ? { command: options.trainerCommand } : {}),
  });
  const jobDeps: JobDeps = { ...deps, compute };
  const webhookSender = new UndiciWebhookSender();
  await ensureBaseModelsInBlobStore(deps);

  const webDist = options.webDistDir ?? WEB_DIST_DIR;
  if (options.web !== false) await buildWeb(webDist);
  // The OpenLoRA service on its own port, reading the same database and blobs; the platform
  // proxies its OpenAI routes, which authorize on their own (API key or payment).
  const inferenceOptions = options.inference === false ? null : (options.inference ?? {});
  // The child charges calls into the same settlement periods as the platform settles (its default is 60 s).
  const settlementEnv = { SETTLEMENT_EPOCH_SECONDS: String(settlementTiming.epochSeconds), SETTLEMENT_GRACE_SECONDS: String(settlementTiming.graceSeconds) };
  const inference = inferenceOptions ? new InferenceSupervisor({ dataDir, ...inferenceOptions, env: { ...settlementEnv, ...inferenceOptions.env } }) : null;
  inference?.start();
  const payments = { usage, isClaimed: async (epoch: number, account: string) => (settlementChain ? settlementChain.isClaimed(epoch, account) : false) };
  app = createApp({ ...jobDeps, payments }, {
    publicPrefixes: ["/local-blobs/", ...(inference ? OPENAI_PROXY_PATHS : [])],
    clientAddress: (c) => getConnInfo(c).remote.address,
    // What a browser wallet needs to claim rewards or open a channel (set once the chain is up, below).
    chain: () => chainInfo,
    mount: (root) => {
      root.route(
        "/",
        createLocalUploadRoutes({
          blobs,
          secret,
          clock: systemClock,
          // What S3 does on AWS: an object-created notification on the ingest queue.
          onObjectCreated: (object) => queues.send(QueueNames.ingest, s3ObjectCreatedEvent(object)),
        }),
      );
      root.route("/", createLocalDownloadRoutes({ blobs, secret, clock: systemClock }));
      if (inference) openaiProxyRoutes(root, { target: () => inference.url });
      if (options.web !== false) root.get("*", async (c, next) => (c.req.path.startsWith("/v1/") ? next() : serveWebAsset(webDist, c.req.path, c.req.raw.headers)));
    },
  });

  // Before any consumer starts: what a crash of the previous run left half done.
  await reconcileAfterRestart(deps, queues, blobs);

  const logger = new Logger({ serviceName: "model-factory-local", logLevel: options.logLevel ?? "WARN" });
  const pollers = [
    new QueuePoller({ queues, queue: QueueNames.ingest, batchSize: 1, handler: createIngestHandler(deps, { logger }) }),
    // An upload whose ingest kept failing ends `failed` with a reason, as on AWS.
    new QueuePoller({ queues, queue: deadLetterQueueOf(QueueNames.ingest), batchSize: 1, handler: createIngestDlqHandler(deps, { logger }) }),
    new QueuePoller({ queues, queue: QueueNames.webhooks, batchSize: 10, handler: createWebhookDispatchHandler({ ...deps, webhookSender }, { logger, ...(options.webhookDispatch ? { dispatch: options.webhookDispatch } : {}) }) }),
    new QueuePoller({ queues, queue: QueueNames.jobs, batchSize: 1, handler: createStartJobHandler(jobDeps, { logger }) }),
    new QueuePoller({ queues, queue: QueueNames.versions, batchSize: 1, handler: createPublishVersionHandler(deps, { logger }) }),
    new QueuePoller({ queues, queue: QueueNames.jobEvents, batchSize: 10, pollIntervalMs: 100, handler: createJobEventsHandler(jobDeps, { logger }) }),
  ];
  // A fresh chain each start (EDR keeps no state on disk): deploy, then replay what was published.
  const chain = await startLocalChain({
    configPath: join(dataDir, "chain.json"),
    chainId: config.chainId,
    ...(options.chainRpcPort !== undefined ? { rpcPort: options.chainRpcPort } : {}),
  });
  const chainDeps = { ...deps, chain: new EthersChain(chain.signer, chain.addresses) };
  await replayOntoFreshChain(chainDeps);
  settlementChain = new EthersSettlementChain(chain.signer, chain.addresses);
  const { paymentEscrow, rewardsDistributor, token, datanetRegistry, adapterRegistry } = chain.addresses;
  chainInfo = { chainId: config.chainId, contracts: { paymentEscrow, rewardsDistributor, token, datanetRegistry, adapterRegistry }, ...(chain.rpcUrl ? { rpcUrl: chain.rpcUrl } : {}), local: true };
  // The chain is fresh: mirror its escrow from its first block again.
  await usage.delete(MIRROR_CURSOR_KEY);
  const escrowEvents = new EthersEscrowEvents(chain.provider, chain.addresses.paymentEscrow, chain.addresses.fromBlock);

  const stream = new OutboxStream(db);
  stream.subscribe({ name: "route-events", table: "main", handler: createRouteEventsHandler(deps, { logger }) });
  stream.subscribe({ name: "chain-sync", table: "main", handler: createChainSyncHandler(async () => chainDeps, logger) });
  // Each call's asynchronous (gradient) attribution runs here, before the call joins a period, on the
  // base model the inference child serves (docs/attribution.md).
  const servedBase = { id: inferenceOptions?.env?.BASE_MODEL_ID ?? "mf-tiny-sotu", dir: inferenceOptions?.env?.MODEL_DIR ?? BASE_MODEL_DIR };
  const attribute = gradientAttributor({ blobs, tables, baseModelDir: (id) => (id === servedBase.id ? servedBase.dir : undefined), log: (level, message, fields) => logger[level](message, fields ?? {}) });
  stream.subscribe({ name: "record-usage", table: "usage", handler: createRecordUsageHandler({ usage, clock: systemClock, epochSeconds: settlementTiming.epochSeconds, shares: await settlementChain.shares(), attribute }, { logger }) });
  for (const poller of pollers) poller.start();
  stream.start();
  // EventBridge's schedule on AWS; a timer here.
  const sweep = createJobSweepHandler(jobDeps, { logger });
  const sweeper = setInterval(() => {
    void Promise.resolve(sweep(scheduledEvent(Date.now()), localLambdaContext("job-sweep"))).catch((e: unknown) => logger.error("job sweep failed", { error: e as Error }));
  }, options.jobSweepIntervalMs ?? 60_000);
  sweeper.unref();
  // Settlement and the escrow mirror: EventBridge schedules on AWS, timers here.
  const settle = createSettleEpochHandler({ usage, main: tables.main, blobs, clock: systemClock, chain: settlementChain, ...settlementTiming }, { logger });
  const mirror = createChainEventsHandler({ usage, events: escrowEvents }, { logger });
  // A channel whose withdrawal comes before the next settlement is redeemed first (the inference child's horizon).
  const horizonSeconds = settlementTiming.epochSeconds + settlementTiming.graceSeconds + 60;
  const redeemClosing = createRedeemClosingChannelsHandler({ usage, chain: settlementChain, clock: systemClock, horizonSeconds }, { logger });
  const scheduled = (name: string, handler: (e: ReturnType<typeof scheduledEvent>, c: ReturnType<typeof localLambdaContext>) => unknown, everyMs: number) => {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      void Promise.resolve(handler(scheduledEvent(Date.now()), localLambdaContext(name)))
        .catch((e: unknown) => logger.error(`${name} failed`, { error: e as Error }))
        .finally(() => (running = false));
    }, everyMs);
    timer.unref();
    return timer;
  };
  const settler = scheduled("settle-epoch", settle as never, Math.min(10_000, settlementTiming.epochSeconds * 250));
  const mirrorer = scheduled("chain-events", mirror as never, 1_000);
  const closer = scheduled("redeem-closing-channels", redeemClosing as never, 5_000);
  // DynamoDB's TTL on AWS: expired nonces and quota days leave the table.
  const expire = () => {
    for (const table of [tables.main, tables.contributions, usage]) table.deleteExpired(Math.floor(Date.now() / 1000));
  };
  expire();
  const expirer = setInterval(expire, 60_000);
  expirer.unref();

  return {
    url: config.apiOrigin,
    deps,
    app,
    chain,
    inference,
    async idle(timeoutMs = 60_000) {
      // Each stage can feed the next (stream → webhook queue), so settle until a full pass finds nothing.
      for (let pass = 0; pass < 3; pass++) {
        await stream.idle({ timeoutMs });
        for (const poller of pollers) await poller.idle({ timeoutMs });
      }
    },
    async stop() {
      clearInterval(sweeper);
      clearInterval(expirer);
      clearInterval(settler);
      clearInterval(mirrorer);
      clearInterval(closer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...pollers.map((p) => p.stop()), stream.stop()]);
      // Running trainers are stopped; their exit events wait in the queue for the next start.
      await compute.stop();
      await inference?.stop();
      await chain.close();
      await webhookSender.close();
      db.close();
    },
  };
}

function listen(fetch: (request: Request, env: unknown) => Response | Promise<Response>, options: PlatformOptions): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port: options.port ?? 8787, hostname: options.hostname ?? "127.0.0.1" }, () => resolve(server));
    server.once("error", reject);
  });
}

/** The HMAC key of signed upload and download URLs: random once, kept with the data, readable by the owner only. */
function loadOrCreateSecret(path: string): Buffer {
  if (!existsSync(path)) {
    writeFileSync(path, randomBytes(32).toString("hex"), { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  return Buffer.from(readFileSync(path, "utf8").trim(), "hex");
}
