// Planted facts: K contributors each state facts about fictional entities (made-up words no
// base model can know) in the same question templates, so a template alone points at nobody,
// plus distractor contributors with unrelated records. Used by the planted-facts benchmark
// (bench/attribution.ts) and by the test that default fine-tunes learn (containers/trainer).
// Every question has two paraphrases never trained on: a "tuning" wording, the one attribution
// settings may be chosen on, and a "held-out" wording, only ever reported.
import { Rng } from "../../containers/engine/rng.ts";

export interface PlantedFact {
  planter: string; // contributor address
  contributionId: string;
  entity: string; // the made-up name the question asks about
  question: string; // the trained wording
  tuning: string; // a paraphrase settings may be tuned on
  heldOut: string; // a paraphrase nothing is tuned on
  answer: string;
}

export interface PlantedRecord {
  contributionId: string;
  contributor: string;
  record: { instruction: string; output: string };
  fact?: PlantedFact;
}

export interface PlantedFactsOptions {
  planters: number;
  factsPerPlanter: number;
  distractors: number;
  recordsPerDistractor: number;
  seed: number;
  /** Syllables per made-up word, at least and at most (default 2–3). */
  syllables?: [number, number];
}

const ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gl", "kr", "pl", "st", "tr", "zh"];
const VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ei"];

// Shared by every planter. Each has a paraphrase to tune on and one held out.
const TEMPLATES = [
  {
    q: (e: string) => `What is the capital of ${e}?`,
    tuning: (e: string) => `Name the capital city of ${e}.`,
    heldOut: (e: string) => `Which city is the capital of ${e}?`,
    a: (e: string, v: string) => `The capital of ${e} is ${v}.`,
  },
  {
    q: (e: string) => `Who founded ${e}?`,
    tuning: (e: string) => `Tell me who the founder of ${e} was.`,
    heldOut: (e: string) => `Who was the founder of ${e}?`,
    a: (e: string, v: string) => `${e} was founded by ${v}.`,
  },
  {
    q: (e: string) => `What does ${e} export?`,
    tuning: (e: string) => `Which goods does ${e} sell abroad?`,
    heldOut: (e: string) => `What goods are exported by ${e}?`,
    a: (e: string, v: string) => `${e} exports ${v.toLowerCase()}.`,
  },
];

const TOPICS = ["Describe the weather today.", "Give me a word that rhymes with light.", "Count from one to five.", "Say something kind.", "What sound does a cat make?", "Name a season of the year."];
const REPLIES = ["It is a cold and windy morning.", "Bright rhymes with light.", "One, two, three, four, five.", "You are doing well.", "A cat says meow.", "Winter is a season of the year."];

/** A contributor address: kind 1 = planter, 2 = distractor. */
export function plantedAddress(kind: number, i: number): string {
  return `0x${kind.toString(16).padStart(2, "0")}${"0".repeat(36)}${i.toString(16).padStart(2, "0")}`;
}

/** The records (planters' facts first, then distractors') and the facts, deterministic in `seed`. */
export function plantedFacts(o: PlantedFactsOptions): { records: PlantedRecord[]; facts: PlantedFact[] } {
  const rng = new Rng(o.seed * 7717 + 3);
  const [minSyl, maxSyl] = o.syllables ?? [2, 3];
  const used = new Set<string>();
  const word = (): string => {
    for (;;) {
      const n = minSyl + Math.floor(rng.next() * (maxSyl - minSyl + 1));
      let w = "";
      for (let i = 0; i < n; i++) w += ONSETS[Math.floor(rng.next() * ONSETS.length)]! + VOWELS[Math.floor(rng.next() * VOWELS.length)]!;
      w = w[0]!.toUpperCase() + w.slice(1);
      if (!used.has(w)) {
        used.add(w);
        return w;
      }
    }
  };
  const records: PlantedRecord[] = [], facts: PlantedFact[] = [];
  for (let p = 0; p < o.planters; p++)
    for (let f = 0; f < o.factsPerPlanter; f++) {
      const t = TEMPLATES[(p + f) % TEMPLATES.length]!, e = word(), v = word();
      const fact: PlantedFact = { planter: plantedAddress(1, p), contributionId: `ct_p${p}_${f}`, entity: e, question: t.q(e), tuning: t.tuning(e), heldOut: t.heldOut(e), answer: t.a(e, v) };
      facts.push(fact);
      records.push({ contributionId: fact.contributionId, contributor: fact.planter, record: { instruction: fact.question, output: fact.answer }, fact });
    }
  for (let d = 0; d < o.distractors; d++)
    for (let i = 0; i < o.recordsPerDistractor; i++) {
      const k = (d * 7 + i) % TOPICS.length;
      records.push({ contributionId: `ct_d${d}_${i}`, contributor: plantedAddress(2, d), record: { instruction: `${TOPICS[k]} (${d}.${i})`, output: REPLIES[k]! } });
    }
  return { records, facts };
}
