import { BrowserProvider, id, type Eip1193Provider } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChainUnavailableError } from "../../core/chain/errors.ts";
import { startEdr, type EdrChain } from "./edr.ts";
import { EthersChain } from "./ethers-chain.ts";
import { isTransientRpcError, withRetry } from "./retry.ts";
import { deployContracts, type ChainAddresses } from "../../contracts/deploy.ts";

describe("withRetry", () => {
  it("retries transient failures with growing, jittered delays, then succeeds", async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async () => {
        if (++calls < 4) throw Object.assign(new Error("boom"), { code: "NETWORK_ERROR" });
        return "ok";
      },
      isTransientRpcError,
      { baseMs: 100, maxMs: 250, sleep: async (ms) => void delays.push(ms), random: () => 0.999 },
    );
    expect(result).toBe("ok");
    expect(delays).toEqual([99, 199, 249]); // 100·2^n capped at 250, times the jitter
  });

  it("gives up after the attempts and throws the last error", async () => {
    let calls = 0;
    const failing = withRetry(async () => {
      calls++;
      throw Object.assign(new Error("down"), { code: "SERVER_ERROR" });
    }, isTransientRpcError, { attempts: 3, sleep: async () => undefined });
    await expect(failing).rejects.toThrow("down");
    expect(calls).toBe(3);
  });

  it("does not retry a revert or a bad argument", async () => {
    let calls = 0;
    const reverting = withRetry(async () => {
      calls++;
      throw Object.assign(new Error("execution reverted"), { code: "CALL_EXCEPTION", data: "0x" });
    }, isTransientRpcError, { sleep: async () => undefined });
    await expect(reverting).rejects.toThrow("execution reverted");
    expect(calls).toBe(1);
  });

  it("classifies RPC errors", () => {
    expect(isTransientRpcError({ code: "TIMEOUT" })).toBe(true);
    expect(isTransientRpcError({ status: 429 })).toBe(true);
    expect(isTransientRpcError({ code: "UNKNOWN_ERROR", error: { code: -32005, message: "limit exceeded" } })).toBe(true);
    expect(isTransientRpcError(new TypeError("fetch failed"))).toBe(true);
    expect(isTransientRpcError({ code: "INSUFFICIENT_FUNDS" })).toBe(false);
    expect(isTransientRpcError({ code: "CALL_EXCEPTION", data: "0x" })).toBe(false);
    // ethers dresses a node failure during eth_call as CALL_EXCEPTION without revert data.
    expect(isTransientRpcError({ code: "CALL_EXCEPTION", data: null, info: { error: { code: -32603 } } })).toBe(true);
  });
});

describe("EthersChain over a flaky RPC", () => {
  let edr: EdrChain;
  let addresses: ChainAddresses;
  beforeAll(async () => {
    edr = await startEdr();
    addresses = await deployContracts(edr.wallets[0]!);
  });
  afterAll(() => edr.close());

  /** Fails every other request for the listed methods, as an overloaded node does. */
  function flaky(inner: Eip1193Provider, methods: string[]) {
    let n = 0;
    const failures: string[] = [];
    const provider: Eip1193Provider = {
      request: async (req) => {
        if (methods.includes(req.method) && n++ % 2 === 0) {
          failures.push(req.method);
          throw Object.assign(new Error("upstream timeout"), { code: -32603 });
        }
        return inner.request(req);
      },
    };
    return { provider, failures };
  }

  it("retries reads, estimation, nonce and broadcast, and publishes once", async () => {
    const { provider, failures } = flaky(edr.eip1193, ["eth_call", "eth_estimateGas", "eth_getTransactionCount", "eth_sendRawTransaction"]);
    const signer = edr.wallets[0]!.connect(new BrowserProvider(provider, edr.chainId, { cacheTimeout: -1, pollingInterval: 50 }));
    const chain = new EthersChain(signer, addresses, { retry: { baseMs: 1 } });
    const request = { datanetId: "dn_flaky", owner: edr.wallets[1]!.address, metadataUri: "", version: 1, root: id("r"), records: 1, tokens: 1, manifestUri: "" };
    const tx = await chain.publishDatanetVersion(request);
    expect(tx.blockNumber).toBeGreaterThan(0);
    expect((await chain.findDatanetVersion("dn_flaky", 1))?.root).toBe(id("r"));
    expect(new Set(failures)).toEqual(new Set(["eth_call", "eth_estimateGas", "eth_getTransactionCount", "eth_sendRawTransaction"]));
    signer.provider!.destroy();
  });

  it("reports an RPC that stays down as ChainUnavailableError (retryable)", async () => {
    const down: Eip1193Provider = { request: async () => Promise.reject(Object.assign(new Error("fetch failed"), { code: -32603 })) };
    const signer = edr.wallets[0]!.connect(new BrowserProvider(down, edr.chainId, { cacheTimeout: -1 }));
    const chain = new EthersChain(signer, addresses, { retry: { attempts: 2, baseMs: 1 } });
    const request = { datanetId: "dn_down", owner: edr.wallets[1]!.address, metadataUri: "", version: 1, root: id("r"), records: 1, tokens: 1, manifestUri: "" };
    try {
      await expect(chain.publishDatanetVersion(request)).rejects.toBeInstanceOf(ChainUnavailableError);
    } finally {
      signer.provider!.destroy();
    }
  });
});
