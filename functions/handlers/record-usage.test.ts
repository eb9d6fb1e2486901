import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { authorizePayment, completePayment } from "../../core/payments/paid-calls.ts";
import { usageKey } from "../../core/payments/keys.ts";
import { callRefKey } from "../../core/settlement/keys.ts";
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
});
