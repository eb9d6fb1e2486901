import { listContributions } from "../../core/datanets/contributions.ts";
import type { Contribution } from "../../core/datanets/model.ts";
import { alice } from "./datanet-fixtures.ts";
import type { TestDeps } from "./memory-deps.ts";

/** Shared by the ingest tests: a mixed upload and a way to read back everything it recorded. */

/** A JSONL file of `n` records with every 10th a duplicate of an earlier one and every 7th broken. */
export function mixedFile(n: number): string {
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) {
    if (i % 7 === 0) lines.push(`{"text": "broken ${i}"`);
    else if (i % 10 === 0) lines.push(JSON.stringify({ text: `record ${i - 5}` }));
    else lines.push(JSON.stringify({ text: `record ${i}` }));
  }
  return lines.join("\n") + "\n";
}

/** Every contribution of a Datanet (read as its owner, alice), page after page. */
export async function allContributions(deps: TestDeps, datanetId: string): Promise<Contribution[]> {
  const out: Contribution[] = [];
  let cursor: string | undefined;
  do {
    const page = await listContributions(deps, alice, datanetId, { limit: 1000, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}
