import { z } from "zod";
import { AddressSchema } from "../account.ts";
import { ChainStatus } from "../chain/model.ts";
import { Bytes32Hex, DatanetSchemaKind, Visibility } from "../datanets/model.ts";
import { JobMetrics, LoraSettings } from "../jobs/model.ts";
import { AdapterPrice } from "./price.ts";

/**
 * A LoRA adapter the Model Factory produced: its files (PEFT layout in the
 * blob store), the hashes its attribution fingerprint binds, and the
 * attribution weights of the Datanet versions and contributors whose data
 * trained it (docs/attribution.md says how to recompute them).
 */
export const Adapter = z
  .object({
    id: z.string(),
    owner: AddressSchema,
    /** private when any source Datanet is private: then only the owner lists, reads, downloads or calls it. */
    visibility: Visibility,
    /**
     * The trainer's prompt template the adapter learned (containers/trainer/records.ts): inference renders
     * requests with it. chat when any source is chat, else instruction when any is, else text.
     */
    promptTemplate: DatanetSchemaKind,
    jobId: z.string(),
    baseModel: z.string(),
    /** keccak256 binding base model, weights, training config and sources; the adapter's id on chain. */
    fingerprint: Bytes32Hex,
    /** 0x sha256 of the base model's model.safetensors. */
    baseModelHash: Bytes32Hex,
    /** 0x sha256 of adapter_model.safetensors. */
    weightsHash: Bytes32Hex,
    /** keccak256 of the canonical JSON of {baseModel, lora, training, trainerVersion}. */
    trainingConfigHash: Bytes32Hex,
    trainerVersion: z.string(),
    lora: LoraSettings,
    /** Blob keys of the adapter's files. */
    files: z.object({
      config: z.string().meta({ description: "adapter_config.json (PEFT)" }),
      weights: z.string().meta({ description: "adapter_model.safetensors (PEFT)" }),
      attribution: z.string().meta({ description: "attribution.json written by the trainer" }),
      metrics: z.string().meta({ description: "metrics.json written by the trainer" }),
    }),
    metrics: JobMetrics,
    /** Attribution per Datanet version, by training tokens used; weights add up to 10 000 bps. */
    datanets: z.array(z.object({ id: z.string(), version: z.number().int(), root: Bytes32Hex, tokens: z.number().int(), weightBps: z.number().int() })),
    /** Attribution per contributor, by accepted training tokens used; weights add up to 10 000 bps. */
    contributors: z.array(z.object({ address: AddressSchema, tokens: z.number().int(), weightBps: z.number().int() })),
    /** Token base units per inference call, decimal string. */
    pricePerCall: z.string(),
    createdAt: z.string(),
  })
  .meta({ id: "Adapter" });
export type Adapter = z.infer<typeof Adapter>;

/** An adapter with where its on-chain registration stands and the price its owner set (free when never set). */
export const AdapterView = Adapter.extend({ chain: ChainStatus, price: AdapterPrice }).meta({ id: "AdapterView" });
export type AdapterView = z.infer<typeof AdapterView>;
