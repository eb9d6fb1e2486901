// The adapter reader's worker thread (see adapter-decoder.ts): reads the two PEFT files of each
// adapter it is asked for and posts their bytes back, every file of a batch in one message
// with the weights' buffers transferred, not copied. Small adapters are parsed on the serving
// thread between forward steps, where the work costs no kernel worker its core (on a machine
// with as many cores as compute threads, every CPU-millisecond spent here during a step is a
// millisecond a kernel slice waits); a large one is parsed here, off the serving thread.
// Synchronous reads are right here: this thread
// serves no requests, and one read call is one hop instead of the several event-loop turns
// (open, stat, read, close) that an async read takes on a busy serving thread.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import type { LoraAdapter } from "./lora.ts";
import type { Config } from "./model.ts";
// adapter-block.ts, not adapter-slots.ts: packing a block needs no kernel heap in this thread
import { packBlock } from "./kernels/adapter-block.ts";
import type { AdapterDtype } from "./kernels/lora-kernel.ts";
import { parseAdapter } from "./peft.ts";

/**
 * `parseAbove`: a weights file larger than this many bytes is parsed here too (with `id`, `model`).
 * `pack`: the dtype of the serving thread's kernel-heap blocks, for a small file: its block's bytes
 * are made here too (AdapterSlots packBlock), so that placing it there is one copy; null: not asked.
 */
export interface ReadRequest { batch: Array<{ seq: number; dir: string; id: string; model: Config; parseAbove: number; pack: AdapterDtype | null }> }

export type ReadResult =
  // files null: not on disk; block: the kernel-heap block's bytes (asked for with `pack`, and the files parsed)
  | { seq: number; ok: true; files: { config: string; weights: Uint8Array } | null; block?: Uint8Array }
  | { seq: number; ok: true; adapter: LoraAdapter } // parsed here (a large file)
  | { seq: number; ok: false; kind: "io" | "corrupt"; message: string };

/** One reply per request batch; `doneAt` (performance.timeOrigin-based ms) for load tracing. */
export interface ReadReply { batch: ReadResult[]; startedAt: number; doneAt: number }

// requests come on parentPort; replies go on the port the decoder gave (workerData.replies),
// which the serving thread can also drain synchronously right before a step
const port = parentPort!, replies = (workerData as { replies: MessagePort }).replies;
const clock = () => performance.timeOrigin + performance.now();
// each request's model arrives as a new object; peft.ts keeps the layouts it has parsed per model
// object, so the same config is kept as one object here (a parse from a known layout: no header parse)
const models = new Map<string, Config>();
const sameModel = (m: Config) => { const k = JSON.stringify(m); let got = models.get(k); if (!got) models.set(k, (got = m)); return got; };

port.on("message", (req: ReadRequest) => {
  const startedAt = clock();
  const transfer: ArrayBuffer[] = [];
  const batch = req.batch.map(({ seq, dir, id, model, parseAbove, pack }): ReadResult => {
    let config: string, weights: Uint8Array;
    try {
      config = readFileSync(join(dir, "adapter_config.json"), "utf8");
      weights = readFileSync(join(dir, "adapter_model.safetensors"));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return err.code === "ENOENT" ? { seq, ok: true, files: null } : { seq, ok: false, kind: "io", message: err.message };
    }
    // only a buffer that is wholly this file's can be handed over: a small file's comes from
    // Node's shared pool (and Buffer's slice() is a view, not a copy)
    if (weights.byteOffset !== 0 || weights.byteLength !== weights.buffer.byteLength) weights = new Uint8Array(weights);
    if (weights.byteLength > parseAbove) {
      // a large adapter: its parse (a check of every tensor, a copy where the data is not
      // aligned) is done here, off the serving thread, and its matrices handed over
      try {
        const adapter = parseAdapter(id, config, weights, model, { adopt: true });
        for (const l of adapter.layers) for (const p of Object.values(l)) transfer.push(p.A.buffer as ArrayBuffer, p.B.buffer as ArrayBuffer);
        return { seq, ok: true, adapter };
      } catch (e) {
        return { seq, ok: false, kind: "corrupt", message: (e as Error).message };
      }
    }
    transfer.push(weights.buffer as ArrayBuffer);
    // the block the serving thread would pack and round (in its own parse of the same bytes, the
    // pairs come in the same order): made here it costs that thread one copy. Files that do not
    // parse get no block, and the serving thread's parse reports them as it always did
    let block: Uint8Array | undefined;
    if (pack) {
      try {
        block = packBlock(parseAdapter(id, config, weights, sameModel(model), { adopt: true }), pack);
        transfer.push(block.buffer as ArrayBuffer);
      } catch { block = undefined; }
    }
    return block ? { seq, ok: true, files: { config, weights }, block } : { seq, ok: true, files: { config, weights } };
  });
  // the matrices are views of the file's buffer (or of one aligned copy of it): each buffer once
  replies.postMessage({ batch, startedAt, doneAt: clock() } satisfies ReadReply, [...new Set(transfer)]);
});
