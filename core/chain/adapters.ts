import { z } from "zod";
import { AddressSchema } from "../account.ts";
import { Bytes32Hex } from "../datanets/model.ts";
import { ValidationError } from "../errors.ts";
import { eventWrite } from "../events.ts";
import type { CoreDeps } from "../deps.ts";
import { adapterChainKey, chainStatusOf, type ChainStatus } from "./model.ts";
import { syncRecord, type ChainSyncDeps } from "./sync-record.ts";

/** An adapter ready to be registered on chain (what fine-tune finalize produces). */
export const AdapterToRegister = z.strictObject({
  adapterId: z.string().min(1),
  owner: AddressSchema,
  baseModelHash: Bytes32Hex,
  weightsHash: Bytes32Hex,
  trainingConfigHash: Bytes32Hex,
  sources: z
    .array(
      z.strictObject({
        datanetId: z.string().min(1),
        version: z.number().int().positive(),
        root: Bytes32Hex,
        weightBps: z.number().int().min(0).max(10_000),
      }),
    )
    .min(1)
    .refine((s) => s.reduce((sum, x) => sum + x.weightBps, 0) === 10_000, "source weights must add up to 10 000 bps")
    .refine((s) => new Set(s.map((x) => `${x.datanetId}#${x.version}`)).size === s.length, "each Datanet version may appear once"),
  /** Token base units per call, as a decimal string (uint96 on chain). */
  pricePerCall: z.string().regex(/^(0|[1-9][0-9]{0,27})$/, "must be a decimal integer below 10^28"),
  /** Token base units per 1 000 output tokens, as a decimal string (uint96 on chain); "0" when absent. */
  pricePerThousandOutputTokens: z.string().regex(/^(0|[1-9][0-9]{0,27})$/, "must be a decimal integer below 10^28").optional(),
  uri: z.string().max(2048),
});
export type AdapterToRegister = z.infer<typeof AdapterToRegister>;

/**
 * Registers an adapter on chain under its attribution fingerprint, records the
 * transaction, and emits `adapter.registered`. Idempotent by adapter id and, on
 * chain, by fingerprint: a fingerprint already registered to the same owner
 * is recorded without a new transaction; to another owner it is a failure.
 */
export async function syncAdapterToChain(deps: ChainSyncDeps, input: AdapterToRegister): Promise<ChainStatus> {
  const parsed = AdapterToRegister.safeParse(input);
  if (!parsed.success) throw new ValidationError("Invalid adapter registration", parsed.error.issues);
  const adapter = parsed.data;
  const fingerprint = deps.chain.adapterFingerprint(adapter);
  return syncRecord(deps, {
    key: adapterChainKey(adapter.adapterId),
    kind: "adapter",
    subject: { adapterId: adapter.adapterId, fingerprint },
    async find() {
      const onChain = await deps.chain.findAdapter(fingerprint);
      if (!onChain) return undefined;
      if (onChain.owner.toLowerCase() !== adapter.owner.toLowerCase()) {
        return { conflict: `fingerprint ${fingerprint} is registered to ${onChain.owner}` };
      }
      return { tx: onChain.tx };
    },
    send: (onSubmitted) => deps.chain.registerAdapter(adapter, onSubmitted),
    onConfirmed: (tx) => [
      eventWrite(
        "adapter.registered",
        { adapterId: adapter.adapterId, fingerprint, chainId: deps.chain.chainId, txHash: tx?.txHash ?? null, blockNumber: tx?.blockNumber ?? null },
        [adapter.owner],
        deps.clock.now(),
      ),
    ],
  });
}

/** The chain status of an adapter's registration; `pending` until synced. */
export async function getAdapterChainStatus(deps: Pick<CoreDeps, "tables">, adapterId: string): Promise<ChainStatus & { fingerprint: string | null }> {
  const record = await deps.tables.main.get(adapterChainKey(adapterId));
  return { ...chainStatusOf(record), fingerprint: (record?.fingerprint as string | undefined) ?? null };
}
