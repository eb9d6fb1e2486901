import { id, keccak256, parseUnits, toUtf8Bytes, TypedDataEncoder, ZeroAddress, type Contract, type HDNodeWallet } from "ethers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { attributionFingerprint, datanetKey, sortSources, type AttributionSource } from "../core/chain/fingerprint.ts";
import { increaseTime } from "../adapters/chain/edr.ts";
import { REGISTRATION_ATTESTATION_TYPES, registryDomain, signRegistrationAttestation } from "../adapters/chain/registrar-attestation.ts";
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
    pricePerThousandOutputTokens: parseUnits("0.0005", 6),
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
    const receipt = await mined(registry.register!(r)); // by the platform's registrar
    expect(eventsOf(receipt, registry, "AdapterRegistered")).toEqual([
      [fp, owner.address, r.baseModelHash, r.weightsHash, r.trainingConfigHash, r.pricePerCall, r.pricePerThousandOutputTokens, r.uri],
    ]);
    const a = await registry.getAdapter!(fp);
    expect([a.owner, a.pricePerCall, a.pricePerThousandOutputTokens, a.weightsHash, a.uri]).toEqual([owner.address, r.pricePerCall, r.pricePerThousandOutputTokens, r.weightsHash, r.uri]);
    const stored = (await registry.getSources!(fp)).map((s: unknown[]) => [...s]);
    expect(stored).toEqual(r.sources.map((s) => [s.datanetId, s.root, BigInt(s.version), BigInt(s.weightBps)]));
  });

  it("refuses self-registration: a front-runner copying a public registration with itself as owner fails", async () => {
    // The fingerprint does not include the owner, so whoever registered a binding first used to own it.
    expect(await revertOf(as(stranger).register!(registration({ owner: stranger.address })), registry)).toEqual({
      name: "AdapterRegistryNotRegistrar",
      args: [stranger.address],
    });
    expect((await revertOf(as(owner).register!(registration()), registry)).name).toBe("AdapterRegistryNotRegistrar");
  });

  it("refuses a duplicate fingerprint, whoever the owner and price", async () => {
    await mined(registry.register!(registration()));
    const fp = attributionFingerprint(registration());
    expect(await revertOf(registry.register!(registration({ owner: other.address, pricePerCall: 1n })), registry)).toEqual({
      name: "AdapterRegistryExists",
      args: [fp],
    });
  });

  describe("with the registrar's signature, submitted by the owner", () => {
    const deadline = async () => (await f.chain.provider.getBlock("latest"))!.timestamp + 600;
    const domain = () => registryDomain("AdapterRegistry", f.chain.chainId, f.addresses.adapterRegistry);
    const attest = async (r: ReturnType<typeof registration>, d: number, by = f.chain.wallets[0]!) =>
      signRegistrationAttestation(by, domain(), { ...r, fingerprint: attributionFingerprint(r), pricePerCall: r.pricePerCall as bigint, pricePerThousandOutputTokens: r.pricePerThousandOutputTokens as bigint, uri: r.uri as string, deadline: d });

    it("registers exactly the attested registration; the contract's digest matches the signer's", async () => {
      const r = registration();
      const d = await deadline();
      const sig = await attest(r, d);
      const fp = attributionFingerprint(r);
      expect(await registry.hashRegistration!(fp, r, d)).toBe(
        TypedDataEncoder.hash(domain(), REGISTRATION_ATTESTATION_TYPES, { fingerprint: fp, owner: owner.address, pricePerCall: r.pricePerCall, pricePerThousandOutputTokens: r.pricePerThousandOutputTokens, uriHash: keccak256(toUtf8Bytes(r.uri as string)), deadline: d }),
      );
      await mined(as(owner).registerWithSignature!(r, d, f.chain.wallets[0]!.address, sig));
      expect((await registry.getAdapter!(fp)).owner).toBe(owner.address);
    });

    it("refuses a copy with another owner, price or URI, a non-registrar's signature, and an expired one", async () => {
      const r = registration();
      const d = await deadline();
      const sig = await attest(r, d);
      const registrar = f.chain.wallets[0]!.address;
      const bad = { name: "AdapterRegistryBadAttestation", args: [registrar] };
      for (const changed of [{ owner: stranger.address }, { pricePerCall: 0n }, { pricePerThousandOutputTokens: 0n }, { uri: "s3://evil" }]) {
        expect(await revertOf(as(stranger).registerWithSignature!(registration(changed), d, registrar, sig), registry), Object.keys(changed)[0]).toEqual(bad);
      }
      const mine = registration({ owner: stranger.address });
      expect(await revertOf(as(stranger).registerWithSignature!(mine, d, stranger.address, await attest(mine, d, stranger)), registry)).toEqual({
        name: "AdapterRegistryBadAttestation",
        args: [stranger.address],
      });
      await increaseTime(f.chain.provider, 601);
      expect((await revertOf(as(owner).registerWithSignature!(r, d, registrar, sig), registry)).name).toBe("AdapterRegistryAttestationExpired");
    });
  });

  it("refuses a source whose root is not the published one", async () => {
    const bad = [{ datanetId: dnA, version: 1, root: rootA2, weightBps: 10000 }];
    expect(await revertOf(registry.register!(registration({ sources: bad })), registry)).toEqual({
      name: "AdapterRegistryUnknownVersion",
      args: [dnA, 1n, rootA2],
    });
    const unpublished = [{ datanetId: dnB, version: 2, root: rootB1, weightBps: 10000 }];
    expect((await revertOf(registry.register!(registration({ sources: unpublished })), registry)).name).toBe("AdapterRegistryUnknownVersion");
  });

  it("refuses weights that do not add up to 10 000 bps", async () => {
    const s = sources().map((x) => ({ ...x, weightBps: 4000 }));
    expect(await revertOf(registry.register!(registration({ sources: s })), registry)).toEqual({
      name: "AdapterRegistryBadWeights",
      args: [8000n],
    });
  });

  it("refuses unsorted or repeated sources and an empty list", async () => {
    const s = sources();
    expect((await revertOf(registry.register!(registration({ sources: [s[1], s[0]] })), registry)).name).toBe(
      "AdapterRegistrySourcesNotSorted",
    );
    const twice = [{ ...s[0]!, weightBps: 5000 }, { ...s[0]!, weightBps: 5000 }];
    expect((await revertOf(registry.register!(registration({ sources: twice })), registry)).args).toEqual([1n]);
    expect((await revertOf(registry.register!(registration({ sources: [] })), registry)).name).toBe("AdapterRegistryNoSources");
  });

  it("refuses the zero owner", async () => {
    expect((await revertOf(registry.register!(registration({ owner: ZeroAddress })), registry)).name).toBe("AdapterRegistryZeroAddress");
  });
});

describe("owner updates", () => {
  let fp: string;
  beforeEach(async () => {
    await mined(registry.register!(registration()));
    fp = attributionFingerprint(registration());
  });

  it("lets the owner change both prices and the URI but keeps the binding", async () => {
    const r1 = await mined(as(owner).setPrice!(fp, 5n, 7n));
    expect(eventsOf(r1, registry, "PriceUpdated")).toEqual([[fp, 5n, 7n, owner.address]]);
    const r2 = await mined(as(owner).setURI!(fp, "s3://adapters/a1-v2"));
    expect(eventsOf(r2, registry, "URIUpdated")).toEqual([[fp, "s3://adapters/a1-v2"]]);
    const a = await registry.getAdapter!(fp);
    expect([a.pricePerCall, a.pricePerThousandOutputTokens, a.uri, a.weightsHash, a.baseModelHash]).toEqual([5n, 7n, "s3://adapters/a1-v2", id("weights"), id("base")]);
  });

  it("lets the registrar record a price the owner set through the platform", async () => {
    const receipt = await mined(registry.setPrice!(fp, 0n, 250n));
    expect(eventsOf(receipt, registry, "PriceUpdated")).toEqual([[fp, 0n, 250n, f.chain.wallets[0]!.address]]);
    expect((await registry.getAdapter!(fp)).pricePerThousandOutputTokens).toBe(250n);
  });

  it("refuses a price change by anyone else, and URI and ownership changes by anyone but the owner, the registrar included", async () => {
    expect(await revertOf(as(stranger).setPrice!(fp, 1n, 1n), registry)).toEqual({ name: "AdapterRegistryNotOwnerOrRegistrar", args: [fp, stranger.address] });
    for (const call of [registry.setURI!(fp, "x"), as(other).transferAdapterOwnership!(fp, other.address)]) {
      expect((await revertOf(call, registry)).name).toBe("AdapterRegistryNotOwner");
    }
  });

  it("transfers ownership, after which the old owner has no say", async () => {
    const receipt = await mined(as(owner).transferAdapterOwnership!(fp, other.address));
    expect(eventsOf(receipt, registry, "AdapterOwnershipTransferred")).toEqual([[fp, owner.address, other.address]]);
    expect((await revertOf(as(owner).setPrice!(fp, 1n, 0n), registry)).name).toBe("AdapterRegistryNotOwnerOrRegistrar");
    await mined(as(other).setPrice!(fp, 9n, 0n));
    expect((await registry.getAdapter!(fp)).pricePerCall).toBe(9n);
  });

  it("refuses updates to an unknown fingerprint", async () => {
    expect(await revertOf(as(owner).setPrice!(id("nope"), 1n, 0n), registry)).toEqual({ name: "AdapterRegistryUnknown", args: [id("nope")] });
  });
});
