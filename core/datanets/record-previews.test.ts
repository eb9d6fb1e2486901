import { describe, expect, it } from "vitest";
import { alice, bob, jsonl, newDatanet, uploadAndIngest } from "../../test/fakes/datanet-fixtures.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { listContributions } from "./contributions.ts";
import { PREVIEW_MAX_CHARS, withRecordPreviews } from "./record-previews.ts";

describe("withRecordPreviews", () => {
  it("adds each upload's file name and each accepted record's content; a long record is cut and flagged, a rejected one has none", async () => {
    // Prepare: two uploads by two contributors, one with a record over the preview limit and a line that is not JSON.
    const deps = memoryDeps();
    const dn = await newDatanet(deps, alice);
    const long = "x".repeat(PREVIEW_MAX_CHARS + 500);
    await uploadAndIngest(deps, alice, dn.id, jsonl({ text: "first" }, "not json", { text: long }), "alice-notes.jsonl");
    await uploadAndIngest(deps, bob, dn.id, jsonl({ text: "from bob" }), "bob.jsonl");
    const page = await listContributions(deps, alice, dn.id);

    // Act
    const shown = await withRecordPreviews(deps, dn.id, page.items);

    // Assess
    const byLine = (file: string, line: number) => shown.find((c) => c.filename === file && c.line === line)!;
    expect(byLine("alice-notes.jsonl", 1)).toMatchObject({ status: "accepted", content: '{"text":"first"}', contentTruncated: false });
    expect(byLine("alice-notes.jsonl", 2)).toMatchObject({ status: "rejected", content: null, contentTruncated: false });
    const cut = byLine("alice-notes.jsonl", 3);
    expect(cut.contentTruncated).toBe(true);
    expect(cut.content).toHaveLength(PREVIEW_MAX_CHARS);
    expect(`{"text":"${long}"}`.startsWith(cut.content!)).toBe(true);
    expect(byLine("bob.jsonl", 1)).toMatchObject({ content: '{"text":"from bob"}', contributor: bob.address });
    // A page of one record reads only what it needs and still finds it.
    const one = await withRecordPreviews(deps, dn.id, [page.items.at(-1)!]);
    expect(one[0]!.content).toBe('{"text":"from bob"}');
  });
});
