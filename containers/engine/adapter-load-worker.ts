// The adapter reader's worker thread (see adapter-decoder.ts): reads the two PEFT files of each
// adapter it is asked for and posts their bytes back, every file of a batch in one message
// with the weights' buffers transferred, not copied. It does nothing else: parsing runs on
// the serving thread between forward steps, where it costs no kernel worker its core (on a
// machine with as many cores as compute threads, every CPU-millisecond spent here during a
// step is a millisecond a kernel slice waits). Synchronous reads are right here: this thread
// serves no requests, and one read call is one hop instead of the several event-loop turns
// (open, stat, read, close) that an async read takes on a busy serving thread.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parentPort, workerData, type MessagePort } from "node:worker_threads";

export interface ReadRequest { batch: Array<{ seq: number; dir: string }> }

export type ReadResult =
  | { seq: number; ok: true; files: { config: string; weights: Uint8Array } | null } // null: not on disk
  | { seq: number; ok: false; message: string };

/** One reply per request batch; `doneAt` (performance.timeOrigin-based ms) for load tracing. */
export interface ReadReply { batch: ReadResult[]; startedAt: number; doneAt: number }

// requests come on parentPort; replies go on the port the decoder gave (workerData.replies),
// which the serving thread can also drain synchronously right before a step
const port = parentPort!, replies = (workerData as { replies: MessagePort }).replies;
const clock = () => performance.timeOrigin + performance.now();

port.on("message", (req: ReadRequest) => {
  const startedAt = clock();
  const transfer: ArrayBuffer[] = [];
  const batch = req.batch.map(({ seq, dir }): ReadResult => {
    try {
      const config = readFileSync(join(dir, "adapter_config.json"), "utf8");
      let weights: Uint8Array = readFileSync(join(dir, "adapter_model.safetensors"));
      // only a buffer that is wholly this file's can be handed over: a small file's comes from
      // Node's shared pool (and Buffer's slice() is a view, not a copy)
      if (weights.byteOffset !== 0 || weights.byteLength !== weights.buffer.byteLength) weights = new Uint8Array(weights);
      transfer.push(weights.buffer as ArrayBuffer);
      return { seq, ok: true, files: { config, weights } };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return err.code === "ENOENT" ? { seq, ok: true, files: null } : { seq, ok: false, message: err.message };
    }
  });
  replies.postMessage({ batch, startedAt, doneAt: clock() } satisfies ReadReply, transfer);
});
