import { describe, expect, it } from "vitest";
import { alice, bob, jsonl, newDatanet, uploadAndIngest } from "../../test/fakes/datanet-fixtures.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { InvalidCursorError, NotFoundError, ValidationError } from "../errors.ts";
import { listContributions } from "./contributions.ts";
import type { Contribution } from "./model.ts";

describe("listContributions", () => {
  it("pages through all contributions or one status with cursors, in upload and line order", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice);
    const records = Array.from({ length: 25 }, (_, i) => (i % 4 === 3 ? "{broken" : { text: `r${i}` }));
    const first = await uploadAndIngest(deps, bob, datanet.id, jsonl(...records));
    const second = await uploadAndIngest(deps, alice, datanet.id, jsonl({ text: "late" }));

    const pages = async (status?: "accepted" | "rejected") => {
      const items: Contribution[] = [];
      let cursor: string | undefined;
      let count = 0;
      do {
        const page = await listContributions(deps, bob, datanet.id, { limit: 4, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) });
        expect(page.items.length).toBeLessThanOrEqual(4);
        items.push(...page.items);
        cursor = page.nextCursor;
        count++;
      } while (cursor);
      return { items, count };
    };

    const all = await pages();
    expect(all.items).toHaveLength(26);
    expect(all.count).toBe(7);
    expect(all.items.slice(0, 25).map((c) => [c.uploadId, c.line])).toEqual(records.map((_, i) => [first.uploadId, i + 1]));
    expect(all.items[25]).toMatchObject({ uploadId: second.uploadId, line: 1, status: "accepted", contributor: alice.address });

    const rejected = await pages("rejected");
    expect(rejected.items.map((c) => c.line)).toEqual([4, 8, 12, 16, 20, 24]);
    expect(rejected.items.every((c) => c.status === "rejected" && c.reason?.startsWith("invalid JSON"))).toBe(true);
    expect((await pages("accepted")).items).toHaveLength(20);
  });

  it("hides a private Datanet's contributions and checks its inputs", async () => {
    const deps = memoryDeps();
    const datanet = await newDatanet(deps, alice, { visibility: "private" });
    await uploadAndIngest(deps, alice, datanet.id, jsonl({ text: "mine" }));
    expect((await listContributions(deps, alice, datanet.id)).items).toHaveLength(1);
    await expect(listContributions(deps, bob, datanet.id)).rejects.toThrow(NotFoundError);
    // @ts-expect-error: an unknown status, as a query string could carry it
    await expect(listContributions(deps, alice, datanet.id, { status: "pending" })).rejects.toThrow(ValidationError);
    await expect(listContributions(deps, alice, datanet.id, { cursor: "bogus!" })).rejects.toThrow(InvalidCursorError);
    await expect(listContributions(deps, alice, datanet.id, { limit: 0 })).rejects.toThrow(ValidationError);
  });
});
