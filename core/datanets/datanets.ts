import type { Caller } from "../account.ts";
import type { CoreDeps } from "../deps.ts";
import { ValidationError } from "../errors.ts";
import { eventWrite } from "../events.ts";
import { newId } from "../ids.ts";
import type { Item } from "../ports/tables.ts";
import { canSee, loadVisibleDatanet } from "./access.ts";
import { CONTRIBUTION_SHARDS } from "./contribution-layout.ts";
import { datanetFromItem } from "./items.ts";
import { DATANETS_GSI_PK, datanetKey } from "./keys.ts";
import { canonicalLicense } from "./license.ts";
import type { Datanet, Paged } from "./model.ts";
import { CreateDatanetInput } from "./model.ts";
import { pageLimit, queryWithClientCursor } from "./paging.ts";

/** Creates a Datanet owned by the caller and records `datanet.created` with it. */
export async function createDatanet(deps: CoreDeps, caller: Caller, input: CreateDatanetInput): Promise<Datanet> {
  const parsed = CreateDatanetInput.safeParse(input);
  if (!parsed.success) throw new ValidationError("Invalid Datanet", parsed.error.issues);
  const license = canonicalLicense(parsed.data.license);
  if (!license) throw new ValidationError(`"${parsed.data.license}" is not an SPDX license identifier (or LicenseRef-…)`);

  const now = deps.clock.now();
  const datanet: Datanet = {
    id: newId("dn", now),
    owner: caller.address,
    name: parsed.data.name,
    description: parsed.data.description,
    license,
    schema: parsed.data.schema,
    visibility: parsed.data.visibility,
    tags: [...new Set(parsed.data.tags)],
    createdAt: new Date(now).toISOString(),
    versions: 0,
  };
  const item: Item = {
    ...datanetKey(datanet.id),
    gsi1pk: DATANETS_GSI_PK,
    gsi1sk: `${datanet.createdAt}#${datanet.id}`,
    ...datanet,
    // Fixed at creation: where its contribution rows go (contribution-layout.ts).
    contributionShards: CONTRIBUTION_SHARDS,
  };
  await deps.tables.main.transact([
    { put: item, condition: { notExists: true } },
    eventWrite("datanet.created", { datanetId: datanet.id, datanet }, [datanet.owner], now),
  ]);
  return datanet;
}

/** A Datanet the caller may see; NotFoundError otherwise. */
export async function getDatanet(deps: CoreDeps, caller: Caller, id: string): Promise<Datanet> {
  return datanetFromItem(await loadVisibleDatanet(deps, caller, id));
}

export interface SearchDatanetsInput {
  /** Words that must all occur (case-insensitively) in the name, description or tags. */
  q?: string;
  /** A tag the Datanet must carry. */
  tag?: string;
  cursor?: string;
  limit?: number;
}

/** Items looked at per request at most; a sparse match set returns short pages with a cursor. */
const SCAN_BUDGET = 2000;

/**
 * Datanets the caller may see (public ones and their own private ones), newest
 * first, filtered by words and tag. A page can hold fewer than `limit` items
 * while `nextCursor` is set: keep following it.
 */
export async function searchDatanets(deps: CoreDeps, caller: Caller, input: SearchDatanetsInput): Promise<Paged<Datanet>> {
  const limit = pageLimit(input.limit, 20, 100);
  const words = (input.q ?? "").toLowerCase().split(/\s+/).filter(Boolean);
  const tag = input.tag?.trim().toLowerCase() || undefined;
  const matches = (item: Item) => {
    if (!canSee(item, caller)) return false;
    const tags = item.tags as string[];
    if (tag && !tags.includes(tag)) return false;
    const haystack = `${item.name as string}\n${item.description as string}\n${tags.join(" ")}`.toLowerCase();
    return words.every((w) => haystack.includes(w));
  };

  const items: Datanet[] = [];
  let cursor = input.cursor;
  let scanned = 0;
  // Ask for no more rows than are still missing, so the store's cursor (after
  // the last row read) never skips a match this page could not hold.
  do {
    const want = Math.min(limit - items.length, SCAN_BUDGET - scanned);
    const page = await queryWithClientCursor(deps.tables.main, {
      pk: DATANETS_GSI_PK,
      index: "gsi1",
      reverse: true,
      limit: want,
      ...(cursor ? { cursor } : {}),
    });
    scanned += page.items.length;
    for (const item of page.items) if (matches(item)) items.push(datanetFromItem(item));
    cursor = page.cursor;
  } while (cursor && items.length < limit && scanned < SCAN_BUDGET);
  return { items, ...(cursor ? { nextCursor: cursor } : {}) };
}
