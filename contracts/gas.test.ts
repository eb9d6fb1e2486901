import { describe, expect, it } from "vitest";
import { DEFAULT_COST, gasPerPaidCall, measureGas, replaceGasSection, replaceSection, settlementSection, TX_GAS_CAP, usdOf } from "./gas.ts";

describe("gas", () => {
  it("keeps claims, batched vouchers, registrations and settlement per paid call within budget", { timeout: 180_000 }, async () => {
    const r = await measureGas({ treeSize: 128, channels: [50] });
    // Uniswap's merkle-distributor claims cost about 63k–92k; ours must stay near that.
    expect(r.claimHolder).toBeLessThan(92_000);
    expect(r.claimFirstTime).toBeLessThan(110_000);
    expect(r.perVoucherInBatchOf100).toBeLessThan(30_000);
    expect(r.redeemSingle).toBeGreaterThan(r.perVoucherInBatchOf100 * 2); // batching pays
    expect(r.registerAdapter).toBeLessThan(450_000);
    expect(r.publishVersion).toBeLessThan(100_000);
    expect(r.setPrice).toBeLessThan(60_000);
    const [s] = r.settlement;
    expect(s).toMatchObject({ channels: 50, first: { transactions: 1 }, steady: { transactions: 1 } });
    expect(s!.steady.perChannel).toBeLessThan(30_000);
    // The goal, under 1% of a $0.01 call at the stated prices, for a channel making 10 calls per epoch;
    // and always below paying one ERC-20 transfer per call.
    expect(usdOf(gasPerPaidCall(s!, r.publishEpoch, 10), DEFAULT_COST) / DEFAULT_COST.callUsd).toBeLessThan(0.01);
    expect(gasPerPaidCall(s!, r.publishEpoch, 1)).toBeLessThan(r.tokenTransfer);
    const section = settlementSection(r);
    expect(section).toMatch(/^## Settlement gas\n/);
    expect(section).toContain(`at **${DEFAULT_COST.gasPriceGwei} gwei`);
    expect(section).toContain(TX_GAS_CAP.toLocaleString("en-US"));
  });
});

describe("replaceSection", () => {
  it("replaces only the Gas section and keeps the others", () => {
    const md = "# Benchmarks\n\n## Engine\n\nfast\n\n## Gas\n\nold\n\n## API\n\nok\n";
    expect(replaceGasSection(md, "## Gas\n\nnew\n")).toBe("# Benchmarks\n\n## Engine\n\nfast\n\n## Gas\n\nnew\n\n## API\n\nok\n");
  });

  it("appends a section the file has none of, and tells Gas from Settlement gas", () => {
    expect(replaceGasSection("# Benchmarks\n", "## Gas\n\nnew\n")).toBe("# Benchmarks\n\n## Gas\n\nnew\n");
    const md = "# B\n\n## Gas\n\na\n\n## Settlement gas\n\nb\n";
    expect(replaceSection(md, "## Settlement gas\n\nc\n", "Settlement gas")).toBe("# B\n\n## Gas\n\na\n\n## Settlement gas\n\nc\n");
    expect(replaceSection(md, "## Gas\n\nd\n", "Gas")).toBe("# B\n\n## Gas\n\nd\n\n## Settlement gas\n\nb\n");
  });
});
