// Just-in-time adapters at scale: 10,000 registered adapters (records in the table, files in the
// blob store, nothing else: no registration step, no restart) under a memory budget of 256 all
// become resident on demand; a sample of them answers over the OpenAI route.
import { describe, expect, it } from "vitest";
import { adapterItem } from "../../core/adapters/index.ts";
import { createLora, loraBytes, serializeAdapter } from "../engine/index.ts";
import { adapterRecord, BASE_ID, testService, tinyBase } from "./test-support.ts";

describe("just-in-time adapters", () => {
  it("makes every one of 10,000 registered adapters servable under a budget of 256", async () => {
    const cfg = tinyBase().model.config;
    const small = (id: string, seed: number) => createLora(cfg, { r: 1, alpha: 1, dropout: 0, targets: ["q_proj"] }, { id, seed, randomB: true, baseModel: BASE_ID });
    const svc = await testService({ budgetBytes: 256 * loraBytes(small("probe", 1)) });
    const ids = Array.from({ length: 10_000 }, (_, i) => `ad_jit_${i}`);
    for (const [i, id] of ids.entries()) {
      const record = adapterRecord({ id });
      await svc.tables.main.put(adapterItem(record));
      // rank 1 on one projection keeps 10,000 files small; the budget holds 256 of them
      const { config, weights } = serializeAdapter(small(id, i + 1));
      await svc.blobs.put(record.files.config, config);
      await svc.blobs.put(record.files.weights, weights);
    }
    const cache = svc.backend.cache;
    let maxResident = 0;
    for (let i = 0; i < ids.length; i += 200) {
      const leases = await Promise.all(ids.slice(i, i + 200).map((id) => cache.acquire(id)));
      maxResident = Math.max(maxResident, cache.residentCount);
      expect(cache.residentBytes).toBeLessThanOrEqual(cache.opts.budgetBytes);
      for (const l of leases) l.release();
    }
    expect(cache.metrics.blobLoads).toBe(10_000);
    expect(cache.metrics.evictions).toBeGreaterThan(0);
    expect(maxResident).toBeLessThanOrEqual(256);
    // and they answer through the API, evicted ones coming back from the local disk
    const sample = Array.from({ length: 64 }, (_, k) => ids[(k * 157) % ids.length]!);
    const statuses = await Promise.all(
      sample.map(async (model) => {
        const res = await svc.service.app.request("/v1/completions", { method: "POST", headers: { authorization: `Bearer ${svc.keys.other}`, "content-type": "application/json" }, body: JSON.stringify({ model, prompt: "We", max_tokens: 2, temperature: 0 }) });
        return res.status;
      }),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(cache.metrics.diskLoads).toBeGreaterThan(0);
    await svc.close();
  }, 120_000);
});
