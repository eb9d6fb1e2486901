import { type CfnResource, Stack, Validations } from "aws-cdk-lib";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import type { IGrantable } from "aws-cdk-lib/aws-iam";
import type { Bucket } from "aws-cdk-lib/aws-s3";
import { Construct, type IConstruct } from "constructs";

// cdk-nag findings that the grant* methods cause by design, each acknowledged
// with its reason on the role that holds the grant.

/** Where a grant's statements (and so cdk-nag's findings on them) live: the grantee's role, else the grantee. */
function grantScope(grantee: IConstruct & IGrantable): IConstruct {
  const principal = grantee.grantPrincipal;
  return Construct.isConstruct(principal) ? principal : grantee;
}

/** `<Logical.Arn>` as cdk-nag renders a resource's ARN in a finding id. */
function arnToken(resource: Table | Bucket): string {
  return `<${Stack.of(resource).getLogicalId(resource.node.defaultChild as CfnResource)}.Arn>`;
}

/** The `index/*` resource of a DynamoDB data grant. */
export function acknowledgeTableIndexes(grantee: IConstruct & IGrantable, ...tables: Table[]): void {
  for (const table of tables) {
    Validations.of(grantScope(grantee)).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${arnToken(table)}/index/*]`,
      reason: "Queries use the table's gsi1 index; the grant covers the table's own indexes only.",
    });
  }
}

/** The S3 action families a bucket grant expands to, and the key prefixes it is scoped to. */
export function acknowledgeBucketGrant(grantee: IConstruct & IGrantable, bucket: Bucket, actions: string[], prefixes: string[]): void {
  for (const action of actions) {
    Validations.of(grantScope(grantee)).acknowledge({
      id: `AwsSolutions-IAM5[Action::${action}]`,
      reason: `${action} is the action family Bucket.grant* emits; it applies only to the key prefixes listed for this function.`,
    });
  }
  for (const prefix of prefixes) {
    Validations.of(grantScope(grantee)).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${arnToken(bucket)}/${prefix}*]`,
      reason: `Object keys are generated per Datanet and upload; the grant is limited to the ${prefix} prefix.`,
    });
  }
}
