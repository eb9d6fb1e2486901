import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { defaultConfig } from "../config.ts";
import type { Chain, ChainTx, TxState } from "./chain.ts";
import { ChainRevertedError, ChainUnavailableError } from "./errors.ts";
import { chainStatusOf, PENDING } from "./model.ts";
import { syncRecord, type ChainSyncDeps, type SyncSpec } from "./sync-record.ts";

const key = { pk: "CHAIN#test#1", sk: "CHAIN" };

/** A store, and a chain whose transaction states the test sets. */
function setup(states: Record<string, TxState> = {}) {
  const main = new SqliteTableStore(new DatabaseSync(":memory:"), "main", { stream: false });
  const waited: string[] = [];
  const chain = {
    chainId: 5,
    transactionState: async (hash: string) => states[hash] ?? { state: "unknown" },
    waitForTransaction: async (hash: string) => {
      waited.push(hash);
      return { state: "mined", blockNumber: 9 } as TxState;
    },
  } as unknown as Chain;
  const deps: ChainSyncDeps = { tables: { main, contributions: main }, clock: { now: () => 1_000 }, config: defaultConfig, chain };
  return { main, deps, waited };
}

function spec(overrides: Partial<SyncSpec> & { sent?: string[] } = {}): SyncSpec {
  const sent = overrides.sent ?? [];
  return {
    key,
    kind: "adapter",
    subject: { adapterId: "ad_1" },
    find: async () => undefined,
    send: async (onSubmitted) => {
      sent.push("tx");
      await onSubmitted("0xnew");
      return { txHash: "0xnew", blockNumber: 7 } satisfies ChainTx;
    },
    onConfirmed: () => [],
    ...overrides,
  };
}

const prior = (txHash: string) => ({ ...key, kind: "adapter", status: "submitted", rev: 3, chainId: 5, txHash, leaseUntil: 0, attempts: 1, updatedAt: "" });

describe("syncRecord", () => {
  it("sends once and confirms, recording the hash", async () => {
    const { deps, main } = setup();
    const sent: string[] = [];
    expect(await syncRecord(deps, spec({ sent }))).toEqual({ status: "confirmed", txHash: "0xnew", blockNumber: 7, chainId: 5 });
    expect(sent).toHaveLength(1);
    expect(await main.get(key)).toMatchObject({ status: "confirmed", adapterId: "ad_1", attempts: 1 });
  });

  it("waits for a transaction an earlier attempt left pending instead of sending another", async () => {
    const { deps, main, waited } = setup({ "0xold": { state: "pending" } });
    await main.put(prior("0xold"));
    const sent: string[] = [];
    expect(await syncRecord(deps, spec({ sent }))).toMatchObject({ status: "confirmed", txHash: "0xold", blockNumber: 9 });
    expect(waited).toEqual(["0xold"]);
    expect(sent).toEqual([]);
  });

  it("marks failed, without resending, when the earlier transaction reverted", async () => {
    const { deps, main } = setup({ "0xold": { state: "reverted", blockNumber: 4, reason: "AdapterRegistryExists(0x01)" } });
    await main.put(prior("0xold"));
    const sent: string[] = [];
    expect(await syncRecord(deps, spec({ sent }))).toMatchObject({ status: "failed", txHash: "0xold", error: "AdapterRegistryExists(0x01)" });
    expect(sent).toEqual([]);
  });

  it("sends again when the earlier transaction was dropped", async () => {
    const { deps, main } = setup();
    await main.put(prior("0xdropped"));
    const sent: string[] = [];
    expect(await syncRecord(deps, spec({ sent }))).toMatchObject({ status: "confirmed", txHash: "0xnew" });
    expect(sent).toHaveLength(1);
  });

  it("records a revert as failed and never retries it", async () => {
    const { deps } = setup();
    const failing = spec({ send: async () => Promise.reject(new ChainRevertedError("DatanetRegistryNotPublisher(0x1, 0x2)")) });
    expect(await syncRecord(deps, failing)).toMatchObject({ status: "failed", error: "DatanetRegistryNotPublisher(0x1, 0x2)" });
    const sent: string[] = [];
    expect((await syncRecord(deps, spec({ sent }))).status).toBe("failed");
    expect(sent).toEqual([]);
  });

  it("rethrows a retryable error and leaves the record open, its lease released", async () => {
    const { deps, main } = setup();
    await expect(syncRecord(deps, spec({ send: async () => Promise.reject(new ChainUnavailableError("down")) }))).rejects.toBeInstanceOf(ChainUnavailableError);
    expect(await main.get(key)).toMatchObject({ status: "sending", leaseUntil: 0 });
    expect((await syncRecord(deps, spec())).status).toBe("confirmed");
  });

  it("marks a conflict found on chain as failed", async () => {
    const { deps } = setup();
    expect(await syncRecord(deps, spec({ find: async () => ({ conflict: "registered to someone else" }) }))).toMatchObject({ status: "failed", error: "registered to someone else" });
  });
});

describe("chainStatusOf", () => {
  it("shows pending without a record, and submitted while a sent transaction is unconfirmed", () => {
    expect(chainStatusOf(undefined)).toEqual(PENDING);
    expect(chainStatusOf({ status: "sending", txHash: "0xa", chainId: 5 })).toEqual({ status: "submitted", txHash: "0xa", blockNumber: null, chainId: 5 });
    expect(chainStatusOf({ status: "sending", chainId: 5 }).status).toBe("pending");
  });
});
