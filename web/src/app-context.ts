import type { ApiClient } from "./api-client.ts";
import type { Session } from "./auth/session.ts";
import type { Route } from "./router.ts";

/** What every view gets: the API, the session and navigation. */
export interface AppContext {
  api: ApiClient;
  session(): Session | undefined;
  setSession(session: Session | undefined): void;
  navigate(route: Route): void;
  /** Host and origin the SIWE message names (the API is served from the same origin). */
  origin: { host: string; origin: string };
}

/** A view renders into a fresh element; `signal` aborts when the person navigates away. */
export type View = (ctx: AppContext, signal: AbortSignal) => HTMLElement;
