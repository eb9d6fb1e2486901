import { keccak256, toUtf8Bytes } from "ethers";
import type { JobSpec } from "./model.ts";

/**
 * JSON with object keys sorted at every depth, no whitespace, undefined
 * fields dropped: the one encoding the job hashes are taken over, so anyone
 * can recompute them from the files (`jq -cS` prints the same bytes).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * 0x keccak256 of the canonical JSON of `{baseModel, lora, training, trainerVersion}`:
 * what the trainer writes to attribution.json and the attribution fingerprint binds.
 * Example: trainingConfigHash({ baseModel: { id: "mf-tiny-sotu" }, lora, training }, "trainer/1")
 */
export function trainingConfigHash(spec: { baseModel: Pick<JobSpec["baseModel"], "id">; lora: JobSpec["lora"]; training: JobSpec["training"] }, trainerVersion: string): string {
  return keccak256(toUtf8Bytes(canonicalJson({ baseModel: spec.baseModel.id, lora: spec.lora, training: spec.training, trainerVersion })));
}
