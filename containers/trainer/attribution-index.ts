// End of training, step one of attribution: the span index over the training records (the
// held-out ones shaped nothing and are left out), each record's token ids exactly as they
// were trained, written beside the adapter as attribution-index.safetensors.
import { buildSpanIndex, type IndexedRecord } from "../../core/attribution/index.ts";
import { encodeSpanIndex } from "./attribution-files.ts";

export interface TrainedRecord extends IndexedRecord {
  tokens: ArrayLike<number>; // the record's token ids as the trainer tokenized them
  loss?: Uint8Array; // its loss mask (1 = trained), for the gradient sketch
}

/** attribution-index.safetensors bytes for the training records, in training-split order. */
export function buildAttributionIndex(records: readonly TrainedRecord[]): Uint8Array {
  return encodeSpanIndex(buildSpanIndex(records.map(({ tokens, loss: _loss, ...record }) => ({ tokens, record }))));
}
