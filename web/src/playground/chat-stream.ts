import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { CallAttribution } from "../../../core/attribution/model.ts";

/** What one streamed chat call ends with. */
export interface ChatResult {
  text: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | undefined;
  attribution: CallAttribution | undefined;
  requestId: string | undefined;
  /** A paid call's receipt, from the last chunk: what it was charged and the channel's total. */
  payment: { requestId: string; channelId: string | null; charged: string; cumulativeCharged: string | null } | undefined;
}

/** A call the server refused, in OpenAI's error shape, with the HTTP status (402: payment required). */
export class ChatError extends Error {
  override name = "ChatError";
  readonly status: number;
  readonly code: string | undefined;
  readonly body: unknown;
  constructor(status: number, message: string, code: string | undefined, body: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/**
 * Reads a streamed chat completion (OpenAI's chunk format over server-sent
 * events, `data: [DONE]` at the end): calls `onDelta` with each piece of
 * text as it arrives, and resolves with the whole text, the usage and the
 * platform's per-call `attribution`, which come on the last chunks.
 */
export async function readChatStream(res: Response, onDelta: (text: string) => void): Promise<ChatResult> {
  if (!res.ok) {
    const body: unknown = await res.json().catch(() => undefined);
    const err = (body as { error?: { message?: string; code?: string } } | undefined)?.error;
    throw new ChatError(res.status, err?.message ?? `HTTP ${res.status}`, err?.code, body);
  }
  if (!res.body) throw new Error("This browser cannot read a streamed response");
  const out: ChatResult = { text: "", usage: undefined, attribution: undefined, requestId: undefined, payment: undefined };
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (ev) => void events.push(ev) });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    parser.feed(chunk.value);
    for (const ev of events.splice(0)) {
      if (ev.data === "[DONE]") return out;
      const data = JSON.parse(ev.data) as {
        id?: string;
        error?: { message?: string; code?: string };
        choices?: { delta?: { content?: string } }[];
        usage?: ChatResult["usage"] | null;
        attribution?: CallAttribution;
        payment?: ChatResult["payment"];
      };
      // After the headers an error can only come as an event of its own.
      if (data.error) throw new ChatError(500, data.error.message ?? "The stream ended with an error", data.error.code, data);
      out.requestId ??= data.id;
      const piece = data.choices?.[0]?.delta?.content;
      if (piece) {
        out.text += piece;
        onDelta(piece);
      }
      if (data.usage) out.usage = data.usage;
      if (data.attribution) out.attribution = data.attribution;
      if (data.payment) out.payment = data.payment;
    }
  }
  return out;
}
