import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { AddressSchema } from "../../core/account.ts";
import { issueNonce, signIn, SignInInput, SignInResult } from "../../core/auth/index.ts";
import type { CoreDeps } from "../../core/deps.ts";
import type { App } from "../env.ts";
import { bearer, errorResponses, json, jsonBody } from "../openapi.ts";

const NonceResult = z
  .object({
    nonce: z.string().meta({ description: "Put in the EIP-4361 message's `Nonce:` field; valid once, for a few minutes" }),
    domain: z.string().meta({ description: "What the message's domain must be: this API's host" }),
    chainId: z.number().int().meta({ description: "What the message's `Chain ID:` must be" }),
    uri: z.string().meta({ description: "What the message's `URI:` must be: this API's origin" }),
    issuedAt: z.string().meta({
      description: "When the nonce was issued (server time); the message's `Issued At:` may be neither earlier than this nor later than now (±60 s of clock skew)",
    }),
  })
  .meta({ id: "Nonce" });

const nonceRoute = createRoute({
  method: "get",
  path: "/v1/auth/nonce",
  tags: ["auth"],
  summary: "Get a nonce for a Sign-In with Ethereum message",
  responses: { 200: json(NonceResult, "A fresh nonce"), ...errorResponses() },
});

const siweRoute = createRoute({
  method: "post",
  path: "/v1/auth/siwe",
  tags: ["auth"],
  summary: "Sign in with Ethereum (EIP-4361) and get an API key",
  description:
    "The message's domain must be this API's host, its chain id the platform's, and its nonce one from `GET /v1/auth/nonce`. " +
    "Errors: `invalid-siwe-message` (400), `siwe-domain-mismatch`, `siwe-uri-mismatch`, `siwe-issued-at-invalid`, `siwe-chain-mismatch`, `siwe-expired`, `siwe-not-yet-valid`, `invalid-signature`, `invalid-nonce` (401), `rate-limited` (429).",
  request: { body: jsonBody(SignInInput) },
  responses: { 200: json(SignInResult, "A new API key for the signer's address (shown once)"), ...errorResponses(400, 401, 413, 415) },
});

const Me = z.object({ address: AddressSchema }).meta({ id: "Me" });
const meRoute = createRoute({
  method: "get",
  path: "/v1/me",
  tags: ["auth"],
  summary: "The account the API key belongs to",
  security: bearer,
  responses: { 200: json(Me, "The caller"), ...errorResponses(401) },
});

/** Sign-in routes (public) and `GET /v1/me`. */
export function authRoutes(app: App, deps: CoreDeps): void {
  app.openapi(nonceRoute, async (c) =>
    c.json({ ...(await issueNonce(deps)), domain: new URL(deps.config.apiOrigin).host, chainId: deps.config.chainId, uri: new URL(deps.config.apiOrigin).origin }, 200),
  );
  app.openapi(siweRoute, async (c) => c.json(await signIn(deps, c.req.valid("json")), 200));
  app.openapi(meRoute, (c) => c.json({ address: c.get("caller").address }, 200));
}
