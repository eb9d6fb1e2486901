import { RemovalPolicy } from "aws-cdk-lib";
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table, TableEncryption, type TableProps } from "aws-cdk-lib/aws-dynamodb";
import { Construct } from "constructs";

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
    this.contributions = new Table(this, "Contributions", common);
    for (const table of [this.main, this.contributions]) {
      table.addGlobalSecondaryIndex({
        indexName: "gsi1",
        partitionKey: { name: "gsi1pk", type: AttributeType.STRING },
        sortKey: { name: "gsi1sk", type: AttributeType.STRING },
        projectionType: ProjectionType.ALL,
      });
    }
  }
}
