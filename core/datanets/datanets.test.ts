import { describe, expect, it } from "vitest";
import { alice, bob, eventsIn, newDatanet } from "../../test/fakes/datanet-fixtures.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { InvalidCursorError, NotFoundError, ValidationError } from "../errors.ts";
import { createDatanet, getDatanet, searchDatanets } from "./datanets.ts";

describe("createDatanet", () => {
  it("creates a Datanet with a canonical SPDX license and records datanet.created for its owner", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice, { name: "Recipes", license: "cc-by-4.0", tags: ["food", "food"] });
    expect(datanet).toMatchObject({ owner: alice.address, name: "Recipes", license: "CC-BY-4.0", tags: ["food"], versions: 0 });
    expect(datanet.id).toMatch(/^dn_/);
    const events = eventsIn(deps.db);
    expect(events.map((e) => [e.type, e.audience, e.data.datanetId])).toEqual([["datanet.created", [alice.address], datanet.id]]);
  });

  it("rejects a license that is not an SPDX identifier and invalid input", async () => {
    const deps = memoryDeps();
    await expect(newDatanet(deps, alice, { license: "Do what you want" })).rejects.toThrow(ValidationError);
    await expect(newDatanet(deps, alice, { name: "x" })).rejects.toThrow(ValidationError);
    // @ts-expect-error: an unknown schema kind, as an untyped caller could send it
    await expect(createDatanet(deps, alice, { name: "Valid", license: "MIT", schema: "audio" })).rejects.toThrow(ValidationError);
    expect(await newDatanet(deps, alice, { license: "LicenseRef-internal" })).toMatchObject({ license: "LicenseRef-internal" });
  });
});

describe("getDatanet", () => {
  it("shows a private Datanet to its owner only; others get not found", async () => {
    const deps = memoryDeps();
    const secret = await newDatanet(deps, alice, { visibility: "private" });
    expect((await getDatanet(deps, alice, secret.id)).id).toBe(secret.id);
    await expect(getDatanet(deps, bob, secret.id)).rejects.toThrow(NotFoundError);
    await expect(getDatanet(deps, bob, "dn_missing")).rejects.toThrow(NotFoundError);
  });
});

describe("searchDatanets", () => {
  it("matches words in name, description and tags, filters by tag, and hides others' private Datanets", async () => {
    const deps = memoryDeps();
    await newDatanet(deps, alice, { name: "Italian recipes", tags: ["food"] });
    deps.clock.advance(1000);
    await newDatanet(deps, alice, { name: "Legal QA", description: "Contract questions and answers", tags: ["law"] });
    deps.clock.advance(1000);
    await newDatanet(deps, bob, { name: "Bob's secret recipes", visibility: "private", tags: ["food"] });

    const names = async (caller: typeof alice, input: Parameters<typeof searchDatanets>[2]) =>
      (await searchDatanets(deps, caller, input)).items.map((d) => d.name);
    expect(await names(alice, {})).toEqual(["Legal QA", "Italian recipes"]);
    expect(await names(bob, {})).toEqual(["Bob's secret recipes", "Legal QA", "Italian recipes"]);
    expect(await names(alice, { q: "RECIPES" })).toEqual(["Italian recipes"]);
    expect(await names(alice, { q: "contract answers" })).toEqual(["Legal QA"]);
    expect(await names(alice, { q: "law" })).toEqual(["Legal QA"]);
    expect(await names(bob, { tag: "food" })).toEqual(["Bob's secret recipes", "Italian recipes"]);
    expect(await names(alice, { tag: "food", q: "legal" })).toEqual([]);
  });

  it("pages with cursors without skipping or repeating matches", async () => {
    const deps = memoryDeps();
    for (let i = 0; i < 7; i++) {
      await newDatanet(deps, i % 2 ? bob : alice, { name: `Set ${i}`, visibility: i % 3 === 0 ? "private" : "public" });
      deps.clock.advance(1000);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await searchDatanets(deps, alice, { limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((d) => d.name));
      cursor = page.nextCursor;
    } while (cursor);
    // alice sees her private ones (0, 6; 3 is bob's) and all public ones, newest first.
    expect(seen).toEqual(["Set 6", "Set 5", "Set 4", "Set 2", "Set 1", "Set 0"]);
    await expect(searchDatanets(deps, alice, { cursor: "not-a-cursor" })).rejects.toThrow(InvalidCursorError);
  });
});
