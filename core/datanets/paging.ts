import { InvalidCursorError, ValidationError } from "../errors.ts";
import type { Page, QueryInput, TableStore } from "../ports/tables.ts";
import type { Item } from "../ports/tables.ts";

/** A page size within [1, max], `fallback` when none is asked for. */
export function pageLimit(limit: number | undefined, fallback: number, max: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1) throw new ValidationError("limit must be a positive integer");
  return Math.min(limit, max);
}

/**
 * A table query whose cursor came from a client: a cursor the store did not
 * issue (or one tampered with) is the client's mistake, reported as such.
 */
export async function queryWithClientCursor(table: TableStore, input: QueryInput): Promise<Page<Item>> {
  // The stores refuse cursors they cannot decode; this also bounds what reaches them.
  if (input.cursor !== undefined && !/^[A-Za-z0-9_-]{1,2048}$/.test(input.cursor)) throw new InvalidCursorError();
  return table.query(input);
}
