import { DatabaseSync } from "node:sqlite";
import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll } from "vitest";
import { DynamoTableStore, documentClientOptions } from "../../adapters/aws/dynamo-table-store.ts";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { createPlatformTable, startDynalite } from "./emulators.ts";
import { describeShardedContributionsConformance } from "./sharded-contributions.ts";
import { describeTableStoreConformance } from "./table-store.ts";

describeTableStoreConformance("SqliteTableStore", async () => {
  const db = new DatabaseSync(":memory:");
  return { store: new SqliteTableStore(db, "main", { stream: true }), cleanup: async () => db.close() };
});

let dynalite: Awaited<ReturnType<typeof startDynalite>>;
beforeAll(async () => {
  dynalite = await startDynalite();
});
afterAll(async () => {
  await dynalite?.stop();
});

let tables = 0;
describeTableStoreConformance(
  "DynamoTableStore on dynalite",
  async () => {
    const name = `conformance-${++tables}`;
    await createPlatformTable(dynalite.client, name);
    const doc = DynamoDBDocumentClient.from(dynalite.client, documentClientOptions);
    return {
      store: new DynamoTableStore(doc, name),
      cleanup: async () => {
        await dynalite.client.send(new DeleteTableCommand({ TableName: name }));
      },
    };
  },
  {
    // dynalite 4 does not implement TransactWriteItems (its readme lists it as
    // to do), so transactions run against the SDK mock in
    // adapters/aws/dynamo-table-store.test.ts instead.
    skip: {
      transact: "dynalite has no TransactWriteItems",
      // DynamoDB's `=` compares maps and lists by value; dynalite compares them
      // by JS reference and so never matches. The expression we send is
      // asserted in adapters/aws/dynamo-table-store.test.ts.
      equalsOnMaps: "dynalite cannot compare maps or lists",
    },
  },
);

// The contribution read paths over a sharded Datanet, on both stores (dynalite's gsi1 and cursors included).
describeShardedContributionsConformance("SqliteTableStore", async () => {
  const db = new DatabaseSync(":memory:");
  return { store: new SqliteTableStore(db, "contributions", { stream: false }), cleanup: async () => db.close() };
});
describeShardedContributionsConformance("DynamoTableStore on dynalite", async () => {
  const name = `sharded-${++tables}`;
  await createPlatformTable(dynalite.client, name);
  return {
    store: new DynamoTableStore(DynamoDBDocumentClient.from(dynalite.client, documentClientOptions), name),
    cleanup: async () => {
      await dynalite.client.send(new DeleteTableCommand({ TableName: name }));
    },
  };
});
