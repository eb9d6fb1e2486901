import { id, parseUnits, ZeroAddress, type Contract, type HDNodeWallet } from "ethers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { attributionFingerprint, datanetKey, sortSources, type AttributionSource } from "../core/chain/fingerprint.ts";
import { deployFixture, eventsOf, mined, revertOf, type Fixture } from "./test-fixture.ts";

let f: Fixture;
let snap: string;
let owner: HDNodeWallet, other: HDNodeWallet, stranger: HDNodeWallet;
let registry: Contract;

const dnA = datanetKey("dn_A");
const dnB = datanetKey("dn_B");
const rootA1 = id("A1"), rootA2 = id("A2"), rootB1 = id("B1");

beforeAll(async () => {
  f = await deployFixture();
  [, owner, other, stranger] = f.chain.wallets as HDNodeWallet[] as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  registry = f.contract("AdapterRegistry");
  const datanets = f.contract("DatanetRegistry");
  // Two Datanets created by the platform's registrar, with versions A1, A2 and B1.
  await mined(datanets.createDatanet!(dnA, owner.address, ""));
  await mined(datanets.createDatanet!(dnB, other.address, ""));
  await mined(datanets.publishVersion!(dnA, 1, rootA1, 10, 100, ""));
  await mined(datanets.publishVersion!(dnA, 2, rootA2, 20, 200, ""));
  await mined(datanets.publishVersion!(dnB, 1, rootB1, 5, 50, ""));
  snap = await f.snapshot();
});
afterAll(() => f.close());
beforeEach(async () => {
  await f.revert(snap);
  snap = await f.snapshot();
});

const sources = (): AttributionSource[] =>
  sortSources([
    { datanetId: dnA, version: 2, root: rootA2, weightBps: 6000 },
    { datanetId: dnB, version: 1, root: rootB1, weightBps: 4000 },
  ]);

function registration(overrides: Partial<Record<string, unknown>> = {}) {
  return {
    baseModelHash: id("base"),
    weightsHash: id("weights"),
    trainingConfigHash: id("config"),
    sources: sources(),
    owner: owner.address,
    pricePerCall: parseUnits("0.002", 6),
    uri: "s3://adapters/a1",
    ...overrides,
  };
}

const as = (w: HDNodeWallet) => f.contract("AdapterRegistry", w);

describe("register", () => {
  it("registers under the fingerprint TypeScript computes and stores the binding", async () => {
    const r = registration();
    const fp = attributionFingerprint(r);
    expect(await registry.fingerprintOf!(r.baseModelHash, r.weightsHash, r.trainingConfigHash, r.sources)).toBe(fp);
    const receipt = await mined(as(owner).register!(r));
    expect(eventsOf(receipt, registry, "AdapterRegistered")).toEqual([
      [fp, owner.address, r.baseModelHash, r.weightsHash, r.trainingConfigHash, r.pricePerCall, r.uri],
    ]);
    const a = await registry.getAdapter!(fp);
    expect([a.owner, a.pricePerCall, a.weightsHash, a.uri]).toEqual([owner.address, r.pricePerCall, r.weightsHash, r.uri]);
    const stored = (await registry.getSources!(fp)).map((s: unknown[]) => [...s]);
    expect(stored).toEqual(r.sources.map((s) => [s.datanetId, s.root, BigInt(s.version), BigInt(s.weightBps)]));
  });

  it("lets the platform's registrar register on the owner's behalf", async () => {
    const fp = attributionFingerprint(registration());
    await mined(registry.register!(registration()));
    expect((await registry.getAdapter!(fp)).owner).toBe(owner.address);
  });

  it("refuses a duplicate fingerprint, whoever the owner and price", async () => {
    await mined(as(owner).register!(registration()));
    const fp = attributionFingerprint(registration());
    expect(await revertOf(registry.register!(registration({ owner: other.address, pricePerCall: 1n })), registry)).toEqual({
      name: "AdapterRegistryExists",
      args: [fp],
    });
  });

  it("refuses a caller who is neither the owner nor a registrar", async () => {
    expect(await revertOf(as(stranger).register!(registration()), registry)).toEqual({
      name: "AdapterRegistryNotRegistrar",
      args: [stranger.address],
    });
  });

  it("refuses a source whose root is not the published one", async () => {
    const bad = [{ datanetId: dnA, version: 1, root: rootA2, weightBps: 10000 }];
    expect(await revertOf(as(owner).register!(registration({ sources: bad })), registry)).toEqual({
      name: "AdapterRegistryUnknownVersion",
      args: [dnA, 1n, rootA2],
    });
    const unpublished = [{ datanetId: dnB, version: 2, root: rootB1, weightBps: 10000 }];
    expect((await revertOf(as(owner).register!(registration({ sources: unpublished })), registry)).name).toBe("AdapterRegistryUnknownVersion");
  });

  it("refuses weights that do not add up to 10 000 bps", async () => {
    const s = sources().map((x) => ({ ...x, weightBps: 4000 }));
    expect(await revertOf(as(owner).register!(registration({ sources: s })), registry)).toEqual({
      name: "AdapterRegistryBadWeights",
      args: [8000n],
    });
  });

  it("refuses unsorted or repeated sources and an empty list", async () => {
    const s = sources();
    expect((await revertOf(as(owner).register!(registration({ sources: [s[1], s[0]] })), registry)).name).toBe(
      "AdapterRegistrySourcesNotSorted",
    );
    const twice = [{ ...s[0]!, weightBps: 5000 }, { ...s[0]!, weightBps: 5000 }];
    expect((await revertOf(as(owner).register!(registration({ sources: twice })), registry)).args).toEqual([1n]);
    expect((await revertOf(as(owner).register!(registration({ sources: [] })), registry)).name).toBe("AdapterRegistryNoSources");
  });

  it("refuses the zero owner", async () => {
    expect((await revertOf(registry.register!(registration({ owner: ZeroAddress })), registry)).name).toBe("AdapterRegistryZeroAddress");
  });
});

describe("owner updates", () => {
  let fp: string;
  beforeEach(async () => {
    await mined(as(owner).register!(registration()));
    fp = attributionFingerprint(registration());
  });

  it("lets the owner change price and URI but keeps the binding", async () => {
    const r1 = await mined(as(owner).setPrice!(fp, 5n));
    expect(eventsOf(r1, registry, "PriceUpdated")).toEqual([[fp, 5n]]);
    const r2 = await mined(as(owner).setURI!(fp, "s3://adapters/a1-v2"));
    expect(eventsOf(r2, registry, "URIUpdated")).toEqual([[fp, "s3://adapters/a1-v2"]]);
    const a = await registry.getAdapter!(fp);
    expect([a.pricePerCall, a.uri, a.weightsHash, a.baseModelHash]).toEqual([5n, "s3://adapters/a1-v2", id("weights"), id("base")]);
  });

  it("refuses price, URI and ownership changes by anyone else, the registrar included", async () => {
    for (const call of [as(stranger).setPrice!(fp, 1n), registry.setURI!(fp, "x"), as(other).transferAdapterOwnership!(fp, other.address)]) {
      expect((await revertOf(call, registry)).name).toBe("AdapterRegistryNotOwner");
    }
  });

  it("transfers ownership, after which the old owner has no say", async () => {
    const receipt = await mined(as(owner).transferAdapterOwnership!(fp, other.address));
    expect(eventsOf(receipt, registry, "AdapterOwnershipTransferred")).toEqual([[fp, owner.address, other.address]]);
    expect((await revertOf(as(owner).setPrice!(fp, 1n), registry)).name).toBe("AdapterRegistryNotOwner");
    await mined(as(other).setPrice!(fp, 9n));
    expect((await registry.getAdapter!(fp)).pricePerCall).toBe(9n);
  });

  it("refuses updates to an unknown fingerprint", async () => {
    expect(await revertOf(as(owner).setPrice!(id("nope"), 1n), registry)).toEqual({ name: "AdapterRegistryUnknown", args: [id("nope")] });
  });
});
