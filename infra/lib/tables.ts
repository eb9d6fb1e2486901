import { RemovalPolicy, Validations } from "aws-cdk-lib";
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table, TableEncryption, type TableProps } from "aws-cdk-lib/aws-dynamodb";
import { Grant, type IGrantable } from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import { RATE_LIMIT_TABLE_KEY, RATE_LIMIT_TABLE_TTL } from "../../adapters/rate-limits/dynamo-rate-limiter.ts";

/** The one secondary index of both tables (DynamoTableStore's `index: "gsi1"`). */
export const GSI1 = "gsi1";

/**
 * Pre-warmed write units per second of the contributions table and of its
 * gsi1: a new on-demand table serves 4,000 at once and only doubles its
 * previous peak within 30 minutes, so the first large upload of a stack
 * would crawl. 12,000 on the table and 4,000 on the index carry 4,000
 * records/s (3 and 1 write units per record; see ingest-capacity.ts).
 */
export const CONTRIBUTIONS_WARM_WRITES = { table: 12_000, index: 4_000 } as const;

export interface TablesProps {
  removalPolicy: RemovalPolicy;
}

/**
 * The two DynamoDB tables behind the TableStore port: `main` (entities and the
 * event outbox, with a stream) and `contributions` (bulk ingest rows, no
 * stream). Both use the key schema DynamoTableStore expects.
 */
export class Tables extends Construct {
  readonly main: Table;
  readonly contributions: Table;
  /** Rate-limit counters shared by every API instance (adapters/rate-limits/dynamo-rate-limiter.ts). */
  readonly rateLimits: Table;

  constructor(scope: Construct, id: string, props: TablesProps) {
    super(scope, id);
    const common: TableProps = {
      partitionKey: { name: "pk", type: AttributeType.STRING },
      sortKey: { name: "sk", type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Outbox events and nonces carry an epoch-seconds `ttl`.
      timeToLiveAttribute: "ttl",
      removalPolicy: props.removalPolicy,
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
    };
    // NEW_AND_OLD_IMAGES: the same record shape the local outbox produces.
    this.main = new Table(this, "Main", { ...common, stream: StreamViewType.NEW_AND_OLD_IMAGES });
    this.contributions = new Table(this, "Contributions", { ...common, warmThroughput: { writeUnitsPerSecond: CONTRIBUTIONS_WARM_WRITES.table } });
    // RateLimiterDynamo's own schema: one `key` per limiter and client, expiring by `expire`.
    this.rateLimits = new Table(this, "RateLimits", {
      partitionKey: { name: RATE_LIMIT_TABLE_KEY, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: RATE_LIMIT_TABLE_TTL,
      // Counters of the last few minutes: nothing to restore, and nothing worth keeping when the stack goes.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.rateLimits).acknowledge({
      id: "AwsSolutions-DDB3",
      reason: "Rate-limit counters live for at most a limit's window; a restore would bring back stale counts, so PITR is off.",
    });
    for (const table of [this.main, this.contributions]) {
      table.addGlobalSecondaryIndex({
        indexName: GSI1,
        partitionKey: { name: "gsi1pk", type: AttributeType.STRING },
        sortKey: { name: "gsi1sk", type: AttributeType.STRING },
        projectionType: ProjectionType.ALL,
        ...(table === this.contributions ? { warmThroughput: { writeUnitsPerSecond: CONTRIBUTIONS_WARM_WRITES.index } } : {}),
      });
    }
  }
}

/**
 * The DynamoDB actions behind each TableStore call, as DynamoTableStore
 * (adapters/aws/dynamo-table-store.ts) makes it. `transact` has no entry:
 * IAM authorises TransactWriteItems by the action of each op in it, so a
 * transaction of puts and checks needs `put` and `check`. Scan, UpdateItem
 * and BatchGetItem are none of them: no code calls them.
 */
export const TABLE_STORE_ACTIONS = {
  get: ["dynamodb:GetItem"],
  put: ["dynamodb:PutItem"],
  delete: ["dynamodb:DeleteItem"],
  /** A `check` op in a `transact`. */
  check: ["dynamodb:ConditionCheckItem"],
  query: ["dynamodb:Query"],
  batchPut: ["dynamodb:BatchWriteItem"],
} as const satisfies Record<string, readonly string[]>;
export type TableStoreCall = keyof typeof TABLE_STORE_ACTIONS;

/** What a function does with one table, in TableStore terms. */
export interface TableAccess {
  /** TableStore calls it makes on the table's own keys (`pk`/`sk`); for `transact`, its ops' kinds. */
  calls: TableStoreCall[];
  /** Only items whose `pk` starts with one of these (IAM `dynamodb:LeadingKeys`); any item when absent. */
  pkPrefixes?: string[];
  /** Queries on gsi1: any partition (`true`), or only `gsi1pk`s starting with one of `pkPrefixes`; none when absent. */
  gsi1Queries?: true | { pkPrefixes: string[] };
}

/**
 * Grants exactly the DynamoDB actions `access` needs on `table`: its calls'
 * actions on the table's ARN, and Query alone on `index/gsi1` when it queries
 * the index, each limited to the partition-key prefixes given.
 */
export function grantTableAccess(table: Table, grantee: IGrantable, access: TableAccess): void {
  const actions = [...new Set(access.calls.flatMap((call) => TABLE_STORE_ACTIONS[call]))].sort();
  if (actions.length > 0) {
    Grant.addToPrincipal({ grantee, actions, resourceArns: [table.tableArn], ...leadingKeys(access.pkPrefixes) });
  }
  if (access.gsi1Queries) {
    Grant.addToPrincipal({
      grantee,
      actions: [...TABLE_STORE_ACTIONS.query],
      resourceArns: [`${table.tableArn}/index/${GSI1}`],
      ...leadingKeys(access.gsi1Queries === true ? undefined : access.gsi1Queries.pkPrefixes),
    });
  }
}

/**
 * The condition limiting a statement to partition keys (of the table, or of
 * the index for an index query) that start with one of `prefixes`.
 * ForAllValues: every key a request touches (BatchWriteItem has many) must match.
 */
function leadingKeys(prefixes: string[] | undefined): { conditions?: Record<string, Record<string, string[]>> } {
  if (prefixes === undefined) return {};
  if (prefixes.length === 0) throw new Error("pkPrefixes: give at least one prefix, or leave it out for every partition");
  for (const prefix of prefixes) {
    // `*` and `?` are StringLike wildcards; a prefix holding one would match more than it says.
    if (prefix === "" || /[*?]/.test(prefix)) throw new Error(`pkPrefixes: "${prefix}" must be a non-empty literal prefix`);
  }
  return { conditions: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": prefixes.map((prefix) => `${prefix}*`) } } };
}
