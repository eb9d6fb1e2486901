import { CfnOutput, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import type { ChainAddresses } from "../../contracts/deploy.ts";
import { Api } from "./api.ts";
import { ChainSync } from "./chain-sync.ts";
import { Datanets } from "./datanets.ts";
import { VersionPublishing } from "./version-publishing.ts";
import { Inference, type InferenceProps } from "./inference.ts";
import { AppFunction } from "./app-function.ts";
import { Edge } from "./edge.ts";
import { Monitoring } from "./monitoring.ts";
import { Network } from "./network.ts";
import { Settlement, type SettlementProps } from "./settlement.ts";
import { Tables } from "./tables.ts";
import { Training, type TrainingProps } from "./training.ts";
import { Webhooks } from "./webhooks.ts";

export interface ModelFactoryStackProps extends StackProps {
  /** Origin clients use for the API; its host is the SIWE domain. */
  apiOrigin: string;
  /** EVM chain id SIWE messages must name. */
  chainId: number;
  /** Browser origins of the web app (CORS on the API and on upload PUTs). */
  webOrigins: string[];
  /** API stage throttle (default 50 rps, burst 100). */
  throttle?: { rateLimit: number; burstLimit: number };
  /** RETAIN (default) keeps tables and buckets when the stack goes; DESTROY is for throwaway stacks. */
  removalPolicy?: RemovalPolicy;
  /**
   * The deployed contracts (what `npm run contracts:deploy` wrote) and the RPC URL.
   * Without it the stack has no chain sync: versions stay `pending` on chain.
   */
  chain?: { addresses: ChainAddresses; rpcUrl?: string };
  /** The trainer's backend (CPU or GPU compute), image digest, Batch vCPU cap and attempt timeout. */
  training?: Pick<TrainingProps, "backend" | "trainerImage" | "maxvCpus" | "attemptTimeout">;
  /** OpenLoRA on ECS GPU (certificate for HTTPS, gateway image digest, capacity); `false` leaves it out. */
  inference?: false | Pick<InferenceProps, "certificateArn" | "gatewayImage" | "maxInstances" | "lora" | "targetInFlightPerTask">;
  /** Pay-per-call settlement periods (default hourly) and grace; only with `chain`. */
  settlement?: Pick<SettlementProps, "epochSeconds" | "graceSeconds" | "shares">;
  /** Development: interface endpoints in one AZ only (see Network). */
  singleAzEndpoints?: boolean;
  /** Who gets the alarms: an email address subscribed to the alarm topic. */
  alarmEmail?: string;
  /**
   * The public domain: the API at `api.<name>` (which must then be apiOrigin's host, the SIWE
   * domain), inference at `infer.<name>`; the certificate (us-east-1, covering both) by ARN.
   */
  domain?: { name: string; certificateArn?: string };
  /** CloudFront and WAF in front of the API and inference (default true; needs us-east-1). */
  edge?: boolean;
}

/** The platform on AWS: tables, data bucket and ingest, webhooks, training, HTTP API, chain sync. */
export class ModelFactoryStack extends Stack {
  readonly tables: Tables;
  /** The VPC that training (and inference) run in. */
  readonly network: Network;
  readonly datanets: Datanets;
  readonly webhooks: Webhooks;
  readonly training: Training;
  readonly api: Api;
  readonly versionPublishing: VersionPublishing;
  readonly chainSync: ChainSync | undefined;
  /** The usage table, record-usage, settle-epoch and the escrow mirror (with `chain` only). */
  readonly settlement: Settlement | undefined;
  readonly inference: Inference | undefined;
  readonly monitoring: Monitoring;
  readonly edge: Edge | undefined;

  constructor(scope: Construct, id: string, props: ModelFactoryStackProps) {
    super(scope, id, props);
    if (!Number.isInteger(props.chainId) || props.chainId <= 0) throw new Error(`chainId must be a positive integer, got ${props.chainId}`);
    if (!URL.canParse(props.apiOrigin)) throw new Error(`apiOrigin must be a URL, got ${props.apiOrigin}`);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const customDomain = props.edge !== false && props.domain?.certificateArn !== undefined;
    if (customDomain && new URL(props.apiOrigin).host !== `api.${props.domain!.name}`) {
      throw new Error(`apiOrigin must be https://api.${props.domain!.name} (the SIWE domain is the public host), got ${props.apiOrigin}`);
    }

    this.tables = new Tables(this, "Tables", { removalPolicy });
    const base = {
      TABLE_MAIN: this.tables.main.tableName,
      TABLE_CONTRIBUTIONS: this.tables.contributions.tableName,
      API_ORIGIN: props.apiOrigin,
      CHAIN_ID: String(props.chainId),
    };
    this.datanets = new Datanets(this, "Datanets", { tables: this.tables, uploadOrigins: props.webOrigins, environment: base, removalPolicy });
    const environment = { ...base, BUCKET: this.datanets.bucket.bucketName };
    this.webhooks = new Webhooks(this, "Webhooks", { mainTable: this.tables.main, environment, removalPolicy });
    this.network = new Network(this, "Network", { removalPolicy, ...(props.singleAzEndpoints ? { singleAzEndpoints: true } : {}) });
    this.training = new Training(this, "Training", {
      network: this.network,
      bucket: this.datanets.bucket,
      mainTable: this.tables.main,
      environment,
      removalPolicy,
      ...props.training,
    });
    this.versionPublishing = new VersionPublishing(this, "VersionPublishing", { tables: this.tables, bucket: this.datanets.bucket, environment, removalPolicy });
    this.api = new Api(this, "Api", {
      tables: this.tables,
      bucket: this.datanets.bucket,
      // creates and cancels jobs, and hands large version builds to the versions queue
      environment: { ...environment, ...this.training.jobEnvironment, VERSIONS_QUEUE_URL: this.versionPublishing.queue.queueUrl },
      corsOrigins: props.webOrigins,
      throttle: props.throttle ?? { rateLimit: 50, burstLimit: 100 },
      removalPolicy,
      disableExecuteApiEndpoint: customDomain,
    });

    this.training.grantJobControl(this.api.handler, this.datanets.bucket);
    this.versionPublishing.grantRequest(this.api.handler);
    this.training.grantAdapterDownloads(this.api.handler, this.datanets.bucket);

    this.chainSync = props.chain
      ? new ChainSync(this, "ChainSync", {
          mainTable: this.tables.main,
          environment,
          addresses: props.chain.addresses,
          ...(props.chain.rpcUrl ? { rpcUrl: props.chain.rpcUrl } : {}),
          removalPolicy,
        })
      : undefined;

    this.settlement = props.chain
      ? new Settlement(this, "Settlement", {
          mainTable: this.tables.main,
          bucket: this.datanets.bucket,
          environment,
          addresses: props.chain.addresses,
          ...(props.chain.rpcUrl ? { rpcUrl: props.chain.rpcUrl } : {}),
          ...props.settlement,
          removalPolicy,
        })
      : undefined;
    // The API's usage and rewards routes read the usage table.
    this.settlement?.grantUsageReads(this.api.handler);

    this.inference =
      props.inference === false
        ? undefined
        : new Inference(this, "Inference", {
            network: this.network,
            bucket: this.datanets.bucket,
            mainTable: this.tables.main,
            contributionsTable: this.tables.contributions,
            removalPolicy,
            ...props.inference,
          });

    this.edge =
      props.edge === false
        ? undefined
        : new Edge(this, "Edge", {
            httpApi: this.api.httpApi,
            stage: this.api.stage,
            ...(props.domain ? { domain: props.domain } : {}),
            ...(this.inference ? { inferenceLoadBalancer: this.inference.loadBalancer } : {}),
          });
    if (this.edge?.inferenceDistribution) this.network.enableVpcOrigins();
    this.monitoring = this.#monitor(props.alarmEmail, removalPolicy);

    new CfnOutput(this, "ApiUrl", { value: this.edge ? `https://${this.edge.apiHost}` : this.api.url, description: "Where clients call the API (through CloudFront and WAF when the edge is on)" });
    if (this.edge) new CfnOutput(this, "ApiDistributionDomain", { value: this.edge.apiDistribution.distributionDomainName, description: "Point api.<domain> here (CNAME or alias)" });
    if (this.edge?.inferenceDistribution) new CfnOutput(this, "InferenceDistributionDomain", { value: this.edge.inferenceDistribution.distributionDomainName, description: "Point infer.<domain> here" });
    if (this.inference) new CfnOutput(this, "InferenceUrl", { value: this.inference.url, description: "OpenLoRA's OpenAI-compatible API (internal ALB)" });
    new CfnOutput(this, "DataBucket", { value: this.datanets.bucket.bucketName });
    const repository = this.training.compute.repository;
    if (repository) new CfnOutput(this, "TrainerRepository", { value: repository.repositoryUri, description: "Push containers/trainer's image here, then deploy with -c modelfactory:trainerImage=sha256:<digest>" });
  }

  /** Alarms on every failure queue, every function (found in the tree, so none is forgotten), the API, the streams and the trainer jobs. */
  #monitor(alarmEmail: string | undefined, removalPolicy: RemovalPolicy): Monitoring {
    const monitoring = new Monitoring(this, "Monitoring", { removalPolicy, ...(alarmEmail ? { alarmEmail } : {}) });
    const failureQueues = {
      IngestDeadLetters: this.datanets.ingestDeadLetters,
      IngestDeadLetterFailures: this.datanets.ingestDeadLetterFailures,
      WebhookDeadLetters: this.webhooks.deadLetters,
      WebhookRoutingFailures: this.webhooks.routingFailures,
      JobsDeadLetters: this.training.queues.jobsDeadLetters,
      JobEventsDeadLetters: this.training.queues.jobEventsDeadLetters,
      VersionPublishingDeadLetters: this.versionPublishing.deadLetters,
      BatchStateChangeFailures: this.training.pipeline.stateChangeFailures,
      ...(this.chainSync ? { ChainSyncFailures: this.chainSync.failures } : {}),
      ...(this.settlement ? { RecordUsageFailures: this.settlement.recordUsageFailures, SettlementScheduleFailures: this.settlement.scheduleFailures } : {}),
    };
    for (const [id, queue] of Object.entries(failureQueues)) monitoring.alarmOnFailureQueue(id, queue);
    for (const fn of this.node.findAll().filter((c): c is AppFunction => c instanceof AppFunction)) monitoring.alarmOnFunction(fn.node.path.split("/").slice(1).join(""), fn);
    monitoring.alarmOnStreamConsumer("RouteEvents", this.webhooks.routeFunction);
    if (this.chainSync) monitoring.alarmOnStreamConsumer("ChainSync", this.chainSync.function);
    if (this.settlement) monitoring.alarmOnStreamConsumer("RecordUsage", this.settlement.recordUsage);
    monitoring.alarmOnHttpApi(this.api.httpApi);
    monitoring.alarmOnFailedBatchJobs(this.training.compute.jobQueue);
    monitoring.finish();
    return monitoring;
  }
}
