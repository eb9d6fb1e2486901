import type { Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { ValidationError } from "../errors.ts";
import { loadVisibleDatanet } from "./access.ts";
import { contributionFromItem } from "./items.ts";
import { CONTRIBUTION_SK_PREFIX, contributionsByStatusPk, datanetPk } from "./keys.ts";
import type { Contribution, ContributionStatus, Paged } from "./model.ts";
import { ContributionStatus as StatusSchema } from "./model.ts";
import { pageLimit, queryWithClientCursor } from "./paging.ts";

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
  await loadVisibleDatanet(deps, caller, datanetId);
  const limit = pageLimit(input.limit, 50, 1000);
  const page = await queryWithClientCursor(deps.tables.contributions, {
    ...(input.status
      ? { pk: contributionsByStatusPk(datanetId, input.status), index: "gsi1" as const }
      : { pk: datanetPk(datanetId), skPrefix: CONTRIBUTION_SK_PREFIX }),
    limit,
    ...(input.cursor ? { cursor: input.cursor } : {}),
  });
  return { items: page.items.map(contributionFromItem), ...(page.cursor ? { nextCursor: page.cursor } : {}) };
}
