import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { formatRecord, formatRecordPieces, instructionPrompt, jsonLines, splitRecords, splitScore, tokenizePieces } from "./records.ts";

describe("formatRecord", () => {
  it("uses text as is", () => {
    expect(formatRecord("text", { text: "hello" })).toBe("hello");
  });

  it("formats instructions with and without input by the documented template", () => {
    expect(formatRecord("instruction", { instruction: "Add", input: "2 and 3", output: "5" })).toBe("### Instruction:\nAdd\n2 and 3\n### Response:\n5");
    expect(formatRecord("instruction", { instruction: "Greet", output: "Hi" })).toBe("### Instruction:\nGreet\n### Response:\nHi");
    expect(instructionPrompt("Greet")).toBe("### Instruction:\nGreet\n### Response:\n");
  });

  it("tags chat turns by role", () => {
    const chat = { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi?" }, { role: "assistant", content: "Hello." }] };
    expect(formatRecord("chat", chat)).toBe("### System:\nBe brief.\n### User:\nHi?\n### Assistant:\nHello.");
  });

  it("returns null for a record of another shape", () => {
    expect(formatRecord("text", { instruction: "x", output: "y" })).toBeNull();
    expect(formatRecord("instruction", { text: "x" })).toBeNull();
    expect(formatRecord("chat", { messages: [{ role: "robot", content: "x" }] })).toBeNull();
    expect(formatRecord("text", "plain string")).toBeNull();
  });
});

describe("jsonLines", () => {
  it("yields parsed lines with line numbers, undefined for bad JSON, skipping blanks", async () => {
    const out = [];
    for await (const l of jsonLines(Readable.from(['{"a":1}\n\n', "not json\r\n", '{"b":2}']))) out.push(l);
    expect(out).toEqual([{ lineNo: 1, value: { a: 1 } }, { lineNo: 3, value: undefined }, { lineNo: 4, value: { b: 2 } }]);
  });
});

describe("splitRecords", () => {
  const records = Array.from({ length: 200 }, (_, i) => ({ contentHash: `0x${i.toString(16).padStart(64, "0")}` }));

  it("holds out about evalFraction, the same way every time, and depends on the seed", () => {
    const a = splitRecords(records, 0.1, 1);
    expect(a.heldOut.length + a.train.length).toBe(200);
    expect(a.heldOut.length).toBeGreaterThan(8);
    expect(a.heldOut.length).toBeLessThan(40);
    expect(splitRecords([...records].reverse(), 0.1, 1)).toEqual(a);
    expect(splitRecords(records, 0.1, 2).heldOut).not.toEqual(a.heldOut);
  });

  it("keeps a record on its side when others are added", () => {
    const small = splitRecords(records.slice(0, 100), 0.1, 1);
    const big = splitRecords(records, 0.1, 1);
    for (const r of small.heldOut) expect(big.heldOut).toContain(r);
  });

  it("holds out at least one and trains on at least one", () => {
    const two = records.slice(0, 2);
    const s = splitRecords(two, 0.01, 1);
    expect([s.heldOut.length, s.train.length]).toEqual([1, 1]);
    const all = splitRecords(two, 0.5, 1);
    expect(all.train.length).toBeGreaterThanOrEqual(1);
    expect(() => splitRecords(records.slice(0, 1), 0.1, 1)).toThrow(/at least 2/);
    expect(splitScore(records[0]!.contentHash, 1)).toBeGreaterThanOrEqual(0);
    expect(splitScore(records[0]!.contentHash, 1)).toBeLessThan(1);
  });
});

describe("formatRecordPieces and tokenizePieces", () => {
  const chat = { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi?" }, { role: "assistant", content: "Hello." }, { role: "user", content: "Bye?" }, { role: "assistant", content: "Bye." }] };
  const cases = [
    ["text", { text: "hello" }],
    ["instruction", { instruction: "Add", input: "2 and 3", output: "5" }],
    ["instruction", { instruction: "Greet", output: "Hi" }],
    ["chat", chat],
  ] as const;

  it("cut a record into pieces whose texts join to exactly the prompt template", () => {
    for (const [schema, record] of cases) expect(formatRecordPieces(schema, record)!.map((p) => p.text).join("")).toBe(formatRecord(schema, record));
    expect(formatRecordPieces("instruction", { instruction: "x" })).toBeNull();
  });

  it("mark responses as completion: the instruction template up to the output, and chat tags and non-assistant turns, are prompt", () => {
    expect(formatRecordPieces("instruction", { instruction: "Greet", output: "Hi" })).toEqual([{ text: instructionPrompt("Greet"), completion: false }, { text: "Hi", completion: true }]);
    expect(formatRecordPieces("chat", chat)!.filter((p) => p.completion).map((p) => p.text)).toEqual(["Hello.", "Bye."]);
    expect(formatRecordPieces("text", { text: "hello" })).toEqual([{ text: "hello", completion: true }]);
  });

  it("give prompt tokens no loss by default, and every token loss with lossOn all", () => {
    const bytes = (s: string) => Array.from(Buffer.from(s));
    const pieces = formatRecordPieces("instruction", { instruction: "Greet", output: "Hi" })!;
    const completion = tokenizePieces(bytes, pieces, "completion");
    const prompt = bytes(instructionPrompt("Greet")).length;
    expect(Array.from(completion.tokens)).toEqual(bytes(formatRecord("instruction", { instruction: "Greet", output: "Hi" })!));
    expect(Array.from(completion.loss)).toEqual([...Array(prompt).fill(0), 1, 1]);
    expect(tokenizePieces(bytes, pieces, "all").loss.every((x) => x === 1)).toBe(true);
  });
});
