import { PAUSE_MARGIN_MS } from "../../core/ingest/ingest-object.ts";
import { INGEST_TIMEOUT } from "./datanets.ts";
import { CONTRIBUTIONS_WARM_WRITES } from "./tables.ts";

/**
 * What one upload can ingest on AWS, from the contribution key design
 * (core/datanets/contribution-layout.ts). The derivation, with the item sizes
 * measured on what ingest writes, is `npm run bench:contribution-writes`
 * and docs/benchmarks.md ("Contribution partitions").
 *
 * Per accepted record: its row (1 WCU, ≈0.5 KB), its gsi1 entry (1 WCU on
 * the index) and its content-hash claim (1 KB in a transaction: 2 WCU), so
 * 3 WCU on the table and 1 on the index. Spread over 16 row shards and 256
 * claim prefixes, no partition binds below 16,000 records/s; the table's
 * pre-warmed write throughput does (CONTRIBUTIONS_WARM_WRITES).
 */

/** Write units per accepted record on the table (row 1 + claim 2) and on gsi1 (1). */
export const WRITE_UNITS_PER_RECORD = { table: 3, index: 1 } as const;
/** Records per second one upload may write: the tighter of the two pre-warmed rates. */
export const DESIGN_RECORDS_PER_SECOND = Math.min(
  CONTRIBUTIONS_WARM_WRITES.table / WRITE_UNITS_PER_RECORD.table,
  CONTRIBUTIONS_WARM_WRITES.index / WRITE_UNITS_PER_RECORD.index,
);
/** Seconds of ingest work in one invocation: the Lambda timeout less the margin a run keeps to checkpoint. */
export const INGEST_WORK_SECONDS = INGEST_TIMEOUT.toSeconds() - PAUSE_MARGIN_MS / 1000;
/** The record size the limit is set for: 2 GiB ≈ 4 million records. */
export const BYTES_PER_RECORD = Math.round((2 * 1024 ** 3) / 4_000_000);
const STEP = 256 * 1024 ** 2;

/**
 * The stack's upload size limit: what one 15-minute ingest writes at the
 * design rate, rounded down to 256 MiB. A larger upload, or one of smaller
 * records, still completes: ingest checkpoints and queues its continuation,
 * so it only takes longer than one invocation.
 */
export const MAX_UPLOAD_BYTES = Math.floor((DESIGN_RECORDS_PER_SECOND * INGEST_WORK_SECONDS * BYTES_PER_RECORD) / STEP) * STEP;
