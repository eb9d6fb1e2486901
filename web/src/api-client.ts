import type { z } from "zod";
import type {
  Contribution,
  ContributionStatus,
  CreateDatanetInput,
  CreateUploadInput,
  Datanet,
  DatanetVersion,
  Paged,
  PresignedUploadSchema,
  Proof,
  Upload,
} from "../../core/datanets/model.ts";
import type { AdapterView } from "../../core/adapters/model.ts";
import type { DatanetStats } from "../../core/datanets/stats-model.ts";
import type { BaseModel } from "../../core/jobs/base-models.ts";
import type { ChainStatus } from "../../core/chain/model.ts";
import type { Job, JobStatus } from "../../core/jobs/model.ts";
import type { UsageRecord } from "../../core/payments/usage.ts";
import type { Rewards } from "../../core/payments/rewards.ts";
import { errorFromResponse } from "./api-error.ts";

/** GET/PUT /v1/adapters/{id}/price (api/routes/prices.ts); `chain` when the API reports the change's transaction. */
export interface AdapterPrice {
  adapterId: string;
  perCall: string;
  perThousandOutputTokens: string;
  updatedAt: string | null;
  chain?: ChainStatus;
}

/** GET /v1/chain (api/routes/chain.ts). */
export interface ChainInfo {
  chainId: number;
  contracts: { rewardsDistributor: string; paymentEscrow: string; token: string; datanetRegistry?: string; adapterRegistry?: string };
  /** A JSON-RPC endpoint the browser may use (the local chain); absent where the wallet brings its own. */
  rpcUrl?: string;
  /** The local development chain, where a dev wallet may fund itself with gas. */
  local: boolean;
}

export type PresignedUpload = z.infer<typeof PresignedUploadSchema>;
/** A contribution as GET /v1/datanets/{id}/contributions lists it: with its file name and the record's content (api/routes/contributions.ts). */
export type ListedContribution = Contribution & { filename: string | null; content: string | null; contentTruncated: boolean };
/** What the create form sends; the API fills defaults for omitted fields. */
export type NewDatanet = z.input<typeof CreateDatanetInput>;
/**
 * What the fine-tune form sends: `datanets` and any settings. Settings stay
 * loosely typed on purpose: the form passes what the person typed and shows
 * the API's validation messages (core/jobs/model.ts CreateJobInput).
 */
export type NewJob = {
  datanets: { id: string; version: number }[];
  baseModel?: string;
  lora?: Record<string, unknown>;
  training?: Record<string, unknown>;
  /** Names, sent only where the API's schema documents them (views/fine-tune/job-name-fields.ts). */
  name?: string;
  adapterName?: string;
};

export interface ApiClientOptions {
  /** Origin (and optional prefix) of the API, e.g. "http://127.0.0.1:8787". */
  baseUrl: string;
  /** Returns the current API key, if signed in. */
  apiKey: () => string | undefined;
  /** Called on any 401 so the app can drop a stale session. */
  onUnauthorized?: () => void;
  fetch?: typeof fetch;
}

/**
 * A typed client for the platform's HTTP API. Every failure is an ApiError
 * carrying the problem details; every call takes an optional AbortSignal so
 * views cancel what they started when the person navigates away.
 */
export class ApiClient {
  readonly #opts: ApiClientOptions;

  constructor(opts: ApiClientOptions) {
    this.#opts = opts;
  }

  /** Sends one JSON request and parses the JSON reply. */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json, application/problem+json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await this.#send(method, path, headers, body === undefined ? null : JSON.stringify(body), signal);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /** Sends with the API key; a reply that is not 2xx becomes an ApiError. */
  async #send(method: string, path: string, headers: Record<string, string>, body: string | null, signal?: AbortSignal): Promise<Response> {
    const key = this.#opts.apiKey();
    if (key) headers.authorization = `Bearer ${key}`;
    const doFetch = this.#opts.fetch ?? globalThis.fetch.bind(globalThis);
    const res = await doFetch(this.#opts.baseUrl.replace(/\/$/, "") + path, { method, headers, body, signal: signal ?? null });
    if (!res.ok) {
      if (res.status === 401) this.#opts.onUnauthorized?.();
      throw await errorFromResponse(res);
    }
    return res;
  }

  /** A fresh single-use nonce for a Sign-In with Ethereum message. */
  nonce(signal?: AbortSignal): Promise<{ nonce: string; chainId?: number }> {
    return this.request("GET", "/v1/auth/nonce", undefined, signal);
  }

  /** Exchanges a signed EIP-4361 message for an API key. */
  signIn(message: string, signature: string): Promise<{ apiKey: string; address: string }> {
    return this.request("POST", "/v1/auth/siwe", { message, signature });
  }

  listDatanets(query: { q?: string; tag?: string; cursor?: string }, signal?: AbortSignal): Promise<Paged<Datanet>> {
    return this.request("GET", `/v1/datanets${queryString(query)}`, undefined, signal);
  }

  createDatanet(input: NewDatanet): Promise<Datanet> {
    return this.request("POST", "/v1/datanets", input);
  }

  getDatanet(id: string, signal?: AbortSignal): Promise<Datanet> {
    return this.request("GET", `/v1/datanets/${enc(id)}`, undefined, signal);
  }

  createUpload(datanetId: string, input: CreateUploadInput, signal?: AbortSignal): Promise<PresignedUpload> {
    return this.request("POST", `/v1/datanets/${enc(datanetId)}/uploads`, input, signal);
  }

  getUpload(datanetId: string, uploadId: string, signal?: AbortSignal): Promise<Upload> {
    return this.request("GET", `/v1/datanets/${enc(datanetId)}/uploads/${enc(uploadId)}`, undefined, signal);
  }

  listContributions(
    datanetId: string,
    query: { status?: ContributionStatus; cursor?: string },
    signal?: AbortSignal,
  ): Promise<Paged<ListedContribution>> {
    return this.request("GET", `/v1/datanets/${enc(datanetId)}/contributions${queryString(query)}`, undefined, signal);
  }

  /** Records, tokens, contributors, a length histogram and the uploads with file names. */
  getDatanetStats(datanetId: string, signal?: AbortSignal): Promise<DatanetStats> {
    return this.request("GET", `/v1/datanets/${enc(datanetId)}/stats`, undefined, signal);
  }

  publishVersion(datanetId: string): Promise<DatanetVersion> {
    return this.request("POST", `/v1/datanets/${enc(datanetId)}/versions`, {});
  }

  /** A version with its publication on chain (`chain` may be absent on an older API). */
  getVersion(datanetId: string, version: number, signal?: AbortSignal): Promise<DatanetVersion & { chain?: ChainStatus }> {
    return this.request("GET", `/v1/datanets/${enc(datanetId)}/versions/${version}`, undefined, signal);
  }

  getProof(datanetId: string, version: number, contributionId: string, signal?: AbortSignal): Promise<Proof> {
    const path = `/v1/datanets/${enc(datanetId)}/versions/${version}/proof${queryString({ contribution: contributionId })}`;
    return this.request("GET", path, undefined, signal);
  }

  listBaseModels(signal?: AbortSignal): Promise<{ items: BaseModel[] }> {
    return this.request("GET", "/v1/base-models", undefined, signal);
  }

  createJob(input: NewJob): Promise<Job> {
    return this.request("POST", "/v1/jobs", input);
  }

  listJobs(query: { status?: JobStatus; cursor?: string }, signal?: AbortSignal): Promise<Paged<Job>> {
    return this.request("GET", `/v1/jobs${queryString(query)}`, undefined, signal);
  }

  getJob(id: string, signal?: AbortSignal): Promise<Job> {
    return this.request("GET", `/v1/jobs/${enc(id)}`, undefined, signal);
  }

  cancelJob(id: string): Promise<Job> {
    return this.request("POST", `/v1/jobs/${enc(id)}/cancel`, {});
  }

  /**
   * Opens the job's server-sent event stream. fetch(), not EventSource: the
   * API authenticates with the Authorization header, which EventSource cannot send.
   */
  jobEvents(id: string, lastEventId: string | undefined, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (lastEventId) headers["last-event-id"] = lastEventId;
    return this.#send("GET", `/v1/jobs/${enc(id)}/events`, headers, null, signal);
  }

  listAdapters(query: { owner?: string; baseModel?: string; cursor?: string }, signal?: AbortSignal): Promise<Paged<AdapterView>> {
    return this.request("GET", `/v1/adapters${queryString(query)}`, undefined, signal);
  }

  getAdapter(id: string, signal?: AbortSignal): Promise<AdapterView> {
    return this.request("GET", `/v1/adapters/${enc(id)}`, undefined, signal);
  }

  /**
   * POST /v1/chat/completions, answered as it is: a stream (text/event-stream)
   * when `stream` is set, and errors in OpenAI's shape (a 402 carries the
   * payment terms), so the caller reads the status itself.
   */
  chatCompletions(body: Record<string, unknown>, signal?: AbortSignal, payment?: string): Promise<Response> {
    const key = this.#opts.apiKey();
    const doFetch = this.#opts.fetch ?? globalThis.fetch.bind(globalThis);
    return doFetch(this.#opts.baseUrl.replace(/\/$/, "") + "/v1/chat/completions", {
      method: "POST",
      headers: {
        "content-type": "application/json", accept: "text/event-stream, application/json",
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        // x402: a signed voucher for this call (web/src/payments/browser-payer.ts).
        ...(payment ? { "payment-signature": payment } : {}),
      },
      body: JSON.stringify(body),
      signal: signal ?? null,
    });
  }

  /** An adapter's price in token base units (decimal strings); free when never set. */
  getAdapterPrice(id: string, signal?: AbortSignal): Promise<AdapterPrice> {
    return this.request("GET", `/v1/adapters/${enc(id)}/price`, undefined, signal);
  }

  /** Sets an adapter's price (its owner only). */
  setAdapterPrice(id: string, price: { perCall: string; perThousandOutputTokens: string }): Promise<AdapterPrice> {
    return this.request("PUT", `/v1/adapters/${enc(id)}/price`, price);
  }

  /** Usage records of an adapter the caller owns (`adapter`), newest first; another owner's adapter lists nothing. */
  listUsage(query: { adapter?: string; cursor?: string }, signal?: AbortSignal): Promise<Paged<UsageRecord>> {
    return this.request("GET", `/v1/usage${queryString(query)}`, undefined, signal);
  }

  /** An account's earnings per settled epoch, with the Merkle proofs RewardsDistributor.claim takes. */
  getRewards(address: string, signal?: AbortSignal): Promise<Rewards> {
    return this.request("GET", `/v1/rewards/${enc(address)}`, undefined, signal);
  }

  /** The chain the platform settles on: its id, contract addresses and (locally) an RPC URL; 404 where none is wired. */
  getChain(signal?: AbortSignal): Promise<ChainInfo> {
    return this.request("GET", "/v1/chain", undefined, signal);
  }

  /**
   * A presigned link to one of an adapter's files. Asked for as JSON
   * (`redirect=false`): a browser's fetch cannot read where an authenticated
   * request was redirected.
   */
  adapterFileLink(id: string, file: string, signal?: AbortSignal): Promise<{ url: string; expiresAt: string }> {
    return this.request("GET", `/v1/adapters/${enc(id)}/files/${enc(file)}?redirect=false`, undefined, signal);
  }
}

/** `?a=1&b=2` from the defined, non-empty values; "" when there are none. */
export function queryString(query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) params.set(key, value);
  const s = params.toString();
  return s ? `?${s}` : "";
}

const enc = encodeURIComponent;
