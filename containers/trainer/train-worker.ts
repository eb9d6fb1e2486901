// The trainer's compute, on a worker thread: the engine's train() is synchronous, so running it
// here keeps the main thread free to send progress, upload checkpoints and notice SIGTERM while
// training goes on. Input comes as workerData, everything else as messages to the parent.
import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { serializeTrainerError, type SerializedTrainerError } from "./errors.ts";
import { packTrainingData } from "./training-data.ts";
import { createLora, loadHfModel, serializeAdapter, train, type LoraConfig, type TokenizedRecord, type TrainConfig, type TrainEvent, type TrainResult } from "../engine/index.ts";

export interface TrainWorkerInput {
  modelDir: string; // HF layout
  seqLen: number; // packed sequence length (≤ the model's context)
  train: TokenizedRecord[]; // token ids (and loss mask) of each training record, in training order
  heldOut: TokenizedRecord[]; // token ids (and loss mask) of each held-out record
  lora: LoraConfig;
  adapterId: string;
  baseModelName: string; // base_model_name_or_path in adapter_config.json
  seed: number; // LoRA init and training randomness
  /** Optimizer steps; or, when null, this many passes over the packed training sequences. */
  steps: number | null;
  epochs: number;
  config: Partial<TrainConfig>; // everything but steps (checkpointDir included)
  stop: SharedArrayBuffer; // Int32Array(1): set to 1 to stop after the current step
}

export type TrainWorkerMessage =
  | { kind: "prepared"; trainSequences: number; heldOutSequences: number; totalSteps: number }
  | { kind: "event"; event: TrainEvent }
  | { kind: "checkpoint"; step: number; bytes: Uint8Array }
  | { kind: "done"; result: TrainResult; adapterConfig: string; adapterWeights: Uint8Array }
  | { kind: "stopped"; step: number }
  | { kind: "error"; error: SerializedTrainerError };

/** Thrown from the progress callback to leave train() when a stop was asked for. */
class StopRequested extends Error {
  override name = "StopRequested";
}

function run(input: TrainWorkerInput, post: (m: TrainWorkerMessage, transfer?: ArrayBuffer[]) => void): void {
  const stop = new Int32Array(input.stop);
  const { model, tokenizer } = loadHfModel(input.modelDir);
  const { steps, ...data } = packTrainingData(input, { bos: tokenizer.bos, eos: tokenizer.eos }, model.config.maxSeqLen);
  post({ kind: "prepared", trainSequences: data.train.length, heldOutSequences: data.eval.length, totalSteps: steps });
  const adapter = createLora(model.config, input.lora, { id: input.adapterId, seed: input.seed, baseModel: input.baseModelName });
  const checkpointEvery = input.config.checkpointDir ? (input.config.checkpointEvery ?? 0) : 0;
  let step = 0;
  try {
    const result = train(model, adapter, data, { ...input.config, steps, seed: input.seed }, (e) => {
      if (e.type === "step") step = e.step;
      if (e.type === "resumed") step = e.step;
      if (e.type === "checkpoint") {
        const bytes = new Uint8Array(readFileSync(e.path));
        post({ kind: "checkpoint", step: e.step, bytes }, [bytes.buffer as ArrayBuffer]);
      }
      post({ kind: "event", event: e });
      // On a checkpoint step, stop only once its checkpoint is written and handed over.
      const checkpointStep = e.type === "step" && checkpointEvery > 0 && e.step % checkpointEvery === 0;
      if (((e.type === "step" && !checkpointStep) || e.type === "checkpoint") && Atomics.load(stop, 0) === 1) throw new StopRequested(`stopped at step ${e.step}`);
    });
    const { config, weights } = serializeAdapter(adapter);
    post({ kind: "done", result, adapterConfig: config, adapterWeights: weights }, [weights.buffer as ArrayBuffer]);
  } catch (e) {
    if (e instanceof StopRequested) post({ kind: "stopped", step });
    else throw e;
  }
}

if (parentPort) {
  const port = parentPort;
  try {
    run(workerData as TrainWorkerInput, (m, transfer) => port.postMessage(m, transfer ?? []));
  } catch (e) {
    // Classified here, where the engine's error classes are: a thread can only post plain data.
    port.postMessage({ kind: "error", error: serializeTrainerError(e) } satisfies TrainWorkerMessage);
  }
}
