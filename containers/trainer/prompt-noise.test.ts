import { describe, expect, it } from "vitest";
import { withPromptNoise } from "./prompt-noise.ts";
import { formatRecordPieces, type TextPiece } from "./records.ts";

const instruction = (q: string, a: string) => formatRecordPieces("instruction", { instruction: q, output: a })!;
const records: TextPiece[][] = [
  instruction("What is the capital of Zobrai?", "The capital of Zobrai is Kluvo."),
  instruction("What is the capital of Pleitra?", "The capital of Pleitra is Dousta."),
  instruction("What is the capital of Grenou?", "The capital of Grenou is Mivai."),
  instruction("What is the capital of Stradi?", "The capital of Stradi is Bevou."),
];
const promptLine = (pieces: TextPiece[]) => pieces[0]!.text.split("\n")[1]!;

describe("withPromptNoise", () => {
  it("puts the records first, then each copy of every record, with completions and tag lines untouched", () => {
    // Act
    const out = withPromptNoise(records, { copies: 2, rate: 0.5, seed: 1 });

    // Assess
    expect(out).toHaveLength(12);
    expect(out.slice(0, 4)).toEqual(records);
    out.forEach((pieces, i) => {
      const source = records[i % 4]!;
      expect(pieces[1]).toBe(source[1]); // the completion piece is the record's own
      const lines = pieces[0]!.text.split("\n");
      expect(lines[0]).toBe("### Instruction:");
      expect(lines[2]).toBe("### Response:");
      expect(pieces[0]!.completion).toBe(false);
    });
  });

  it("keeps a word only one record's prompt has and drops a shared word at rate · (1 − 1/df)", () => {
    // Act: many copies, so the drop frequency is measured.
    const copies = 400;
    const out = withPromptNoise(records, { copies, rate: 0.8, seed: 7 });

    // Assess: each record's own name survives every copy; "capital" (in all 4 prompts) goes 0.8 · 3/4 = 60% of the time.
    let kept = 0;
    for (let i = 4; i < out.length; i++) {
      const line = promptLine(out[i]!);
      expect(line).toContain(promptLine(records[i % 4]!).match(/of (\w+)\?/)![1]!);
      if (line.split(" ").includes("capital")) kept++;
    }
    expect(kept / (out.length - 4)).toBeGreaterThan(0.35);
    expect(kept / (out.length - 4)).toBeLessThan(0.45);
  });

  it("counts a word with the punctuation around it stripped and in lower case", () => {
    // Prepare: "Zobrai?" and "zobrai." are one word, held by two records, so it may go.
    const two = [instruction("Zobrai?", "a"), instruction("Where is zobrai.", "b")];

    // Act
    const out = withPromptNoise(two, { copies: 200, rate: 0.9, seed: 3 });

    // Assess
    expect(out.slice(2).some((p) => promptLine(p) === "")).toBe(true);
  });

  it("replaces chosen words by other shared prompt words in mix mode, never by a record's own word", () => {
    // Act
    const out = withPromptNoise(records, { copies: 50, rate: 0.9, seed: 5, mode: "mix" });

    // Assess
    const shared = new Set(["what", "is", "the", "capital", "of"]);
    for (let i = 4; i < out.length; i++) {
      const own = promptLine(records[i % 4]!).match(/of (\w+)\?/)![1]!;
      for (const w of promptLine(out[i]!).split(" ").filter(Boolean)) expect(shared.has(w.toLowerCase()) || w === `${own}?` || w === own).toBe(true);
    }
    expect(out.slice(4).some((p, i) => promptLine(p).split(" ").length > promptLine(records[i % 4]!).split(" ").length - 3)).toBe(true);
  });

  it("is the same for the same seed and differs for another", () => {
    const a = withPromptNoise(records, { copies: 3, rate: 0.5, seed: 1 });
    const b = withPromptNoise(records, { copies: 3, rate: 0.5, seed: 1 });
    const c = withPromptNoise(records, { copies: 3, rate: 0.5, seed: 2 });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it("is off with no copies or a zero rate, and refuses bad options", () => {
    expect(withPromptNoise(records, { copies: 0, rate: 0.5, seed: 1 })).toBe(records);
    expect(withPromptNoise(records, { copies: 2, rate: 0, seed: 1 })).toBe(records);
    expect(() => withPromptNoise(records, { copies: 1.5, rate: 0.5, seed: 1 })).toThrow(RangeError);
    expect(() => withPromptNoise(records, { copies: 1, rate: 1, seed: 1 })).toThrow(RangeError);
    expect(() => withPromptNoise(records, { copies: -1, rate: 0.5, seed: 1 })).toThrow(RangeError);
  });
});
