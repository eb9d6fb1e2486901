import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import {
  type AddToPrincipalPolicyResult,
  Effect,
  ManagedPolicy,
  Policy,
  type PolicyStatement,
  Role,
  ServicePrincipal,
} from "aws-cdk-lib/aws-iam";
import { Architecture, type IDestination, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { type Construct, DependencyGroup } from "constructs";

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
  /** The job functions' (functions/aws-job-deps.ts) and the trainer's queues and Batch resources (infra/lib/training.ts). */
  JOBS_QUEUE_URL?: string;
  JOB_EVENTS_QUEUE_URL?: string;
  BATCH_JOB_QUEUE?: string;
  BATCH_JOB_DEFINITION?: string;
  /** Where the API queues background builds of large Datanet versions (infra/lib/version-publishing.ts). */
  VERSIONS_QUEUE_URL?: string;
  /** The API's rate-limit counters table (infra/lib/tables.ts). */
  RATE_LIMIT_TABLE?: string;
  /** The largest upload the API accepts, bytes (infra/lib/ingest-capacity.ts). */
  MAX_UPLOAD_BYTES?: string;
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
  /** Where an asynchronous invocation goes once Lambda's retries fail (EventBridge targets). */
  onFailure?: IDestination;
}

/**
 * Actions IAM only grants on `Resource: *` (they have no resource-level
 * permissions), each with the reason its cdk-nag finding is acknowledged.
 * Any other action on `*` stays in the role's default policy, where cdk-nag
 * reports it.
 */
export const WILDCARD_ONLY_ACTIONS: Readonly<Record<string, string>> = {
  "xray:PutTraceSegments":
    "Active tracing uploads trace segments; X-Ray's PutTraceSegments has no resource-level permissions, so IAM only grants it on *.",
  "xray:PutTelemetryRecords":
    "Active tracing reports X-Ray telemetry; PutTelemetryRecords has no resource-level permissions, so IAM only grants it on *.",
  "dynamodb:ListStreams":
    "A DynamoDB stream event source lists the table's streams; ListStreams has no resource-level permissions, so IAM only grants it on *. Reading records is granted on the stream's ARN alone.",
};

/**
 * A function's execution role that puts each statement granting a
 * WILDCARD_ONLY_ACTIONS action on `*` into a policy of that action's own,
 * acknowledged there with the action's reason, so the finding
 * `AwsSolutions-IAM5[Resource::*]` is never waived for the default policy.
 */
class FunctionRole extends Role {
  readonly #wildcardPolicies = new Map<string, Policy>();

  constructor(scope: Construct, id: string) {
    super(scope, id, {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName("service-role/AWSLambdaBasicExecutionRole")],
    });
    Validations.of(this).acknowledge({
      id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
      reason: "The AWS-managed basic execution role only lets the function write its own CloudWatch logs.",
    });
  }

  override addToPrincipalPolicy(statement: PolicyStatement): AddToPrincipalPolicyResult {
    if (!isWildcardOnly(statement)) return super.addToPrincipalPolicy(statement);
    const policies: Policy[] = [];
    for (const action of statement.actions) {
      let policy = this.#wildcardPolicies.get(action);
      if (!policy) {
        // e.g. `xray:PutTraceSegments` → `XrayPutTraceSegments`
        const id = action.split(":").map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join("");
        policy = new Policy(this, id);
        this.attachInlinePolicy(policy);
        Validations.of(policy).acknowledge({ id: "AwsSolutions-IAM5[Resource::*]", reason: WILDCARD_ONLY_ACTIONS[action]! });
        this.#wildcardPolicies.set(action, policy);
      }
      // A second grant of the same action (two stream sources, say) adds nothing.
      if (policy.document.isEmpty) policy.addStatements(statement.copy({ actions: [action] }));
      policies.push(policy);
    }
    const policyDependable = new DependencyGroup(...policies);
    return { statementAdded: true, policyDependable };
  }
}

/** An unconditional Allow of WILDCARD_ONLY_ACTIONS only, on `*` only. */
function isWildcardOnly(statement: PolicyStatement): boolean {
  return (
    statement.effect === Effect.ALLOW &&
    statement.resources.length === 1 &&
    statement.resources[0] === "*" &&
    statement.notResources.length === 0 &&
    statement.notActions.length === 0 &&
    !statement.hasPrincipal &&
    Object.keys(statement.conditions as object).length === 0 &&
    statement.actions.length > 0 &&
    statement.actions.every((action) => Object.hasOwn(WILDCARD_ONLY_ACTIONS, action))
  );
}

/**
 * A function of this app: Node 24 on ARM64, one ESM bundle built by the local
 * esbuild (no Docker), X-Ray tracing, its own log group with retention, and a
 * role (`<id>ServiceRole`, beside the function) whose wildcard-only grants
 * sit in policies of their own, each acknowledged for its action alone.
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
      ...(props.onFailure ? { onFailure: props.onFailure } : {}),
      tracing: Tracing.ACTIVE,
      // Made before the function exists, so it is the function's sibling rather than its child.
      role: new FunctionRole(scope, `${id}ServiceRole`),
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
  }
}

function definedOnly(env: FunctionEnvironment): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
