import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Caller } from "../core/account.ts";

/** Hono environment of the API: the auth middleware sets `caller` on protected routes. */
export interface AppEnv {
  Variables: {
    caller: Caller;
  };
}

export type App = OpenAPIHono<AppEnv>;
