import { createHash } from "node:crypto";
import { z } from "zod";
import type { DatanetSchemaKind } from "../datanets/model.ts";
import { countTokens } from "./token-count.ts";

/** A record as stored and hashed: normalised strings, keys in a fixed order. */
export type NormalisedRecord =
  | { text: string }
  | { instruction: string; input?: string; output: string }
  | { messages: { role: ChatRole; content: string }[] };

export type ChatRole = "system" | "user" | "assistant";

export type RecordOutcome =
  | {
      ok: true;
      record: NormalisedRecord;
      /** The canonical JSON the hash is taken over. */
      json: string;
      /** 0x + SHA-256 of `json` (bytes32). */
      contentHash: string;
      tokens: number;
    }
  | { ok: false; reason: string };

// A record may name its license; it must then be the Datanet's.
const license = z.string().optional();

const schemas = {
  text: z.strictObject({ text: z.string(), license }),
  instruction: z.strictObject({ instruction: z.string(), input: z.string().nullish(), output: z.string(), license }),
  chat: z.strictObject({
    messages: z.array(z.strictObject({ role: z.enum(["system", "user", "assistant"]), content: z.string() })).min(1),
    license,
  }),
} as const;

/**
 * Validates one parsed record against the Datanet's schema and license, then
 * normalises it (Unicode NFC, CRLF → LF, trimmed, no empty fields) and hashes
 * its canonical JSON. Never throws: a bad record gets a short, stable reason.
 */
export function normaliseRecord(schema: DatanetSchemaKind, datanetLicense: string, value: unknown): RecordOutcome {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return fail("record must be a JSON object");
  const parsed = schemas[schema].safeParse(value);
  if (!parsed.success) return fail(describeIssues(parsed.error.issues, value));
  const data = parsed.data as { license?: string };
  if (data.license !== undefined && data.license.trim().toLowerCase() !== datanetLicense.toLowerCase()) {
    return fail(`license "${data.license}" does not match the Datanet's license "${datanetLicense}"`);
  }

  let record: NormalisedRecord;
  let tokens: number;
  if (schema === "text") {
    const text = clean((parsed.data as { text: string }).text);
    if (!text) return fail(`field "text" is empty`);
    record = { text };
    tokens = countTokens(text);
  } else if (schema === "instruction") {
    const d = parsed.data as { instruction: string; input?: string | null; output: string };
    const instruction = clean(d.instruction);
    if (!instruction) return fail(`field "instruction" is empty`);
    const input = d.input == null ? "" : clean(d.input);
    const output = clean(d.output);
    if (!output) return fail(`field "output" is empty`);
    record = input ? { instruction, input, output } : { instruction, output };
    tokens = countTokens(instruction) + countTokens(input) + countTokens(output);
  } else {
    const d = parsed.data as { messages: { role: ChatRole; content: string }[] };
    const messages: { role: ChatRole; content: string }[] = [];
    tokens = 0;
    for (const [i, m] of d.messages.entries()) {
      const content = clean(m.content);
      if (!content) return fail(`field "messages[${i}].content" is empty`);
      messages.push({ role: m.role, content });
      tokens += countTokens(content);
    }
    if (!messages.some((m) => m.role === "user") || !messages.some((m) => m.role === "assistant")) {
      return fail("chat needs at least one user and one assistant message");
    }
    record = { messages };
  }

  const json = JSON.stringify(record);
  return { ok: true, record, json, contentHash: contentHashOf(json), tokens };
}

/** 0x + lower-case hex SHA-256 of the canonical JSON (a bytes32 on chain). */
export function contentHashOf(canonicalJson: string): string {
  return `0x${createHash("sha256").update(canonicalJson).digest("hex")}`;
}

function clean(s: string): string {
  return s.normalize("NFC").replace(/\r\n?/g, "\n").trim();
}

const fail = (reason: string): RecordOutcome => ({ ok: false, reason });

function describeIssues(issues: z.core.$ZodIssue[], value: unknown): string {
  const reasons = issues.map((issue) => describeIssue(issue, value));
  const joined = [...new Set(reasons)].join("; ");
  return joined.length > 300 ? `${joined.slice(0, 299)}…` : joined;
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  const where = pathString(issue.path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const names = issue.keys.map((k) => `"${where ? `${where}.` : ""}${k}"`);
      return `unknown field${names.length > 1 ? "s" : ""} ${names.join(", ")}`;
    }
    case "invalid_type":
      if (valueAt(value, issue.path) === undefined) return `missing field "${where}"`;
      return `field "${where}" must be ${issue.expected === "array" || issue.expected === "object" ? "an" : "a"} ${issue.expected}`;
    case "invalid_value":
      return `field "${where}" must be one of ${issue.values.map(String).join(", ")}`;
    case "too_small":
      return `field "${where}" must not be empty`;
    default:
      return `field "${where}": ${issue.message}`;
  }
}

function pathString(path: PropertyKey[]): string {
  return path.reduce<string>((s, p) => (typeof p === "number" ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), "");
}

function valueAt(value: unknown, path: PropertyKey[]): unknown {
  let v: unknown = value;
  for (const p of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}
