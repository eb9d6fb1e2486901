/**
 * Token counting for contributions. The count is part of each contribution's
 * Merkle leaf, so it must be deterministic and stable: the same text always
 * gives the same number, on every machine.
 *
 * It counts GPT-2 style pre-tokens (the regex GPT-2's byte-level BPE splits
 * text with before merging: contractions, words and numbers with one leading
 * space, punctuation runs, whitespace runs). A BPE vocabulary only splits
 * pre-tokens further, so this is a lower bound close to what a real tokenizer
 * reports for English prose (e.g. "Hello, world!" → 4). When the engine's own
 * tokenizer is wired in, replace `countTokens`; versions already published
 * keep the counts they were frozen with.
 */
const PRE_TOKEN = /'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Number of pre-tokens in `text`. */
export function countTokens(text: string): number {
  let n = 0;
  PRE_TOKEN.lastIndex = 0;
  while (PRE_TOKEN.exec(text) !== null) n++;
  return n;
}
