import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { authorizePayment, completePayment } from "../../core/payments/paid-calls.ts";
import { usageKey } from "../../core/payments/keys.ts";
import { attributionInputItem, type CallAttributor } from "../../core/settlement/final-attribution.ts";
import { attributionInputKey, callRefKey } from "../../core/settlement/keys.ts";
import { openChannel, paymentHeader, paymentsDeps } from "../../test/fakes/payments.ts";
import { createRecordUsageHandler } from "./record-usage.ts";
import { streamEvent, streamRecord, testContext } from "./test-events.ts";

describe("record-usage", () => {
  it("assigns a charged call to its period once, though its stream record arrives twice", async () => {
    // Prepare: one paid call, its usage record as the stream delivers it.
    const p = paymentsDeps();
    const { payer, channel } = await openChannel(p.deps, 1_000_000n, Wallet.createRandom());
    const { header } = await paymentHeader(payer, channel, 2280n, p.clock.now());
    const d = await authorizePayment(p.deps, { requestId: "r1", price: { perCall: "1000", perThousandOutputTokens: "20000" }, maxTokens: 64, resource: { url: "/v1/chat/completions", description: "", mimeType: "application/json" }, paymentHeader: header });
    if (!d.ok) throw new Error(d.reason);
    await completePayment(p.deps, d.grant, { adapterId: "ad_1", baseModel: "tiny", owner: "0x00000000000000000000000000000000000000A1", promptTokens: 1, completionTokens: 5, finishReason: "stop", attribution: { method: "static", contributors: [] } });
    const item = (await p.usage.get(usageKey("r1")))!;
    const handler = createRecordUsageHandler({ usage: p.usage, clock: p.clock, epochSeconds: 60, shares: { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 } });
    // Act
    const res = await handler(streamEvent(streamRecord("1", "INSERT", item), streamRecord("2", "INSERT", item)), testContext());
    // Assess: no failures, one assignment, the owner's pending share written once (90 % of 1100 with no contributors).
    expect(res.batchItemFailures).toEqual([]);
    expect((await p.usage.get(callRefKey("r1")))?.fee).toBe("1100");
    const earn = await p.usage.query({ pk: "EARN#0x00000000000000000000000000000000000000A1" });
    expect(earn.items.map((i) => i.amount)).toEqual(["990"]);
  });

  it("splits a call by its final attribution: the asynchronous one, computed once though the record arrives three times", async () => {
    // Prepare: a paid call recorded with its span attribution pending, and the input the asynchronous method needs.
    const OWNER = "0x00000000000000000000000000000000000000A1";
    const C1 = "0x00000000000000000000000000000000000000C1";
    const C2 = "0x00000000000000000000000000000000000000C2";
    const p = paymentsDeps();
    const { payer, channel } = await openChannel(p.deps, 1_000_000n, Wallet.createRandom());
    const { header } = await paymentHeader(payer, channel, 2280n, p.clock.now());
    const d = await authorizePayment(p.deps, { requestId: "r2", price: { perCall: "1000", perThousandOutputTokens: "20000" }, maxTokens: 64, resource: { url: "/v1/chat/completions", description: "", mimeType: "application/json" }, paymentHeader: header });
    if (!d.ok) throw new Error(d.reason);
    await p.usage.put(attributionInputItem({ requestId: "r2", model: { id: "ad_1", baseModel: "tiny" }, promptTokenIds: [1, 2], completionTokenIds: [3] }, p.clock.now()));
    await completePayment(p.deps, d.grant, { adapterId: "ad_1", baseModel: "tiny", owner: OWNER, promptTokens: 2, completionTokens: 5, finishReason: "stop", attribution: { method: "span", status: "pending", contributors: [{ address: C1, weightBps: 10_000 }] } });
    const item = (await p.usage.get(usageKey("r2")))!;
    let runs = 0;
    const attribute: CallAttributor = async (input) => {
      runs++;
      return { requestId: input.requestId, method: "combined", contributors: [{ address: C2, weightBps: 7500 }, { address: C1, weightBps: 2500 }], datanets: [], records: [] };
    };
    const handler = createRecordUsageHandler({ usage: p.usage, clock: p.clock, epochSeconds: 60, shares: { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 }, attribute });
    // Act: the INSERT twice in one batch, then once more later (a retry).
    const first = await handler(streamEvent(streamRecord("1", "INSERT", item), streamRecord("2", "INSERT", item)), testContext());
    const again = await handler(streamEvent(streamRecord("3", "INSERT", item)), testContext());
    // Assess: one run of the method, the settlement entry carries its weights, the input is gone.
    expect([...first.batchItemFailures, ...again.batchItemFailures]).toEqual([]);
    expect(runs).toBe(1);
    expect((await p.usage.get(callRefKey("r2")))?.contributors).toEqual([{ address: C2, weightBps: 7500 }, { address: C1, weightBps: 2500 }]);
    expect(await p.usage.get(attributionInputKey("r2"))).toBeUndefined();
    // Fee 1100: platform 110; the 990 left go 2 : 7 to the owner (220) and the contributors (770 → 577.5 / 192.5
    // by 75 % / 25 %; the tied half unit goes to the first named). The span's C1-only split would have given C1 770.
    const pending = async (a: string) => (await p.usage.query({ pk: `EARN#${a}` })).items.map((i) => i.amount);
    expect(await pending(C2)).toEqual(["578"]);
    expect(await pending(C1)).toEqual(["192"]);
    expect(await pending(OWNER)).toEqual(["220"]);
  });
});
