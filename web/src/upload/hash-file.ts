import { createSHA256 } from "hash-wasm";

/** Bytes read per step: big enough to be fast, small enough to keep memory flat. */
export const HASH_SLICE_BYTES = 4 * 1024 * 1024;

/**
 * SHA-256 of a file (or any Blob) as lower-case hex, read slice by slice so a
 * multi-gigabyte file never sits in memory at once (crypto.subtle only hashes
 * whole buffers). Reports progress as a fraction in [0, 1].
 */
export async function sha256OfBlob(
  blob: Blob,
  onProgress?: (fraction: number) => void,
  signal?: AbortSignal,
  sliceBytes: number = HASH_SLICE_BYTES,
): Promise<string> {
  const hasher = await createSHA256();
  hasher.init();
  onProgress?.(blob.size === 0 ? 1 : 0);
  for (let offset = 0; offset < blob.size; offset += sliceBytes) {
    signal?.throwIfAborted();
    const chunk = await blob.slice(offset, offset + sliceBytes).arrayBuffer();
    hasher.update(new Uint8Array(chunk));
    onProgress?.(Math.min(1, (offset + chunk.byteLength) / blob.size));
  }
  return hasher.digest("hex");
}
