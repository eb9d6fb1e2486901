/** Settings the domain needs; each deployment fills them from its own sources. */
export interface PlatformConfig {
  /** Origin clients use to reach the API, e.g. `http://localhost:8787`; its host is the SIWE domain. */
  apiOrigin: string;
  /** EVM chain id SIWE messages must name (31337 locally). */
  chainId: number;
  /** Largest upload accepted, in bytes. */
  maxUploadBytes: number;
  /** Largest single record (one JSONL line, CSV row or text line), in bytes. */
  maxRecordBytes: number;
  /** Lifetime of a signed upload URL. */
  uploadUrlTtlSeconds: number;
  /** Lifetime of a SIWE nonce. */
  nonceTtlSeconds: number;
  /** Whether webhook URLs may point at loopback/private addresses (true locally only). */
  allowPrivateWebhookUrls: boolean;
}

export const defaultConfig: PlatformConfig = {
  apiOrigin: "http://localhost:8787",
  chainId: 31337,
  maxUploadBytes: 2 * 1024 ** 3,
  maxRecordBytes: 1024 ** 2,
  uploadUrlTtlSeconds: 15 * 60,
  nonceTtlSeconds: 10 * 60,
  allowPrivateWebhookUrls: false,
};
