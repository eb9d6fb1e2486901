import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import { Architecture, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";

/** The repository root: entries, package-lock.json and tsconfig live there. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Names every function gets (see functions/aws-deps.ts); never secrets. */
export interface FunctionEnvironment {
  TABLE_MAIN: string;
  TABLE_CONTRIBUTIONS: string;
  BUCKET: string;
  API_ORIGIN: string;
  CHAIN_ID: string;
  INGEST_QUEUE_URL?: string;
  WEBHOOKS_QUEUE_URL?: string;
  WEBHOOKS_DLQ_URL?: string;
}

export interface AppFunctionProps {
  /** Entry file in functions/, without extension, e.g. `ingest`. */
  entry: string;
  description: string;
  environment: FunctionEnvironment;
  timeout: Duration;
  /** MB (default 512). */
  memorySize?: number;
  /** Log retention (default one month). */
  logRetention?: RetentionDays;
  removalPolicy: RemovalPolicy;
}

/**
 * A function of this app: Node 24 on ARM64, one ESM bundle built by the local
 * esbuild (no Docker), X-Ray tracing, its own log group with retention.
 */
export class AppFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: AppFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy,
    });
    super(scope, id, {
      entry: join(ROOT, "functions", `${props.entry}.ts`),
      handler: "handler",
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout,
      tracing: Tracing.ACTIVE,
      logGroup,
      projectRoot: ROOT,
      depsLockFilePath: join(ROOT, "package-lock.json"),
      environment: {
        NODE_OPTIONS: "--enable-source-maps",
        POWERTOOLS_SERVICE_NAME: props.entry,
        ...definedOnly(props.environment),
      },
      bundling: {
        format: OutputFormat.ESM,
        target: "node24",
        mainFields: ["module", "main"],
        minify: true,
        sourceMap: true,
        // Bundle the SDK too, so the code runs against the versions it was tested with.
        externalModules: [],
        // Some CommonJS dependencies call require(); give the ESM bundle one.
        banner: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      },
    });
    Validations.of(this).acknowledge({
      id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
      reason: "The AWS-managed basic execution role only lets the function write its own CloudWatch logs.",
    });
    Validations.of(this).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "X-Ray's PutTraceSegments/PutTelemetryRecords do not support resource-level permissions.",
    });
  }
}

function definedOnly(env: FunctionEnvironment): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
