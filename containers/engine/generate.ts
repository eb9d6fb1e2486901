// Generating text for one prompt: a convenience over the batched forward, used by the CLI and
// the base-model card. Serving many prompts at once goes through BatchScheduler instead.
import { createKvCache, createRunState, forward, type Model, type Row } from "./model.ts";
import type { LoraAdapter } from "./lora.ts";
import { holdResident, releaseResident } from "./resident-adapters.ts";
import { Sampler } from "./sampler.ts";
import { DEFAULT_GENERATE, type GenerateOptions, type GenerateResult } from "./scheduler.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Generate a continuation of `prompt` (text) with optional adapter; synchronous. */
export function generate(m: Model, tok: Tokenizer, prompt: string, options: Partial<GenerateOptions> = {}, adapter: LoraAdapter | null = null): GenerateResult {
  // the adapter's matrices in the kernel heap for the call, read in place rather than copied per projection
  holdResident(adapter);
  try {
    return generateWith(m, tok, prompt, options, adapter);
  } finally {
    releaseResident(adapter);
  }
}

function generateWith(m: Model, tok: Tokenizer, prompt: string, options: Partial<GenerateOptions>, adapter: LoraAdapter | null): GenerateResult {
  const opts = { ...DEFAULT_GENERATE, ...options };
  const ids = tok.encode(prompt);
  const prefix = tok.bos !== null && ids[0] !== tok.bos ? [tok.bos, ...ids] : ids;
  const c = m.config;
  const promptIds = prefix.slice(-(c.maxSeqLen - 1));
  const kv = createKvCache(c), state = createRunState(c, promptIds.length);
  const sampler = new Sampler({ temperature: opts.temperature, topP: opts.topP, seed: opts.seed });
  // prefill the whole prompt in one forward (rows of one sequence at consecutive positions)
  const rows: Row[] = promptIds.map((token, pos) => ({ token, pos, kv, adapter }));
  let logits = forward(m, rows, state).subarray((rows.length - 1) * c.vocabSize);
  const out: number[] = [];
  let text = "", emitted = 0, pos = promptIds.length;
  let finishReason: GenerateResult["finishReason"] = "length";
  while (out.length < opts.maxTokens && pos < c.maxSeqLen) {
    const next = sampler.sample(logits);
    out.push(next);
    opts.onToken?.(next);
    if (next === tok.eos) { finishReason = "stop"; break; }
    text = tok.decode(out);
    const at = Math.min(...opts.stop.map((s) => (s ? text.indexOf(s) : -1)).filter((i) => i >= 0), Infinity);
    if (at !== Infinity) { text = text.slice(0, at); finishReason = "stop"; break; }
    const hold = Math.max(0, ...opts.stop.map((s) => s.length - 1));
    if (text.length - hold > emitted) { opts.onText?.(text.slice(emitted, text.length - hold)); emitted = text.length - hold; }
    logits = forward(m, [{ token: next, pos: pos++, kv, adapter }], state).subarray(0, c.vocabSize);
  }
  if (text.length > emitted) opts.onText?.(text.slice(emitted));
  return { text, tokens: out, promptTokens: promptIds.length, finishReason };
}
