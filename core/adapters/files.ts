import type { Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import type { PresignedDownload } from "../ports/blob-store.ts";
import { loadReadableAdapter } from "./adapters.ts";
import type { Adapter } from "./model.ts";

/** The files of an adapter its readers may download, by the name they are saved under. */
export const ADAPTER_FILES = {
  "adapter_config.json": "config",
  "adapter_model.safetensors": "weights",
  "attribution.json": "attribution",
  "metrics.json": "metrics",
} as const satisfies Record<string, keyof Adapter["files"]>;
export type AdapterFileName = keyof typeof ADAPTER_FILES;
export const ADAPTER_FILE_NAMES = Object.keys(ADAPTER_FILES) as [AdapterFileName, ...AdapterFileName[]];

/** How long a download URL lives: long enough to start a large download, short enough not to be shared around. */
export const ADAPTER_DOWNLOAD_TTL_SECONDS = 300;

/**
 * A short-lived URL to one of an adapter's files, saved under its PEFT name,
 * for a caller who may see the adapter (a private one: its owner only).
 */
export async function presignAdapterFile(deps: CoreDeps, caller: Caller, adapterId: string, file: AdapterFileName): Promise<PresignedDownload> {
  const adapter = await loadReadableAdapter(deps, caller, adapterId);
  const key = adapter.files[ADAPTER_FILES[file]];
  return deps.blobs.presignDownload(key, { expiresInSeconds: ADAPTER_DOWNLOAD_TTL_SECONDS, filename: file });
}
