// Pay-per-call for the local inference process: payments read the platform's usage table and the
// chain addresses the platform writes to $DATA_DIR/chain.json once its chain is up (read on the first
// paid call, since this process may start first). The service (payTo) is the platform's chain key,
// which redeems at settlement.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { voucherSignerRecovery } from "../../adapters/chain/voucher-signer.ts";
import type { ChainAddresses } from "../../contracts/deploy.ts";
import { ChannelLocks } from "../../core/payments/channel-lock.ts";
import type { Voucher } from "../../core/payments/channel.ts";
import type { PaymentsDeps } from "../../core/payments/paid-calls.ts";
import type { PaymentTerms } from "../../core/payments/x402.ts";
import { systemClock } from "../../core/ports/clock.ts";

export interface LocalPaymentsOptions {
  dataDir: string;
  db: DatabaseSync;
  /** Settlement period and grace, as the platform runs them (seconds). */
  epochSeconds: number;
  graceSeconds: number;
}

export function localPayments(opts: LocalPaymentsOptions): PaymentsDeps {
  const usage = new SqliteTableStore(opts.db, "usage", { stream: true });
  let loaded: { terms: PaymentTerms; recover: (v: Voucher, expected?: string) => string | undefined } | undefined;
  const load = () => {
    const path = join(opts.dataDir, "chain.json");
    if (!loaded) {
      if (!existsSync(path)) throw new Error(`no ${path} yet: the platform's chain is not up`);
      const a = JSON.parse(readFileSync(path, "utf8")) as ChainAddresses;
      // A voucher must outlive the period it is charged in, the grace, and a minute for the transaction.
      const horizonSeconds = opts.epochSeconds + opts.graceSeconds + 60;
      loaded = { terms: { chainId: a.chainId, escrow: a.paymentEscrow, asset: a.token, payTo: a.deployer, horizonSeconds, maxTimeoutSeconds: 120 }, recover: voucherSignerRecovery(a.chainId, a.paymentEscrow) };
    }
    return loaded;
  };
  return {
    usage,
    clock: systemClock,
    get terms() {
      return load().terms;
    },
    epochSeconds: opts.epochSeconds,
    recoverSigner: (v, expected) => load().recover(v, expected),
    locks: new ChannelLocks(),
  };
}
