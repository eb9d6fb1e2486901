// A Datanet version's frozen records as the trainer reads them: one JSON line per accepted
// contribution, formatted into training text by a fixed prompt template, then split into
// training and held-out records by content hash, so the split is the same on every run and a
// record's side does not change when other records are added.
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { z } from "zod";
import { AddressSchema } from "../../core/account.ts";
import { Bytes32Hex } from "../../core/datanets/model.ts";

/** One line of `datanets/{id}/versions/{n}/records.jsonl` (written by publishVersion). */
export const FrozenRecordLine = z.object({
  contributionId: z.string().min(1),
  contributor: AddressSchema,
  contentHash: Bytes32Hex,
  tokens: z.number().int().nonnegative(),
  record: z.unknown(),
});
export type FrozenRecordLine = z.infer<typeof FrozenRecordLine>;

export type RecordSchema = "text" | "instruction" | "chat";

const TextRecord = z.object({ text: z.string().min(1) });
const InstructionRecord = z.object({ instruction: z.string().min(1), input: z.string().nullish(), output: z.string().min(1) });
const ChatRecord = z.object({ messages: z.array(z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() })).min(1) });
const ROLE_TAG = { system: "### System:", user: "### User:", assistant: "### Assistant:" } as const;

/**
 * The training text of a record (the prompt template; inference must prompt the same way):
 *   text         the text as is
 *   instruction  "### Instruction:\n{instruction}\n[{input}\n]### Response:\n{output}"
 *   chat         each turn as "### System:|### User:|### Assistant:\n{content}", joined by "\n"
 * Returns null when the record does not have its schema's shape.
 */
export function formatRecord(schema: RecordSchema, record: unknown): string | null {
  if (schema === "text") {
    const r = TextRecord.safeParse(record);
    return r.success ? r.data.text : null;
  }
  if (schema === "instruction") {
    const r = InstructionRecord.safeParse(record);
    if (!r.success) return null;
    const { instruction, input, output } = r.data;
    return `### Instruction:\n${instruction}\n${input ? `${input}\n` : ""}### Response:\n${output}`;
  }
  const r = ChatRecord.safeParse(record);
  return r.success ? r.data.messages.map((m) => `${ROLE_TAG[m.role]}\n${m.content}`).join("\n") : null;
}

/** A piece of a record's training text; `completion` pieces are what the model learns to write. */
export interface TextPiece {
  text: string;
  completion: boolean;
}

/**
 * The training text of a record cut into prompt and completion pieces; their texts joined are
 * exactly formatRecord's text. text: all completion; instruction: the template up to
 * "### Response:\n" is prompt, the output completion; chat: each assistant turn's content is
 * completion, everything else (tags, system and user turns) prompt. Null as formatRecord.
 */
export function formatRecordPieces(schema: RecordSchema, record: unknown): TextPiece[] | null {
  if (schema === "text") {
    const r = TextRecord.safeParse(record);
    return r.success ? [{ text: r.data.text, completion: true }] : null;
  }
  if (schema === "instruction") {
    const r = InstructionRecord.safeParse(record);
    if (!r.success) return null;
    const { instruction, input, output } = r.data;
    return [{ text: instructionPrompt(instruction, input ?? undefined), completion: false }, { text: output, completion: true }];
  }
  const r = ChatRecord.safeParse(record);
  if (!r.success) return null;
  const pieces: TextPiece[] = [];
  r.data.messages.forEach((m, i) => {
    const tag = `${i > 0 ? "\n" : ""}${ROLE_TAG[m.role]}\n`;
    if (m.role === "assistant") pieces.push({ text: tag, completion: false }, { text: m.content, completion: true });
    else pieces.push({ text: tag + m.content, completion: false });
  });
  return pieces.filter((p) => p.text.length > 0);
}

/** Which tokens of a record take loss: only its completion pieces (as TRL's SFT), or all of them. */
export type LossOn = "completion" | "all";

/**
 * A record's token ids, each piece encoded on its own (as inference encodes the prompt alone
 * and then generates), with a loss mask: 1 on completion tokens, or on every token for "all".
 */
export function tokenizePieces(encode: (text: string) => number[], pieces: TextPiece[], lossOn: LossOn): { tokens: Int32Array; loss: Uint8Array } {
  const tokens: number[] = [], loss: number[] = [];
  for (const p of pieces)
    for (const id of encode(p.text)) {
      tokens.push(id);
      loss.push(lossOn === "all" || p.completion ? 1 : 0);
    }
  return { tokens: Int32Array.from(tokens), loss: Uint8Array.from(loss) };
}

/** The prompt that asks a model tuned on instruction records to respond (the template up to the output). */
export function instructionPrompt(instruction: string, input?: string): string {
  return `### Instruction:\n${instruction}\n${input ? `${input}\n` : ""}### Response:\n`;
}

/** Non-empty lines of a JSONL stream with their 1-based line numbers. */
export async function* jsonLines(stream: Readable): AsyncGenerator<{ lineNo: number; value: unknown }> {
  let lineNo = 0;
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    lineNo++;
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    yield { lineNo, value };
  }
}

/** Where a record falls in [0, 1) for this seed: the first 52 bits of sha256("{seed}:{contentHash}"). */
export function splitScore(contentHash: string, seed: number): number {
  const digest = createHash("sha256").update(`${seed}:${contentHash}`).digest();
  return (digest.readUIntBE(0, 6) * 16 + (digest[6]! >> 4)) / 2 ** 52;
}

/**
 * Training and held-out records: a record is held out when its split score is below
 * evalFraction. At least one record is held out and at least one trains (the lowest and
 * highest scores), so two records are the minimum. Both sides come ordered by score, a
 * seeded shuffle that is the same on every run.
 */
export function splitRecords<T extends { contentHash: string }>(records: T[], evalFraction: number, seed: number): { train: T[]; heldOut: T[] } {
  if (records.length < 2) throw new RangeError(`need at least 2 records to hold one out, got ${records.length}`);
  const scored = records.map((r) => ({ r, s: splitScore(r.contentHash, seed) })).sort((a, b) => a.s - b.s || (a.r.contentHash < b.r.contentHash ? -1 : 1));
  let cut = scored.findIndex((x) => x.s >= evalFraction);
  if (cut === -1) cut = scored.length;
  cut = Math.min(Math.max(cut, 1), scored.length - 1);
  return { heldOut: scored.slice(0, cut).map((x) => x.r), train: scored.slice(cut).map((x) => x.r) };
}
