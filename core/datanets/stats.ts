import type { Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { queryAll } from "../query-all.ts";
import { loadVisibleDatanet } from "./access.ts";
import { uploadFromItem } from "./items.ts";
import { CONTRIBUTION_SK_PREFIX, contributionLayout } from "./contribution-layout.ts";
import { UPLOAD_SK_PREFIX, datanetPk, versionKey } from "./keys.ts";
import { mergeShards } from "./merge-shards.ts";
import type { DatanetStats } from "./stats-model.ts";

/** Contributions read at most per request: past it the figures cover the first ones and say so. */
export const STATS_SCAN_LIMIT = 200_000;

/**
 * Token-length buckets of accepted records: [0, 8), [8, 16), [16, 32), … a
 * power of two apart, so a Datanet of short answers and one of long essays
 * both get a readable histogram; the last bucket holds everything above.
 */
const BUCKET_EDGES = [0, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/**
 * A Datanet's statistics for whoever may see it: accepted and rejected
 * records, tokens, distinct contributors, accepted records not yet in a
 * version, a histogram of record lengths in tokens, and its uploads with
 * their file names. One walk over the contribution rows, all shards merged
 * (so a Datanet past the scan limit reports its oldest records, as before).
 */
export async function getDatanetStats(deps: CoreDeps, caller: Caller, datanetId: string): Promise<DatanetStats> {
  const datanet = await loadVisibleDatanet(deps, caller, datanetId);
  const counts = new Array<number>(BUCKET_EDGES.length).fill(0);
  const contributors = new Set<string>();
  let accepted = 0, rejected = 0, tokens = 0, scanned = 0;
  let complete = true;
  const rows = mergeShards(deps.tables.contributions, { partitions: contributionLayout(datanet).rowPartitions, skPrefix: CONTRIBUTION_SK_PREFIX });
  for await (const item of rows) {
    if (++scanned > STATS_SCAN_LIMIT) {
      complete = false;
      break;
    }
    if (item.status !== "accepted") {
      rejected += 1;
      continue;
    }
    const n = typeof item.tokens === "number" ? item.tokens : 0;
    accepted += 1;
    tokens += n;
    contributors.add(String(item.contributor).toLowerCase());
    let b = BUCKET_EDGES.length - 1;
    while (b > 0 && n < BUCKET_EDGES[b]!) b--;
    counts[b]! += 1;
  }
  const uploads = [];
  for await (const item of queryAll(deps.tables.main, { pk: datanetPk(datanetId), skPrefix: UPLOAD_SK_PREFIX })) {
    const u = uploadFromItem(item);
    uploads.push({ uploadId: u.uploadId, filename: u.filename, contributor: u.contributor, status: u.status, accepted: u.accepted, rejected: u.rejected, createdAt: u.createdAt });
  }
  const versions = typeof datanet.versions === "number" ? datanet.versions : 0;
  const latest = versions > 0 ? await deps.tables.main.get(versionKey(datanetId, versions)) : undefined;
  const latestRecords = typeof latest?.records === "number" ? latest.records : 0;
  return {
    datanetId,
    accepted,
    rejected,
    tokens,
    contributors: contributors.size,
    // Contributions are only ever added, so what the latest version froze is a prefix of what is accepted now.
    unpublished: Math.max(0, accepted - latestRecords),
    lengthHistogram: counts.map((count, i) => ({ minTokens: BUCKET_EDGES[i]!, maxTokens: i + 1 < BUCKET_EDGES.length ? BUCKET_EDGES[i + 1]! - 1 : null, count })),
    uploads,
    complete,
  };
}
