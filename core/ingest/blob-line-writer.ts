import { once } from "node:events";
import { PassThrough } from "node:stream";
import type { BlobStore } from "../ports/blob-store.ts";

/**
 * Streams text into one blob while it is being produced, with backpressure:
 * `write` waits while the store is behind, so memory stays bounded however
 * large the blob grows. `end` resolves once the blob is stored.
 */
export class BlobLineWriter {
  readonly #stream = new PassThrough();
  readonly #stored: Promise<void>;
  #failure: Error | undefined;

  constructor(blobs: BlobStore, key: string, contentType = "application/jsonl") {
    // Errors reach the caller through `#stored`; without a listener an
    // aborted stream would also raise an uncaught 'error' event.
    this.#stream.on("error", () => undefined);
    this.#stored = blobs.put(key, this.#stream, { contentType });
    // If the store gives up early, stop the producer at its next write.
    this.#stored.catch((error: Error) => {
      this.#failure = error;
      this.#stream.destroy(error);
    });
  }

  async write(text: string): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (!this.#stream.write(text)) await once(this.#stream, "drain");
  }

  async end(): Promise<void> {
    if (this.#failure) throw this.#failure;
    this.#stream.end();
    await this.#stored;
  }

  /** Abandons the blob; the store's own error, if any, is swallowed in favour of `reason`. */
  async abort(reason: Error): Promise<void> {
    this.#stream.destroy(reason);
    await this.#stored.catch(() => undefined);
  }
}
