// Prompt noise: perturbed copies of the training records' prompts, so a small model learns to
// answer from the words that single a record out (its rare content words: a name, a term)
// instead of from the exact wording of a prompt template that every record shares. Without it
// the committed base model memorises "What is the capital of X?" and answers "Name the capital
// city of X." with another record's words (docs/benchmarks.md, "Attribution").
//
// Data-level and generic: it changes only prompt text (what takes no loss with completion-only
// loss), never a completion or a template tag line ("### Instruction:", "### User:", …), and
// knows nothing about any Datanet's wording. Each word of a prompt line is dropped with
// probability rate · (1 − 1/df), df being how many training records' prompts hold the word: a
// word only this record's prompt has is always kept, a word every record has is dropped at
// `rate`. The copies are made once, before packing, so both backends (the engine and PyTorch)
// train on the same rows; the run's step count stays that of the records without copies.
import { Rng } from "../engine/rng.ts";
import type { TextPiece } from "./records.ts";

export interface PromptNoiseOptions {
  /** Perturbed copies of each training record, beside the record itself (0: off). */
  copies: number;
  /** Largest chance that a word is dropped (a word every record's prompt has), in [0, 1). */
  rate: number;
  /** The copies are a function of the records and this seed. */
  seed: number;
  /**
   * drop: chosen words are dropped. mix: dropped or replaced by another shared prompt word, even
   * odds (core/jobs/recipe.ts PARAPHRASE_PROMPT_NOISE). Moving words (shuffling a line; EDA's swaps and insertions, Wei &
   * Zou 2019; inserting shared words) was tried and lost on the tuning paraphrases or on the
   * trained wording (docs/benchmarks.md, "Prompt noise").
   */
  mode?: "drop" | "mix";
}

const TAG_LINE = /^###\s/;
const WORD = /\S+/g;
/** A word as df counts it: lower case, without punctuation around it ("X?" and "x" are one). */
const key = (w: string) => w.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");

/** Per distinct word, how many records' prompt lines hold it. */
function promptDocumentFrequency(records: TextPiece[][]): Map<string, number> {
  const df = new Map<string, number>();
  for (const pieces of records) {
    const seen = new Set<string>();
    for (const p of pieces) if (!p.completion) for (const line of p.text.split("\n")) if (!TAG_LINE.test(line)) for (const w of line.match(WORD) ?? []) seen.add(key(w));
    for (const k of seen) df.set(k, (df.get(k) ?? 0) + 1);
  }
  return df;
}

/** One perturbed copy of a prompt piece's text: tag lines kept, other lines' words dropped as above (spacing of kept words normalised to one space). */
function perturb(text: string, df: Map<string, number>, o: PromptNoiseOptions, shared: string[], rng: Rng): string {
  return text
    .split("\n")
    .map((line) => {
      if (TAG_LINE.test(line)) return line;
      const words = line.match(WORD);
      if (!words) return line;
      const out: string[] = [];
      for (const w of words) {
        if (rng.next() >= o.rate * (1 - 1 / (df.get(key(w)) ?? 1))) out.push(w);
        else if (o.mode === "mix" && shared.length && rng.next() < 0.5) out.push(shared[Math.floor(rng.next() * shared.length)]!);
      }
      return out.join(" ");
    })
    .join("\n");
}

/**
 * The training records followed by `copies` perturbed copies of each (record order, then copy
 * order), deterministic in the records and the seed. Completion pieces are the same objects.
 * Example: with rate 0.5, "What is the capital of Zobrai?" may become "What capital Zobrai?".
 */
export function withPromptNoise(records: TextPiece[][], o: PromptNoiseOptions): TextPiece[][] {
  if (!Number.isInteger(o.copies) || o.copies < 0) throw new RangeError(`prompt noise copies must be a whole number ≥ 0, got ${o.copies}`);
  if (!(o.rate >= 0 && o.rate < 1)) throw new RangeError(`prompt noise rate must be in [0, 1), got ${o.rate}`);
  if (o.copies === 0 || o.rate === 0) return records;
  const df = promptDocumentFrequency(records);
  // Replacement words: those more than one record's prompt holds (template words, never a record's own name), in first-seen order.
  const shared = [...df].filter(([, n]) => n > 1).map(([w]) => w);
  const rng = new Rng((o.seed * 40_503 + 17) >>> 0);
  const out = [...records];
  for (let c = 0; c < o.copies; c++)
    for (const pieces of records) out.push(pieces.map((p) => (p.completion ? p : { text: perturb(p.text, df, o, shared, rng), completion: false })));
  return out;
}
