import { describe, expect, it } from "vitest";
import type { CallAttribution } from "../attribution/model.ts";
import { recordFreeCall, type CallOutcome } from "../payments/paid-calls.ts";
import { findUsage, listUsage } from "../payments/usage.ts";
import { paymentsDeps } from "../../test/fakes/payments.ts";
import { attributionInputItem, finalizeAttribution, type AttributionInput, type CallAttributor } from "./final-attribution.ts";
import { attributionInputKey } from "./keys.ts";

const OWNER = "0x00000000000000000000000000000000000000A1";
const PAYER = "0x00000000000000000000000000000000000000B1";
const C1 = "0x00000000000000000000000000000000000000C1";
const C2 = "0x00000000000000000000000000000000000000C2";
const C3 = "0x00000000000000000000000000000000000000C3";

const SPAN = { method: "span", status: "pending" as const, contributors: [{ address: C1, weightBps: 10_000 }], datanets: [{ id: "dn_1", version: 1, weightBps: 10_000 }], records: [] };
const COMBINED: CallAttribution = {
  requestId: "r1",
  method: "combined",
  contributors: [{ address: C2, weightBps: 6000 }, { address: C1, weightBps: 3000 }, { address: C3, weightBps: 1000 }],
  datanets: [{ id: "dn_1", version: 1, weightBps: 10_000 }],
  records: [{ contributionId: "ct_1", datanetId: "dn_1", version: 1, contributor: C2, score: 0.6 }],
};

/** A recorded call whose span attribution is pending, with its asynchronous input kept. */
async function pendingCall(requestId = "r1") {
  const t = paymentsDeps();
  const outcome: CallOutcome = { adapterId: "ad_1", baseModel: "tiny", owner: OWNER, promptTokens: 3, completionTokens: 2, finishReason: "stop", attribution: SPAN };
  const input: AttributionInput = { requestId, model: { id: "ad_1", baseModel: "tiny", files: { config: "a/adapter_config.json", weights: "a/adapter_model.safetensors" } }, promptTokenIds: [1, 2, 3], completionTokenIds: [4, 5] };
  await t.usage.put(attributionInputItem(input, t.clock.now()));
  const record = await recordFreeCall(t.deps, requestId, PAYER, { perCall: "0", perThousandOutputTokens: "0" }, outcome);
  return { ...t, record, input };
}

/** An attributor that counts its runs and answers COMBINED (deterministic, as the gradient method is). */
function countingAttributor(delayMs = 0): CallAttributor & { runs: AttributionInput[] } {
  const runs: AttributionInput[] = [];
  const f = async (input: AttributionInput) => {
    runs.push(input);
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    return { ...COMBINED, requestId: input.requestId };
  };
  return Object.assign(f, { runs });
}

describe("finalizeAttribution", () => {
  it("replaces the pending span attribution by the asynchronous one, with the input it kept, and drops that input", async () => {
    // Prepare
    const t = await pendingCall();
    const attribute = countingAttributor();
    // Act
    const result = await finalizeAttribution({ usage: t.usage, clock: t.clock, attribute }, t.record);
    // Assess: the method saw the call's token ids and model; the record (and the payer's copy) carry its result.
    expect(result.outcome).toBe("computed");
    expect(attribute.runs).toEqual([t.input]);
    const stored = (await findUsage(t.usage, "r1"))!;
    expect(stored.attribution).toMatchObject({ method: "combined", status: "final", contributors: COMBINED.contributors });
    expect(stored.attributedAt).toBe(new Date(t.clock.now()).toISOString());
    expect((await listUsage(t.usage, PAYER as never, {})).items[0]!.attribution.method).toBe("combined");
    expect(await t.usage.get(attributionInputKey("r1"))).toBeUndefined();
  });

  it("yields one result for a call retried twice, one after the other or at once", async () => {
    const t = await pendingCall();
    const attribute = countingAttributor(5);
    // Act: two deliveries racing, then a third (the stream's retry) with the stale pending image.
    const [a, b] = await Promise.all([finalizeAttribution({ usage: t.usage, clock: t.clock, attribute }, t.record), finalizeAttribution({ usage: t.usage, clock: t.clock, attribute }, t.record)]);
    t.clock.advance(60_000);
    const c = await finalizeAttribution({ usage: t.usage, clock: t.clock, attribute }, t.record);
    // Assess: exactly one run wrote; all three return the same stored attribution, written at the first time.
    expect([a.outcome, b.outcome].sort()).toEqual(["already", "computed"]);
    expect(c.outcome).toBe("already");
    expect(attribute.runs.length).toBeLessThanOrEqual(2); // the racing pair may both compute; the third never does
    const stored = (await findUsage(t.usage, "r1"))!;
    for (const r of [a, b, c]) expect(r.record).toEqual(stored);
    expect(stored.attributedAt).toBe(new Date(t.clock.now() - 60_000).toISOString());
  });

  it("makes the span attribution final, with the reason, when the method fails, its input is gone, or none runs here", async () => {
    const failing = await pendingCall();
    const boom: CallAttributor = async () => {
      throw new Error("sketches unreadable");
    };
    const logs: string[] = [];
    const r1 = await finalizeAttribution({ usage: failing.usage, clock: failing.clock, attribute: boom, log: (_l, m) => logs.push(m) }, failing.record);
    expect(r1.record.attribution).toMatchObject({ method: "span", status: "final", reason: "async-failed", contributors: SPAN.contributors });
    expect(logs[0]).toMatch(/failed/);

    const lost = await pendingCall();
    await lost.usage.delete(attributionInputKey("r1"));
    const r2 = await finalizeAttribution({ usage: lost.usage, clock: lost.clock, attribute: countingAttributor() }, lost.record);
    expect(r2.record.attribution).toMatchObject({ method: "span", status: "final", reason: "async-input-missing" });

    const none = await pendingCall();
    const r3 = await finalizeAttribution({ usage: none.usage, clock: none.clock }, none.record);
    expect(r3.record.attribution).toMatchObject({ method: "span", status: "final" });
    expect(r3.record.attribution.reason).toBeUndefined();
  });

  it("leaves a record alone whose attribution was final from the start (older records have no status)", async () => {
    const t = paymentsDeps();
    const attribute = countingAttributor();
    const record = await recordFreeCall(t.deps, "r9", PAYER, { perCall: "0", perThousandOutputTokens: "0" }, { adapterId: "ad_1", baseModel: "tiny", owner: OWNER, promptTokens: 1, completionTokens: 1, finishReason: "stop", attribution: { method: "static-weights", contributors: [] } });
    const r = await finalizeAttribution({ usage: t.usage, clock: t.clock, attribute }, record);
    expect(r).toEqual({ record, outcome: "already" });
    expect(attribute.runs).toEqual([]);
  });
});
