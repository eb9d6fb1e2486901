import { describe, expect, it } from "vitest";
import { measureGas, replaceGasSection } from "./gas.ts";

describe("gas", () => {
  it("keeps claims, batched vouchers and registrations within budget", { timeout: 120_000 }, async () => {
    const r = await measureGas(128);
    // Uniswap's merkle-distributor claims cost about 63k–92k; ours must stay near that.
    expect(r.claimHolder).toBeLessThan(92_000);
    expect(r.claimFirstTime).toBeLessThan(110_000);
    expect(r.perVoucherInBatchOf100).toBeLessThan(30_000);
    expect(r.redeemSingle).toBeGreaterThan(r.perVoucherInBatchOf100 * 2); // batching pays
    expect(r.registerAdapter).toBeLessThan(420_000);
    expect(r.publishVersion).toBeLessThan(100_000);
  });
});

describe("replaceGasSection", () => {
  it("replaces only the Gas section and keeps the others", () => {
    const md = "# Benchmarks\n\n## Engine\n\nfast\n\n## Gas\n\nold\n\n## API\n\nok\n";
    expect(replaceGasSection(md, "## Gas\n\nnew\n")).toBe("# Benchmarks\n\n## Engine\n\nfast\n\n## Gas\n\nnew\n\n## API\n\nok\n");
  });

  it("appends the section when the file has none", () => {
    expect(replaceGasSection("# Benchmarks\n", "## Gas\n\nnew\n")).toBe("# Benchmarks\n\n## Gas\n\nnew\n");
  });
});
