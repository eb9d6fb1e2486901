import { monotonicFactory } from "ulid";

const ulid = monotonicFactory();

/** Sortable unique id with a type prefix, e.g. `dn_01JD2Y...` (ULID: time-ordered). */
export function newId(prefix: string, now = Date.now()): string {
  return `${prefix}_${ulid(now)}`;
}
