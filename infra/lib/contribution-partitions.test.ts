import { describe, expect, it } from "vitest";
import { contributionLayout } from "../../core/datanets/contribution-layout.ts";
import { contributionId, ingestCheckpointKey } from "../../core/datanets/keys.ts";
import { testStack } from "./test-stack.ts";

const { template, stack } = testStack();
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
const contributionsTable = logicalId(stack.tables.contributions);

type Statement = { Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, string[]>> };

/** Per role: the `dynamodb:LeadingKeys` patterns of its statements on the contributions table and on its gsi1. */
function contributionsAccess(role: unknown) {
  const id = logicalId(role as never);
  const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: id }] } });
  const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
  const on = statements.filter((s) => JSON.stringify(s.Resource).includes(`"${contributionsTable}","Arn"`));
  const keysOf = (index: boolean) => {
    const found = on.filter((s) => JSON.stringify(s.Resource).includes("/index/") === index);
    return found.length === 0 ? undefined : found.map((s) => s.Condition?.["ForAllValues:StringLike"]?.["dynamodb:LeadingKeys"]);
  };
  return { table: keysOf(false), gsi1: keysOf(true) };
}

/** IAM StringLike with only a trailing `*`: what `grantTableAccess` writes. */
const allows = (patterns: string[] | undefined, key: string) => patterns !== undefined && patterns.some((p) => key.startsWith(p.slice(0, -1)));

// Keys the layouts produce: a Datanet created since sharding and one created before (no contributionShards).
const sharded = contributionLayout({ id: "dn_01JNEW", contributionShards: 16 });
const legacy = contributionLayout({ id: "dn_01JOLD" });
const ids = Array.from({ length: 40 }, (_, i) => contributionId("up_01JUP", i + 1));
const hash = (i: number) => `0x${i.toString(16).padStart(2, "0")}${"ab".repeat(31)}`;
const rowPks = [...sharded.rowPartitions, ...legacy.rowPartitions];
const statusPks = [...["accepted", "rejected"].flatMap((s) => [...sharded.statusPartitions(s), ...legacy.statusPartitions(s)])];
const claimPks = [...Array.from({ length: 256 }, (_, i) => sharded.claimKey(hash(i)).pk), legacy.claimKey(hash(1)).pk];

describe("contribution partitions: each function's dynamodb:LeadingKeys on the contributions table", () => {
  it("every key the sharded layout writes is one of its own families, spread over 16 row and 256 claim partitions", () => {
    expect(new Set(ids.map((id) => sharded.rowKey(id).pk)).size).toBe(16);
    expect(new Set(claimPks.slice(0, 256)).size).toBe(256);
    for (const pk of sharded.rowPartitions) expect(pk).toMatch(/^CONTRIB#dn_01JNEW#[0-9a-f]{2}$/);
    for (const pk of claimPks.slice(0, 256)) expect(pk).toMatch(/^CLAIM#dn_01JNEW#[0-9a-f]{2}$/);
    // A Datanet created before sharding keeps its one partition for rows and claims alike.
    expect(legacy.rowPartitions).toEqual(["DATANET#dn_01JOLD"]);
    expect(legacy.claimKey(hash(7)).pk).toBe("DATANET#dn_01JOLD");
  });

  it("ingest and its dead-letter consumer: rows, claims and checkpoints, nothing else; no index access", () => {
    for (const fn of [stack.datanets.ingestFunction, stack.datanets.ingestDeadLetterFunction]) {
      const access = contributionsAccess(fn.role);
      expect(access.table).toEqual([["CONTRIB#*", "CLAIM#*", "DATANET#*"]]);
      expect(access.gsi1).toBeUndefined();
      const patterns = access.table![0];
      for (const pk of [...rowPks, ...claimPks, ingestCheckpointKey("dn_01JNEW", "up_01JUP").pk]) expect(allows(patterns, pk)).toBe(true);
      // Another family (say a main-table key that found its way here) is refused.
      expect(allows(patterns, "ACCOUNT#0xabc")).toBe(false);
    }
  });

  it("the API lists rows (all, or one status on gsi1) and never reads a claim of a sharded Datanet", () => {
    const access = contributionsAccess(stack.api.handler.role);
    expect(access.table).toEqual([["CONTRIB#*", "DATANET#*"]]);
    expect(access.gsi1).toEqual([["CONTRIB#*", "DATANET#*"]]);
    for (const pk of rowPks) expect(allows(access.table![0], pk)).toBe(true);
    for (const pk of statusPks) expect(allows(access.gsi1![0], pk)).toBe(true);
    for (const pk of claimPks.slice(0, 256)) expect(allows(access.table![0], pk)).toBe(false);
  });

  it("the background version build queries rows only", () => {
    const access = contributionsAccess(stack.versionPublishing.function.role);
    expect(access.table).toEqual([["CONTRIB#*", "DATANET#*"]]);
    expect(access.gsi1).toBeUndefined();
    for (const pk of claimPks.slice(0, 256)) expect(allows(access.table![0], pk)).toBe(false);
  });

  it("no function has unconditioned access to the contributions table", () => {
    const policies = Object.values(template.findResources("AWS::IAM::Policy"));
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    const on = statements.filter((s) => JSON.stringify(s.Resource).includes(`"${contributionsTable}","Arn"`));
    expect(on.length).toBeGreaterThanOrEqual(5);
    for (const s of on) expect(s.Condition?.["ForAllValues:StringLike"]?.["dynamodb:LeadingKeys"]).toBeDefined();
  });
});
