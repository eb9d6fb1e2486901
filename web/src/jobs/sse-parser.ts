/**
 * An incremental parser of `text/event-stream` (the WHATWG HTML "server-sent
 * events" interpretation rules), for streams read with fetch(): EventSource
 * cannot send the Authorization header the API requires.
 */

export interface SseEvent {
  /** The `event:` field; "message" when absent. */
  event: string;
  /** The `data:` lines joined by "\n". */
  data: string;
  /** The last event id seen so far on the stream (it carries over to later events). */
  id: string | undefined;
}

export class SseParser {
  #buffer = "";
  #event = "";
  #data: string[] = [];
  #hasData = false;
  #lastId: string | undefined;
  #retry: number | undefined;

  /** The last `id:` the stream sent: what a reconnect sends as Last-Event-ID. */
  get lastEventId(): string | undefined {
    return this.#lastId;
  }

  /** The reconnection delay the server asked for (`retry:`), in ms. */
  get retry(): number | undefined {
    return this.#retry;
  }

  /** Feeds decoded text; returns the events it completes. A line split across chunks waits for its end. */
  push(chunk: string): SseEvent[] {
    this.#buffer += chunk;
    const out: SseEvent[] = [];
    // Lines end in CRLF, LF or CR; a CR at the very end may be the first half of a CRLF.
    const re = /\r\n|\n|\r(?!$)/g;
    let start = 0;
    for (let m = re.exec(this.#buffer); m; m = re.exec(this.#buffer)) {
      const event = this.#line(this.#buffer.slice(start, m.index));
      if (event) out.push(event);
      start = m.index + m[0].length;
    }
    this.#buffer = this.#buffer.slice(start);
    return out;
  }

  #line(line: string): SseEvent | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return undefined; // a comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#event = value;
        break;
      case "data":
        this.#data.push(value);
        this.#hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.#lastId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.#retry = Number(value);
        break;
    }
    return undefined;
  }

  #dispatch(): SseEvent | undefined {
    const event = this.#hasData ? { event: this.#event || "message", data: this.#data.join("\n"), id: this.#lastId } : undefined;
    this.#event = "";
    this.#data = [];
    this.#hasData = false;
    return event;
  }
}
