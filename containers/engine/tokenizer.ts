// Tokenizers: a Hugging Face tokenizer.json through @huggingface/tokenizers, or, when a model
// ships none, a byte-level tokenizer (ids 0..255 are bytes, then BOS and EOS).
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";

export interface Tokenizer {
  vocabSize: number;
  bos: number | null; // id prepended to prompts, if the model has one
  eos: number | null; // id that ends generation
  encode(text: string): number[];
  decode(ids: number[]): string;
}

/** Byte-level tokenizer: 256 byte ids, BOS = 256, EOS = 257. */
export function byteTokenizer(): Tokenizer {
  const enc = new TextEncoder(), dec = new TextDecoder();
  return {
    vocabSize: 258,
    bos: 256,
    eos: 257,
    encode: (text) => Array.from(enc.encode(text)),
    decode: (ids) => dec.decode(new Uint8Array(ids.filter((i) => i < 256))),
  };
}

/** Wrap a parsed tokenizer.json (and optional tokenizer_config.json) via @huggingface/tokenizers. */
export function hfTokenizer(json: Record<string, unknown>, config: Record<string, unknown> = {}): Tokenizer {
  const tok = new HfTokenizer(json, config);
  const model = json.model as { vocab?: Record<string, number> } | undefined;
  const added = (json.added_tokens ?? []) as Array<{ id: number; content: string }>;
  let vocabSize = Math.max(-1, ...Object.values(model?.vocab ?? {}), ...added.map((t) => t.id)) + 1;
  if (vocabSize <= 0) throw new Error("tokenizer.json has an empty vocabulary");
  const idOf = (name: unknown) => (typeof name === "string" ? (added.find((t) => t.content === name)?.id ?? model?.vocab?.[name] ?? null) : null);
  const bos = idOf(config.bos_token ?? "<s>") ?? idOf("<|bos|>");
  const eos = idOf(config.eos_token ?? "</s>") ?? idOf("<|eos|>") ?? idOf("<|endoftext|>");
  return {
    vocabSize,
    bos,
    eos,
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tok.decode(ids, { skip_special_tokens: true }),
  };
}
