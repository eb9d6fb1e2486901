// Mixed-adapter batching: one batched step equals each sequence run alone with its adapter
// merged; continuous batching lets sequences join and leave; sampling and stop rules.
import { describe, expect, it } from "vitest";
import { createKvCache, createRunState, forward, type Model, type Row } from "./model.ts";
import { createLora, mergeLora, unmergeLora, type LoraAdapter } from "./lora.ts";
import { BatchScheduler } from "./scheduler.ts";
import { residentHeld } from "./resident-adapters.ts";
import { kernelPath } from "./kernels/index.ts";
import { Sampler } from "./sampler.ts";
import { byteTokenizer, type Tokenizer } from "./tokenizer.ts";
import { tinyModel } from "./test-helpers.ts";

const idTok = (V: number): Tokenizer => ({ vocabSize: V, bos: null, eos: null, encode: (s) => Array.from(s, (c) => c.charCodeAt(0) % V), decode: (ids) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join("") });

function adapters(m: Model): LoraAdapter[] {
  return [
    createLora(m.config, { r: 2, alpha: 4, dropout: 0, targets: ["q_proj", "v_proj"] }, { id: "a", seed: 1, randomB: true }),
    createLora(m.config, { r: 4, alpha: 4, dropout: 0, targets: ["k_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] }, { id: "b", seed: 2, randomB: true }),
    createLora(m.config, { r: 3, alpha: 9, dropout: 0, targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] }, { id: "c", seed: 3, randomB: true }),
  ];
}

describe("mixed-adapter batched forward", () => {
  it("a batched step over mixed adapters equals each sequence alone with its adapter merged", () => {
    const m = tinyModel(11);
    const [a, b, c] = adapters(m);
    const V = m.config.vocabSize;
    const seqs: Array<{ toks: number[]; adapter: LoraAdapter | null }> = [
      { toks: [1, 2, 3, 4], adapter: a! }, { toks: [5, 6], adapter: null }, { toks: [7, 8, 9, 10, 11, 12], adapter: b! }, { toks: [13, 1, 2], adapter: c! }, { toks: [3, 3, 3, 3, 3], adapter: a! },
    ];
    // batched: every sequence's prefix fed in mixed batches, then one step with all rows at different positions
    const caches = seqs.map(() => createKvCache(m.config));
    const s = createRunState(m.config, 8);
    const longest = Math.max(...seqs.map((q) => q.toks.length));
    const batched: Float32Array[] = [];
    for (let p = 0; p < longest; p++) {
      const rows: Row[] = [], owner: number[] = [];
      seqs.forEach((q, i) => { if (p < q.toks.length) { owner.push(i); rows.push({ token: q.toks[p]!, pos: p, kv: caches[i]!, adapter: q.adapter }); } });
      if (p < 2) expect(new Set(rows.map((r) => r.adapter?.id ?? "base")).size).toBe(4); // a, base, b, c in one step
      const logits = forward(m, rows, s);
      owner.forEach((i, r) => { if (p === seqs[i]!.toks.length - 1) batched[i] = Float32Array.from(logits.subarray(r * V, (r + 1) * V)); });
    }
    // alone: merge the adapter into the base weights, run with no adapter, unmerge
    seqs.forEach((q, i) => {
      if (q.adapter) mergeLora(m.weights, q.adapter);
      const kv = createKvCache(m.config), s1 = createRunState(m.config, 1);
      let out = new Float32Array(0);
      q.toks.forEach((token, pos) => (out = Float32Array.from(forward(m, [{ token, pos, kv, adapter: null }], s1))));
      if (q.adapter) unmergeLora(m.weights, q.adapter);
      for (let j = 0; j < V; j++) expect(batched[i]![j]).toBeCloseTo(out[j]!, 4);
    });
  });
});

describe("BatchScheduler", () => {
  it("an adapter nothing made resident is in the kernel heap while its sequences run, and has its own arrays back after; the tokens are the copied path's", async () => {
    const m = tinyModel(12, { maxSeqLen: 48 });
    const tok = idTok(m.config.vocabSize);
    const a = adapters(m)[0]!;
    const own = a.layers.flatMap((l) => Object.values(l).map((p) => p.A));
    const copied = new BatchScheduler(m, tok, { maxBatch: 8, residentAdapters: false });
    const c = copied.submit([1, 2, 3], a, { maxTokens: 6 }, false);
    copied.drain();
    const s = new BatchScheduler(m, tok, { maxBatch: 8 });
    const r = [s.submit([1, 2, 3], a, { maxTokens: 6 }, false), s.submit([4, 5], a, { maxTokens: 3 }, false)];
    const heap = kernelPath() === "wasm-simd";
    expect(residentHeld()).toBe(heap ? 1 : 0); // one hold per adapter, counted per sequence
    s.step();
    expect(a.layers.every((l) => Object.values(l).every((p) => (p.Bt !== undefined) === heap))).toBe(true);
    s.drain();
    expect((await r[0]!).tokens).toEqual((await c).tokens);
    await r[1];
    expect(residentHeld()).toBe(0);
    a.layers.flatMap((l) => Object.values(l)).forEach((p, i) => { expect(p.A).toBe(own[i]); expect(p.Bt).toBeUndefined(); });
  });

  it("a batch of 16 sequences over resident adapters (one planned step for all layers) samples the copied path's tokens", async () => {
    const m = tinyModel(13, { maxSeqLen: 40 });
    const tok = idTok(m.config.vocabSize);
    const ads = adapters(m);
    const run = async (residentAdapters: boolean) => {
      const s = new BatchScheduler(m, tok, { maxBatch: 16, maxSequences: 16, residentAdapters });
      // adapters in runs and mixed, some rows without one, sampled at 0.8 so every logit matters
      const ps = Array.from({ length: 16 }, (_, i) => s.submit([1 + (i % 5), 2, 3], i % 4 === 3 ? null : ads[(i >> 1) % 3]!, { maxTokens: 6 + (i % 3), temperature: 0.8, seed: i }, false));
      s.drain();
      return (await Promise.all(ps)).map((r) => r.tokens);
    };
    expect(await run(true)).toEqual(await run(false));
  });

  it("beforeStep runs right before each pumped step, and what its microtasks submit joins that step", async () => {
    // Prepare: one running sequence; the hook settles a promise whose continuation (two hops,
    // like a cold load's) submits a second sequence
    const m = tinyModel(12, { maxSeqLen: 48 });
    const s = new BatchScheduler(m, idTok(m.config.vocabSize), { maxBatch: 8 });
    let release!: () => void;
    const ready = new Promise<void>((r) => (release = r));
    const hookAt: number[] = [];
    s.beforeStep = () => {
      hookAt.push(s.steps);
      if (hookAt.length === 2) release();
    };
    let firstTokenAt = -1;
    const late = ready.then(async () => {
      await null;
      return s.submit([3, 4], null, { maxTokens: 2, onToken: () => { if (firstTokenAt < 0) firstTokenAt = s.steps; } });
    });
    // Act
    const first = await s.submit([1, 2], null, { maxTokens: 6 });
    await late;
    // Assess: the hook ran before every step; the late sequence's one-step prefill was the step right after the hook that let it in
    expect(first.tokens).toHaveLength(6);
    expect(hookAt.slice(0, 3)).toEqual([0, 1, 2]);
    expect(firstTokenAt).toBe(2);
  });

  it("a beforeStep or afterStep hook that throws fails the sequences it held with its error, and the scheduler serves the next", async () => {
    const m = tinyModel(12, { maxSeqLen: 48 });
    for (const hook of ["beforeStep", "afterStep"] as const) {
      const s = new BatchScheduler(m, idTok(m.config.vocabSize), { maxBatch: 8 });
      let throws = 1;
      s[hook] = () => { if (throws-- > 0) throw new Error(`${hook} broke`); };
      // Act: two sequences while the hook throws once, then one more
      const held = [s.submit([1, 2], null, { maxTokens: 4 }), s.submit([3, 4], null, { maxTokens: 4 })];
      // Assess: both fail with the hook's error; the next is generated whole
      for (const p of held) await expect(p).rejects.toThrow(`${hook} broke`);
      expect((await s.submit([5, 6], null, { maxTokens: 4 })).tokens).toHaveLength(4);
    }
  });

  it("afterStep runs right after each pumped step, before an I/O callback due meanwhile, and what its microtasks submit joins the next step", async () => {
    // Prepare: one running sequence; the hook, after the first step, settles a promise whose
    // continuation (two hops, like a cold load's) submits a second sequence; a timer due during
    // that step stands for the loop's I/O callbacks
    const m = tinyModel(12, { maxSeqLen: 48 });
    const s = new BatchScheduler(m, idTok(m.config.vocabSize), { maxBatch: 8 });
    let release!: () => void;
    const ready = new Promise<void>((r) => (release = r));
    const order: string[] = [];
    s.afterStep = () => {
      order.push(`after ${s.steps}`);
      if (s.steps === 1) release();
    };
    let firstTokenAt = -1;
    const late = ready.then(async () => {
      await null;
      order.push("submitted");
      return s.submit([3, 4], null, { maxTokens: 2, onToken: () => { if (firstTokenAt < 0) firstTokenAt = s.steps; } });
    });
    const step = s.step.bind(s);
    s.step = () => {
      if (s.steps === 0) { // a timer set as the first step starts falls due during it (set before the step, it could fire first)
        setTimeout(() => order.push("timer"), 0);
        const t = Date.now() + 5;
        while (Date.now() < t);
      }
      return step();
    };
    // Act
    const first = await s.submit([1, 2], null, { maxTokens: 6 });
    await late;
    // Assess: the hook ran after every step, the settled load's continuation ran before the
    // timer, and the late sequence's one-step prefill was the very next step
    expect(first.tokens).toHaveLength(6);
    expect(order.slice(0, 4)).toEqual(["after 1", "submitted", "timer", "after 2"]);
    expect(firstTokenAt).toBe(2);
  });

  it("greedy outputs are the same whether sequences run together or alone, and sequences join mid-run", async () => {
    const m = tinyModel(12, { maxSeqLen: 48 });
    const ads = adapters(m);
    const tok = idTok(m.config.vocabSize);
    const prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [11], [12, 13]];
    const alone: number[][] = [];
    for (let i = 0; i < prompts.length; i++) {
      const s = new BatchScheduler(m, tok, { maxBatch: 8 });
      const p = s.submit(prompts[i]!, ads[i % 3] ?? null, { maxTokens: 6 + i }, false);
      s.drain();
      alone.push((await p).tokens);
    }
    const s = new BatchScheduler(m, tok, { maxBatch: 8, prefillChunk: 3 });
    const together = [s.submit(prompts[0]!, ads[0]!, { maxTokens: 6 }, false), s.submit(prompts[1]!, ads[1]!, { maxTokens: 7 }, false)];
    s.step();
    s.step();
    expect(s.running).toBe(2);
    together.push(s.submit(prompts[2]!, ads[2]!, { maxTokens: 8 }, false), s.submit(prompts[3]!, ads[0]!, { maxTokens: 9 }, false)); // join between steps
    s.drain();
    const res = await Promise.all(together);
    expect(res.map((r) => r.tokens)).toEqual(alone);
    expect(res.map((r) => r.finishReason)).toEqual(["length", "length", "length", "length"]);
    expect(s.running).toBe(0);
  });

  it("respects maxBatch rows and maxSequences, queueing the rest", async () => {
    const m = tinyModel(13);
    const s = new BatchScheduler(m, idTok(m.config.vocabSize), { maxBatch: 4, maxSequences: 2, prefillChunk: 8 });
    const ps = [1, 2, 3].map((i) => s.submit([i, i + 1, i + 2], null, { maxTokens: 2 }, false));
    expect(s.step()).toBe(4);
    expect(s.running).toBe(2);
    expect(s.waiting).toBe(1);
    s.drain();
    expect((await Promise.all(ps)).every((r) => r.tokens.length === 2)).toBe(true);
  });

  it("stops at a stop sequence, streams text without it, and stops at EOS", async () => {
    const m = tinyModel(14);
    const tok = idTok(m.config.vocabSize);
    const s0 = new BatchScheduler(m, tok);
    const free = s0.submit([1, 2], null, { maxTokens: 10 }, false);
    s0.drain();
    const full = (await free).text;
    const stop = full.slice(3, 5);
    const s = new BatchScheduler(m, tok);
    let streamed = "";
    const p = s.submit([1, 2], null, { maxTokens: 10, stop: [stop], onText: (d) => (streamed += d) }, false);
    s.drain();
    const r = await p;
    expect(r.finishReason).toBe("stop");
    expect(r.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(streamed).toBe(r.text);
    const freeToks = (await free).tokens, eos = freeToks[2]!;
    const s2 = new BatchScheduler(m, { ...tok, eos });
    const p2 = s2.submit([1, 2], null, { maxTokens: 10 }, false);
    s2.drain();
    expect((await p2).tokens).toEqual(freeToks.slice(0, freeToks.indexOf(eos) + 1));
    expect((await p2).finishReason).toBe("stop");
  });

  it("a cancelled sequence leaves at the next step, frees its row and cache, and the others run on unchanged", async () => {
    const m = tinyModel(16);
    const tok = idTok(m.config.vocabSize);
    const alone = new BatchScheduler(m, tok);
    const want = alone.submit([4, 5], null, { maxTokens: 8 }, false);
    alone.drain();
    const s = new BatchScheduler(m, tok, { maxBatch: 4, maxSequences: 2 });
    const abort = new AbortController();
    let streamed = "";
    const cancelled = s.submit([1, 2, 3], null, { maxTokens: 20, signal: abort.signal, onText: (d) => (streamed += d) }, false);
    const other = s.submit([4, 5], null, { maxTokens: 8 }, false);
    const queued = new AbortController();
    const neverRan = s.submit([6], null, { maxTokens: 4, signal: queued.signal }, false); // waits: maxSequences is 2
    expect(s.step()).toBe(4); // 3 + 1 prompt rows (maxBatch 4)
    s.step();
    s.step();
    expect(s.running).toBe(2);
    abort.abort();
    queued.abort();
    expect(s.step()).toBe(1); // only `other` is left: the cancelled one took no row
    expect(s.running).toBe(1);
    expect(s.waiting).toBe(0);
    const r = await cancelled;
    expect(r.finishReason).toBe("cancelled");
    expect(r.tokens).toHaveLength(3); // the tokens sampled in the three steps before the abort
    expect(r.text).toBe(streamed);
    expect(await neverRan).toEqual({ text: "", tokens: [], promptTokens: 1, finishReason: "cancelled" });
    s.drain();
    expect((await other).tokens).toEqual((await want).tokens);
    // an already-aborted signal never queues
    expect((await s.submit([1], null, { signal: AbortSignal.abort() })).finishReason).toBe("cancelled");
    expect(s.waiting + s.running).toBe(0);
  });

  it("an abort wakes the event-loop pump: a long generation ends soon after it", async () => {
    const m = tinyModel(17, { maxSeqLen: 512 });
    const s = new BatchScheduler(m, idTok(m.config.vocabSize));
    const abort = new AbortController();
    let tokens = 0;
    const p = s.submit([1], null, { maxTokens: 500, onToken: () => { if (++tokens === 5) abort.abort(); }, signal: abort.signal });
    const r = await p;
    expect(r.finishReason).toBe("cancelled");
    expect(r.tokens).toHaveLength(5);
    expect(s.running).toBe(0);
  });

  it("runs on its own from the event loop and rejects bad requests", async () => {
    const m = tinyModel(15);
    const s = new BatchScheduler(m, byteTokenizer(), { maxRank: 2 });
    const r = await s.submit([1, 2, 3], null, { maxTokens: 3, temperature: 0.8, topP: 0.9, seed: 4 });
    expect(r.tokens).toHaveLength(3);
    await expect(s.submit([], null)).rejects.toThrow(/empty/);
    await expect(s.submit([1], null, { temperature: -1 })).rejects.toThrow(/temperature/);
    await expect(s.submit([1], null, { topP: 0 })).rejects.toThrow(/top_p/);
    await expect(s.submit([999], null)).rejects.toThrow(/vocabulary/);
    await expect(s.submit(new Array(40).fill(1), null)).rejects.toThrow(/context/);
    await expect(s.submit([1], adapters(m)[1]!)).rejects.toThrow(/maxRank/);
  });
});

describe("Sampler", () => {
  it("greedy takes the argmax; a seed reproduces; top-p keeps only the nucleus", () => {
    const logits = new Float32Array([0, 3, 1, 2.9]);
    expect(new Sampler({ temperature: 0, topP: 1, seed: 1 }).sample(logits)).toBe(1);
    const draw = (seed: number, topP: number) => { const s = new Sampler({ temperature: 1, topP, seed }); return Array.from({ length: 50 }, () => s.sample(logits)); };
    expect(draw(5, 1)).toEqual(draw(5, 1));
    expect(new Set(draw(5, 1)).size).toBeGreaterThan(2);
    expect(new Set(draw(6, 0.5))).toEqual(new Set([1, 3]));
  });
});
