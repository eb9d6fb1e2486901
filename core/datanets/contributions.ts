import type { Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { ValidationError } from "../errors.ts";
import { loadVisibleDatanet } from "./access.ts";
import { CONTRIBUTION_SK_PREFIX, contributionLayout } from "./contribution-layout.ts";
import { contributionFromItem } from "./items.ts";
import { mergedPage } from "./merge-shards.ts";
import type { Contribution, ContributionStatus, Paged } from "./model.ts";
import { ContributionStatus as StatusSchema } from "./model.ts";
import { pageLimit } from "./paging.ts";

export interface ListContributionsInput {
  status?: ContributionStatus;
  cursor?: string;
  limit?: number;
}

/**
 * A Datanet's contributions (accepted and rejected records), oldest upload
 * first and by line within an upload; anyone who may see the Datanet may list them.
 */
export async function listContributions(
  deps: CoreDeps,
  caller: Caller,
  datanetId: string,
  input: ListContributionsInput = {},
): Promise<Paged<Contribution>> {
  if (input.status !== undefined && !StatusSchema.safeParse(input.status).success) {
    throw new ValidationError(`status must be "accepted" or "rejected"`);
  }
  const layout = contributionLayout(await loadVisibleDatanet(deps, caller, datanetId));
  const limit = pageLimit(input.limit, 50, 1000);
  // The rows are spread over the Datanet's shards; a page merges them by id (the cursor is the last id returned).
  const page = await mergedPage(
    deps.tables.contributions,
    input.status
      ? { partitions: layout.statusPartitions(input.status), index: "gsi1", skPrefix: "" }
      : { partitions: layout.rowPartitions, skPrefix: CONTRIBUTION_SK_PREFIX },
    limit,
    input.cursor,
  );
  return { items: page.items.map(contributionFromItem), ...(page.cursor ? { nextCursor: page.cursor } : {}) };
}
