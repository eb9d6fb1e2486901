import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { id, keccak256, toUtf8Bytes, TypedDataEncoder, ZeroHash, type Contract, type HDNodeWallet } from "ethers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { increaseTime } from "../adapters/chain/edr.ts";
import { DATANET_ATTESTATION_TYPES, registryDomain, signDatanetAttestation } from "../adapters/chain/registrar-attestation.ts";
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
  it("refuses an owner creating their own Datanet: a front-runner naming itself owner of a public key fails", async () => {
    // The key is keccak256 of the platform's id, known before it is used; self-creation let anyone claim it first.
    const err = await revertOf(as(stranger).createDatanet!(dn, stranger.address, "ipfs://meta"), registry);
    expect(err).toEqual({ name: "DatanetRegistryNotRegistrar", args: [stranger.address] });
    expect(await revertOf(as(owner).createDatanet!(dn, owner.address, ""), registry)).toEqual({ name: "DatanetRegistryNotRegistrar", args: [owner.address] });
  });

  it("lets the registrar create for an owner and makes the registrar a curator", async () => {
    const receipt = await mined(registry.createDatanet!(dn, owner.address, "ipfs://meta"));
    expect(eventsOf(receipt, registry, "DatanetCreated")).toEqual([[dn, owner.address, "ipfs://meta"]]);
    expect(eventsOf(receipt, registry, "CuratorSet")).toEqual([[dn, admin.address, true]]);
    const d = await registry.getDatanet!(dn);
    expect([d.owner, d.versionCount, d.metadataURI]).toEqual([owner.address, 0n, "ipfs://meta"]);
    expect(await registry.canPublish!(dn, admin.address)).toBe(true);
    expect(await registry.canPublish!(dn, curator.address)).toBe(false);
  });

  describe("with the registrar's signature, submitted by anyone", () => {
    const deadline = async () => (await f.chain.provider.getBlock("latest"))!.timestamp + 600;
    const domain = () => registryDomain("DatanetRegistry", f.chain.chainId, f.addresses.datanetRegistry);

    it("creates the attested Datanet for its owner, who pays the gas; the signer becomes a curator", async () => {
      const d = await deadline();
      const sig = await signDatanetAttestation(admin, domain(), { id: dn, owner: owner.address, metadataURI: "ipfs://meta", deadline: d });
      expect(await registry.hashDatanetAttestation!(dn, owner.address, "ipfs://meta", d)).toBe(
        TypedDataEncoder.hash(domain(), DATANET_ATTESTATION_TYPES, { id: dn, owner: owner.address, metadataURIHash: keccak256(toUtf8Bytes("ipfs://meta")), deadline: d }),
      );
      const receipt = await mined(as(owner).createDatanetWithSignature!(dn, owner.address, "ipfs://meta", d, admin.address, sig));
      expect(eventsOf(receipt, registry, "DatanetCreated")).toEqual([[dn, owner.address, "ipfs://meta"]]);
      expect(await registry.canPublish!(dn, admin.address)).toBe(true);
      // Replayed: the Datanet exists.
      expect((await revertOf(as(stranger).createDatanetWithSignature!(dn, owner.address, "ipfs://meta", d, admin.address, sig), registry)).name).toBe("DatanetRegistryExists");
    });

    it("refuses a copy with another owner or URI, a non-registrar's signature, and an expired one", async () => {
      const d = await deadline();
      const sig = await signDatanetAttestation(admin, domain(), { id: dn, owner: owner.address, metadataURI: "ipfs://meta", deadline: d });
      const bad = { name: "DatanetRegistryBadAttestation", args: [admin.address] };
      expect(await revertOf(as(stranger).createDatanetWithSignature!(dn, stranger.address, "ipfs://meta", d, admin.address, sig), registry)).toEqual(bad);
      expect(await revertOf(as(stranger).createDatanetWithSignature!(dn, owner.address, "ipfs://evil", d, admin.address, sig), registry)).toEqual(bad);
      const self = await signDatanetAttestation(stranger, domain(), { id: dn, owner: stranger.address, metadataURI: "", deadline: d });
      expect(await revertOf(as(stranger).createDatanetWithSignature!(dn, stranger.address, "", d, stranger.address, self), registry)).toEqual({
        name: "DatanetRegistryBadAttestation",
        args: [stranger.address],
      });
      await increaseTime(f.chain.provider, 601);
      expect(await revertOf(as(owner).createDatanetWithSignature!(dn, owner.address, "ipfs://meta", d, admin.address, sig), registry)).toEqual({
        name: "DatanetRegistryAttestationExpired",
        args: [BigInt(d)],
      });
    });
  });

  it("refuses a second Datanet under the same id", async () => {
    await mined(registry.createDatanet!(dn, owner.address, ""));
    const err = await revertOf(registry.createDatanet!(dn, stranger.address, ""), registry);
    expect(err).toEqual({ name: "DatanetRegistryExists", args: [dn] });
  });

  it("refuses the zero owner", async () => {
    const err = await revertOf(registry.createDatanet!(dn, "0x" + "00".repeat(20), ""), registry);
    expect(err.name).toBe("DatanetRegistryZeroAddress");
  });
});

describe("curators and metadata", () => {
  beforeEach(async () => {
    await mined(registry.createDatanet!(dn, owner.address, "ipfs://a"));
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
    await mined(registry.createDatanet!(dn, owner.address, ""));
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
    await mined(registry.createDatanet!(dn, owner.address, ""));
    await mined(as(owner).publishVersion!(dn, 1, tree.root, 3, 303, ""));
    const [who, hash, tokens] = leaves[1]!;
    const proof = tree.getProof(1);
    expect(await registry.verifyContribution!(dn, 1, who, hash, tokens, proof)).toBe(true);
    expect(await registry.verifyContribution!(dn, 1, who, hash, tokens + 1n, proof)).toBe(false);
    expect(await registry.verifyContribution!(dn, 2, who, hash, tokens, proof)).toBe(false);
  });
});
