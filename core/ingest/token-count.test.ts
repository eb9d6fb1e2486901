import { describe, expect, it } from "vitest";
import { countTokens } from "./token-count.ts";

describe("countTokens", () => {
  it("counts GPT-2 style pre-tokens", () => {
    expect(countTokens("")).toBe(0);
    expect(countTokens("Hello, world!")).toBe(4); // "Hello" "," " world" "!"
    expect(countTokens("I'll pay 1234 dollars.")).toBe(6); // "I" "'ll" " pay" " 1234" " dollars" "."
    expect(countTokens("naïve café")).toBe(2);
  });

  it("is deterministic", () => {
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(100);
    expect(countTokens(text)).toBe(countTokens(text));
  });
});
