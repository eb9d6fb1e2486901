/**
 * Settlement by per-call attribution: what splitting each call by its own
 * attribution costs against splitting every call by the adapter's static
 * weights, and what making a call's attribution final adds to record-usage.
 *
 *   npm run bench:settlement                    # 7 rounds, 10,000 calls per epoch, 1,000 records
 *   BENCH_ROUNDS=11 BENCH_CALLS=20000 BENCH_RECORDS=2000 npm run bench:settlement
 *
 * CPU time of this process (process.cpuUsage), median of the rounds (min–max); ratios
 * are between medians of this run.
 *   split static     closeEpoch over the calls, each split by the same 40-contributor static weights (the baseline)
 *   split per call   closeEpoch over the calls, each split by its own attribution (1–10 contributors of 300)
 *   split per call 40  the same with 40 contributors per call: like for like with the static weights' size
 *   assign           record-usage's work per record whose attribution is final: assignCall (SQLite in memory; the baseline)
 *   finalize+assign  per record whose attribution is pending: finalizeAttribution (an instant attributor) then assignCall
 * The gradient method's own latency (the attributor here is instant) is bench:attribution's.
 */
import { DatabaseSync } from "node:sqlite";
import { cpus, loadavg } from "node:os";
import { SqliteTableStore } from "../adapters/local/sqlite-table-store.ts";
import type { UsageRecord } from "../core/payments/usage.ts";
import { usageWrites } from "../core/payments/usage.ts";
import { assignCall } from "../core/settlement/assign-call.ts";
import { closeEpoch, type EpochCall } from "../core/settlement/close-epoch.ts";
import { attributionInputItem, finalizeAttribution, type CallAttributor } from "../core/settlement/final-attribution.ts";
import { FakeClock } from "../test/fakes/fake-clock.ts";
import { fmtNum, fmtSummary, summarize } from "./stats.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CALLS = Number(process.env.BENCH_CALLS ?? 10_000);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 1000);
const SHARES = { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 };
const TREASURY = "0x000000000000000000000000000000000000Feed";
const addr = (i: number) => `0x${(0xc000 + i).toString(16).padStart(40, "0")}`;

let seed = 4242;
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return (seed >>> 8) % n;
};
const weightsOver = (addresses: string[]) => {
  const raw = addresses.map(() => 1 + rnd(1000));
  const total = raw.reduce((a, b) => a + b, 0);
  const w = raw.map((r) => Math.floor((r * 10_000) / total));
  w[0]! += 10_000 - w.reduce((a, b) => a + b, 0);
  return addresses.map((address, i) => ({ address, weightBps: w[i]! }));
};
const cpuNow = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

// Epoch calls: the same fees both ways, static weights or each call's own.
const staticWeights = weightsOver(Array.from({ length: 40 }, (_, i) => addr(i)));
const fees = Array.from({ length: CALLS }, () => BigInt(1 + rnd(3_000_000)));
const owners = Array.from({ length: CALLS }, () => addr(1000 + rnd(20)));
const staticCalls: EpochCall[] = fees.map((fee, i) => ({ requestId: `r${i}`, fee, owner: owners[i]!, contributors: staticWeights }));
const perCallCalls: EpochCall[] = fees.map((fee, i) => ({ requestId: `r${i}`, fee, owner: owners[i]!, contributors: weightsOver([...new Set(Array.from({ length: 1 + rnd(10) }, () => addr(rnd(300))))]) }));
const perCall40Calls: EpochCall[] = fees.map((fee, i) => {
  const start = rnd(260);
  return { requestId: `r${i}`, fee, owner: owners[i]!, contributors: weightsOver(Array.from({ length: 40 }, (_, k) => addr(start + k))) };
});

/** A charged usage record as completePayment writes it (the voucher is not read by settlement's assignment). */
function record(i: number, pending: boolean, clock: FakeClock): UsageRecord {
  return {
    requestId: `chatcmpl-${i}`, adapterId: "ad_1", baseModel: "tiny", owner: addr(1000), payer: addr(2000), channelId: `0x${i.toString(16).padStart(64, "0")}`,
    promptTokens: 20, completionTokens: 30, finishReason: "stop", price: { perCall: "1000", perThousandOutputTokens: "20000" }, charged: "1600", maxCost: "2280", cumulativeCharged: "1600", seq: 1,
    voucher: { channelId: `0x${i.toString(16).padStart(64, "0")}`, payer: addr(2000), service: addr(3000), cumulativeAmount: "2280", expiry: 2_000_000_000, signature: `0x${"11".repeat(65)}` } as never,
    attribution: { method: "span", status: pending ? "pending" : "final", contributors: weightsOver([addr(1), addr(2), addr(3)]) },
    period: Math.floor(clock.now() / 60_000), createdAt: new Date(clock.now()).toISOString(),
  };
}
const attribute: CallAttributor = async (input) => ({ requestId: input.requestId, method: "combined", contributors: [{ address: addr(4), weightBps: 6000 }, { address: addr(5), weightBps: 4000 }], datanets: [], records: [] });

async function recordRound(pending: boolean): Promise<number> {
  const usage = new SqliteTableStore(new DatabaseSync(":memory:"), "usage", { stream: true });
  const clock = new FakeClock();
  const records = Array.from({ length: RECORDS }, (_, i) => record(i, pending, clock));
  for (const r of records) {
    await usage.transact(usageWrites(r));
    if (pending) await usage.put(attributionInputItem({ requestId: r.requestId, model: { id: "ad_1", baseModel: "tiny" }, promptTokenIds: Array.from({ length: 20 }, (_, k) => k), completionTokenIds: Array.from({ length: 30 }, (_, k) => k) }, clock.now()));
  }
  const deps = { usage, clock, epochSeconds: 60, shares: SHARES };
  const t0 = cpuNow();
  for (const r of records) {
    const final = pending ? (await finalizeAttribution({ usage, clock, attribute }, r)).record : r;
    await assignCall(deps, final);
  }
  return (cpuNow() - t0) / RECORDS;
}

const rounds = { splitStatic: [] as number[], splitPerCall: [] as number[], splitPerCall40: [] as number[], assign: [] as number[], finalize: [] as number[] };
const epochs = { static: staticCalls, "per-call": perCallCalls, "per-call-40": perCall40Calls } as const;
const splitRounds = { static: rounds.splitStatic, "per-call": rounds.splitPerCall, "per-call-40": rounds.splitPerCall40 } as const;
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order within a round, so no side always runs first (or warm).
  const kinds = ["static", "per-call", "per-call-40"] as const;
  for (let k = 0; k < kinds.length; k++) {
    const which = kinds[(k + round) % kinds.length]!;
    const t0 = cpuNow();
    const epoch = closeEpoch(epochs[which], SHARES, TREASURY);
    const ms = (cpuNow() - t0) / 1000;
    if (epoch.calls !== CALLS) throw new Error("closeEpoch lost calls");
    splitRounds[which].push(ms);
  }
  for (const pending of round % 2 === 0 ? [false, true] : [true, false]) (pending ? rounds.finalize : rounds.assign).push(await recordRound(pending));
}

const s = { splitStatic: summarize(rounds.splitStatic), splitPerCall: summarize(rounds.splitPerCall), splitPerCall40: summarize(rounds.splitPerCall40), assign: summarize(rounds.assign), finalize: summarize(rounds.finalize) };
console.log(`\nNode ${process.version}, ${cpus()[0]?.model ?? "?"} (${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}), ${ROUNDS} rounds; CPU time, median (min–max)\n`);
console.log(`| step | per round | per call | vs. baseline |`);
console.log(`| --- | ---: | ---: | ---: |`);
console.log(`| split static (${fmtNum(CALLS)} calls, 40 contributors each) | ${fmtSummary(s.splitStatic, 1)} ms | ${fmtNum((s.splitStatic.median * 1000) / CALLS, 2)} µs | 1.00× |`);
console.log(`| split per call (${fmtNum(CALLS)} calls, 1–10 contributors each) | ${fmtSummary(s.splitPerCall, 1)} ms | ${fmtNum((s.splitPerCall.median * 1000) / CALLS, 2)} µs | ${fmtNum(s.splitPerCall.median / s.splitStatic.median, 2)}× |`);
console.log(`| split per call (${fmtNum(CALLS)} calls, 40 contributors each) | ${fmtSummary(s.splitPerCall40, 1)} ms | ${fmtNum((s.splitPerCall40.median * 1000) / CALLS, 2)} µs | ${fmtNum(s.splitPerCall40.median / s.splitStatic.median, 2)}× |`);
console.log(`| assign (${fmtNum(RECORDS)} records, final attribution) | — | ${fmtSummary(s.assign, 1)} µs | 1.00× |`);
console.log(`| finalize + assign (${fmtNum(RECORDS)} records, pending attribution) | — | ${fmtSummary(s.finalize, 1)} µs | ${fmtNum(s.finalize.median / s.assign.median, 2)}× |`);
const extra = s.finalize.median - s.assign.median;
console.log(`\nSplitting each call by its own attribution took ${fmtNum(s.splitPerCall.median / s.splitStatic.median, 2)}× the CPU of splitting by the 40 static weights (${fmtNum(s.splitPerCall40.median / s.splitStatic.median, 2)}× with 40 contributors per call too); making an attribution final added ${fmtNum(extra, 1)} µs of CPU per record to record-usage (${fmtNum(s.finalize.median / s.assign.median, 2)}× the assignment alone), before the method's own time.`);
