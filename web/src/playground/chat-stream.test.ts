import { describe, expect, it } from "vitest";
import { ChatError, readChatStream } from "./chat-stream.ts";

/** A streamed Response whose body arrives in the given pieces (split anywhere, as a network does). */
function streamed(pieces: string[], status = 200): Response {
  const enc = new TextEncoder();
  return new Response(new ReadableStream({ start(c) { for (const p of pieces) c.enqueue(enc.encode(p)); c.close(); } }), { status, headers: { "content-type": "text/event-stream" } });
}

describe("readChatStream", () => {
  it("joins the deltas, and takes usage and attribution from the last chunks", async () => {
    const attribution = { requestId: "chatcmpl-1", method: "spans", contributors: [{ address: "0x1", weightBps: 10_000 }], datanets: [], records: [] };
    const body = [
      `data: ${JSON.stringify({ id: "chatcmpl-1", choices: [{ delta: { role: "assistant", content: "" } }], usage: null })}\n\n`,
      `data: ${JSON.stringify({ id: "chatcmpl-1", choices: [{ delta: { content: "Par" } }], usage: null })}\n\n`,
      `data: ${JSON.stringify({ id: "chatcmpl-1", choices: [{ delta: { content: "is." } }], usage: null })}\n\n`,
      `data: ${JSON.stringify({ id: "chatcmpl-1", choices: [], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }, attribution })}\n\n`,
      "data: [DONE]\n\n",
    ].join("");
    // Cut into 7-byte pieces: events and lines split across chunks.
    const pieces = body.match(/[\s\S]{1,7}/g)!;
    const deltas: string[] = [];
    const result = await readChatStream(streamed(pieces), (d) => deltas.push(d));
    expect(deltas).toEqual(["Par", "is."]);
    expect(result).toEqual({ text: "Paris.", usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }, attribution, requestId: "chatcmpl-1" });
  });

  it("turns an OpenAI-shaped refusal into a ChatError with its status", async () => {
    const res = new Response(JSON.stringify({ error: { message: "Payment required: 2500 base units", type: "invalid_request_error", code: "payment_required" } }), { status: 402 });
    await expect(readChatStream(res, () => {})).rejects.toMatchObject({ name: "ChatError", status: 402, code: "payment_required", message: "Payment required: 2500 base units" });
    const mid = streamed([`data: ${JSON.stringify({ error: { message: "timed out", code: "timeout" } })}\n\n`]);
    await expect(readChatStream(mid, () => {})).rejects.toBeInstanceOf(ChatError);
  });
});
