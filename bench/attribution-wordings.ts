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
 * The pool of other wordings per template of planted-facts.ts, in its order (capital, founder,
 * export). Each augmented fact is stated in `wordings` of the first `pool` of them, drawn by
 * the seed (all of them when the two are equal). The first is that template's tuning
 * paraphrase (so asking a single-wording fact in it tests a wording seen with other facts
 * only); none is its held-out paraphrase.
 */
const EXTRA_WORDINGS: ReadonlyArray<ReadonlyArray<(e: string) => string>> = [
  [(e) => `Name the capital city of ${e}.`, (e) => `Tell me the capital of ${e}.`, (e) => `${e} has which city as its capital?`, (e) => `What city is ${e}'s seat of government?`,
    (e) => `What is ${e}'s capital?`, (e) => `Name ${e}'s capital.`, (e) => `Do you know the capital of ${e}?`, (e) => `The capital of ${e} is which city?`],
  [(e) => `Tell me who the founder of ${e} was.`, (e) => `Name the person who founded ${e}.`, (e) => `${e} was founded by whom?`, (e) => `Who started ${e}?`,
    (e) => `Who is credited with founding ${e}?`, (e) => `Do you know who founded ${e}?`, (e) => `Who was behind the founding of ${e}?`, (e) => `Who set up ${e}?`],
  [(e) => `Which goods does ${e} sell abroad?`, (e) => `Name the exports of ${e}.`, (e) => `What are the main exports of ${e}?`, (e) => `Tell me what ${e} ships to other countries.`,
    (e) => `What does ${e} sell to other nations?`, (e) => `What are ${e}'s exports?`, (e) => `What trade goods come from ${e}?`, (e) => `Which products leave ${e} for foreign markets?`],
];
export const MAX_EXTRA_WORDINGS = 8;

export interface AugmentOptions {
  /** Share of each planter's facts also stated in other wordings, in [0, 1] (0: the single-wording set). */
  fraction: number;
  /**
   * Extra wordings per augmented fact, 1..pool; 0 is the control: the same facts are marked
   * augmented but no record is added, so the single-wording set is reported on the same facts.
   */
  wordings: number;
  /** Wordings per template they are drawn from, wordings..MAX_EXTRA_WORDINGS (default: wordings, so every augmented fact gets the same ones). */
  pool?: number;
}

export interface WordedFact extends PlantedFact {
  /** Also stated in other wordings in training (then its tuning paraphrase may be a trained wording for it); in the control, would be. */
  augmented: boolean;
}

/** The planted set with `fraction` of each planter's facts (chosen by the seed) also stated in `wordings` more wordings. */
export function plantedFactsAugmented(o: PlantedFactsOptions, aug: AugmentOptions): { records: PlantedRecord[]; facts: WordedFact[] } {
  if (!(aug.fraction >= 0 && aug.fraction <= 1)) throw new RangeError(`augmented fraction must be in [0, 1], got ${aug.fraction}`);
  const pool = aug.pool ?? Math.max(1, aug.wordings);
  if (aug.fraction > 0 && !(Number.isInteger(pool) && pool >= 1 && pool <= MAX_EXTRA_WORDINGS)) throw new RangeError(`the pool of extra wordings must be an integer in 1..${MAX_EXTRA_WORDINGS}, got ${pool}`);
  if (aug.fraction > 0 && !(Number.isInteger(aug.wordings) && aug.wordings >= 0 && aug.wordings <= pool)) throw new RangeError(`extra wordings per fact must be an integer in 0..${pool} (the pool), got ${aug.wordings}`);
  const base = plantedFacts(o);
  const rng = new Rng(o.seed * 104_729 + 11);
  const shuffled = (n: number) => {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  };
  const augmented = new Set<string>();
  // The same count for every planter (token shares stay equal), which of its facts by the seed.
  for (let p = 0; p < o.planters; p++) for (const f of shuffled(o.factsPerPlanter).slice(0, Math.round(aug.fraction * o.factsPerPlanter))) augmented.add(`ct_p${p}_${f}`);
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
    for (const w of shuffled(pool).slice(0, aug.wordings).sort((a, b) => a - b))
      records.push({ contributionId: `${r.contributionId}_w${w + 1}`, contributor: r.contributor, record: { instruction: wordings[w]!(fact.entity), output: fact.answer }, fact });
  }
  // The templates' order in planted-facts.ts is what EXTRA_WORDINGS follows: its first wording is the tuning paraphrase.
  for (const f of facts) {
    const t = /^ct_p(\d+)_(\d+)$/.exec(f.contributionId)!.slice(1).map(Number) as [number, number];
    if (EXTRA_WORDINGS[(t[0] + t[1]) % EXTRA_WORDINGS.length]![0]!(f.entity) !== f.tuning) throw new Error(`fact ${f.contributionId}: the wording pool does not start with its tuning paraphrase (planted-facts.ts templates changed?)`);
  }
  const trainedWordings = new Set(records.map((r) => r.record.instruction));
  for (const f of facts) if (trainedWordings.has(f.heldOut)) throw new Error(`fact ${f.contributionId}: its held-out paraphrase is a training record's wording`);
  return { records, facts };
}
