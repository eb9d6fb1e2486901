import { Contract, getAddress, ZeroAddress, ZeroHash, type EventLog, type Log, type Signer } from "ethers";
import type {
  AdapterPrice,
  Chain,
  ChainTx,
  OnChainAdapter,
  OnChainVersion,
  OnSubmitted,
  PublishVersionRequest,
  RegisterAdapterRequest,
  TxState,
} from "../../core/chain/chain.ts";
import { ChainNotReadyError, ChainUnavailableError } from "../../core/chain/errors.ts";
import { artifacts } from "../../contracts/artifacts/index.ts";
import type { ChainAddresses } from "../../contracts/deploy.ts";
import { attributionFingerprint, datanetKey, sortSources } from "../../core/chain/fingerprint.ts";
import { isTransientRpcError, withRetry, type RetryOptions } from "./retry.ts";
import { TxSender, type TxSenderOptions } from "./tx-sender.ts";

export interface EthersChainOptions extends TxSenderOptions {
  /** Largest block range one `eth_getLogs` may span on this RPC (default: no limit). */
  maxLogRange?: number;
  retry?: RetryOptions;
}

/**
 * The Chain port on ethers v6, for any EVM chain: the signer is the platform's
 * key (a Wallet from Secrets Manager, or any Signer that can sign transactions,
 * such as a KMS signer), connected to the chain's RPC.
 */
export class EthersChain implements Chain {
  readonly chainId: number;
  readonly #addresses: ChainAddresses;
  readonly #sender: TxSender;
  readonly #signer: Signer;
  readonly #datanets: Contract;
  readonly #adapters: Contract;
  readonly #options: EthersChainOptions;

  constructor(signer: Signer, addresses: ChainAddresses, options: EthersChainOptions = {}) {
    if (!signer.provider) throw new Error("EthersChain: the signer must be connected to a provider");
    this.chainId = addresses.chainId;
    this.#addresses = addresses;
    this.#signer = signer;
    this.#sender = new TxSender(signer, options);
    this.#datanets = new Contract(addresses.datanetRegistry, artifacts.DatanetRegistry.abi as never, signer.provider);
    this.#adapters = new Contract(addresses.adapterRegistry, artifacts.AdapterRegistry.abi as never, signer.provider);
    this.#options = options;
  }

  adapterFingerprint(request: RegisterAdapterRequest): string {
    return attributionFingerprint({ ...request, sources: this.#chainSources(request) });
  }

  async findDatanetVersion(datanetId: string, version: number): Promise<OnChainVersion | undefined> {
    const key = datanetKey(datanetId);
    const v = await this.#read(() => this.#datanets.getFunction("getVersion")(key, version));
    if (v.root === ZeroHash) return undefined;
    const log = await this.#lastLog(this.#datanets, this.#datanets.filters.VersionPublished!(key, version));
    return { root: v.root, records: Number(v.records), tokens: Number(v.tokens), ...(log ? { tx: log } : {}) };
  }

  async publishDatanetVersion(request: PublishVersionRequest, onSubmitted?: OnSubmitted): Promise<ChainTx> {
    const key = datanetKey(request.datanetId);
    const datanet = await this.#read(() => this.#datanets.getFunction("getDatanet")(key));
    let count = Number(datanet.versionCount);
    if (datanet.owner === ZeroAddress) {
      const data = this.#datanets.interface.encodeFunctionData("createDatanet", [key, getAddress(request.owner), request.metadataUri]);
      await this.#sender.send({ to: this.#addresses.datanetRegistry, data });
      count = 0;
    }
    if (request.version > count + 1) {
      throw new ChainNotReadyError(`version ${request.version} of ${request.datanetId} waits for version ${count + 1} on chain`);
    }
    const data = this.#datanets.interface.encodeFunctionData("publishVersion", [
      key,
      request.version,
      request.root,
      request.records,
      request.tokens,
      request.manifestUri,
    ]);
    return this.#sender.send({ to: this.#addresses.datanetRegistry, data }, onSubmitted);
  }

  async findAdapter(fingerprint: string): Promise<OnChainAdapter | undefined> {
    const a = await this.#read(() => this.#adapters.getFunction("getAdapter")(fingerprint));
    if (a.owner === ZeroAddress) return undefined;
    const log = await this.#lastLog(this.#adapters, this.#adapters.filters.AdapterRegistered!(fingerprint));
    return {
      owner: a.owner,
      pricePerCall: a.pricePerCall.toString(),
      pricePerThousandOutputTokens: a.pricePerThousandOutputTokens.toString(),
      uri: a.uri,
      ...(log ? { tx: log } : {}),
    };
  }

  async registerAdapter(request: RegisterAdapterRequest, onSubmitted?: OnSubmitted): Promise<ChainTx & { fingerprint: string }> {
    const fingerprint = this.adapterFingerprint(request);
    const registration = {
      baseModelHash: request.baseModelHash,
      weightsHash: request.weightsHash,
      trainingConfigHash: request.trainingConfigHash,
      sources: this.#chainSources(request),
      owner: getAddress(request.owner),
      pricePerCall: uint96(request.pricePerCall, "pricePerCall"),
      pricePerThousandOutputTokens: uint96(request.pricePerThousandOutputTokens ?? "0", "pricePerThousandOutputTokens"),
      uri: request.uri,
    };
    const data = this.#adapters.interface.encodeFunctionData("register", [registration]);
    const tx = await this.#sender.send({ to: this.#addresses.adapterRegistry, data }, onSubmitted);
    return { ...tx, fingerprint };
  }

  async setPrice(fingerprint: string, price: AdapterPrice, onSubmitted?: OnSubmitted): Promise<ChainTx> {
    const data = this.#adapters.interface.encodeFunctionData("setPrice", [
      fingerprint,
      uint96(price.perCall, "perCall"),
      uint96(price.perThousandOutputTokens, "perThousandOutputTokens"),
    ]);
    return this.#sender.send({ to: this.#addresses.adapterRegistry, data }, onSubmitted);
  }

  async transactionState(txHash: string): Promise<TxState> {
    return this.#sender.state(txHash);
  }

  async waitForTransaction(txHash: string): Promise<TxState> {
    return this.#sender.waitForState(txHash);
  }


  #chainSources(request: RegisterAdapterRequest) {
    return sortSources(request.sources.map((s) => ({ datanetId: datanetKey(s.datanetId), version: s.version, root: s.root, weightBps: s.weightBps })));
  }

  async #read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(fn, isTransientRpcError, this.#options.retry);
    } catch (error) {
      if (isTransientRpcError(error)) throw new ChainUnavailableError(`RPC failed: ${(error as Error).message}`, { cause: error });
      throw error;
    }
  }

  /** The last log matching a filter since the deployment block, in windows the RPC accepts; undefined when none or when the RPC refuses. */
  async #lastLog(contract: Contract, filter: Parameters<Contract["queryFilter"]>[0]): Promise<ChainTx | undefined> {
    try {
      const latest = await this.#read(() => this.#signer.provider!.getBlockNumber());
      const range = this.#options.maxLogRange ?? Number.MAX_SAFE_INTEGER;
      for (let to = latest; to >= this.#addresses.fromBlock; to -= range) {
        const from = Math.max(this.#addresses.fromBlock, to - range + 1);
        const logs: (EventLog | Log)[] = await this.#read(() => contract.queryFilter(filter, from, to));
        const last = logs.at(-1);
        if (last) return { txHash: last.transactionHash, blockNumber: last.blockNumber };
      }
    } catch {
      // Logs are a nicety (the hash to show); the state read above is what counts.
    }
    return undefined;
  }
}

const UINT96_MAX = (1n << 96n) - 1n;

/** A decimal-string token amount as the registry's uint96; a clear error instead of an ABI overflow. */
function uint96(value: string, field: string): bigint {
  if (!/^(0|[1-9][0-9]*)$/.test(value)) throw new RangeError(`${field} must be a non-negative decimal integer, got ${JSON.stringify(value)}`);
  const n = BigInt(value);
  if (n > UINT96_MAX) throw new RangeError(`${field} ${value} does not fit the registry's uint96`);
  return n;
}
