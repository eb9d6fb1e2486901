import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { DomainError } from "../errors.ts";
import { authenticate, hashApiKey } from "./api-keys.ts";
import { issueNonce } from "./nonces.ts";
import { signIn } from "./sign-in.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { signedSiwe } from "../../test/fakes/siwe.ts";

const wallet = Wallet.createRandom();

/** The error code a rejected promise carries. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return (error as DomainError).code;
}

async function setup() {
  const deps = memoryDeps({ apiOrigin: "http://localhost:8787", chainId: 31337 });
  const { nonce } = await issueNonce(deps);
  const fields = { domain: "localhost:8787", chainId: 31337, nonce, issuedAt: new Date(deps.clock.now()).toISOString() };
  return { deps, nonce, fields };
}

describe("issueNonce", () => {
  it("issues distinct alphanumeric nonces of at least 16 characters", async () => {
    const deps = memoryDeps();
    const a = await issueNonce(deps);
    const b = await issueNonce(deps);
    expect(a.nonce).toMatch(/^[A-Za-z0-9]{16,}$/);
    expect(a.nonce).not.toBe(b.nonce);
  });
});

describe("signIn", () => {
  it("returns an API key for the signer, stores only its hash, and creates the account", async () => {
    // Prepare
    const { deps, fields } = await setup();
    // Act
    const result = await signIn(deps, await signedSiwe(wallet, fields));
    // Assess
    expect(result.address).toBe(wallet.address);
    expect(result.apiKey).toMatch(/^mf_[A-Za-z0-9_-]{43}$/);
    const stored = await deps.tables.main.get({ pk: `APIKEY#${hashApiKey(result.apiKey)}`, sk: "APIKEY" });
    expect(stored?.address).toBe(wallet.address);
    expect(JSON.stringify(stored)).not.toContain(result.apiKey);
    expect(await deps.tables.main.get({ pk: `ACCOUNT#${wallet.address}`, sk: "ACCOUNT" })).toBeDefined();
    expect(await authenticate(deps, result.apiKey)).toEqual({ address: wallet.address });
  });

  it("gives a second sign-in a second key, both valid", async () => {
    const { deps, fields } = await setup();
    const first = await signIn(deps, await signedSiwe(wallet, fields));
    const { nonce } = await issueNonce(deps);
    const second = await signIn(deps, await signedSiwe(wallet, { ...fields, nonce }));
    expect(second.apiKey).not.toBe(first.apiKey);
    expect(await authenticate(deps, first.apiKey)).toEqual({ address: wallet.address });
  });

  it("refuses a signature by another key", async () => {
    const { deps, fields } = await setup();
    const { message } = await signedSiwe(wallet, fields);
    const signature = await Wallet.createRandom().signMessage(message);
    expect(await codeOf(signIn(deps, { message, signature }))).toBe("invalid-signature");
  });

  it("refuses a malformed signature", async () => {
    const { deps, fields } = await setup();
    const { message } = await signedSiwe(wallet, fields);
    expect(await codeOf(signIn(deps, { message, signature: "0x1234" }))).toBe("invalid-signature");
  });

  it("refuses a message altered after signing", async () => {
    const { deps, fields } = await setup();
    const { message, signature } = await signedSiwe(wallet, fields);
    const altered = message.replace("Sign in to Model Factory", "Sign in to Model Factory!");
    expect(await codeOf(signIn(deps, { message: altered, signature }))).toBe("invalid-signature");
  });

  it("refuses a message for another domain", async () => {
    const { deps, fields } = await setup();
    const signed = await signedSiwe(wallet, { ...fields, domain: "evil.example" });
    expect(await codeOf(signIn(deps, signed))).toBe("siwe-domain-mismatch");
  });

  it("refuses a message for another chain", async () => {
    const { deps, fields } = await setup();
    const signed = await signedSiwe(wallet, { ...fields, chainId: 1 });
    expect(await codeOf(signIn(deps, signed))).toBe("siwe-chain-mismatch");
  });

  it("refuses a reused nonce", async () => {
    const { deps, fields } = await setup();
    const signed = await signedSiwe(wallet, fields);
    await signIn(deps, signed);
    expect(await codeOf(signIn(deps, signed))).toBe("invalid-nonce");
  });

  it("lets only one of two concurrent sign-ins with one nonce through", async () => {
    const { deps, fields } = await setup();
    const signed = await signedSiwe(wallet, fields);
    const results = await Promise.allSettled([signIn(deps, signed), signIn(deps, signed)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("refuses a nonce the server never issued", async () => {
    const { deps, fields } = await setup();
    const signed = await signedSiwe(wallet, { ...fields, nonce: "abcdefgh12345678" });
    expect(await codeOf(signIn(deps, signed))).toBe("invalid-nonce");
  });

  it("refuses a nonce past its TTL", async () => {
    const { deps, fields } = await setup();
    const signed = await signedSiwe(wallet, fields);
    deps.clock.advance(deps.config.nonceTtlSeconds * 1000 + 1);
    expect(await codeOf(signIn(deps, signed))).toBe("invalid-nonce");
  });

  it("refuses an expired message and one not valid yet", async () => {
    const { deps, fields } = await setup();
    const now = deps.clock.now();
    const expired = await signedSiwe(wallet, { ...fields, expirationTime: new Date(now - 1000).toISOString() });
    expect(await codeOf(signIn(deps, expired))).toBe("siwe-expired");
    const early = await signedSiwe(wallet, { ...fields, notBefore: new Date(now + 60_000).toISOString() });
    expect(await codeOf(signIn(deps, early))).toBe("siwe-not-yet-valid");
  });

  it("does not burn the nonce on a forged request", async () => {
    const { deps, fields } = await setup();
    const signed = await signedSiwe(wallet, fields);
    const forged = await Wallet.createRandom().signMessage(signed.message);
    await expect(signIn(deps, { message: signed.message, signature: forged })).rejects.toThrow();
    expect((await signIn(deps, signed)).address).toBe(wallet.address);
  });

  it("answers 400 invalid-siwe-message to text that is not EIP-4361", async () => {
    const { deps } = await setup();
    const error = await signIn(deps, { message: "hello", signature: "0x00" }).catch((e: DomainError) => e);
    expect(error).toMatchObject({ code: "invalid-siwe-message", status: 400 });
  });

  it("names the bad line of a malformed message without echoing the parser's state", async () => {
    // Prepare: a well-formed message with its nonce broken, and text that is no message at all.
    const { deps, fields } = await setup();
    const { message } = await signedSiwe(wallet, fields);
    const badNonce = message.replace(/^Nonce: .*$/m, "Nonce: !!");
    // Act
    const errors = await Promise.all([badNonce, "hello"].map((m) => signIn(deps, { message: m, signature: "0x00" }).then(() => new Error("signed in"), (e: DomainError) => e)));
    // Assess: one line each, naming what is wrong; no JSON of the parser's internals (state, matched, nodeHits…).
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^Not a valid EIP-4361 message: line \d+: invalid nonce$/),
      "Not a valid EIP-4361 message: it does not have the EIP-4361 layout",
    ]);
    for (const e of errors) expect(e.message).not.toMatch(/[{}]|state|maxMatched|nodeHits/);
  });
});

describe("authenticate", () => {
  it("distinguishes a missing key from an invalid one", async () => {
    const deps = memoryDeps();
    expect(await codeOf(authenticate(deps, undefined))).toBe("missing-api-key");
    expect(await codeOf(authenticate(deps, "nope"))).toBe("invalid-api-key");
    expect(await codeOf(authenticate(deps, `mf_${"A".repeat(43)}`))).toBe("invalid-api-key");
  });
});
