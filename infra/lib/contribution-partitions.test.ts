import { describe, expect, it } from "vitest";
import { contributionLayout } from "../../core/datanets/contribution-layout.ts";
import { contributionId, ingestCheckpointKey } from "../../core/datanets/keys.ts";
import { alice, bob, jsonl, newDatanet, uploadAndIngest } from "../../test/fakes/datanet-fixtures.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { BYTES_PER_RECORD, DESIGN_RECORDS_PER_SECOND, INGEST_WORK_SECONDS, MAX_UPLOAD_BYTES, WRITE_UNITS_PER_RECORD } from "./ingest-capacity.ts";
import { CONTRIBUTIONS_WARM_WRITES } from "./tables.ts";
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

describe("contribution partitions: the ingest rate the table is set up for, and the upload limit that follows", () => {
  it("pre-warms the contributions table and its gsi1 for the design rate, and leaves the main table alone", () => {
    const tables = template.findResources("AWS::DynamoDB::Table");
    const contributions = tables[contributionsTable]!.Properties;
    expect(contributions.WarmThroughput).toEqual({ WriteUnitsPerSecond: CONTRIBUTIONS_WARM_WRITES.table });
    expect(contributions.GlobalSecondaryIndexes[0].WarmThroughput).toEqual({ WriteUnitsPerSecond: CONTRIBUTIONS_WARM_WRITES.index });
    expect(tables[logicalId(stack.tables.main)]!.Properties.WarmThroughput).toBeUndefined();
    // 12,000 / 3 on the table and 4,000 / 1 on the index: both carry the same records/s.
    expect(DESIGN_RECORDS_PER_SECOND).toBe(4_000);
  });

  it("a record of the size the limit assumes fits one write unit as a row and as a claim, so 3 + 1 units per record hold", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    // One record of BYTES_PER_RECORD bytes as a JSONL line, and a long one to see the margin.
    const line = (n: number) => ({ text: `${n} ${"w".repeat(BYTES_PER_RECORD - 14)}` });
    await uploadAndIngest(deps, bob, datanet.id, jsonl(line(1), line(2)));
    const items = (deps.db.prepare("SELECT data FROM items_contributions").all() as { data: string }[]).map((r) => r.data);
    expect(items.length).toBe(4);
    // JSON text bounds DynamoDB's size (names and values in UTF-8, plus quotes and separators it does not count).
    for (const item of items) expect(Buffer.byteLength(item)).toBeLessThanOrEqual(1024);
    expect(WRITE_UNITS_PER_RECORD).toEqual({ table: 1 + 2, index: 1 });
  });

  it("the API refuses uploads above what one 15-minute ingest writes at that rate (1.5 GiB), so 2 GiB is refused", () => {
    const api = template.findResources("AWS::Lambda::Function")[logicalId(stack.api.handler)]!;
    expect(api.Properties.Environment.Variables.MAX_UPLOAD_BYTES).toBe(String(MAX_UPLOAD_BYTES));
    const fits = DESIGN_RECORDS_PER_SECOND * INGEST_WORK_SECONDS * BYTES_PER_RECORD;
    expect(MAX_UPLOAD_BYTES).toBeLessThanOrEqual(fits);
    expect(MAX_UPLOAD_BYTES).toBeGreaterThan(fits - 256 * 1024 ** 2);
    expect(MAX_UPLOAD_BYTES).toBe(1.5 * 1024 ** 3);
    // 900 s less the 90 s a run keeps to checkpoint before its deadline.
    expect(INGEST_WORK_SECONDS).toBe(810);
  });
});
