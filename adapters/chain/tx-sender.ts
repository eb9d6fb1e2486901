import { keccak256, type Provider, type Signer, type TransactionReceipt, type TransactionRequest } from "ethers";
import { ChainRevertedError, ChainUnavailableError } from "../../core/chain/errors.ts";
import type { ChainTx, OnSubmitted, TxState } from "../../core/chain/chain.ts";
import { isTransientRpcError, withRetry, type RetryOptions } from "./retry.ts";
import { isRevert, revertReason } from "./revert-reason.ts";

export interface TxSenderOptions {
  retry?: RetryOptions;
  /** Gas limit = estimate × (100 + headroom) / 100 (default 20). */
  gasHeadroomPercent?: number;
  /** Blocks to wait for after inclusion (default 1: the including block). */
  confirmations?: number;
  /** How long to wait for a receipt before giving up for now (default 2 minutes). */
  receiptTimeoutMs?: number;
}

const NONCE_TROUBLE = /nonce too low|nonce has already been used|already known|replacement transaction underpriced|NONCE_EXPIRED/i;

/**
 * Sends transactions from one key, one at a time up to the broadcast: it keeps
 * the next nonce locally (read from the chain's pending count at first and
 * after any doubt), estimates gas with headroom (an estimate that reverts is
 * a `ChainRevertedError`, and nothing is sent), signs once so a retried
 * broadcast is the same transaction, retries RPC failures with backoff, and
 * turns a mined revert into `ChainRevertedError` with its decoded reason.
 */
export class TxSender {
  readonly #signer: Signer;
  readonly #provider: Provider;
  readonly #options: Required<Omit<TxSenderOptions, "retry">> & { retry: RetryOptions };
  #nextNonce: number | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(signer: Signer, options: TxSenderOptions = {}) {
    if (!signer.provider) throw new Error("TxSender: the signer must be connected to a provider");
    this.#signer = signer;
    this.#provider = signer.provider;
    this.#options = {
      retry: options.retry ?? {},
      gasHeadroomPercent: options.gasHeadroomPercent ?? 20,
      confirmations: options.confirmations ?? 1,
      receiptTimeoutMs: options.receiptTimeoutMs ?? 120_000,
    };
  }

  /** Sends `{to, data}`, calls `onSubmitted` with its hash once broadcast, and waits for it to be mined. */
  async send(request: { to: string; data: string }, onSubmitted?: OnSubmitted): Promise<ChainTx> {
    // Only the part up to the broadcast is serialised: waiting for receipts may overlap.
    const broadcast = this.#queue.then(() => this.#broadcast(request));
    this.#queue = broadcast.catch(() => undefined);
    const hash = await broadcast;
    if (onSubmitted) await onSubmitted(hash);
    return this.wait(hash, request);
  }

  /** Waits for a broadcast transaction; a revert becomes `ChainRevertedError`. */
  async wait(hash: string, request?: { to: string; data: string }): Promise<ChainTx> {
    let receipt: TransactionReceipt | null;
    try {
      receipt = await this.#rpc(() => this.#provider.waitForTransaction(hash, this.#options.confirmations, this.#options.receiptTimeoutMs));
    } catch (error) {
      if ((error as { code?: unknown }).code === "TIMEOUT" || isTransientRpcError(error)) {
        throw new ChainUnavailableError(`no receipt for ${hash} yet`, { cause: error });
      }
      throw error;
    }
    if (!receipt) throw new ChainUnavailableError(`no receipt for ${hash} yet`);
    if (receipt.status !== 1) throw new ChainRevertedError(await this.reasonOf(receipt, request), hash);
    return { txHash: hash, blockNumber: receipt.blockNumber };
  }

  /** Why a mined transaction reverted: replays it as a call at its block to read the revert data. */
  async reasonOf(receipt: TransactionReceipt, request?: { to: string; data: string }): Promise<string> {
    const tx = request ?? (await this.#provider.getTransaction(receipt.hash));
    if (!tx?.to) return "reverted";
    try {
      await this.#provider.call({ from: receipt.from, to: tx.to, data: tx.data, blockTag: receipt.blockNumber });
      return "reverted (out of gas or state changed)";
    } catch (error) {
      return revertReason(error);
    }
  }

  async #broadcast(request: { to: string; data: string }): Promise<string> {
    const from = await this.#signer.getAddress();
    let gasLimit: bigint;
    try {
      gasLimit = await this.#rpc(() => this.#provider.estimateGas({ ...request, from }));
    } catch (error) {
      if (isRevert(error)) throw new ChainRevertedError(revertReason(error));
      throw this.#unavailable(error);
    }
    gasLimit = (gasLimit * BigInt(100 + this.#options.gasHeadroomPercent)) / 100n;

    for (let resync = 0; ; resync++) {
      this.#nextNonce ??= await this.#rpc(() => this.#provider.getTransactionCount(from, "pending"));
      const nonce = this.#nextNonce;
      let signed: string;
      try {
        const tx: TransactionRequest = await this.#signer.populateTransaction({ ...request, from, nonce, gasLimit });
        signed = await this.#signer.signTransaction(tx);
      } catch (error) {
        throw this.#unavailable(error);
      }
      const hash = keccak256(signed);
      try {
        await this.#rpc(() => this.#provider.broadcastTransaction(signed));
      } catch (error) {
        // Our own earlier broadcast of this very transaction may have arrived after all.
        if (await this.#known(hash)) {
          this.#nextNonce = nonce + 1;
          return hash;
        }
        this.#nextNonce = undefined; // re-read the nonce next time
        const message = String((error as { message?: unknown }).message ?? error);
        if (NONCE_TROUBLE.test(message) || (error as { code?: unknown }).code === "NONCE_EXPIRED") {
          if (resync < 3) continue; // another sender used the nonce: take the next one
        }
        if (isRevert(error)) throw new ChainRevertedError(revertReason(error));
        throw this.#unavailable(error);
      }
      this.#nextNonce = nonce + 1;
      return hash;
    }
  }

  async #known(hash: string): Promise<boolean> {
    try {
      return (await this.#provider.getTransaction(hash)) !== null;
    } catch {
      return false;
    }
  }

  /** Where a transaction stands: mined, reverted (with its reason), pending, or unknown to the node. */
  async state(hash: string): Promise<TxState> {
    const receipt = await this.#read(() => this.#provider.getTransactionReceipt(hash));
    if (receipt) {
      if (receipt.status === 1) return { state: "mined", blockNumber: receipt.blockNumber };
      return { state: "reverted", blockNumber: receipt.blockNumber, reason: await this.reasonOf(receipt) };
    }
    return (await this.#read(() => this.#provider.getTransaction(hash))) ? { state: "pending" } : { state: "unknown" };
  }

  /** Waits for a transaction to be mined; a revert is reported as its state, not thrown. */
  async waitForState(hash: string): Promise<TxState> {
    try {
      const tx = await this.wait(hash);
      return { state: "mined", blockNumber: tx.blockNumber };
    } catch (error) {
      if (error instanceof ChainRevertedError) return { state: "reverted", blockNumber: 0, reason: error.reason };
      throw error;
    }
  }

  /** A read with the RPC retry; a node that stays unreachable is a ChainUnavailableError. */
  async #read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.#rpc(fn);
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  #rpc<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, isTransientRpcError, this.#options.retry);
  }

  #unavailable(error: unknown): Error {
    if (error instanceof ChainRevertedError || error instanceof ChainUnavailableError) return error;
    if (isTransientRpcError(error)) return new ChainUnavailableError(`RPC failed: ${(error as Error).message}`, { cause: error });
    return error as Error;
  }
}
