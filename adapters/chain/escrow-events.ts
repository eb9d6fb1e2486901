import { Contract, getAddress, type EventLog, type Provider } from "ethers";
import type { EscrowEvent, EscrowEventSource } from "../../core/ports/escrow-events.ts";
import { ChainUnavailableError } from "../../core/chain/errors.ts";
import { artifacts } from "../../contracts/artifacts/index.ts";
import { isTransientRpcError, withRetry } from "./retry.ts";

export interface EscrowEventsOptions {
  /** Blocks behind the head deemed final (0 on the local chain; a few on an L2). */
  confirmations?: number;
  /** Largest range one eth_getLogs may span. */
  maxLogRange?: number;
}

/** Reads PaymentEscrow's channel events with eth_getLogs, in block and log order. */
export class EthersEscrowEvents implements EscrowEventSource {
  readonly fromBlock: number;
  readonly #escrow: Contract;
  readonly #provider: Provider;
  readonly #options: Required<EscrowEventsOptions>;

  constructor(provider: Provider, escrow: string, fromBlock: number, options: EscrowEventsOptions = {}) {
    this.#provider = provider;
    this.#escrow = new Contract(escrow, artifacts.PaymentEscrow.abi as never, provider);
    this.fromBlock = fromBlock;
    this.#options = { confirmations: options.confirmations ?? 0, maxLogRange: options.maxLogRange ?? 10_000 };
  }

  async read(fromBlock: number): Promise<{ events: EscrowEvent[]; nextBlock: number }> {
    try {
      const head = await withRetry(() => this.#provider.getBlockNumber(), isTransientRpcError);
      const to = Math.min(head - this.#options.confirmations, fromBlock + this.#options.maxLogRange - 1);
      if (to < fromBlock) return { events: [], nextBlock: fromBlock };
      const logs = (await withRetry(() => this.#escrow.queryFilter("*", fromBlock, to), isTransientRpcError)) as EventLog[];
      const events: EscrowEvent[] = [];
      for (const log of logs) {
        const e = toEvent(log);
        if (e) events.push(e);
      }
      events.sort((a, b) => a.block - b.block || a.logIndex - b.logIndex);
      return { events, nextBlock: to + 1 };
    } catch (error) {
      if (isTransientRpcError(error)) throw new ChainUnavailableError(`RPC failed: ${(error as Error).message}`, { cause: error });
      throw error;
    }
  }
}

function toEvent(log: EventLog): EscrowEvent | undefined {
  if (!("eventName" in log) || !log.args) return undefined;
  const a = log.args;
  const base = { block: log.blockNumber, logIndex: log.index, channelId: String(a.channelId).toLowerCase() };
  switch (log.eventName) {
    case "ChannelOpened":
      return { ...base, type: "opened", payer: getAddress(a.payer), service: getAddress(a.service), signer: getAddress(a.signer) };
    case "Deposited":
      return { ...base, type: "deposited", deposit: BigInt(a.deposit) };
    case "Redeemed":
      return { ...base, type: "redeemed", redeemed: BigInt(a.redeemed) };
    case "WithdrawalRequested":
      return { ...base, type: "withdrawal-requested", amount: BigInt(a.amount), withdrawableAt: Number(a.withdrawableAt) };
    case "WithdrawalCancelled":
      return { ...base, type: "withdrawal-cancelled" };
    case "Withdrawn":
      return { ...base, type: "withdrawn", amount: BigInt(a.amount) };
    default:
      return undefined;
  }
}
