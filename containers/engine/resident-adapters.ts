// Adapters made resident in the kernel heap for as long as a run uses them. The AdapterCache
// places the adapters it serves; an adapter handed to the scheduler or to generate() some
// other way (the CLI's --adapter, a benchmark, a test) was read by the kernels from its own
// arrays, which means packing A and B into the kernel's layout in scratch on every layer's
// every projection of every step: for a single stream that costs more than the delta itself.
// Here such an adapter gets a block of one process-wide AdapterSlots while at least one run
// holds it (counted), freed when the last run lets go. Its A and B stay its own arrays
// throughout, so whoever owns it (a trainer, say) keeps good references; the block is a copy
// taken when the first run took hold. A block that cannot be had (no kernel heap, the cap
// reached) leaves the adapter as it was: slower, the same answer. These blocks are f32 whatever
// ENGINE_ADAPTER_DTYPE says (which the AdapterCache's serving slots follow): held here or not,
// an adapter gives the bits its own arrays give on the copied path, unless it is already resident
// in other slots (the serving cache's, bf16 by default), which it then runs from.
import { AdapterSlots } from "./kernels/adapter-slots.ts";
import type { LoraAdapter } from "./lora.ts";

const CAP_BYTES = 32 * 2 ** 20; // arenas placed for good in the heap, at most

let slots: AdapterSlots | null = null;
const holds = new Map<LoraAdapter, number>();

// placed by someone else (the cache's slots): every pair then has its Bᵀ in the heap
const residentElsewhere = (a: LoraAdapter) => a.layers.some((l) => Object.values(l).some((p) => p.Bt !== undefined));

/** Make `a` resident for a run (a no-op for null and for adapters placed elsewhere). */
export function holdResident(a: LoraAdapter | null): void {
  if (!a) return;
  const n = holds.get(a);
  if (n !== undefined) {
    holds.set(a, n + 1);
    return;
  }
  if (residentElsewhere(a)) return;
  slots ??= new AdapterSlots({ capBytes: CAP_BYTES, dtype: "f32" });
  if (slots.place(a)) holds.set(a, 1);
}

/** The run that held `a` is done; the last one out gives its block back. */
export function releaseResident(a: LoraAdapter | null): void {
  if (!a) return;
  const n = holds.get(a);
  if (n === undefined) return;
  if (n > 1) holds.set(a, n - 1);
  else {
    holds.delete(a);
    slots!.release(a);
  }
}

/** Adapters held resident now (tests). */
export function residentHeld(): number {
  return holds.size;
}
