import { createHash } from "node:crypto";
import type { Wallet } from "ethers";
import { SiweMessage } from "siwe";

/**
 * A small HTTP client for the platform's API, used by the local demo and the
 * end-to-end tests. It signs in the way a wallet would (EIP-4361) and sends
 * uploads through the signed URL the API hands out.
 */
export class DevClient {
  readonly baseUrl: string;
  apiKey: string | undefined;
  address: string | undefined;

  constructor(baseUrl: string, apiKey?: string) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.apiKey = apiKey;
  }

  /** Signs in with a wallet: fetches a nonce, signs an EIP-4361 message, keeps the API key. */
  async signIn(wallet: Wallet, chainId = 31337): Promise<{ apiKey: string; address: string }> {
    const { nonce } = await this.request<{ nonce: string }>("GET", "/v1/auth/nonce");
    const url = new URL(this.baseUrl);
    const message = new SiweMessage({
      domain: url.host,
      address: wallet.address,
      statement: "Sign in to Model Factory.",
      uri: this.baseUrl,
      version: "1",
      chainId,
      nonce,
      issuedAt: new Date().toISOString(),
    }).prepareMessage();
    const signature = await wallet.signMessage(message);
    const result = await this.request<{ apiKey: string; address: string }>("POST", "/v1/auth/siwe", { message, signature });
    this.apiKey = result.apiKey;
    this.address = result.address;
    return result;
  }

  /** Creates an upload, PUTs the bytes to the signed URL, returns the upload id. */
  async upload(datanetId: string, filename: string, contentType: string, body: Uint8Array): Promise<string> {
    const sha256 = createHash("sha256").update(body).digest("hex");
    const signed = await this.request<{ uploadId: string; url: string; method: string; headers: Record<string, string> }>(
      "POST",
      `/v1/datanets/${datanetId}/uploads`,
      { filename, contentType, size: body.byteLength, sha256 },
    );
    const put = await fetch(signed.url, { method: signed.method, headers: signed.headers, body: new Blob([body as Uint8Array<ArrayBuffer>]) });
    if (!put.ok) throw new ApiError(put.status, await put.json().catch(() => ({})));
    return signed.uploadId;
  }

  /** Polls an upload until ingest finished (done or failed). */
  async waitForUpload(datanetId: string, uploadId: string, timeoutMs = 60_000): Promise<UploadStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const upload = await this.request<UploadStatus>("GET", `/v1/datanets/${datanetId}/uploads/${uploadId}`);
      if (upload.status === "done" || upload.status === "failed") return upload;
      if (Date.now() > deadline) throw new Error(`upload ${uploadId} still ${upload.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends a JSON request; throws ApiError with the problem details on a non-2xx answer. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(this.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const json: unknown = text ? JSON.parse(text) : undefined;
    if (!res.ok) throw new ApiError(res.status, json);
    return json as T;
  }
}

export interface UploadStatus {
  status: "pending" | "processing" | "done" | "failed";
  accepted: number;
  rejected: number;
  error?: string;
}

/** A non-2xx answer; `problem` is the problem+json body. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: { type?: string; title?: string; detail?: string } & Record<string, unknown>;
  constructor(status: number, problem: unknown) {
    const p = (problem ?? {}) as ApiError["problem"];
    super(`${status} ${p.type ?? ""} ${p.detail ?? p.title ?? ""}`.trim());
    this.name = "ApiError";
    this.status = status;
    this.problem = p;
  }
}
