// The adapter decoder's worker thread (see adapter-decoder.ts): reads an adapter's two PEFT
// files and parses them, or parses bytes it is given, and posts the adapter back with its
// matrices transferred, not copied. Synchronous file reads are right here: this thread serves
// no requests, and one read call is one hop instead of the several event-loop turns that an
// async read takes on a busy serving thread.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parentPort } from "node:worker_threads";
import type { LoraAdapter } from "./lora.ts";
import type { Config } from "./model.ts";
import { parseAdapter } from "./peft.ts";

export type DecodeRequest =
  | { seq: number; model: Config; op: "read"; id: string; dir: string }
  | { seq: number; model: Config; op: "parse"; id: string; config: Uint8Array; weights: Uint8Array };

export type DecodeReply =
  | { seq: number; ok: true; adapter: LoraAdapter | null } // null: the files are not on disk
  | { seq: number; ok: false; kind: "corrupt" | "io"; message: string };

const port = parentPort!;

port.on("message", (req: DecodeRequest) => {
  let config: Uint8Array, weights: Uint8Array;
  if (req.op === "read") {
    try {
      config = readFileSync(join(req.dir, "adapter_config.json"));
      weights = readFileSync(join(req.dir, "adapter_model.safetensors"));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === "ENOENT") return port.postMessage({ seq: req.seq, ok: true, adapter: null } satisfies DecodeReply);
      return port.postMessage({ seq: req.seq, ok: false, kind: "io", message: err.message } satisfies DecodeReply);
    }
  } else ({ config, weights } = req);
  let adapter: LoraAdapter;
  try {
    adapter = parseAdapter(req.id, new TextDecoder().decode(config), weights, req.model);
  } catch (e) {
    return port.postMessage({ seq: req.seq, ok: false, kind: "corrupt", message: (e as Error).message } satisfies DecodeReply);
  }
  // each matrix owns its buffer (readSafetensors allocates one per tensor): hand them over
  const buffers = adapter.layers.flatMap((l) => Object.values(l).flatMap((p) => [p.A.buffer, p.B.buffer])) as ArrayBuffer[];
  port.postMessage({ seq: req.seq, ok: true, adapter } satisfies DecodeReply, [...new Set(buffers)]);
});
