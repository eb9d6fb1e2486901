import { DatabaseSync } from "node:sqlite";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { Contract, id, type HDNodeWallet } from "ethers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { syncAdapterToChain, getAdapterChainStatus } from "../../core/chain/adapters.ts";
import { syncAdapterPriceToChain } from "../../core/chain/adapter-price.ts";
import type { Chain } from "../../core/chain/chain.ts";
import { getVersionChainStatus, syncVersionToChain } from "../../core/chain/datanet-versions.ts";
import { ChainNotReadyError, ChainSyncBusyError, ChainUnavailableError } from "../../core/chain/errors.ts";
import { versionChainKey } from "../../core/chain/model.ts";
import { routeChainSyncChange } from "../../core/chain/route-change.ts";
import type { ChainSyncDeps } from "../../core/chain/sync-record.ts";
import { defaultConfig } from "../../core/config.ts";
import { datanetKey as datanetItemKey, versionKey } from "../../core/datanets/keys.ts";
import type { DatanetVersion } from "../../core/datanets/model.ts";
import { eventFromItem, eventWrite, EVENT_PK_PREFIX } from "../../core/events.ts";
import type { Item } from "../../core/ports/tables.ts";
import { SqliteTableStore } from "../local/sqlite-table-store.ts";
import { artifacts } from "../../contracts/artifacts/index.ts";
import { EthersChain } from "./ethers-chain.ts";
import { datanetKey } from "../../core/chain/fingerprint.ts";
import { startLocalChain, type LocalChain } from "./local-chain.ts";

let local: LocalChain;
let owner: HDNodeWallet;
let registry: Contract;
let snap: string;

beforeAll(async () => {
  local = await startLocalChain();
  owner = local.accounts[0]!;
  registry = new Contract(local.addresses.datanetRegistry, artifacts.DatanetRegistry.abi as never, local.signer);
  snap = await local.provider.send("evm_snapshot", []);
});
afterAll(() => local.close());

let deps: ChainSyncDeps;
let main: SqliteTableStore;
let db: DatabaseSync;
let now: number;

beforeEach(async () => {
  await local.provider.send("evm_revert", [snap]);
  snap = await local.provider.send("evm_snapshot", []);
  db = new DatabaseSync(":memory:");
  main = new SqliteTableStore(db, "main", { stream: true });
  now = Date.parse("2026-11-25T12:00:00Z");
  const chain = new EthersChain(local.signer, local.addresses, { retry: { baseMs: 1 } });
  deps = { tables: { main, contributions: main }, clock: { now: () => now }, config: defaultConfig, chain };
});

/** A Datanet with a published version, as core/datanets writes them. */
async function seedVersion(datanetId: string, version: number, root?: string): Promise<DatanetVersion> {
  const tree = StandardMerkleTree.of([[owner.address, id(`${datanetId}-${version}`), "42"]], ["address", "bytes32", "uint256"]);
  const v: DatanetVersion = { datanetId, version, root: root ?? tree.root, records: 1, tokens: 42, createdAt: new Date(now).toISOString() };
  await main.put({ ...datanetItemKey(datanetId), id: datanetId, owner: owner.address, name: "n", description: "", license: "CC0-1.0", schema: "text", visibility: "public", tags: [], createdAt: v.createdAt, versions: version });
  await main.put({ ...versionKey(datanetId, version), ...v, state: "published", publishId: "pub_1" });
  return v;
}

const txCount = () => local.provider.getTransactionCount(local.signer.address, "latest");

async function events(type: string) {
  const rows = db.prepare("SELECT new_image FROM stream_records WHERE new_image IS NOT NULL").all() as { new_image: string }[];
  return rows.map((r) => eventFromItem(JSON.parse(r.new_image) as Item)).filter((e) => e?.type === type);
}

describe("syncVersionToChain", () => {
  it("creates the Datanet, publishes the version, records tx hash and block, and emits datanet.version.onchain", async () => {
    const v = await seedVersion("dn_one", 1);
    const status = await syncVersionToChain(deps, v);

    expect(status).toMatchObject({ status: "confirmed", chainId: 31337 });
    const receipt = await local.provider.getTransactionReceipt(status.txHash!);
    expect(receipt?.blockNumber).toBe(status.blockNumber);
    const onChain = await registry.getFunction("getVersion")(datanetKey("dn_one"), 1);
    expect(onChain.root).toBe(v.root); // the root on chain is the root the API returns
    expect((await registry.getFunction("getDatanet")(datanetKey("dn_one"))).owner).toBe(owner.address);
    expect(await getVersionChainStatus(deps, "dn_one", 1)).toEqual(status);
    const [event] = await events("datanet.version.onchain");
    expect(event).toMatchObject({ audience: [owner.address], data: { datanetId: "dn_one", version: 1, root: v.root, txHash: status.txHash, blockNumber: status.blockNumber } });
  });

  it("sends no second transaction for a replayed event", async () => {
    const v = await seedVersion("dn_one", 1);
    const first = await syncVersionToChain(deps, v);
    const sent = await txCount();
    expect(await syncVersionToChain(deps, v)).toEqual(first);
    expect(await txCount()).toBe(sent);
    expect(await events("datanet.version.onchain")).toHaveLength(1);
  });

  it("recovers from a crash after the broadcast without sending again", async () => {
    const v = await seedVersion("dn_one", 1);
    // The transaction goes out and is mined, but the worker dies before recording the receipt.
    const publishThenCrash: Chain["publishDatanetVersion"] = async (request, onSubmitted) => {
      await deps.chain.publishDatanetVersion(request, onSubmitted);
      throw new ChainUnavailableError("worker lost");
    };
    const crashing = new Proxy(deps.chain, {
      get: (target, prop) => {
        if (prop === "publishDatanetVersion") return publishThenCrash;
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    await expect(syncVersionToChain({ ...deps, chain: crashing }, v)).rejects.toBeInstanceOf(ChainUnavailableError);
    const half = await main.get(versionChainKey("dn_one", 1));
    expect(half).toMatchObject({ status: "submitted", txHash: expect.stringMatching(/^0x/) });
    const sent = await txCount();

    const status = await syncVersionToChain(deps, v);
    expect(status).toMatchObject({ status: "confirmed", txHash: half!.txHash });
    expect(await txCount()).toBe(sent);
  });

  it("refuses to work on a record another worker holds", async () => {
    const v = await seedVersion("dn_one", 1);
    await main.put({ ...versionChainKey("dn_one", 1), kind: "datanet-version", status: "sending", rev: 1, chainId: 31337, leaseUntil: now + 60_000, attempts: 1, updatedAt: "" });
    await expect(syncVersionToChain(deps, v)).rejects.toBeInstanceOf(ChainSyncBusyError);
    now += 120_000; // the lease ran out: the holder died
    expect((await syncVersionToChain(deps, v)).status).toBe("confirmed");
  });

  it("marks the record failed with the revert reason when the signer may not publish", async () => {
    const v = await seedVersion("dn_one", 1);
    const stranger = local.accounts[5]!;
    const status = await syncVersionToChain({ ...deps, chain: new EthersChain(stranger, local.addresses) }, v);
    expect(status).toMatchObject({ status: "failed", txHash: null, error: `DatanetRegistryNotRegistrar(${stranger.address})` });
    expect(await events("datanet.version.onchain")).toHaveLength(0);
    // Final: a replay does not try again.
    expect(await syncVersionToChain(deps, v)).toEqual(status);
  });

  it("marks a version failed when the chain already holds another root for it", async () => {
    const v = await seedVersion("dn_one", 1);
    await (await registry.getFunction("createDatanet")(datanetKey("dn_one"), owner.address, "")).wait();
    await (await registry.getFunction("publishVersion")(datanetKey("dn_one"), 1, id("other root"), 1, 1, "")).wait();
    const status = await syncVersionToChain(deps, v);
    expect(status.status).toBe("failed");
    expect(status.error).toContain(id("other root"));
  });

  it("waits (retryably) for the previous version to reach the chain first", async () => {
    const v2 = await seedVersion("dn_one", 2);
    await expect(syncVersionToChain(deps, v2)).rejects.toBeInstanceOf(ChainNotReadyError);
    expect((await getVersionChainStatus(deps, "dn_one", 2)).status).toBe("pending");
    await syncVersionToChain(deps, await seedVersion("dn_one", 1));
    expect((await syncVersionToChain(deps, v2)).status).toBe("confirmed");
  });
});

describe("a transaction that reverts when mined", () => {
  it("is reported with its decoded reason, and nonces stay in order", async () => {
    await (await registry.getFunction("createDatanet")(datanetKey("dn_race"), owner.address, "")).wait();
    const chain = deps.chain;
    const request = { datanetId: "dn_race", owner: owner.address, metadataUri: "", version: 1, root: id("r"), records: 1, tokens: 1, manifestUri: "" };
    await local.provider.send("evm_setAutomine", [false]);
    try {
      // Both pass estimation against the same state; only the first can be mined successfully.
      const a = chain.publishDatanetVersion(request, async () => undefined);
      const b = chain.publishDatanetVersion(request, async () => undefined);
      const settled = Promise.allSettled([a, b]);
      await new Promise((r) => setTimeout(r, 100));
      await local.provider.send("evm_mine", []);
      const [ra, rb] = await settled;
      expect(ra.status).toBe("fulfilled");
      expect(rb).toMatchObject({ status: "rejected", reason: { name: "ChainRevertedError", reason: `DatanetRegistryBadVersion(${datanetKey("dn_race")}, 1, 2)` } });
    } finally {
      await local.provider.send("evm_setAutomine", [true]);
    }
  });
});

describe("syncAdapterToChain", () => {
  it("registers the adapter under its fingerprint once and emits adapter.registered", async () => {
    const v = await seedVersion("dn_one", 1);
    await syncVersionToChain(deps, v);
    const adapter = {
      adapterId: "ad_1",
      owner: owner.address,
      baseModelHash: id("base"),
      weightsHash: id("weights"),
      trainingConfigHash: id("config"),
      sources: [{ datanetId: "dn_one", version: 1, root: v.root, weightBps: 10_000 }],
      pricePerCall: "2000",
      uri: "s3://adapters/ad_1",
    };
    const status = await syncAdapterToChain(deps, adapter);
    expect(status.status).toBe("confirmed");
    const fingerprint = deps.chain.adapterFingerprint(adapter);
    expect(await getAdapterChainStatus(deps, "ad_1")).toMatchObject({ status: "confirmed", fingerprint });
    const onChain = await deps.chain.findAdapter(fingerprint);
    expect(onChain).toMatchObject({ owner: owner.address, pricePerCall: "2000", tx: { txHash: status.txHash } });
    const sent = await txCount();
    expect(await syncAdapterToChain(deps, adapter)).toEqual(status);
    expect(await txCount()).toBe(sent);
    expect(await events("adapter.registered")).toHaveLength(1);
  });

  it("records prices set through the platform as the registrar, and refuses a non-registrar's key and a price over uint96", async () => {
    const v = await seedVersion("dn_one", 1);
    await syncVersionToChain(deps, v);
    const adapter = {
      adapterId: "ad_p",
      owner: owner.address,
      baseModelHash: id("base-p"),
      weightsHash: id("weights-p"),
      trainingConfigHash: id("config-p"),
      sources: [{ datanetId: "dn_one", version: 1, root: v.root, weightBps: 10_000 }],
      pricePerCall: "0",
      uri: "",
    };
    await syncAdapterToChain(deps, adapter);
    const fingerprint = deps.chain.adapterFingerprint(adapter);
    expect(await deps.chain.findAdapter(fingerprint)).toMatchObject({ pricePerCall: "0", pricePerThousandOutputTokens: "0" });
    const tx = await deps.chain.setPrice(fingerprint, { perCall: "1000", perThousandOutputTokens: "250" });
    expect(tx.blockNumber).toBeGreaterThan(0);
    expect(await deps.chain.findAdapter(fingerprint)).toMatchObject({ pricePerCall: "1000", pricePerThousandOutputTokens: "250" });
    const stranger = new EthersChain(local.accounts[5]!, local.addresses, { retry: { baseMs: 1 } });
    await expect(stranger.setPrice(fingerprint, { perCall: "1", perThousandOutputTokens: "1" })).rejects.toMatchObject({
      reason: `AdapterRegistryNotOwnerOrRegistrar(${fingerprint}, ${local.accounts[5]!.address})`,
    });
    await expect(deps.chain.setPrice(fingerprint, { perCall: (1n << 96n).toString(), perThousandOutputTokens: "0" })).rejects.toThrow(/uint96/);
    await expect(deps.chain.setPrice(fingerprint, { perCall: "-1", perThousandOutputTokens: "0" })).rejects.toThrow(RangeError);
  });

  it("syncs a price change once, skips one the chain already has, and never puts an older one back", async () => {
    const price = (perCall: string, perThousandOutputTokens: string, setAt: string) => ({ adapterId: "ad_s", perCall, perThousandOutputTokens, setAt });
    await expect(syncAdapterPriceToChain(deps, price("1", "1", "2026-11-25T12:00:00Z"))).rejects.toBeInstanceOf(ChainNotReadyError);
    const v = await seedVersion("dn_one", 1);
    await syncVersionToChain(deps, v);
    const adapter = {
      adapterId: "ad_s",
      owner: owner.address,
      baseModelHash: id("base-s"),
      weightsHash: id("weights-s"),
      trainingConfigHash: id("config-s"),
      sources: [{ datanetId: "dn_one", version: 1, root: v.root, weightBps: 10_000 }],
      pricePerCall: "0",
      uri: "",
    };
    await syncAdapterToChain(deps, adapter);
    const fingerprint = deps.chain.adapterFingerprint(adapter);

    const first = await syncAdapterPriceToChain(deps, price("1000", "250", "2026-11-25T12:01:00Z"));
    expect(first).toMatchObject({ status: "confirmed", txHash: expect.stringMatching(/^0x/) });
    expect(await deps.chain.findAdapter(fingerprint)).toMatchObject({ pricePerCall: "1000", pricePerThousandOutputTokens: "250" });
    const sent = await txCount();
    expect(await syncAdapterPriceToChain(deps, price("1000", "250", "2026-11-25T12:01:00Z"))).toEqual(first); // a replay
    // Another change to the same price: recorded without a transaction.
    expect(await syncAdapterPriceToChain(deps, price("1000", "250", "2026-11-25T12:02:00Z"))).toMatchObject({ status: "confirmed", txHash: null });
    // An older change delivered late: skipped.
    expect(await syncAdapterPriceToChain(deps, price("5", "5", "2026-11-25T12:00:30Z"))).toMatchObject({ txHash: null, superseded: { by: "2026-11-25T12:02:00Z" } });
    expect(await txCount()).toBe(sent);
    expect(await deps.chain.findAdapter(fingerprint)).toMatchObject({ pricePerCall: "1000" });
    await expect(syncAdapterPriceToChain(deps, price((1n << 96n).toString(), "0", "2026-11-25T12:03:00Z"))).rejects.toMatchObject({ code: "validation-failed" });
    // Through the stream: the price item core/payments writes beside the adapter.
    const item = { pk: "ADAPTER#ad_s", sk: "PRICE", kind: "adapter-price", adapterId: "ad_s", perCall: "7", perThousandOutputTokens: "70", updatedAt: "2026-11-25T12:04:00Z" };
    expect(await routeChainSyncChange(deps, { eventName: "MODIFY", newImage: item })).toMatchObject({ status: "confirmed", txHash: expect.stringMatching(/^0x/) });
    expect(await deps.chain.findAdapter(fingerprint)).toMatchObject({ pricePerCall: "7", pricePerThousandOutputTokens: "70" });
    expect(await routeChainSyncChange(deps, { eventName: "MODIFY", newImage: { ...item, kind: "other" } })).toBeUndefined();
  });

  it("refuses a malformed registration before touching the chain", async () => {
    await expect(syncAdapterToChain(deps, { adapterId: "ad_2", sources: [] } as never)).rejects.toMatchObject({ code: "validation-failed" });
  });

  it("fails with the registry's reason when a source version is not on chain", async () => {
    const status = await syncAdapterToChain(deps, {
      adapterId: "ad_3",
      owner: owner.address,
      baseModelHash: id("b"),
      weightsHash: id("w"),
      trainingConfigHash: id("c"),
      sources: [{ datanetId: "dn_missing", version: 1, root: id("x"), weightBps: 10_000 }],
      pricePerCall: "1",
      uri: "",
    });
    expect(status.status).toBe("failed");
    expect(status.error).toMatch(/^AdapterRegistryUnknownVersion\(/);
  });
});

describe("routeChainSyncChange", () => {
  it("publishes on a datanet.version.published event item and ignores everything else", async () => {
    await seedVersion("dn_one", 1);
    const write = eventWrite("datanet.version.published", { datanetId: "dn_one", version: 1 }, [owner.address], now);
    const eventItem = (write as { put: Item }).put;
    expect(eventItem.pk.startsWith(EVENT_PK_PREFIX)).toBe(true);
    expect(await routeChainSyncChange(deps, { eventName: "MODIFY", newImage: eventItem })).toBeUndefined();
    expect(await routeChainSyncChange(deps, { eventName: "INSERT", newImage: { pk: "DATANET#dn_one", sk: "META" } })).toBeUndefined();
    const status = await routeChainSyncChange(deps, { eventName: "INSERT", newImage: eventItem });
    expect(status?.status).toBe("confirmed");
    expect(await routeChainSyncChange(deps, { eventName: "INSERT", newImage: eventItem })).toEqual(status);
  });
});
