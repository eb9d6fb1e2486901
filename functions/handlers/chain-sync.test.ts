import { DatabaseSync } from "node:sqlite";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { marshall } from "@aws-sdk/util-dynamodb";
import { Logger } from "@aws-lambda-powertools/logger";
import type { Context, DynamoDBRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { id } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getVersionChainStatus } from "../../core/chain/datanet-versions.ts";
import type { ChainSyncDeps } from "../../core/chain/sync-record.ts";
import { defaultConfig } from "../../core/config.ts";
import { datanetKey, versionKey } from "../../core/datanets/keys.ts";
import { eventWrite } from "../../core/events.ts";
import type { Item } from "../../core/ports/tables.ts";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { createChainSyncHandler } from "./chain-sync.ts";
import { EthersChain } from "../../adapters/chain/ethers-chain.ts";
import { startLocalChain, type LocalChain } from "../../adapters/chain/local-chain.ts";
import { loadChainSecret, parseChainSecret } from "../../adapters/chain/secret-signer.ts";

let local: LocalChain;
let deps: ChainSyncDeps;
const now = Date.parse("2026-11-25T12:00:00Z");

beforeAll(async () => {
  local = await startLocalChain();
  const main = new SqliteTableStore(new DatabaseSync(":memory:"), "main", { stream: false });
  deps = { tables: { main, contributions: main }, clock: { now: () => now }, config: defaultConfig, chain: new EthersChain(local.signer, local.addresses) };
  const owner = local.accounts[0]!.address;
  for (const version of [1, 3]) {
    await main.put({ ...datanetKey("dn_l"), id: "dn_l", owner, name: "n", description: "", license: "CC0-1.0", schema: "text", visibility: "public", tags: [], createdAt: "", versions: 3 });
    await main.put({ ...versionKey("dn_l", version), datanetId: "dn_l", version, root: id(`root-${version}`), records: 1, tokens: 1, createdAt: "", state: "published" });
  }
});
afterAll(() => local.close());

function streamRecord(seq: string, item: Item, eventName: "INSERT" | "MODIFY" = "INSERT"): DynamoDBRecord {
  return { eventName, dynamodb: { SequenceNumber: seq, NewImage: marshall(item, { removeUndefinedValues: true }) as never }, eventSourceARN: "arn:aws:dynamodb:eu-west-1:1:table/main/stream/x" };
}
const published = (version: number) => (eventWrite("datanet.version.published", { datanetId: "dn_l", version }, [], now) as { put: Item }).put;

describe("chain-sync Lambda handler", () => {
  it("publishes versions from stream records and reports the ones to retry by sequence number", async () => {
    const handler = createChainSyncHandler(async () => deps, new Logger({ logLevel: "SILENT" }));
    const response = await handler(
      {
        Records: [
          streamRecord("100", published(1)),
          streamRecord("101", { pk: "DATANET#dn_l", sk: "META" }, "MODIFY"), // not for chain sync: skipped
          streamRecord("102", published(3)), // version 2 is not on chain yet: retry later
        ],
      },
      {} as Context,
    );
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "102" }] });
    expect((await getVersionChainStatus(deps, "dn_l", 1)).status).toBe("confirmed");
    expect((await getVersionChainStatus(deps, "dn_l", 3)).status).toBe("pending");
  });
});

describe("chain signer secret", () => {
  const key = "0x" + "ab".repeat(32);

  it("accepts a bare key or JSON with an RPC URL", () => {
    expect(parseChainSecret(` ${key}\n`)).toEqual({ privateKey: key });
    expect(parseChainSecret(JSON.stringify({ privateKey: key, rpcUrl: "https://rpc.example/v2/k" }))).toEqual({ privateKey: key, rpcUrl: "https://rpc.example/v2/k" });
  });

  it("refuses malformed secrets without echoing them", () => {
    expect(() => parseChainSecret("hunter2")).toThrow(/neither a 0x private key nor JSON/);
    const error = (() => {
      try {
        parseChainSecret(JSON.stringify({ privateKey: "0x1234" }));
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toMatch(/malformed: privateKey/);
    expect(error?.message).not.toContain("0x1234");
  });

  it("reads the secret from Secrets Manager", async () => {
    const sm = mockClient(SecretsManagerClient);
    sm.on(GetSecretValueCommand, { SecretId: "chain/signer" }).resolves({ SecretString: key });
    expect(await loadChainSecret(new SecretsManagerClient({ region: "eu-west-1" }), "chain/signer")).toEqual({ privateKey: key });
    sm.restore();
  });
});
