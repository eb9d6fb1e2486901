// Planted facts with knowledge augmentation (issue 11): the same planters, facts and
// distractors as test/fakes/planted-facts.ts, but some of each planter's facts are also stated
// in other wordings, as real contributors who do not all write one template would. Allen-Zhu &
// Li ("Physics of Language Models 3.1", 2023) found that a fact stated in one wording only is
// stored but not extractable by other wordings, and that when *some* facts appear in several
// wordings a model learns to extract *other* facts by unseen wordings too.
//
// Why it is a fair test: every wording below is shared by every planter (a wording points at
// nobody), the augmented records are the planter's own records with the planter's own answer,
// and what is measured on paraphrases is only ever a fact asked in a wording never seen with
// that fact:
// - "tuning" paraphrase: a wording other facts were stated in, never this one (only facts
//   stated in one wording are asked it); the one wording settings may be chosen on.
// - "held-out" paraphrase: a wording no training record holds, for any fact; only reported,
//   on the facts stated in one wording and, apart, on the augmented ones.
import { Rng } from "../containers/engine/rng.ts";
import { plantedFacts, type PlantedFact, type PlantedFactsOptions, type PlantedRecord } from "../test/fakes/planted-facts.ts";

/**
 * Extra wordings per template of planted-facts.ts, in its order (capital, founder, export); a
 * fact is augmented with the first `wordings` of them. The first is that template's tuning
 * paraphrase (so asking a single-wording fact in it tests a wording seen with other facts
 * only); none is its held-out paraphrase.
 */
const EXTRA_WORDINGS: ReadonlyArray<ReadonlyArray<(e: string) => string>> = [
  [(e) => `Name the capital city of ${e}.`, (e) => `Tell me the capital of ${e}.`, (e) => `${e} has which city as its capital?`, (e) => `What city is ${e}'s seat of government?`],
  [(e) => `Tell me who the founder of ${e} was.`, (e) => `Name the person who founded ${e}.`, (e) => `${e} was founded by whom?`, (e) => `Who started ${e}?`],
  [(e) => `Which goods does ${e} sell abroad?`, (e) => `Name the exports of ${e}.`, (e) => `What are the main exports of ${e}?`, (e) => `Tell me what ${e} ships to other countries.`],
];
export const MAX_EXTRA_WORDINGS = 4;

export interface AugmentOptions {
  /** Share of each planter's facts also stated in other wordings, in [0, 1] (0: the single-wording set). */
  fraction: number;
  /** Extra wordings per augmented fact, 1..MAX_EXTRA_WORDINGS. */
  wordings: number;
}

export interface WordedFact extends PlantedFact {
  /** Also stated in other wordings in training (then its tuning paraphrase is a trained wording for it). */
  augmented: boolean;
}

/** The planted set with `fraction` of each planter's facts (chosen by the seed) also stated in `wordings` more wordings. */
export function plantedFactsAugmented(o: PlantedFactsOptions, aug: AugmentOptions): { records: PlantedRecord[]; facts: WordedFact[] } {
  if (!(aug.fraction >= 0 && aug.fraction <= 1)) throw new RangeError(`augmented fraction must be in [0, 1], got ${aug.fraction}`);
  if (aug.fraction > 0 && !(Number.isInteger(aug.wordings) && aug.wordings >= 1 && aug.wordings <= MAX_EXTRA_WORDINGS)) throw new RangeError(`extra wordings per fact must be an integer in 1..${MAX_EXTRA_WORDINGS}, got ${aug.wordings}`);
  const base = plantedFacts(o);
  const rng = new Rng(o.seed * 104_729 + 11);
  const augmented = new Set<string>();
  for (let p = 0; p < o.planters; p++) {
    // The same count for every planter (token shares stay equal), which of its facts by the seed.
    const order = Array.from({ length: o.factsPerPlanter }, (_, f) => f);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const f of order.slice(0, Math.round(aug.fraction * o.factsPerPlanter))) augmented.add(`ct_p${p}_${f}`);
  }
  const records: PlantedRecord[] = [], facts: WordedFact[] = [];
  for (const r of base.records) {
    records.push(r);
    if (!r.fact) continue;
    const fact: WordedFact = { ...r.fact, augmented: augmented.has(r.contributionId) };
    facts.push(fact);
    if (!fact.augmented) continue;
    // planted-facts.ts gives fact f of planter p template (p + f) mod 3.
    const [, p, f] = /^ct_p(\d+)_(\d+)$/.exec(r.contributionId)!.map(Number) as [number, number, number];
    const wordings = EXTRA_WORDINGS[(p + f) % EXTRA_WORDINGS.length]!;
    for (let w = 0; w < aug.wordings; w++)
      records.push({ contributionId: `${r.contributionId}_w${w + 1}`, contributor: r.contributor, record: { instruction: wordings[w]!(fact.entity), output: fact.answer }, fact });
  }
  // The templates' order in planted-facts.ts is what EXTRA_WORDINGS follows; check it held.
  for (const f of facts) if (f.augmented && !records.some((r) => r.fact === undefined ? false : r.record.instruction === f.tuning && r.record.output === f.answer)) throw new Error(`augmented fact ${f.contributionId}: its tuning paraphrase is not among its records (planted-facts.ts templates changed?)`);
  return { records, facts };
}
