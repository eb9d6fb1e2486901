import type { Key } from "../ports/tables.ts";
import { datanetPk } from "./keys.ts";

/**
 * Where a Datanet's contribution rows, their by-status index rows and its
 * content-hash claims live in the contributions table.
 *
 * DynamoDB serves at most 1,000 write units per second to one partition key,
 * and a key whose sort keys only grow (contribution ids do, upload by upload
 * and line by line) cannot be split for heat. So a Datanet created since
 * sharding spreads its keys:
 *
 * - rows: `CONTRIB#{datanet}#{shard}` / `C#{contributionId}`, where the shard
 *   (two hex digits) is the record's line modulo `contributionShards`
 *   (16): consecutive records of one upload go round-robin, so every batch
 *   of an upload writes all shards evenly;
 * - by-status index (gsi1): `CONTRIB#{datanet}#{shard}#{status}` / the id;
 * - claims: `CLAIM#{datanet}#{first two hex digits of the hash}` / `H#{hash}`,
 *   256 partitions. A claim key follows from the hash alone, so a hash still
 *   has exactly one claim per Datanet; claims are only ever read by key, so
 *   their partition count costs no reads.
 *
 * Readers merge the row shards by sort key (`mergeShards`), which keeps the
 * order of an unsharded partition: by upload, then by line.
 *
 * A Datanet created before sharding has no `contributionShards` and keeps
 * the layout it was written with, one partition `DATANET#{datanet}` for all
 * of it (rows `C#…`, claims `H#…`, index `DATANET#{datanet}#{status}`): its
 * items stay readable and its dedupe keeps working, at the old write rate.
 */
export interface ContributionLayout {
  datanetId: string;
  /** Row shards; 1 for a Datanet created before sharding. */
  shards: number;
  /** The partitions holding the rows (sort keys `C#{contributionId}`), in shard order. */
  rowPartitions: string[];
  rowKey(contributionId: string): Key;
  /** The gsi1 partition of a row with this status. */
  statusPartition(contributionId: string, status: string): string;
  /** Every gsi1 partition of rows with this status, in shard order. */
  statusPartitions(status: string): string[];
  /** The dedupe item of a content hash: who first contributed it to the Datanet. */
  claimKey(contentHash: string): Key;
}

/** Row shards of a Datanet created now; stored on the Datanet, so changing it never moves existing rows. */
export const CONTRIBUTION_SHARDS = 16;
/** The most row shards a Datanet item may name (each listing page queries every shard). */
export const MAX_CONTRIBUTION_SHARDS = 64;
export const CONTRIBUTION_PK_PREFIX = "CONTRIB#";
export const CLAIM_PK_PREFIX = "CLAIM#";
export const CONTRIBUTION_SK_PREFIX = "C#";
export const CLAIM_SK_PREFIX = "H#";

/** The layout of a Datanet, from its item (`id`, and `contributionShards` when it was created sharded). */
export function contributionLayout(datanet: Record<string, unknown>): ContributionLayout {
  const datanetId = datanet.id as string;
  const shards = datanet.contributionShards;
  if (shards === undefined) return legacyLayout(datanetId);
  if (typeof shards !== "number" || !Number.isInteger(shards) || shards < 1 || shards > MAX_CONTRIBUTION_SHARDS) {
    throw new Error(`Datanet ${datanetId} has an invalid contributionShards ${String(shards)}`);
  }
  return shardedLayout(datanetId, shards);
}

function shardedLayout(datanetId: string, shards: number): ContributionLayout {
  const rowPk = (shard: number) => `${CONTRIBUTION_PK_PREFIX}${datanetId}#${hex2(shard)}`;
  const rowPartitions = Array.from({ length: shards }, (_, s) => rowPk(s));
  return {
    datanetId,
    shards,
    rowPartitions,
    rowKey: (id) => ({ pk: rowPk(rowShard(id, shards)), sk: `${CONTRIBUTION_SK_PREFIX}${id}` }),
    statusPartition: (id, status) => `${rowPk(rowShard(id, shards))}#${status}`,
    statusPartitions: (status) => rowPartitions.map((pk) => `${pk}#${status}`),
    claimKey: (hash) => ({ pk: `${CLAIM_PK_PREFIX}${datanetId}#${claimShard(hash)}`, sk: `${CLAIM_SK_PREFIX}${hash}` }),
  };
}

/** The single-partition layout of Datanets created before sharding (the keys they were written with). */
function legacyLayout(datanetId: string): ContributionLayout {
  const pk = datanetPk(datanetId);
  return {
    datanetId,
    shards: 1,
    rowPartitions: [pk],
    rowKey: (id) => ({ pk, sk: `${CONTRIBUTION_SK_PREFIX}${id}` }),
    statusPartition: (_id, status) => `${pk}#${status}`,
    statusPartitions: (status) => [`${pk}#${status}`],
    claimKey: (hash) => ({ pk, sk: `${CLAIM_SK_PREFIX}${hash}` }),
  };
}

/**
 * The row shard of a contribution: its line (the id's last digits, see
 * `contributionId`) modulo the shard count, so an upload's records go
 * round-robin; an id of another shape falls back to a string hash.
 */
export function rowShard(contributionId: string, shards: number): number {
  const line = /_(\d+)$/.exec(contributionId);
  return (line ? Number(line[1]) : fnv1a(contributionId)) % shards;
}

/** The claim shard of a content hash: its first byte in hex (SHA-256 spreads them evenly over 256). */
export function claimShard(contentHash: string): string {
  const byte = /^0x([0-9a-f]{2})/i.exec(contentHash);
  return byte ? byte[1]!.toLowerCase() : hex2(fnv1a(contentHash) % 256);
}

const hex2 = (n: number) => n.toString(16).padStart(2, "0");

/** 32-bit FNV-1a: a stable spread for strings without a number or hash to go by. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
