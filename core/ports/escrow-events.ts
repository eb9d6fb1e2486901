/**
 * PaymentEscrow's events in domain terms, read from the chain in block order
 * by adapters/chain/escrow-events.ts; the channel mirror (core/payments)
 * applies them so that verifying a voucher never reads the chain.
 */
export type EscrowEvent = { block: number; logIndex: number; channelId: string } & (
  | { type: "opened"; payer: string; service: string; signer: string }
  | { type: "deposited"; deposit: bigint }
  | { type: "redeemed"; redeemed: bigint }
  | { type: "withdrawal-requested"; amount: bigint; withdrawableAt: number }
  | { type: "withdrawal-cancelled" }
  | { type: "withdrawn"; amount: bigint }
);

export interface EscrowEventSource {
  /** Events of blocks [fromBlock, the latest block deemed final]; `nextBlock` is where the next read starts. */
  read(fromBlock: number): Promise<{ events: EscrowEvent[]; nextBlock: number }>;
  /** Block of the escrow's deployment (where a fresh mirror starts). */
  readonly fromBlock: number;
}
