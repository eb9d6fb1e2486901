import { ApiError } from "../api-error.ts";

const FORBIDDEN_HEADERS = new Set(["content-length", "host", "connection", "expect", "keep-alive", "transfer-encoding", "accept-encoding"]);

/**
 * PUTs a file to a presigned URL with XMLHttpRequest, the one browser API
 * that reports upload progress. Sends exactly the headers the API asked for
 * (a presigned S3 URL's signature covers them).
 */
export function putWithProgress(
  target: { method: string; url: string; headers: Record<string, string> },
  body: Blob,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(target.method, target.url);
    for (const [name, value] of Object.entries(target.headers)) {
      // The browser sets these itself and refuses them from scripts.
      if (!FORBIDDEN_HEADERS.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
        return;
      }
      let problem: Record<string, unknown> = { detail: `Upload failed with HTTP ${xhr.status}` };
      try {
        const parsed: unknown = JSON.parse(xhr.responseText);
        if (typeof parsed === "object" && parsed !== null) problem = parsed as Record<string, unknown>;
      } catch {
        // S3 answers in XML; keep the generic detail.
      }
      reject(new ApiError(xhr.status, problem));
    };
    xhr.onerror = () => reject(new Error("Network error while uploading the file."));
    xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}
