import type { DatabaseSync } from "node:sqlite";

/**
 * Runs `fn` in a transaction, or inside the caller's one when already open
 * (SQLite has no nested BEGIN). IMMEDIATE takes the write lock up front, so a
 * read-then-write inside `fn` cannot fail half-way with SQLITE_BUSY.
 */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  if (db.isTransaction) return fn();
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}
