import type { Address } from "../account.ts";
import { ChainRevertedError, ChainUnavailableError } from "../chain/errors.ts";
import { ConditionFailedError, TransactionCanceledError } from "../errors.ts";
import { eventWrite } from "../events.ts";
import type { BlobStore } from "../ports/blob-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { SettlementChain } from "../ports/settlement-chain.ts";
import type { Item, TableStore, WriteOp } from "../ports/tables.ts";
import { queryAll } from "../query-all.ts";
import { VoucherJson, voucherFromJson } from "../payments/channel.ts";
import { readLedger, tryWriteLedger } from "../payments/channel-ledger.ts";
import { closeEpoch, type EpochCall } from "./close-epoch.ts";
import type { Shares } from "./split.ts";
import { pad, periodMarkerKey, rewardKey, SETTLEMENT_CURSOR, SETTLEMENT_LEASE, settlementKey, treeBlobKey } from "./keys.ts";
import { buildEpochTree } from "./rewards-tree.ts";

/**
 * Settles closed periods, oldest first: freeze the period's calls, redeem the
 * latest charged voucher of every channel in one batch into the distributor,
 * split every call exactly, publish the epoch's rewards root, store the tree
 * and each account's proof, and announce it. Each step records where it is in
 * the period's STATE item before it acts on the chain (and the transaction
 * hash as soon as it is broadcast), and each step first looks at the chain to
 * see whether it already happened, so a settlement killed anywhere and run
 * again never redeems twice nor publishes two roots for one period; a chain
 * that is down leaves the period where it was, to be resumed next time.
 */

export interface SettlementDeps {
  usage: TableStore;
  /** The main table: domain events (webhooks) go through its stream. */
  main: TableStore;
  blobs: BlobStore;
  clock: Clock;
  chain: SettlementChain;
  epochSeconds: number;
  /** Seconds after a period ends before it is settled (usage records in flight arrive meanwhile). */
  graceSeconds: number;
  /** Who runs (lease holder id). */
  holder?: string;
  /** Most channels redeemed in one transaction (a bigger batch goes out as several; default 600, under the 16.7M gas cap). */
  maxRedemptionsPerTx?: number;
}

type Phase = "frozen" | "redeeming" | "publishing" | "done";

interface PlanEntry {
  channelId: string;
  /** Cumulative charged after the period's last call on the channel: what to redeem up to. */
  upTo: string;
  /** Σ fees of the period's calls on the channel. */
  fees: string;
  voucher: unknown;
}

export interface SettlementState {
  period: number;
  phase: Phase;
  plan?: PlanEntry[];
  redeemTx?: string;
  redeemAttempts?: number;
  /** Channels still below their target before the last send (a send that redeemed none of them counts as a failed attempt). */
  lastMissing?: number;
  included?: string[];
  excluded?: string[];
  fees?: string;
  epoch?: number;
  root?: string;
  publishTx?: string;
  publishAttempts?: number;
  treasuryDirect?: string;
  /** The distributor's shares the period was split by (read from the chain when it was published). */
  shares?: Shares;
  accounts?: number;
  calls?: number;
  rev: number;
}

export interface SettleResult {
  settled: { period: number; epoch: number | null; fees: string; calls: number }[];
  /** Why it stopped early: another settlement holds the lease, or the chain is down. */
  stopped?: "busy" | "chain-unavailable";
}

const LEASE_MS = 5 * 60_000;
const MAX_TX_ATTEMPTS = 3;

/** Settles every period that has ended (plus the grace), in order. */
export async function settleClosedPeriods(deps: SettlementDeps): Promise<SettleResult> {
  const holder = deps.holder ?? `settle-${Math.random().toString(36).slice(2)}`;
  if (!(await takeLease(deps, holder))) return { settled: [], stopped: "busy" };
  const result: SettleResult = { settled: [] };
  try {
    const nowS = deps.clock.now() / 1000;
    const lastClosed = Math.floor((nowS - deps.graceSeconds) / deps.epochSeconds) - 1;
    for (;;) {
      const cursor = await deps.usage.get(SETTLEMENT_CURSOR);
      const from = (cursor?.next as number | undefined) ?? 0;
      if (from > lastClosed) break;
      // The next period that has calls (empty ones need nothing).
      const next = await deps.usage.query({ pk: "PERIODS", skBetween: [pad(from), pad(lastClosed)], limit: 1 });
      const marker = next.items[0];
      if (!marker) {
        await setCursor(deps, cursor, lastClosed + 1);
        break;
      }
      const period = marker.period as number;
      const done = await settlePeriod(deps, period);
      result.settled.push(done);
      await setCursor(deps, await deps.usage.get(SETTLEMENT_CURSOR), period + 1);
    }
  } catch (error) {
    if (error instanceof ChainUnavailableError) return { ...result, stopped: "chain-unavailable" };
    throw error;
  } finally {
    await releaseLease(deps, holder);
  }
  return result;
}

/** Settles one period, resuming from whatever step a previous run reached. */
export async function settlePeriod(deps: SettlementDeps, period: number): Promise<{ period: number; epoch: number | null; fees: string; calls: number }> {
  let state = await loadOrFreeze(deps, period);
  const calls = await periodCalls(deps, period);

  if (state.phase === "frozen") {
    state = await save(deps, state, { phase: "redeeming", plan: planRedemption(calls), redeemAttempts: 0 });
  }
  if (state.phase === "redeeming") state = await redeemPhase(deps, state);
  if (state.phase === "publishing") state = await publishPhase(deps, state, calls);
  return { period, epoch: state.epoch ?? null, fees: state.fees ?? "0", calls: state.calls ?? 0 };
}

interface FrozenCall {
  requestId: string;
  channelId: string;
  seq: number;
  fee: bigint;
  cumulativeCharged: bigint;
  voucher: unknown;
  owner: string;
  payer: string;
  adapterId: string;
  contributors: { address: string; weightBps: number }[];
}

async function periodCalls(deps: SettlementDeps, period: number): Promise<FrozenCall[]> {
  const out: FrozenCall[] = [];
  for await (const item of queryAll(deps.usage, { index: "gsi1", pk: `PERIOD#${pad(period)}` })) {
    out.push({
      requestId: item.requestId as string,
      channelId: item.channelId as string,
      seq: item.seq as number,
      fee: BigInt(item.fee as string),
      cumulativeCharged: BigInt(item.cumulativeCharged as string),
      voucher: item.voucher,
      owner: item.owner as string,
      payer: item.payer as string,
      adapterId: item.adapterId as string,
      contributors: item.contributors as FrozenCall["contributors"],
    });
  }
  return out;
}

/** Per channel: redeem up to the cumulative charged after its last call of the period, with that call's voucher. */
export function planRedemption(calls: readonly FrozenCall[]): PlanEntry[] {
  const byChannel = new Map<string, { last: FrozenCall; fees: bigint }>();
  for (const c of calls) {
    const entry = byChannel.get(c.channelId);
    if (!entry) byChannel.set(c.channelId, { last: c, fees: c.fee });
    else {
      entry.fees += c.fee;
      if (c.seq > entry.last.seq) entry.last = c;
    }
  }
  return [...byChannel.values()]
    .map(({ last, fees }) => ({ channelId: last.channelId, upTo: last.cumulativeCharged.toString(), fees: fees.toString(), voucher: last.voucher }))
    .sort((a, b) => (a.channelId < b.channelId ? -1 : 1));
}

async function redeemPhase(deps: SettlementDeps, state: SettlementState): Promise<SettlementState> {
  const plan = state.plan ?? [];
  // A transaction of a previous run: let it land (or be dropped) before looking at the channels.
  if (state.redeemTx) {
    const tx = await deps.chain.transactionState(state.redeemTx);
    if (tx.state === "pending") await deps.chain.waitForTransaction(state.redeemTx);
  }
  for (;;) {
    const missing: PlanEntry[] = [];
    for (const p of plan) if ((await deps.chain.channelRedeemed(p.channelId)) < BigInt(p.upTo)) missing.push(p);
    const attempts = state.redeemAttempts ?? 0;
    if (missing.length === 0 || attempts >= MAX_TX_ATTEMPTS) {
      const excluded = new Set(missing.map((m) => m.channelId));
      const included = plan.filter((p) => !excluded.has(p.channelId));
      for (const channelId of excluded) await markDefaulted(deps, channelId);
      const fees = included.reduce((s, p) => s + BigInt(p.fees), 0n);
      return save(deps, state, { phase: "publishing", included: included.map((p) => p.channelId), excluded: [...excluded], fees: fees.toString(), publishAttempts: 0 });
    }
    // Attempts count sends that made no progress; a batch bigger than one transaction goes out in parts.
    const stuck = state.lastMissing !== undefined && missing.length >= state.lastMissing;
    state = await save(deps, state, { redeemAttempts: stuck ? attempts + 1 : attempts, lastMissing: missing.length });
    if (stuck && attempts + 1 >= MAX_TX_ATTEMPTS) continue;
    const batch = missing.slice(0, deps.maxRedemptionsPerTx ?? 600);
    try {
      await deps.chain.redeem(
        batch.map((p) => ({ voucher: voucherFromJson(VoucherJson.parse(p.voucher)), upTo: BigInt(p.upTo) })),
        async (hash) => {
          state = await save(deps, state, { redeemTx: hash });
        },
      );
    } catch (error) {
      // A revert (the whole batch refused) is retried, then its channels are excluded; an RPC outage stops here.
      if (!(error instanceof ChainRevertedError)) throw error;
    }
  }
}

async function publishPhase(deps: SettlementDeps, state: SettlementState, frozen: readonly FrozenCall[]): Promise<SettlementState> {
  const included = new Set(state.included ?? []);
  const calls: EpochCall[] = frozen.filter((c) => included.has(c.channelId)).map((c) => ({ requestId: c.requestId, fee: c.fee, owner: c.owner, contributors: c.contributors }));
  const fees = BigInt(state.fees ?? "0");
  if (fees === 0n) return finish(deps, state, frozen, calls.length, undefined);

  const [shares, treasury] = await Promise.all([deps.chain.shares(), deps.chain.treasury()]);
  const closed = closeEpoch(calls, shares, treasury);
  if (closed.fees !== fees) throw new Error(`invariant: period ${state.period} redeemed ${fees} but its calls charged ${closed.fees}`);
  const tree = buildEpochTree(closed.accounts);
  if (state.root && state.root !== tree.root) throw new Error(`invariant: period ${state.period}'s root changed from ${state.root} to ${tree.root}`);
  await deps.blobs.put(treeBlobKey(state.period), JSON.stringify({ period: state.period, fees: fees.toString(), treasuryDirect: closed.treasuryDirect.toString(), tree: tree.dump }), { contentType: "application/json" });

  for (;;) {
    if (state.epoch !== undefined) {
      const onChain = await deps.chain.epochRoot(state.epoch);
      if (onChain === tree.root) break; // published (by this run or an earlier one)
      if (onChain === undefined && state.publishTx) {
        const tx = await deps.chain.transactionState(state.publishTx);
        if (tx.state === "pending") {
          await deps.chain.waitForTransaction(state.publishTx);
          continue;
        }
      }
      if (onChain !== undefined) state = await save(deps, state, { epoch: undefined, publishTx: undefined }); // that number went to another root
    }
    if (state.epoch === undefined) state = await save(deps, state, { epoch: (await deps.chain.epochCount()) + 1, root: tree.root });
    const attempts = state.publishAttempts ?? 0;
    if (attempts >= MAX_TX_ATTEMPTS) throw new Error(`period ${state.period}: publishEpoch failed ${attempts} times`);
    state = await save(deps, state, { publishAttempts: attempts + 1 });
    try {
      await deps.chain.publishEpoch(state.epoch!, tree.root, fees, async (hash) => {
        state = await save(deps, state, { publishTx: hash });
      });
    } catch (error) {
      if (!(error instanceof ChainRevertedError)) throw error;
    }
  }

  // Proofs per account, claimable as soon as the root is on chain.
  const epoch = state.epoch!;
  const items: Item[] = [...tree.claims].map(([account, c]) => ({
    ...rewardKey(account, state.period),
    kind: "reward",
    account,
    period: state.period,
    epoch,
    root: tree.root,
    amount: c.amount.toString(),
    proof: c.proof,
  }));
  for (let i = 0; i < items.length; i += 25) await deps.usage.batchPut(items.slice(i, i + 25));
  return finish(deps, { ...state, treasuryDirect: closed.treasuryDirect.toString(), shares, accounts: tree.claims.size }, frozen, calls.length, { root: tree.root, accounts: [...tree.claims.keys()], treasuryDirect: closed.treasuryDirect });
}

/** Announces the settled period (usage.settled, epoch.published, rewards.available) once, then marks it done. */
async function finish(deps: SettlementDeps, state: SettlementState, frozen: readonly FrozenCall[], calls: number, published: { root: string; accounts: string[]; treasuryDirect: bigint } | undefined): Promise<SettlementState> {
  const now = deps.clock.now();
  const included = new Set(state.included ?? []);
  const payers = new Map<string, { calls: number; charged: bigint }>();
  for (const c of frozen) {
    if (!included.has(c.channelId)) continue;
    const p = payers.get(c.payer) ?? { calls: 0, charged: 0n };
    p.calls++;
    p.charged += c.fee;
    payers.set(c.payer, p);
  }
  const base = { period: state.period, epoch: state.epoch ?? null };
  const events: WriteOp[] = [...payers].map(([payer, p]) => eventWrite("usage.settled", { ...base, payer, calls: p.calls, charged: p.charged.toString() }, [payer as Address], now));
  if (published) {
    const owners = [...new Set(frozen.filter((c) => included.has(c.channelId)).map((c) => c.owner))];
    events.push(eventWrite("epoch.published", { ...base, root: published.root, fees: state.fees, accounts: published.accounts.length }, owners as Address[], now));
    for (const account of published.accounts) events.push(eventWrite("rewards.available", { ...base, account }, [account as Address], now));
  }
  // In chunks, each with its own marker, so a re-run after a crash sends only the chunks not yet written.
  for (let i = 0, chunk = 0; i < events.length; i += 98, chunk++) {
    try {
      await deps.main.transact([{ put: { pk: `SETTLEMENT#${pad(state.period)}`, sk: `EVENTS#${chunk}` }, condition: { notExists: true } }, ...events.slice(i, i + 98)]);
    } catch (error) {
      if (!(error instanceof TransactionCanceledError && error.failedIndexes.includes(0))) throw error;
    }
  }
  return save(deps, state, { phase: "done", calls });
}

async function markDefaulted(deps: SettlementDeps, channelId: string) {
  for (let i = 0; i < 5; i++) {
    const ledger = await readLedger(deps.usage, channelId);
    if (ledger.defaulted || (await tryWriteLedger(deps.usage, ledger, { ...ledger, defaulted: true }))) return;
  }
}

async function loadOrFreeze(deps: SettlementDeps, period: number): Promise<SettlementState> {
  const existing = await deps.usage.get(settlementKey(period));
  if (existing) return stateFromItem(existing);
  const state: SettlementState = { period, phase: "frozen", rev: 1 };
  try {
    // From here on, record-usage assigns late calls to the next period.
    await deps.usage.put({ ...settlementKey(period), kind: "settlement", ...state }, { notExists: true });
    return state;
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
    return stateFromItem((await deps.usage.get(settlementKey(period)))!);
  }
}

async function save(deps: SettlementDeps, state: SettlementState, change: Partial<SettlementState>): Promise<SettlementState> {
  const next: SettlementState = { ...state, ...change, rev: state.rev + 1 };
  const item: Item = { ...settlementKey(state.period), kind: "settlement" };
  for (const [k, v] of Object.entries(next)) if (v !== undefined) item[k] = v;
  // Optimistic concurrency: the lease makes this one writer; a conflict means a second one, and it must stop.
  await deps.usage.put(item, { equals: { rev: state.rev } });
  return next;
}

function stateFromItem(item: Item): SettlementState {
  const { pk: _pk, sk: _sk, kind: _kind, ...rest } = item;
  return rest as unknown as SettlementState;
}

/** The settlement of one period as stored, or undefined when it has not started. */
export async function getSettlement(usage: TableStore, period: number): Promise<SettlementState | undefined> {
  const item = await usage.get(settlementKey(period));
  return item ? stateFromItem(item) : undefined;
}

async function setCursor(deps: SettlementDeps, current: Item | undefined, next: number) {
  if (((current?.next as number | undefined) ?? 0) >= next) return;
  await deps.usage.put({ ...SETTLEMENT_CURSOR, kind: "cursor", next, rev: ((current?.rev as number | undefined) ?? 0) + 1 }, current ? { equals: { rev: current.rev } } : { notExists: true });
}

async function takeLease(deps: SettlementDeps, holder: string): Promise<boolean> {
  const now = deps.clock.now();
  const lease = await deps.usage.get(SETTLEMENT_LEASE);
  if (lease && (lease.until as number) > now && lease.holder !== holder) return false;
  try {
    await deps.usage.put({ ...SETTLEMENT_LEASE, holder, until: now + LEASE_MS, rev: ((lease?.rev as number | undefined) ?? 0) + 1 }, lease ? { equals: { rev: lease.rev } } : { notExists: true });
    return true;
  } catch (error) {
    if (error instanceof ConditionFailedError) return false;
    throw error;
  }
}

async function releaseLease(deps: SettlementDeps, holder: string) {
  const lease = await deps.usage.get(SETTLEMENT_LEASE);
  if (lease?.holder !== holder) return;
  try {
    await deps.usage.put({ ...SETTLEMENT_LEASE, holder, until: 0, rev: (lease.rev as number) + 1 }, { equals: { rev: lease.rev } });
  } catch {
    // Taken over meanwhile: nothing to release.
  }
}

export { periodMarkerKey };
