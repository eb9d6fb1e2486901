import { SiweMessage } from "siwe";
import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { buildSiweMessage } from "./siwe-message.ts";

describe("buildSiweMessage", () => {
  const wallet = Wallet.createRandom();
  const fields = {
    domain: "127.0.0.1:8787",
    address: wallet.address,
    statement: "Sign in to Model Factory.",
    uri: "http://127.0.0.1:8787",
    chainId: 31337,
    nonce: "a1B2c3D4e5F6g7H8",
    issuedAt: new Date("2025-01-02T03:04:05.000Z"),
    expirationTime: new Date("2025-01-02T03:14:05.000Z"),
  };

  it("parses with the siwe package into the same fields", () => {
    // Act
    const parsed = new SiweMessage(buildSiweMessage(fields));
    // Assess
    expect(parsed.domain).toBe(fields.domain);
    expect(parsed.address).toBe(wallet.address);
    expect(parsed.statement).toBe(fields.statement);
    expect(parsed.uri).toBe(fields.uri);
    expect(parsed.version).toBe("1");
    expect(parsed.chainId).toBe(31337);
    expect(parsed.nonce).toBe(fields.nonce);
    expect(parsed.issuedAt).toBe("2025-01-02T03:04:05.000Z");
    expect(parsed.expirationTime).toBe("2025-01-02T03:14:05.000Z");
  });

  it("round-trips through siwe's own formatter", () => {
    const text = buildSiweMessage(fields);
    expect(new SiweMessage(text).prepareMessage()).toBe(text);
  });

  it("produces a signature siwe verifies", async () => {
    // Prepare
    const text = buildSiweMessage({ ...fields, expirationTime: new Date(Date.now() + 60_000) });
    const signature = await wallet.signMessage(text);
    // Act
    const result = await new SiweMessage(text).verify({ signature, domain: fields.domain, nonce: fields.nonce });
    // Assess
    expect(result.success).toBe(true);
  });

  it("refuses a multi-line statement", () => {
    expect(() => buildSiweMessage({ ...fields, statement: "a\nb" })).toThrow(/single line/);
  });
});
