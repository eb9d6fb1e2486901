import { z } from "zod";
import { ValidationError } from "../errors.ts";
import { ChainNotReadyError } from "./errors.ts";
import { adapterChainKey, adapterLatestPriceKey, adapterPriceChainKey, type ChainStatus } from "./model.ts";
import { syncRecord, type ChainSyncDeps } from "./sync-record.ts";

const Uint96String = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,28})$/, "must be a decimal integer")
  .refine((v) => BigInt(v) < 1n << 96n, "must fit the registry's uint96");

/** A price the adapter's owner set through the API, to record on chain. */
export const AdapterPriceToSync = z.strictObject({
  adapterId: z.string().min(1),
  /** Token base units per call and per 1 000 output tokens, as decimal strings. */
  perCall: Uint96String,
  perThousandOutputTokens: Uint96String,
  /** When the owner set it (ISO 8601): orders price changes, and keys this one's chain record. */
  setAt: z.iso.datetime(),
});
export type AdapterPriceToSync = z.infer<typeof AdapterPriceToSync>;

/** The price change's chain status; `superseded` (with the newer change's time) when a newer one was already sent, so nothing was. */
export type AdapterPriceSync = ChainStatus & { superseded?: { by: string } };

/**
 * Records an adapter's price on chain with `AdapterRegistry.setPrice` as the
 * platform's registrar. Idempotent per price change (keyed by `setAt`; a
 * price the chain already has is recorded without a transaction), and a
 * change older than one already sent is skipped as superseded, so a late
 * delivery never puts an old price back. The adapter must be registered
 * first (ChainNotReadyError, retryable, until it is).
 */
export async function syncAdapterPriceToChain(deps: ChainSyncDeps, input: AdapterPriceToSync): Promise<AdapterPriceSync> {
  const parsed = AdapterPriceToSync.safeParse(input);
  if (!parsed.success) throw new ValidationError("Invalid adapter price", parsed.error.issues);
  const price = parsed.data;
  const registration = await deps.tables.main.get(adapterChainKey(price.adapterId));
  const fingerprint = registration?.fingerprint as string | undefined;
  if (registration?.status !== "confirmed" || !fingerprint) {
    throw new ChainNotReadyError(`adapter ${price.adapterId} is not registered on chain yet`);
  }
  const latest = await deps.tables.main.get(adapterLatestPriceKey(price.adapterId));
  const latestAt = latest?.setAt as string | undefined;
  if (latestAt && Date.parse(latestAt) > Date.parse(price.setAt)) {
    return { status: "confirmed", txHash: null, blockNumber: null, chainId: deps.chain.chainId, superseded: { by: latestAt } };
  }

  const status = await syncRecord(deps, {
    key: adapterPriceChainKey(price.adapterId, price.setAt),
    kind: "adapter-price",
    subject: { adapterId: price.adapterId, fingerprint, perCall: price.perCall, perThousandOutputTokens: price.perThousandOutputTokens, setAt: price.setAt },
    async find() {
      const onChain = await deps.chain.findAdapter(fingerprint);
      if (!onChain) return { conflict: `fingerprint ${fingerprint} is not on chain` };
      const same = onChain.pricePerCall === price.perCall && onChain.pricePerThousandOutputTokens === price.perThousandOutputTokens;
      return same ? {} : undefined;
    },
    send: (onSubmitted) => deps.chain.setPrice(fingerprint, { perCall: price.perCall, perThousandOutputTokens: price.perThousandOutputTokens }, onSubmitted),
    onConfirmed: () => [{ put: { ...adapterLatestPriceKey(price.adapterId), setAt: price.setAt } }],
  });
  return status;
}
