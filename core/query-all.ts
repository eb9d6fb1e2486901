import type { Item, QueryInput, TableStore } from "./ports/tables.ts";

/** Every item a query matches, page by page (for walks over a whole partition). */
export async function* queryAll(table: TableStore, input: QueryInput): AsyncGenerator<Item> {
  let cursor: string | undefined;
  do {
    const page = await table.query({ ...input, ...(cursor ? { cursor } : {}) });
    yield* page.items;
    cursor = page.cursor;
  } while (cursor);
}
