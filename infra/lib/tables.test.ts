import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { testStack } from "./test-stack.ts";

const { template } = testStack();
const keySchema = [
  { AttributeName: "pk", KeyType: "HASH" },
  { AttributeName: "sk", KeyType: "RANGE" },
];
const gsi1 = Match.arrayWith([
  Match.objectLike({
    IndexName: "gsi1",
    KeySchema: [
      { AttributeName: "gsi1pk", KeyType: "HASH" },
      { AttributeName: "gsi1sk", KeyType: "RANGE" },
    ],
    Projection: { ProjectionType: "ALL" },
  }),
]);

describe("Tables", () => {
  it("main table: pk/sk, gsi1, on-demand, PITR, TTL, AWS-managed encryption, NEW_AND_OLD_IMAGES stream", () => {
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      KeySchema: keySchema,
      GlobalSecondaryIndexes: gsi1,
      BillingMode: "PAY_PER_REQUEST",
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: "ttl", Enabled: true },
      SSESpecification: { SSEEnabled: true },
      StreamSpecification: { StreamViewType: "NEW_AND_OLD_IMAGES" },
    });
  });

  it("contributions table: same keys and index, no stream", () => {
    const tables = template.findResources("AWS::DynamoDB::Table");
    expect(Object.keys(tables)).toHaveLength(2);
    const withoutStream = Object.values(tables).filter((t) => t.Properties.StreamSpecification === undefined);
    expect(withoutStream).toHaveLength(1);
    expect(withoutStream[0]!.Properties).toMatchObject({
      KeySchema: keySchema,
      BillingMode: "PAY_PER_REQUEST",
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it("keeps both tables when the stack is deleted (RETAIN by default)", () => {
    for (const table of Object.values(template.findResources("AWS::DynamoDB::Table"))) {
      expect(table.DeletionPolicy).toBe("Retain");
      expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    }
  });
});
