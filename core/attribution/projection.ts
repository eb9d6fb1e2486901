// A seeded random projection of a LoRA gradient to k numbers (TracIn/LoGra-style sketches):
// the same seed, parameter order and k give the same sketch on any machine, so anyone can
// recompute a record's or a call's sketch. Johnson–Lindenstrauss with Rademacher signs:
// sketch[i] = Σ_j s(i, j) · g[j] / √k, s = ±1, so inner products are kept in expectation.

/** Format name written into the sketch file; a reader refuses any other. */
export const SKETCH_FORMAT = "mf-gradient-sketch/1";

/**
 * The 32-bit state that draws the signs of gradient coordinate `j` (murmur3's finalizer over
 * seed ⊕ (j+1)·golden ratio; never 0, which xorshift32 cannot leave).
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
 * to `k` numbers (a multiple of 32). Sign s(i, j) is bit i%32 of the (⌊i/32⌋+1)-th xorshift32
 * output (13, 17, 5) from coordinateState(seed, j): bit set → +1.
 */
export function projectGradient(parts: ReadonlyArray<ArrayLike<number>>, k: number, seed: number): Float32Array {
  if (!Number.isInteger(k) || k < 32 || k % 32 !== 0) throw new RangeError(`sketch size k must be a positive multiple of 32, got ${k}`);
  const acc = new Float64Array(k);
  const words = k / 32;
  let j = 0;
  for (const part of parts)
    for (let p = 0; p < part.length; p++, j++) {
      const g = part[p]!;
      if (g === 0) continue;
      let x = coordinateState(seed, j);
      for (let w = 0; w < words; w++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        const base = w * 32;
        for (let b = 0; b < 32; b++) acc[base + b]! += (x >>> b) & 1 ? g : -g;
      }
    }
  const out = new Float32Array(k), scale = 1 / Math.sqrt(k);
  for (let i = 0; i < k; i++) out[i] = acc[i]! * scale;
  return out;
}
