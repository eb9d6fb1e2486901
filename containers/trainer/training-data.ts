// The packed rows and step count of a training run, worked out once for both backends (the
// engine on a worker thread, PyTorch in a child process), so both train on exactly the same rows.
import { packDocuments, TrainError, type Sequence } from "../engine/index.ts";
import type { TrainWorkerInput } from "./train-worker.ts";

export interface PackedTrainingData {
  train: Sequence[]; // packed training rows, block-diagonal per record
  eval: Sequence[]; // packed held-out rows
  steps: number; // optimizer steps of the run
}

/** Each record its own document (no attention across records), BOS first as at inference; steps from maxSteps or epochs. */
export function packTrainingData(input: TrainWorkerInput, special: { bos: number | null; eos: number | null }, modelMaxSeqLen: number): PackedTrainingData {
  const seqLen = Math.min(input.seqLen, modelMaxSeqLen);
  const train = packDocuments(input.train, seqLen, special), evalRows = packDocuments(input.heldOut, seqLen, special);
  if (train.length === 0) throw new TrainError("no training record has a token to learn (all prompt?)");
  const perStep = (input.config.batchSize ?? 1) * (input.config.gradAccum ?? 1);
  const steps = input.steps ?? Math.max(1, Math.ceil((input.epochs * train.length) / perStep));
  return { train, eval: evalRows, steps };
}
