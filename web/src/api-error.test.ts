import { describe, expect, it } from "vitest";
import { ApiClient, queryString } from "./api-client.ts";
import { ApiError, errorFromResponse, fieldErrors } from "./api-error.ts";

const problem = (status: number, body: unknown, type = "application/problem+json") =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": type } });

describe("ApiError", () => {
  it("carries the problem's type, code, detail and field messages", async () => {
    const err = await errorFromResponse(problem(400, {
      type: "https://modelfactory.dev/problems/validation-failed", title: "Bad Request", status: 400,
      detail: "name: too short", errors: [{ path: ["name"], message: "Too small: expected string to have >=3 characters" }],
    }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.code).toBe("validation-failed");
    expect(err.message).toBe("name: too short");
    expect(err.fields).toEqual({ name: "Too small: expected string to have >=3 characters" });
  });

  it("copes with a body that is not JSON", async () => {
    const err = await errorFromResponse(new Response("Bad gateway", { status: 502 }));
    expect(err.status).toBe(502);
    expect(err.detail).toBe("Bad gateway");
    expect(err.type).toBe("about:blank");
  });

  it("reads RFC 9457 invalid-params and JSON-pointer paths", () => {
    expect(fieldErrors({ invalidParams: [{ name: "license", reason: "unknown SPDX id" }] })).toEqual({ license: "unknown SPDX id" });
    expect(fieldErrors({ errors: [{ pointer: "#/tags/0", detail: "bad tag" }] })).toEqual({ "tags.0": "bad tag" });
  });
});

describe("ApiClient", () => {
  it("sends the bearer key and JSON body, and raises ApiError with 401 reported", async () => {
    // Prepare
    const seen: Request[] = [];
    let unauthorized = 0;
    const api = new ApiClient({
      baseUrl: "http://api.test/",
      apiKey: () => "mf_key",
      onUnauthorized: () => { unauthorized += 1; },
      fetch: async (input, init) => {
        seen.push(new Request(input, init));
        return problem(401, { type: "https://modelfactory.dev/problems/unauthorized", title: "Unauthorized", status: 401 });
      },
    });
    // Act
    const err = await api.createDatanet({ name: "abc", license: "MIT", schema: "text" }).catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(ApiError);
    expect(unauthorized).toBe(1);
    expect(seen[0]?.url).toBe("http://api.test/v1/datanets");
    expect(seen[0]?.headers.get("authorization")).toBe("Bearer mf_key");
    expect(await seen[0]?.json()).toEqual({ name: "abc", license: "MIT", schema: "text" });
  });

  it("encodes query strings and path segments", async () => {
    const urls: string[] = [];
    const api = new ApiClient({
      baseUrl: "http://api.test",
      apiKey: () => undefined,
      fetch: async (input) => { urls.push(String(input)); return Response.json({ items: [] }); },
    });
    await api.listDatanets({ q: "a b", tag: "", cursor: "c/1" });
    await api.getProof("dn/1", 2, "ct_1");
    expect(urls).toEqual([
      "http://api.test/v1/datanets?q=a+b&cursor=c%2F1",
      "http://api.test/v1/datanets/dn%2F1/versions/2/proof?contribution=ct_1",
    ]);
    expect(queryString({})).toBe("");
  });
});
