import type { Address } from "../account.ts";

/**
 * The Chain port: the on-chain writes and reads the platform needs, in domain
 * terms (off-chain ids, decimal strings for token amounts). The ethers adapter
 * (adapters/chain/ethers-chain.ts) implements it for any EVM chain; it manages
 * nonces and gas, retries RPC failures with backoff, and reports a revert as
 * `ChainRevertedError` and an RPC it could not reach as `ChainUnavailableError`.
 */

/** A mined transaction. */
export interface ChainTx {
  txHash: string;
  blockNumber: number;
}

/** Called right after a transaction is broadcast, before it is mined, so its hash can be recorded. */
export type OnSubmitted = (txHash: string) => Promise<void>;

export interface PublishVersionRequest {
  /** Off-chain Datanet id (`dn_...`); the chain key is derived from it. */
  datanetId: string;
  /** Owner of the Datanet, used when it must first be created on chain. */
  owner: Address;
  /** URI describing the Datanet, used when it must first be created on chain. */
  metadataUri: string;
  version: number;
  /** StandardMerkleTree root, 0x + 64 hex. */
  root: string;
  records: number;
  tokens: number;
  manifestUri: string;
}

/** A Datanet version as the chain has it; the transaction is absent when its log could not be found. */
export interface OnChainVersion {
  root: string;
  records: number;
  tokens: number;
  tx?: ChainTx;
}

export interface AdapterSource {
  /** Off-chain Datanet id. */
  datanetId: string;
  version: number;
  root: string;
  /** Attribution weight in basis points; all sources add up to 10 000. */
  weightBps: number;
}

export interface RegisterAdapterRequest {
  owner: Address;
  /** 0x + 64 hex hashes of the base model, the adapter weights and the training config. */
  baseModelHash: string;
  weightsHash: string;
  trainingConfigHash: string;
  sources: AdapterSource[];
  /** Price per call in token base units, as a decimal string. */
  pricePerCall: string;
  /** Price per 1 000 output tokens in token base units, as a decimal string (default "0"). */
  pricePerThousandOutputTokens?: string;
  uri: string;
}

/** An adapter's prices in token base units, as decimal strings (uint96 on chain). */
export interface AdapterPrice {
  perCall: string;
  perThousandOutputTokens: string;
}

/** An adapter as the chain has it. */
export interface OnChainAdapter {
  owner: Address;
  pricePerCall: string;
  pricePerThousandOutputTokens: string;
  uri: string;
  tx?: ChainTx;
}

/** Where a transaction stands. */
export type TxState =
  | { state: "pending" }
  | { state: "mined"; blockNumber: number }
  | { state: "reverted"; blockNumber: number; reason: string }
  /** The node does not know it (dropped, or never broadcast). */
  | { state: "unknown" };

export interface Chain {
  readonly chainId: number;
  /** The attribution fingerprint of an adapter's binding, as the registry computes it. */
  adapterFingerprint(request: RegisterAdapterRequest): string;

  findDatanetVersion(datanetId: string, version: number): Promise<OnChainVersion | undefined>;
  /** Creates the Datanet on chain when missing, then publishes the version. */
  publishDatanetVersion(request: PublishVersionRequest, onSubmitted?: OnSubmitted): Promise<ChainTx>;

  findAdapter(fingerprint: string): Promise<OnChainAdapter | undefined>;
  registerAdapter(request: RegisterAdapterRequest, onSubmitted?: OnSubmitted): Promise<ChainTx & { fingerprint: string }>;
  /** Records an adapter's prices (as the platform's registrar, on the owner's behalf). */
  setPrice(fingerprint: string, price: AdapterPrice, onSubmitted?: OnSubmitted): Promise<ChainTx>;

  transactionState(txHash: string): Promise<TxState>;
  /** Waits until a broadcast transaction is mined (or the timeout passes, then ChainUnavailableError). */
  waitForTransaction(txHash: string): Promise<TxState>;
}
