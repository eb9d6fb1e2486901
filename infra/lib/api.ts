import { Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import { CorsHttpMethod, HttpApi, type HttpStage, LogGroupLogDestination } from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { Grant } from "aws-cdk-lib/aws-iam";
import type { Bucket } from "aws-cdk-lib/aws-s3";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { acknowledgeBucketGrant } from "./acknowledgments.ts";
import { AppFunction, type FunctionEnvironment } from "./app-function.ts";
import { CONTRIBUTION_ROW_PK_PREFIXES, DATANETS_PREFIX, UPLOADS_PREFIX, VERSIONS_PREFIX } from "./datanets.ts";
import { MAX_UPLOAD_BYTES } from "./ingest-capacity.ts";
import { grantTableAccess, type Tables } from "./tables.ts";

/**
 * One JSON line per request with HTTP API's own context variables (REST API's
 * standard fields name variables an HTTP API leaves empty, such as `$context.resourcePath`).
 */
export const HTTP_API_ACCESS_LOG_FIELDS = {
  requestId: "$context.requestId",
  requestTime: "$context.requestTimeEpoch",
  routeKey: "$context.routeKey",
  method: "$context.httpMethod",
  path: "$context.path",
  protocol: "$context.protocol",
  status: "$context.status",
  responseLength: "$context.responseLength",
  /** ms from the first byte received to the last byte sent */
  latency: "$context.responseLatency",
  integrationLatency: "$context.integrationLatency",
  integrationStatus: "$context.integrationStatus",
  integrationError: "$context.integrationErrorMessage",
  error: "$context.error.message",
  sourceIp: "$context.identity.sourceIp",
  userAgent: "$context.identity.userAgent",
  domainName: "$context.domainName",
} as const;

export interface ApiProps {
  tables: Tables;
  bucket: Bucket;
  environment: FunctionEnvironment;
  /** Browser origins allowed to call the API. */
  corsOrigins: string[];
  /** Steady-state requests per second and burst, for the whole stage. */
  throttle: { rateLimit: number; burstLimit: number };
  removalPolicy: RemovalPolicy;
  /** Once a custom domain serves the API, its execute-api endpoint is turned off, so the edge (WAF) cannot be bypassed. */
  disableExecuteApiEndpoint?: boolean;
}

/** The public HTTP API: API Gateway HTTP API → one function running the hono app. */
export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly handler: AppFunction;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    this.handler = new AppFunction(this, "Handler", {
      entry: "api",
      description: "HTTP API: the hono app",
      // The upload size limit createUpload enforces: what one ingest can write (ingest-capacity.ts).
      environment: { ...props.environment, RATE_LIMIT_TABLE: props.tables.rateLimits.tableName, MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) },
      timeout: Duration.seconds(29),
      memorySize: 1024,
      removalPolicy: props.removalPolicy,
    });
    // What the use cases behind the routes call (transactions of puts and deletes); no Scan, no batch writes.
    grantTableAccess(props.tables.main, this.handler, { calls: ["get", "put", "delete", "query"], gsi1Queries: true });
    // Read-only: ingest writes contributions; the API lists them (all or by status) and reads them to publish versions.
    // Only row partitions: the API never reads content-hash claims.
    grantTableAccess(props.tables.contributions, this.handler, {
      calls: ["get", "query"],
      pkPrefixes: CONTRIBUTION_ROW_PK_PREFIXES,
      gsi1Queries: { pkPrefixes: CONTRIBUTION_ROW_PK_PREFIXES },
    });
    // RateLimiterDynamo reads, atomically increments (UpdateItem, the one table it is allowed on) and resets counters.
    Grant.addToPrincipal({
      grantee: this.handler,
      actions: ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
      resourceArns: [props.tables.rateLimits.tableArn],
    });
    // Presigned upload URLs carry the function's rights, so only PUT under uploads/.
    props.bucket.grantPut(this.handler, `${UPLOADS_PREFIX}*`);
    // Publishing a version reads accepted records (and proofs read the trees); it writes the version's snapshot and tree only.
    props.bucket.grantRead(this.handler, `${DATANETS_PREFIX}*`);
    props.bucket.grantPut(this.handler, `${VERSIONS_PREFIX}*`);
    acknowledgeBucketGrant(
      this.handler,
      props.bucket,
      ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*"],
      [UPLOADS_PREFIX, DATANETS_PREFIX, VERSIONS_PREFIX],
    );

    this.httpApi = new HttpApi(this, "HttpApi", {
      description: "Model Factory API",
      createDefaultStage: false,
      disableExecuteApiEndpoint: props.disableExecuteApiEndpoint ?? false,
      defaultIntegration: new HttpLambdaIntegration("App", this.handler),
      corsPreflight: {
        allowOrigins: props.corsOrigins,
        allowMethods: [CorsHttpMethod.ANY],
        allowHeaders: ["authorization", "content-type", "idempotency-key"],
        maxAge: Duration.hours(1),
      },
    });
    const accessLogs = new LogGroup(this, "AccessLogs", { retention: RetentionDays.THREE_MONTHS, removalPolicy: props.removalPolicy });
    this.stage = this.httpApi.addStage("Stage", {
      stageName: "$default",
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(HTTP_API_ACCESS_LOG_FIELDS)),
      },
    });
    Validations.of(this.httpApi).acknowledge({
      id: "AwsSolutions-APIG4",
      reason: "Authentication is the app's (SIWE sessions and API keys, checked in the hono middleware); public routes such as sign-in need none.",
    });
  }

  /** The base URL clients call. */
  get url(): string {
    return this.stage.url;
  }
}
