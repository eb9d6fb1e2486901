import { DatabaseSync } from "node:sqlite";
import { Wallet } from "ethers";
import { SiweMessage } from "siwe";
import { SqliteTableStore } from "../../adapters/local/sqlite-table-store.ts";
import { MemoryBlobStore } from "../../test/fakes/memory-blob-store.ts";
import { defaultConfig, type PlatformConfig } from "../config.ts";
import type { CoreDeps } from "../deps.ts";
import type { QueueName, QueueSender } from "../ports/queue.ts";
import { issueNonce } from "./nonces.ts";
import { signIn } from "./sign-in.ts";

/** Test factories shared by the auth, webhooks and api tests (not used at runtime). */

export interface SentMessage {
  queue: QueueName;
  body: unknown;
  delaySeconds?: number;
}

/** A queue that only records what was sent. */
export class FakeQueue implements QueueSender {
  readonly sent: SentMessage[] = [];
  async send(queue: QueueName, body: unknown, options?: { delaySeconds?: number }): Promise<void> {
    // Round-trip through JSON as SQS would.
    this.sent.push({ queue, body: JSON.parse(JSON.stringify(body)), ...(options?.delaySeconds !== undefined ? { delaySeconds: options.delaySeconds } : {}) });
  }
  on(queue: QueueName): SentMessage[] {
    return this.sent.filter((m) => m.queue === queue);
  }
}

/** A clock tests can move. */
export class FakeClock {
  time: number;
  constructor(time = Date.parse("2026-01-01T00:00:00Z")) {
    this.time = time;
  }
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

/** CoreDeps on in-memory SQLite tables, a fake queue, blob store and clock. */
export function memoryDeps(config: Partial<PlatformConfig> = {}) {
  const db = new DatabaseSync(":memory:");
  const queue = new FakeQueue();
  const clock = new FakeClock();
  const blobs = new MemoryBlobStore({ now: () => clock.now() });
  const deps = {
    tables: {
      main: new SqliteTableStore(db, "main", { stream: true }),
      contributions: new SqliteTableStore(db, "contributions", { stream: false }),
    },
    blobs,
    queue,
    clock,
    config: { ...defaultConfig, ...config },
  } satisfies CoreDeps;
  return deps;
}

/** Anything that signs like an ethers wallet. */
export type Signer = Pick<Wallet, "address" | "signMessage">;

/** Builds and signs an EIP-4361 message the way a wallet would. */
export async function signedSiwe(
  wallet: Signer,
  fields: { domain: string; chainId: number; nonce: string; uri?: string; issuedAt?: string; expirationTime?: string; notBefore?: string; scheme?: string },
): Promise<{ message: string; signature: string }> {
  const message = new SiweMessage({
    domain: fields.domain,
    address: wallet.address,
    statement: "Sign in to Model Factory",
    uri: fields.uri ?? `http://${fields.domain}`,
    version: "1",
    chainId: fields.chainId,
    nonce: fields.nonce,
    ...(fields.scheme ? { scheme: fields.scheme } : {}),
    ...(fields.issuedAt ? { issuedAt: fields.issuedAt } : {}),
    ...(fields.expirationTime ? { expirationTime: fields.expirationTime } : {}),
    ...(fields.notBefore ? { notBefore: fields.notBefore } : {}),
  }).prepareMessage();
  return { message, signature: await wallet.signMessage(message) };
}

/** Signs a fresh random wallet in through the use cases; returns its API key and address. */
export async function signInAs(deps: CoreDeps, wallet: Signer = Wallet.createRandom()) {
  const { nonce } = await issueNonce(deps);
  const host = new URL(deps.config.apiOrigin).host;
  return signIn(deps, await signedSiwe(wallet, { domain: host, chainId: deps.config.chainId, nonce }));
}
