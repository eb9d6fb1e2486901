import { describe, expect, it } from "vitest";
import { PROBLEM_BASE } from "../problem.ts";
import { signedInClient, testApp } from "../test-support.ts";

interface KeyInfo {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
}

async function problemType(res: Response) {
  return { status: res.status, type: ((await res.json()) as { type: string }).type.slice(PROBLEM_BASE.length) };
}

describe("API keys: GET/POST/DELETE /v1/keys", () => {
  it("lists, names, expires and revokes keys; a revoked key stops working at once", async () => {
    // Prepare
    const { app, deps } = testApp();
    const alice = await signedInClient(app);
    // Act: a named key with a 7-day expiry.
    const created = await alice.request("/v1/keys", { json: { name: "ci deploy", expiresInDays: 7 } });
    expect(created.status).toBe(201);
    const key = (await created.json()) as KeyInfo & { apiKey: string };
    // Assess
    expect(key).toMatchObject({ name: "ci deploy", id: expect.stringMatching(/^key_[0-9a-f]{24}$/), prefix: key.apiKey.slice(0, 9) });
    expect(Date.parse(key.expiresAt!) - deps.clock.now()).toBe(7 * 86_400_000);
    const listed = ((await (await alice.request("/v1/keys")).json()) as { items: KeyInfo[] }).items;
    expect(listed.map((k) => k.name).sort()).toEqual(["Sign-in", "ci deploy"]);
    expect(JSON.stringify(listed)).not.toContain(key.apiKey);
    const withKey = (path: string, init: RequestInit = {}) => app.request(path, { ...init, headers: { authorization: `Bearer ${key.apiKey}` } });
    expect((await withKey("/v1/me")).status).toBe(200);

    expect((await alice.request(`/v1/keys/${key.id}`, { method: "DELETE" })).status).toBe(204);
    expect(await problemType(await withKey("/v1/me"))).toEqual({ status: 401, type: "invalid-api-key" });
    expect(await problemType(await alice.request(`/v1/keys/${key.id}`, { method: "DELETE" }))).toEqual({ status: 404, type: "not-found" });
  });

  it("an expired key answers 401, and the sign-in key expires after 30 days", async () => {
    const { app, deps } = testApp();
    const alice = await signedInClient(app);
    const key = (await (await alice.request("/v1/keys", { json: { name: "short", expiresInDays: 1 } })).json()) as { apiKey: string };
    deps.clock.advance(86_400_000);
    expect((await app.request("/v1/me", { headers: { authorization: `Bearer ${key.apiKey}` } })).status).toBe(401);
    expect((await alice.request("/v1/me")).status).toBe(200);
    deps.clock.advance(29 * 86_400_000);
    expect(await problemType(await alice.request("/v1/me"))).toEqual({ status: 401, type: "invalid-api-key" });
  });

  it("cannot revoke another account's key, and refuses bad input", async () => {
    const { app } = testApp();
    const alice = await signedInClient(app);
    const bob = await signedInClient(app);
    const key = (await (await alice.request("/v1/keys", { json: { name: "mine" } })).json()) as KeyInfo & { apiKey: string };
    expect(key.expiresAt).not.toBeNull();
    expect(await problemType(await bob.request(`/v1/keys/${key.id}`, { method: "DELETE" }))).toEqual({ status: 404, type: "not-found" });
    expect((await app.request("/v1/me", { headers: { authorization: `Bearer ${key.apiKey}` } })).status).toBe(200);
    expect(await problemType(await alice.request("/v1/keys", { json: { name: "" } }))).toEqual({ status: 400, type: "validation-failed" });
    expect(await problemType(await alice.request("/v1/keys", { json: { name: "x", expiresInDays: 3650 } }))).toEqual({ status: 400, type: "validation-failed" });
    expect(await problemType(await alice.request("/v1/keys/nope", { method: "DELETE" }))).toEqual({ status: 400, type: "validation-failed" });
    expect((await app.request("/v1/keys")).status).toBe(401);
  });
});
