import { describe, expect, it } from "vitest";
import { artifacts } from "./artifacts/index.ts";
import { builtHash, sourceHash } from "./build.ts";

describe("committed artifacts", () => {
  it("were built from the current sources (else run `npm run contracts:build`)", () => {
    expect(builtHash(), "contracts/artifacts is stale: run `npm run contracts:build` and commit it").toBe(sourceHash());
  });

  it("hold ABI and bytecode of every deployable contract", () => {
    for (const name of ["DatanetRegistry", "AdapterRegistry", "PaymentEscrow", "RewardsDistributor", "TestToken"] as const) {
      expect(artifacts[name].abi.length, name).toBeGreaterThan(0);
      expect(artifacts[name].bytecode, name).toMatch(/^0x[0-9a-f]{100,}$/);
    }
  });
});
