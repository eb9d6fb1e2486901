import { describe, expect, it } from "vitest";
import { defaultConfig, limitsFrom } from "../core/config.ts";
import { memoryDeps } from "../test/fakes/memory-deps.ts";
import { createApp } from "./app.ts";
import { PROBLEM_BASE } from "./problem.ts";
import { signedInClient } from "./test-support.ts";

const tight = (over: Record<string, { points: number; durationSeconds: number }>) => ({
  rateLimits: { ...defaultConfig.rateLimits, ...over },
});

describe("rate limits", () => {
  it("limits nonces per client address: 429 rate-limited with Retry-After, the limit named; other addresses go on", async () => {
    // Prepare
    const app = createApp(memoryDeps(tight({ "auth-nonce": { points: 2, durationSeconds: 60 } })), {
      clientAddress: (c) => c.req.header("x-test-peer"),
    });
    const from = (peer: string) => app.request("/v1/auth/nonce", { headers: { "x-test-peer": peer } });
    // Act
    const statuses = [(await from("10.0.0.1")).status, (await from("10.0.0.1")).status];
    const refused = await from("10.0.0.1");
    // Assess
    expect(statuses).toEqual([200, 200]);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ type: `${PROBLEM_BASE}rate-limited`, status: 429, limit: "auth-nonce", retryAfterSeconds: expect.any(Number) });
    expect((await from("10.0.0.2")).status).toBe(200);
  });

  it("limits each account's API calls apart from other accounts'", async () => {
    const app = createApp(memoryDeps(tight({ api: { points: 3, durationSeconds: 60 } })));
    const alice = await signedInClient(app);
    const bob = await signedInClient(app);
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await alice.request("/v1/me")).status);
    expect(codes).toEqual([200, 200, 200, 429]);
    expect((await bob.request("/v1/me")).status).toBe(200);
  });

  it("reads overrides from LIMITS and refuses unknown names and bad numbers", () => {
    expect(limitsFrom('{"quotas":{"runningJobs":2},"rateLimits":{"api":{"points":5,"durationSeconds":1}}}')).toMatchObject({
      quotas: { ...defaultConfig.quotas, runningJobs: 2 },
      rateLimits: { ...defaultConfig.rateLimits, api: { points: 5, durationSeconds: 1 } },
    });
    expect(() => limitsFrom('{"quotas":{"runingJobs":2}}')).toThrow(/LIMITS is invalid/);
    expect(() => limitsFrom('{"rateLimits":{"api":{"points":0,"durationSeconds":1}}}')).toThrow(/LIMITS is invalid/);
    expect(() => limitsFrom('{"rateLimits":{"everything":{"points":1,"durationSeconds":1}}}')).toThrow(/LIMITS is invalid/);
  });
});
