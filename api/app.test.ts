import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { signedSiwe } from "../test/fakes/siwe.ts";
import { PUBLIC_READS } from "./auth-middleware.ts";
import { PROBLEM_BASE, PROBLEM_CONTENT_TYPE } from "./problem.ts";
import { signedInClient, testApp } from "./test-support.ts";

/** Asserts a problem+json response and returns its body. */
async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe(PROBLEM_CONTENT_TYPE);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ type: PROBLEM_BASE + code, status, title: expect.any(String) });
  return body;
}

const json = (body: unknown) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("public routes", () => {
  it("answers /health without a key", async () => {
    const { app } = testApp();
    const res = await app.request("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("answers unknown routes with a 404 problem", async () => {
    const { app } = testApp();
    const body = await expectProblem(await app.request("/nope"), 404, "not-found");
    expect(body.detail).toBe("No route for GET /nope");
  });

  it("allows the web UI's origin (CORS preflight without a key)", async () => {
    const { app } = testApp();
    const res = await app.request("/v1/datanets", {
      method: "OPTIONS",
      headers: { origin: "http://localhost:5173", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
  });
});

describe("sign-in over HTTP", () => {
  it("issues a nonce, accepts the signed message, and the key then works", async () => {
    // Prepare
    const { app } = testApp();
    const wallet = Wallet.createRandom();
    const { nonce, issuedAt } = (await (await app.request("/v1/auth/nonce")).json()) as { nonce: string; issuedAt: string };
    const signed = await signedSiwe(wallet, { domain: "localhost:8787", chainId: 31337, nonce, issuedAt });
    // Act
    const res = await app.request("/v1/auth/siwe", json(signed));
    // Assess
    expect(res.status).toBe(200);
    const { apiKey, address } = (await res.json()) as { apiKey: string; address: string };
    expect(address).toBe(wallet.address);
    const me = await app.request("/v1/me", { headers: { authorization: `Bearer ${apiKey}` } });
    expect(await me.json()).toEqual({ address: wallet.address });
  });

  it("refuses a bad signature, a reused nonce and a wrong chain with 401 problems", async () => {
    const { app } = testApp();
    const wallet = Wallet.createRandom();
    const { nonce, issuedAt } = (await (await app.request("/v1/auth/nonce")).json()) as { nonce: string; issuedAt: string };
    const signed = await signedSiwe(wallet, { domain: "localhost:8787", chainId: 31337, nonce, issuedAt });
    const forged = { ...signed, signature: await Wallet.createRandom().signMessage(signed.message) };
    await expectProblem(await app.request("/v1/auth/siwe", json(forged)), 401, "invalid-signature");
    expect((await app.request("/v1/auth/siwe", json(signed))).status).toBe(200);
    await expectProblem(await app.request("/v1/auth/siwe", json(signed)), 401, "invalid-nonce");
    const { nonce: n2 } = (await (await app.request("/v1/auth/nonce")).json()) as { nonce: string };
    const mainnet = await signedSiwe(wallet, { domain: "localhost:8787", chainId: 1, nonce: n2, issuedAt });
    await expectProblem(await app.request("/v1/auth/siwe", json(mainnet)), 401, "siwe-chain-mismatch");
  });

  it("uses the configured origin's host as the SIWE domain", async () => {
    const { app } = testApp({ apiOrigin: "https://api.modelfactory.dev" });
    const wallet = Wallet.createRandom();
    const { nonce, issuedAt } = (await (await app.request("/v1/auth/nonce")).json()) as { nonce: string; issuedAt: string };
    const local = await signedSiwe(wallet, { domain: "localhost:8787", chainId: 31337, nonce, issuedAt });
    await expectProblem(await app.request("/v1/auth/siwe", json(local)), 401, "siwe-domain-mismatch");
    const client = await signedInClient(app, "https://api.modelfactory.dev");
    expect(client.address).toMatch(/^0x/);
  });

  it("checks the message's URI (the API's origin) and Issued At (not in the future, not older than its nonce)", async () => {
    // Prepare
    const { app, deps } = testApp();
    const wallet = Wallet.createRandom();
    const fresh = async () => (await (await app.request("/v1/auth/nonce")).json()) as { nonce: string; issuedAt: string; uri: string };
    const base = { domain: "localhost:8787", chainId: 31337 };
    const at = (ms: number) => new Date(deps.clock.now() + ms).toISOString();
    // Act and assess: another site's URI, a future Issued At, one older than the nonce.
    const n1 = await fresh();
    expect(n1.uri).toBe("http://localhost:8787");
    const phishing = await signedSiwe(wallet, { ...base, nonce: n1.nonce, issuedAt: n1.issuedAt, uri: "https://evil.example/login" });
    await expectProblem(await app.request("/v1/auth/siwe", json(phishing)), 401, "siwe-uri-mismatch");
    const future = await signedSiwe(wallet, { ...base, nonce: n1.nonce, issuedAt: at(5 * 60_000) });
    await expectProblem(await app.request("/v1/auth/siwe", json(future)), 401, "siwe-issued-at-invalid");
    const stale = await signedSiwe(wallet, { ...base, nonce: n1.nonce, issuedAt: at(-10 * 60_000) });
    await expectProblem(await app.request("/v1/auth/siwe", json(stale)), 401, "siwe-issued-at-invalid");
    // Within the clock skew, with the right URI, it signs in.
    const n2 = await fresh();
    const good = await signedSiwe(wallet, { ...base, nonce: n2.nonce, issuedAt: at(30_000), uri: n2.uri });
    expect((await app.request("/v1/auth/siwe", json(good))).status).toBe(200);
  });
});

describe("API keys", () => {
  it("refuses a protected route without a key, with a wrong key, and with another scheme", async () => {
    const { app } = testApp();
    const missing = await app.request("/v1/jobs");
    await expectProblem(missing, 401, "missing-api-key");
    expect(missing.headers.get("www-authenticate")).toMatch(/^Bearer/);
    await expectProblem(await app.request("/v1/datanets", { headers: { authorization: `Bearer mf_${"x".repeat(43)}` } }), 401, "invalid-api-key");
    await expectProblem(await app.request("/v1/webhooks", { headers: { authorization: "Basic dXNlcjpwdw==" } }), 401, "invalid-api-key");
  });

  it("checks the key before the route exists, so unknown /v1 paths do not leak", async () => {
    const { app } = testApp();
    await expectProblem(await app.request("/v1/secret-thing"), 401, "missing-api-key");
    const { request } = await signedInClient(app);
    await expectProblem(await request("/v1/secret-thing"), 404, "not-found");
  });
});

describe("errors", () => {
  it("answers an invalid body with 400 validation-failed listing the issues", async () => {
    const { app } = testApp();
    const { request } = await signedInClient(app);
    const body = await expectProblem(await request("/v1/webhooks", { json: { url: "not a url", events: [] } }), 400, "validation-failed");
    expect(body.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ in: "json", path: "url" }),
        expect.objectContaining({ in: "json", path: "events" }),
      ]),
    );
  });

  it("answers malformed JSON, a wrong content type and an oversized body with problems", async () => {
    const { app } = testApp({}, { maxJsonBytes: 1024 });
    const { apiKey } = await signedInClient(app);
    const auth = { authorization: `Bearer ${apiKey}` };
    await expectProblem(await app.request("/v1/webhooks", { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{" }), 400, "malformed-request");
    await expectProblem(await app.request("/v1/webhooks", { method: "POST", headers: { ...auth, "content-type": "text/plain" }, body: "{}" }), 415, "unsupported-media-type");
    const big = JSON.stringify({ url: "https://x.example/" + "a".repeat(2000), events: ["*"] });
    await expectProblem(await app.request("/v1/webhooks", { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: big }), 413, "payload-too-large");
  });

  it("answers an unexpected error with a 500 problem that leaks nothing", async () => {
    const { app } = testApp({}, {
      mount: (a) => a.get("/boom", () => { throw new Error("database password is hunter2"); }),
    });
    const original = console.error;
    console.error = () => undefined;
    try {
      const res = await app.request("/boom");
      const body = await expectProblem(res, 500, "internal-error");
      expect(JSON.stringify(body)).not.toContain("hunter2");
    } finally {
      console.error = original;
    }
  });

  it("lets the local runtime mount routes before the 404 handler, without a key outside /v1", async () => {
    const { app } = testApp({}, { mount: (a) => a.get("/ui", (c) => c.text("web ui")) });
    expect(await (await app.request("/ui")).text()).toBe("web ui");
  });
});

describe("/openapi.json", () => {
  it("is OpenAPI 3.1 and documents every route with its errors and the bearer scheme", async () => {
    const { app } = testApp();
    const res = await app.request("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, { content?: Record<string, unknown> }> }>>;
      components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual(
      [
        "GET /v1/auth/nonce",
        "POST /v1/auth/siwe",
        "GET /v1/me",
        "POST /v1/datanets",
        "GET /v1/datanets",
        "GET /v1/datanets/{id}",
        "POST /v1/datanets/{id}/uploads",
        "GET /v1/datanets/{id}/uploads/{uploadId}",
        "GET /v1/datanets/{id}/contributions",
        "GET /v1/datanets/{id}/stats",
        "POST /v1/datanets/{id}/versions",
        "GET /v1/datanets/{id}/versions/{version}",
        "GET /v1/datanets/{id}/versions/{version}/proof",
        "POST /v1/webhooks",
        "GET /v1/webhooks",
        "GET /v1/webhooks/{id}",
        "DELETE /v1/webhooks/{id}",
        "GET /v1/keys",
        "POST /v1/keys",
        "DELETE /v1/keys/{id}",
        "POST /v1/webhooks/{id}/enable",
        "GET /v1/webhooks/{id}/deliveries",
        "GET /v1/base-models",
        "POST /v1/jobs",
        "GET /v1/jobs",
        "GET /v1/jobs/{id}",
        "POST /v1/jobs/{id}/cancel",
        "GET /v1/jobs/{id}/events",
        "GET /v1/adapters",
        "GET /v1/adapters/{id}",
        "GET /v1/adapters/{id}/files/{file}",
        "GET /v1/adapters/{id}/price",
        "PUT /v1/adapters/{id}/price",
        "GET /v1/chain",
      ].sort(),
    );
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.responses["500"]?.content?.[PROBLEM_CONTENT_TYPE], `${method} ${path} documents 500`).toBeDefined();
        if (method === "get" && (PUBLIC_READS as readonly string[]).includes(path)) {
          expect(op.security, `${method} ${path} takes a key or none`).toEqual([{}, { bearerAuth: [] }]);
        } else if (!path.startsWith("/v1/auth/")) {
          expect(op.security, `${method} ${path} needs a key`).toEqual([{ bearerAuth: [] }]);
          expect(op.responses["401"], `${method} ${path} documents 401`).toBeDefined();
        }
      }
    }
    // The zod schemas' `.meta({ id })` become named components.
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(["Datanet", "CreateDatanetInput", "Upload", "ContributionWithPreview", "DatanetVersion", "Proof", "Problem", "Webhook", "CreatedWebhook", "Delivery", "Job", "CreateJobInput", "BaseModel", "AdapterView"]),
    );
  });
});
