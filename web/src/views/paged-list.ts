import { replace } from "../dom.ts";
import { errorBox, isAbort, loading } from "./common.ts";

export interface PagedListOptions<T> {
  /** The view's lifetime: aborting it cancels the page in flight. */
  signal: AbortSignal;
  /** Where the loading, empty and error states go. */
  status: HTMLElement;
  /** The "Load more" button; shown while pages remain, disabled while one loads. */
  more: HTMLButtonElement;
  fetchPage: (cursor: string | undefined, signal: AbortSignal) => Promise<{ items: T[]; nextCursor?: string }>;
  /** On a new query, before its first page arrives (e.g. clear the list at once). */
  onReset?: () => void;
  /** Shows a page; `reset` marks the first page of a new query. */
  render: (items: T[], reset: boolean) => void;
  /** After a page: the empty state when there is nothing to show, else undefined. */
  empty: (items: T[], reset: boolean) => HTMLElement | undefined;
}

/**
 * The "list with Load more" every list view has: returns `load(reset)`, where
 * a reset starts the query over. A newer load aborts the one in flight and
 * wins, so fast filter changes never show a stale page.
 */
export function pagedList<T>(options: PagedListOptions<T>): (reset: boolean) => Promise<void> {
  const { signal, status, more } = options;
  let cursor: string | undefined;
  let generation = 0;
  let controller: AbortController | undefined;

  async function load(reset: boolean): Promise<void> {
    const current = ++generation;
    controller?.abort();
    controller = new AbortController();
    const sig = AbortSignal.any([signal, controller.signal]);
    if (reset) {
      cursor = undefined;
      options.onReset?.();
      replace(status, loading());
    }
    more.disabled = true;
    try {
      const page = await options.fetchPage(cursor, sig);
      if (current !== generation) return;
      replace(status);
      options.render(page.items, reset);
      const empty = options.empty(page.items, reset);
      if (empty) replace(status, empty);
      cursor = page.nextCursor;
      more.hidden = !cursor;
    } catch (err) {
      if (!isAbort(err, sig)) replace(status, errorBox(err));
    } finally {
      more.disabled = false;
    }
  }

  more.addEventListener("click", () => void load(false));
  return load;
}
