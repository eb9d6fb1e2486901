import { Wallet } from "ethers";
import { memoryDeps } from "../test/fakes/memory-deps.ts";
import { signedSiwe } from "../test/fakes/siwe.ts";
import type { PlatformConfig } from "../core/config.ts";
import { createApp, type AppOptions } from "./app.ts";
import type { App } from "./env.ts";

/** Test factories for the API: an app on in-memory deps, and signed-in clients. */

/** An app on in-memory SQLite tables, a fake queue, blob store and clock. */
export function testApp(config: Partial<PlatformConfig> = {}, options: AppOptions = {}) {
  const deps = memoryDeps(config);
  const app = createApp(deps, options);
  return { deps, app };
}

/** Signs a new wallet in over HTTP; returns its address and a `request` that sends its API key. */
export async function signedInClient(app: App, origin = "http://localhost:8787", chainId = 31337) {
  const wallet = Wallet.createRandom();
  // The server's issue time, so tests on a fake clock sign a message of their own time.
  const { nonce, issuedAt } = (await (await app.request("/v1/auth/nonce")).json()) as { nonce: string; issuedAt: string };
  const signed = await signedSiwe(wallet, { domain: new URL(origin).host, chainId, nonce, issuedAt, uri: origin });
  const res = await app.request("/v1/auth/siwe", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(signed) });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  const { apiKey, address } = (await res.json()) as { apiKey: string; address: string };
  const request = (path: string, init: { method?: string; json?: unknown; headers?: Record<string, string> } = {}) =>
    app.request(path, {
      method: init.method ?? (init.json === undefined ? "GET" : "POST"),
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(init.json === undefined ? {} : { "content-type": "application/json" }),
        ...init.headers,
      },
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    });
  return { wallet, apiKey, address, request };
}
