import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { normaliseRecord } from "./normalise-record.ts";

const reason = (r: ReturnType<typeof normaliseRecord>) => (r.ok ? undefined : r.reason);

describe("normaliseRecord", () => {
  it("normalises text (NFC, CRLF → LF, trim) and hashes the canonical JSON", () => {
    const r = normaliseRecord("text", "MIT", { text: "  Cafe\u0301\r\nline two \n" });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.record).toEqual({ text: "Café\nline two" });
    expect(r.json).toBe('{"text":"Café\\nline two"}');
    expect(r.contentHash).toBe(`0x${createHash("sha256").update(r.json).digest("hex")}`);
    expect(r.tokens).toBeGreaterThan(0);
  });

  it("gives the same hash whatever the key order or an equal license field", () => {
    const a = normaliseRecord("instruction", "CC-BY-4.0", { output: "4", instruction: "2+2?", input: "" });
    const b = normaliseRecord("instruction", "CC-BY-4.0", { license: "cc-by-4.0", instruction: "2+2?", output: "4 " });
    expect(a.ok && b.ok && a.contentHash === b.contentHash).toBe(true);
    if (a.ok) expect(a.json).toBe('{"instruction":"2+2?","output":"4"}');
  });

  it("rejects unknown and missing fields with the field's name", () => {
    expect(reason(normaliseRecord("text", "MIT", { text: "hi", foo: 1 }))).toBe('unknown field "foo"');
    expect(reason(normaliseRecord("text", "MIT", { txt: "hi" }))).toBe('missing field "text"; unknown field "txt"');
    expect(reason(normaliseRecord("instruction", "MIT", { instruction: "do" }))).toBe('missing field "output"');
    expect(reason(normaliseRecord("instruction", "MIT", { instruction: 5, output: "x" }))).toBe('field "instruction" must be a string');
    expect(reason(normaliseRecord("chat", "MIT", { messages: [{ role: "user", content: "hi", name: "x" }] }))).toBe(
      'unknown field "messages[0].name"',
    );
  });

  it("rejects empty fields and a license other than the Datanet's", () => {
    expect(reason(normaliseRecord("text", "MIT", { text: " \r\n " }))).toBe('field "text" is empty');
    expect(reason(normaliseRecord("text", "MIT", { text: "x", license: "GPL-3.0-only" }))).toBe(
      'license "GPL-3.0-only" does not match the Datanet\'s license "MIT"',
    );
  });

  it("checks chat roles and requires a user and an assistant message", () => {
    const ok = normaliseRecord("chat", "MIT", {
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello!" },
      ],
    });
    expect(ok.ok).toBe(true);
    expect(reason(normaliseRecord("chat", "MIT", { messages: [{ role: "robot", content: "x" }] }))).toBe(
      'field "messages[0].role" must be one of system, user, assistant',
    );
    expect(reason(normaliseRecord("chat", "MIT", { messages: [{ role: "user", content: "only me" }] }))).toBe(
      "chat needs at least one user and one assistant message",
    );
    expect(reason(normaliseRecord("chat", "MIT", { messages: [] }))).toBe('field "messages" must not be empty');
    expect(reason(normaliseRecord("chat", "MIT", { messages: "hi" }))).toBe('field "messages" must be an array');
  });
});
