import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { id, keccak256, toUtf8Bytes, ZeroHash, type Contract, type HDNodeWallet } from "ethers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { deployFixture, eventsOf, mined, revertOf, type Fixture } from "./test-fixture.ts";

let f: Fixture;
let snap: string;
let admin: HDNodeWallet, owner: HDNodeWallet, curator: HDNodeWallet, stranger: HDNodeWallet;
let registry: Contract;

const dn = keccak256(toUtf8Bytes("dn_01TEST"));
const root = id("root-1");

beforeAll(async () => {
  f = await deployFixture();
  [admin, owner, curator, stranger] = f.chain.wallets as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  registry = f.contract("DatanetRegistry");
  snap = await f.snapshot();
});
afterAll(() => f.close());
beforeEach(async () => {
  await f.revert(snap);
  snap = await f.snapshot();
});

const as = (w: HDNodeWallet) => f.contract("DatanetRegistry", w);

describe("createDatanet", () => {
  it("lets an owner create their own Datanet and emits DatanetCreated", async () => {
    const receipt = await mined(as(owner).createDatanet!(dn, owner.address, "ipfs://meta"));
    expect(eventsOf(receipt, registry, "DatanetCreated")).toEqual([[dn, owner.address, "ipfs://meta"]]);
    const d = await registry.getDatanet!(dn);
    expect([d.owner, d.versionCount, d.metadataURI]).toEqual([owner.address, 0n, "ipfs://meta"]);
    expect(await registry.canPublish!(dn, curator.address)).toBe(false);
  });

  it("lets the registrar create for an owner and makes the registrar a curator", async () => {
    const receipt = await mined(registry.createDatanet!(dn, owner.address, "ipfs://meta"));
    expect(eventsOf(receipt, registry, "CuratorSet")).toEqual([[dn, admin.address, true]]);
    expect((await registry.getDatanet!(dn)).owner).toBe(owner.address);
    expect(await registry.canPublish!(dn, admin.address)).toBe(true);
  });

  it("refuses someone creating for another owner without the registrar role", async () => {
    const err = await revertOf(as(stranger).createDatanet!(dn, owner.address, ""), registry);
    expect(err).toEqual({ name: "DatanetRegistryNotRegistrar", args: [stranger.address] });
  });

  it("refuses a second Datanet under the same id", async () => {
    await mined(as(owner).createDatanet!(dn, owner.address, ""));
    const err = await revertOf(as(stranger).createDatanet!(dn, stranger.address, ""), registry);
    expect(err).toEqual({ name: "DatanetRegistryExists", args: [dn] });
  });

  it("refuses the zero owner", async () => {
    const err = await revertOf(registry.createDatanet!(dn, "0x" + "00".repeat(20), ""), registry);
    expect(err.name).toBe("DatanetRegistryZeroAddress");
  });
});

describe("curators and metadata", () => {
  beforeEach(async () => {
    await mined(as(owner).createDatanet!(dn, owner.address, "ipfs://a"));
  });

  it("lets the owner set the metadata URI", async () => {
    const receipt = await mined(as(owner).setMetadataURI!(dn, "ipfs://b"));
    expect(eventsOf(receipt, registry, "MetadataURIUpdated")).toEqual([[dn, "ipfs://b"]]);
    expect((await registry.getDatanet!(dn)).metadataURI).toBe("ipfs://b");
  });

  it("refuses metadata and curator changes from anyone but the owner", async () => {
    expect(await revertOf(as(stranger).setMetadataURI!(dn, "x"), registry)).toEqual({
      name: "DatanetRegistryNotOwner",
      args: [dn, stranger.address],
    });
    expect((await revertOf(as(curator).setCurator!(dn, curator.address, true), registry)).name).toBe("DatanetRegistryNotOwner");
  });

  it("refuses changes to an unknown Datanet", async () => {
    const other = id("other");
    expect(await revertOf(as(owner).setCurator!(other, curator.address, true), registry)).toEqual({
      name: "DatanetRegistryUnknown",
      args: [other],
    });
  });

  it("grants and revokes curators", async () => {
    const receipt = await mined(as(owner).setCurator!(dn, curator.address, true));
    expect(eventsOf(receipt, registry, "CuratorSet")).toEqual([[dn, curator.address, true]]);
    expect(await registry.canPublish!(dn, curator.address)).toBe(true);
    await mined(as(owner).setCurator!(dn, curator.address, false));
    expect(await registry.canPublish!(dn, curator.address)).toBe(false);
  });
});

describe("publishVersion", () => {
  beforeEach(async () => {
    await mined(as(owner).createDatanet!(dn, owner.address, ""));
  });

  it("publishes numbered versions by the owner and stores root, records and tokens", async () => {
    const receipt = await mined(as(owner).publishVersion!(dn, 1, root, 12, 3400, "ipfs://manifest-1"));
    expect(eventsOf(receipt, registry, "VersionPublished")).toEqual([[dn, 1n, root, 12n, 3400n, "ipfs://manifest-1", owner.address]]);
    const v = await registry.getVersion!(dn, 1);
    expect([v.root, v.records, v.tokens]).toEqual([root, 12n, 3400n]);
    expect(v.publishedAt).toBeGreaterThan(0n);
    expect((await registry.getDatanet!(dn)).versionCount).toBe(1n);
  });

  it("lets an authorised curator publish", async () => {
    await mined(as(owner).setCurator!(dn, curator.address, true));
    await mined(as(curator).publishVersion!(dn, 1, root, 1, 1, ""));
    expect((await registry.getVersion!(dn, 1)).root).toBe(root);
  });

  it("refuses a publisher who is neither owner nor curator (wrong owner)", async () => {
    expect(await revertOf(as(stranger).publishVersion!(dn, 1, root, 1, 1, ""), registry)).toEqual({
      name: "DatanetRegistryNotPublisher",
      args: [dn, stranger.address],
    });
  });

  it("refuses a revoked curator", async () => {
    await mined(as(owner).setCurator!(dn, curator.address, true));
    await mined(as(owner).setCurator!(dn, curator.address, false));
    expect((await revertOf(as(curator).publishVersion!(dn, 1, root, 1, 1, ""), registry)).name).toBe("DatanetRegistryNotPublisher");
  });

  it("refuses a replayed or skipped version number", async () => {
    await mined(as(owner).publishVersion!(dn, 1, root, 1, 1, ""));
    expect(await revertOf(as(owner).publishVersion!(dn, 1, root, 1, 1, ""), registry)).toEqual({
      name: "DatanetRegistryBadVersion",
      args: [dn, 1n, 2n],
    });
    expect((await revertOf(as(owner).publishVersion!(dn, 3, root, 1, 1, ""), registry)).args).toEqual([dn, 3n, 2n]);
  });

  it("refuses an empty root and an unknown Datanet", async () => {
    expect((await revertOf(as(owner).publishVersion!(dn, 1, ZeroHash, 1, 1, ""), registry)).name).toBe("DatanetRegistryEmptyRoot");
    expect((await revertOf(as(owner).publishVersion!(id("nope"), 1, root, 1, 1, ""), registry)).name).toBe("DatanetRegistryUnknown");
  });
});

describe("verifyContribution", () => {
  it("accepts a StandardMerkleTree proof and rejects a tampered leaf", async () => {
    const leaves: [string, string, bigint][] = [owner, curator, stranger].map((w, i) => [w.address, id(`record-${i}`), BigInt(100 + i)]);
    const tree = StandardMerkleTree.of(leaves, ["address", "bytes32", "uint256"]);
    await mined(as(owner).createDatanet!(dn, owner.address, ""));
    await mined(as(owner).publishVersion!(dn, 1, tree.root, 3, 303, ""));
    const [who, hash, tokens] = leaves[1]!;
    const proof = tree.getProof(1);
    expect(await registry.verifyContribution!(dn, 1, who, hash, tokens, proof)).toBe(true);
    expect(await registry.verifyContribution!(dn, 1, who, hash, tokens + 1n, proof)).toBe(false);
    expect(await registry.verifyContribution!(dn, 2, who, hash, tokens, proof)).toBe(false);
  });
});
