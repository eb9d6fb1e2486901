import type { Upload } from "../../../core/datanets/model.ts";
import type { ApiClient } from "../api-client.ts";
import { sha256OfBlob } from "./hash-file.ts";
import { putWithProgress } from "./put-with-progress.ts";

/** Where one file is in its journey; `progress` is a fraction in [0, 1]. */
export type UploadStage =
  | { phase: "hashing"; progress: number }
  | { phase: "requesting" }
  | { phase: "uploading"; progress: number }
  | { phase: "processing"; upload?: Upload }
  | { phase: "done"; upload: Upload }
  | { phase: "failed"; upload?: Upload; error: string };

/** What the upload flow needs from the API (the client, or a fake in tests). */
export type UploadApi = Pick<ApiClient, "createUpload" | "getUpload">;

export interface UploadDeps {
  put: typeof putWithProgress;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const defaultDeps: UploadDeps = { put: putWithProgress, sleep: abortableSleep };

/**
 * Takes one file from the person's disk to an ingested upload: hash it,
 * ask for a signed URL, PUT the bytes, then poll until ingest is done or
 * failed. Reports each step through `onStage`; returns the final Upload.
 */
export async function uploadFile(
  api: UploadApi,
  datanetId: string,
  file: File,
  onStage: (stage: UploadStage) => void,
  signal?: AbortSignal,
  deps: UploadDeps = defaultDeps,
): Promise<Upload> {
  try {
    const sha256 = await sha256OfBlob(file, (progress) => onStage({ phase: "hashing", progress }), signal);
    onStage({ phase: "requesting" });
    const target = await api.createUpload(
      datanetId,
      { filename: file.name, contentType: contentTypeOf(file), size: file.size, sha256 },
      signal,
    );
    await deps.put(target, file, (progress) => onStage({ phase: "uploading", progress }), signal);
    onStage({ phase: "processing" });
    const upload = await pollUpload(api, datanetId, target.uploadId, (u) => onStage({ phase: "processing", upload: u }), signal, deps.sleep);
    onStage(upload.status === "done" ? { phase: "done", upload } : { phase: "failed", upload, error: upload.error ?? "Ingest failed." });
    return upload;
  } catch (err) {
    if (!signal?.aborted) onStage({ phase: "failed", error: err instanceof Error ? err.message : String(err) });
    throw err;
  }
}

/**
 * Polls an upload until it is done or failed, backing off from 400 ms to 3 s
 * so a long ingest does not hammer the API.
 */
export async function pollUpload(
  api: Pick<ApiClient, "getUpload">,
  datanetId: string,
  uploadId: string,
  onUpdate: (upload: Upload) => void,
  signal?: AbortSignal,
  sleep: UploadDeps["sleep"] = abortableSleep,
): Promise<Upload> {
  let delay = 400;
  for (;;) {
    const upload = await api.getUpload(datanetId, uploadId, signal);
    if (upload.status === "done" || upload.status === "failed") return upload;
    onUpdate(upload);
    await sleep(delay, signal);
    delay = Math.min(3000, Math.round(delay * 1.5));
  }
}

/** The file's MIME type, guessed from its extension when the browser gives none. */
export function contentTypeOf(file: { name: string; type: string }): string {
  if (file.type) return file.type;
  const ext = file.name.toLowerCase().split(".").pop();
  if (ext === "jsonl" || ext === "ndjson") return "application/x-ndjson";
  if (ext === "csv") return "text/csv";
  if (ext === "json") return "application/json";
  if (ext === "txt" || ext === "text" || ext === "md") return "text/plain";
  return "application/octet-stream";
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
