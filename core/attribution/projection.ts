// A seeded random projection of a LoRA gradient to k numbers (TracIn/LoGra-style sketches):
// the same seed, parameter order and k give the same sketch on any machine, so anyone can
// recompute a record's or a call's sketch. A sparse Johnson–Lindenstrauss transform (Kane and
// Nelson): each gradient coordinate j is added, with a random sign, to S random rows:
//   sketch[row_s(j)] += sign_s(j) · g[j] / √S   for s = 1..S,
// so E[⟨sketch(u), sketch(v)⟩] = ⟨u, v⟩, at S operations per coordinate instead of k.

/** Format name written into the sketch file; a reader refuses any other. */
export const SKETCH_FORMAT = "mf-gradient-sketch/1";

/** Rows each gradient coordinate is added to. */
export const SKETCH_ROWS_PER_COORDINATE = 8;

/**
 * The 32-bit state that draws the rows and signs of gradient coordinate `j` (murmur3's
 * finalizer over seed ⊕ (j+1)·golden ratio; never 0, which xorshift32 cannot leave).
 */
export function coordinateState(seed: number, j: number): number {
  let x = (seed ^ Math.imul(j + 1, 0x9e3779b9)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0 || 1;
}

/**
 * Projects the gradient given as consecutive parts (the adapter's parameters in PEFT order:
 * per layer, per target in q,k,v,o,gate,up,down order, lora_A then lora_B, each row-major)
 * to `k` numbers (a multiple of 32). For coordinate j, draw s = 1..8: x ← xorshift32(x)
 * (shifts 13, 17, 5) starting from coordinateState(seed, j); row = (x >>> 1) mod k; sign = +1
 * when x is odd, else −1; add sign · g[j] / √8 to that row.
 */
export function projectGradient(parts: ReadonlyArray<ArrayLike<number>>, k: number, seed: number): Float32Array {
  if (!Number.isInteger(k) || k < 32 || k % 32 !== 0) throw new RangeError(`sketch size k must be a positive multiple of 32, got ${k}`);
  const acc = new Float64Array(k);
  const S = SKETCH_ROWS_PER_COORDINATE, scale = 1 / Math.sqrt(S);
  let j = 0;
  for (const part of parts)
    for (let p = 0; p < part.length; p++, j++) {
      const g = part[p]!;
      if (g === 0) continue;
      let x = coordinateState(seed, j);
      for (let s = 0; s < S; s++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        acc[(x >>> 1) % k]! += x & 1 ? g : -g;
      }
    }
  const out = new Float32Array(k);
  for (let i = 0; i < k; i++) out[i] = acc[i]! * scale;
  return out;
}
