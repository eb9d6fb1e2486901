import { describe, expect, it } from "vitest";
import { parseRoute, routeHref, type Route } from "./router.ts";

describe("router", () => {
  it("parses each route and round-trips through routeHref", () => {
    const routes: Route[] = [
      { name: "list", q: "", tag: "" },
      { name: "list", q: "legal contracts", tag: "nlp" },
      { name: "create" },
      { name: "datanet", id: "dn_01J/x" },
      { name: "new-job", datanet: "", version: undefined, from: "" },
      { name: "new-job", datanet: "", version: undefined, from: "job_1" },
      { name: "new-job", datanet: "dn_1", version: 3, from: "" },
      { name: "new-job", datanet: "dn_1", version: undefined, from: "" },
      { name: "jobs" },
      { name: "job", id: "job_01J" },
      { name: "adapters", mine: false },
      { name: "adapters", mine: true },
      { name: "adapter", id: "ad_01J" },
      { name: "earnings" },
      { name: "sign-in", next: "" },
      { name: "sign-in", next: "#/datanets/new" },
      { name: "sign-in", next: "#/jobs/new?datanet=dn_1&version=2" },
    ];
    for (const route of routes) expect(parseRoute(routeHref(route))).toEqual(route);
  });

  it("treats an empty hash as the list and unknown paths as not found", () => {
    expect(parseRoute("")).toEqual({ name: "list", q: "", tag: "" });
    expect(parseRoute("#/nope/x")).toEqual({ name: "not-found", path: "/nope/x" });
    // sign-in's next is a hash of this app or nothing.
    for (const next of ["https://evil.example/", "//evil.example", "javascript:alert(1)", "#//evil.example"]) {
      expect(parseRoute(`#/sign-in?next=${encodeURIComponent(next)}`)).toEqual({ name: "sign-in", next: "" });
    }
    expect(parseRoute("#/jobs/new?datanet=dn_1&version=zero")).toEqual({ name: "new-job", datanet: "dn_1", version: undefined, from: "" });
  });
});
