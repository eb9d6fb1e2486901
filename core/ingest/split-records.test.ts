import { describe, expect, it } from "vitest";
import { csvScanner, splitRecords } from "./split-records.ts";
import { chunked, collect, withHugeLine } from "./test-sources.ts";

const text = (r: { bytes?: Buffer }) => r.bytes?.toString();

describe("splitRecords", () => {
  it("splits lines across chunk borders, drops CR of CRLF and keeps a last line without newline", async () => {
    const records = await collect(splitRecords(chunked("one\r\ntwo\n\nthree", 2), 100));
    expect(records.map((r) => [r.line, text(r)])).toEqual([
      [1, "one"],
      [2, "two"],
      [3, ""],
      [4, "three"],
    ]);
  });

  it("reports an over-long line once and carries on with the next", async () => {
    const records = await collect(splitRecords(chunked("short\n" + "x".repeat(50) + "\nnext\n", 8), 10));
    expect(records).toEqual([
      { line: 1, bytes: Buffer.from("short"), next: { offset: 6, line: 2 } },
      { line: 2, tooLong: true, next: { offset: 57, line: 3 } },
      { line: 3, bytes: Buffer.from("next"), next: { offset: 62, line: 4 } },
    ]);
  });

  it("accepts a line of exactly the limit, CRLF included", async () => {
    const records = await collect(splitRecords(chunked("abcd\r\nabcde\n", 3), 4));
    expect(records).toEqual([
      { line: 1, bytes: Buffer.from("abcd"), next: { offset: 6, line: 2 } },
      { line: 2, tooLong: true, next: { offset: 12, line: 3 } },
    ]);
  });

  it("skips a 50 MB line without buffering it and reads what follows", async () => {
    const records = await collect(splitRecords(withHugeLine("first\n", 50 * 1024 ** 2, "after\n", false), 1024 ** 2));
    expect(records.map((r) => [r.line, r.tooLong ?? text(r)])).toEqual([
      [1, "first"],
      [2, true],
      [3, "after"],
    ]);
  });

  it("keeps quoted CSV newlines inside the record and counts the lines they span", async () => {
    const csv = 'a,b\n"multi\nline",x\n"say ""hi""\n",y\nplain,"z"\n';
    const records = await collect(splitRecords(chunked(csv, 3), 100, csvScanner()));
    expect(records.map((r) => [r.line, text(r)])).toEqual([
      [1, "a,b"],
      [2, '"multi\nline",x'],
      [4, '"say ""hi""\n",y'],
      [6, 'plain,"z"'],
    ]);
  });

  it("does not let a stray quote inside an unquoted CSV field swallow later lines", async () => {
    const records = await collect(splitRecords(chunked('ab"c,d\nnext,row\n'), 100, csvScanner()));
    expect(records.map(text)).toEqual(['ab"c,d', "next,row"]);
  });
});

/**
 * The rule the splitter keeps, written the slow and obvious way: scan each
 * record from a fresh start; a quote still open across a line break when the
 * record reaches `max + 2` bytes or the input ends costs its first line only,
 * and scanning starts again on the next line.
 */
function reference(bytes: Buffer, max: number): { line: number; text?: string }[] {
  const out: { line: number; text?: string }[] = [];
  let line = 1;
  const emit = (from: number, to: number, inner: number) => {
    let b = bytes.subarray(from, to);
    if (b.length > 0 && b[b.length - 1] === 0x0d) b = b.subarray(0, b.length - 1);
    out.push(b.length > max ? { line } : { line, text: b.toString("latin1") });
    line += 1 + inner;
  };
  let i = 0;
  outer: while (i < bytes.length) {
    let state: "start" | "unquoted" | "quoted" | "quote" = "start";
    const breaks: number[] = [];
    for (let j = i; ; j++) {
      const over = j - i >= max + 2;
      if (j === bytes.length || over) {
        if ((state === "quoted" || (over && state === "quote")) && breaks.length > 0) {
          emit(i, breaks[0]!, 0);
          i = breaks[0]! + 1;
          continue outer;
        }
        if (!over) {
          emit(i, j, breaks.length);
          break outer;
        }
        const lf = bytes.indexOf(0x0a, j);
        out.push({ line });
        line += 1 + breaks.length;
        i = lf === -1 ? bytes.length : lf + 1;
        continue outer;
      }
      const c = bytes[j]!;
      if (c === 0x0a) {
        if (state === "quoted") {
          breaks.push(j);
          continue;
        }
        emit(i, j, breaks.length);
        i = j + 1;
        continue outer;
      }
      const malformed = (state === "unquoted" && c === 0x22) || (state === "quote" && c !== 0x22 && c !== 0x2c && c !== 0x0d);
      if (state === "start") state = c === 0x22 ? "quoted" : c === 0x2c ? "start" : "unquoted";
      else if (state === "unquoted") state = c === 0x2c ? "start" : "unquoted";
      else if (state === "quoted") state = c === 0x22 ? "quote" : "quoted";
      else state = c === 0x22 ? "quoted" : c === 0x2c ? "start" : "unquoted";
      if (malformed && breaks.length > 0) {
        emit(i, breaks[0]!, 0);
        i = breaks[0]! + 1;
        continue outer;
      }
    }
  }
  return out;
}

const shape = (records: { line: number; bytes?: Buffer }[]) => records.map((r) => (r.bytes ? { line: r.line, text: r.bytes.toString("latin1") } : { line: r.line }));

describe("splitRecords with an unclosed CSV quote", () => {
  it("loses only the stray quote's line: header, a row starting with a quote, then 10,000 valid rows", async () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => `row ${i},MIT`);
    const csv = ["text,license", '"oops,MIT', ...rows].join("\n") + "\n";
    const records = await collect(splitRecords(chunked(csv, 4096), 1024 ** 2, csvScanner()));
    expect(records).toHaveLength(10_002);
    expect(records[1]).toEqual({ line: 2, bytes: Buffer.from('"oops,MIT'), next: { offset: 23, line: 3 } });
    expect(records.slice(2).map((r) => [r.line, text(r)])).toEqual(rows.map((row, i) => [i + 3, row]));
  });

  it("cuts at the limit as well as at the end of the input, whatever the chunking", async () => {
    const csv = 'a\n"open\nb\nc\nd,e"\nf\n' + "g\n".repeat(20);
    for (const size of [1, 3, 64]) {
      const records = await collect(splitRecords(chunked(csv, size), 12, csvScanner()));
      expect(shape(records)).toEqual(reference(Buffer.from(csv), 12));
      expect(records.slice(0, 5).map((r) => [r.line, text(r)])).toEqual([
        [1, "a"],
        [2, '"open'],
        [3, "b"],
        [4, "c"],
        [5, 'd,e"'],
      ]);
    }
  });

  it("matches the reference rule on random CSV-ish input and chunkings", async () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const alphabet = ['"', '"', ",", "\n", "\n", "\r", "a", "b"];
    for (let round = 0; round < 300; round++) {
      const length = Math.floor(random() * 120);
      const input = Buffer.from(Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join(""));
      const max = 1 + Math.floor(random() * 20);
      const records = await collect(splitRecords(chunked(input, 1 + Math.floor(random() * 9)), max, csvScanner()));
      expect(shape(records), `input ${JSON.stringify(input.toString())}, max ${max}`).toEqual(reference(input, max));
    }
  });

  it("resumed at any record's `next`, gives the same records as the full split from there on", async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const alphabet = ['"', '"', ",", "\n", "\n", "\r", "a", "b"];
    for (let round = 0; round < 200; round++) {
      const input = Buffer.from(Array.from({ length: Math.floor(random() * 100) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(""));
      const max = 1 + Math.floor(random() * 20);
      const full = await collect(splitRecords(chunked(input, 3), max, csvScanner()));
      for (let i = 0; i < full.length; i++) {
        const from = full[i]!.next;
        const rest = await collect(splitRecords(chunked(input.subarray(from.offset), 4), max, csvScanner(), from));
        expect(rest, `input ${JSON.stringify(input.toString())}, max ${max}, from ${JSON.stringify(from)}`).toEqual(full.slice(i + 1));
      }
    }
  });

  it("stays linear when every line re-opens a quote (a cut does not rescan the whole held record)", async () => {
    // `x","` leaves a quote open whether the line starts a record or sits inside a quoted field,
    // so every record runs to the limit; a rescan from the next line falls in step after one line.
    const lines = 200_000;
    const input = Buffer.from('x","\n'.repeat(lines));
    // A limit of 5k - 2 bytes: the record reaches it right after a line's last quote, inside the field.
    const records = await collect(splitRecords(chunked(input, 64 * 1024), 65_533, csvScanner()));
    expect(records).toHaveLength(lines);
    expect(records.every((r, i) => r.line === i + 1 && text(r) === 'x","')).toBe(true);
  });

  it("cuts a record spanning lines at its first line when its quoting breaks later", async () => {
    // The stray quote would pair with the quote of `x,"y"` and swallow the rows between.
    const csv = 'text,license\n"oops,MIT\nfine,MIT\nx,"y"\nlast,MIT\n';
    const records = await collect(splitRecords(chunked(csv, 5), 1000, csvScanner()));
    expect(records.map((r) => [r.line, text(r)])).toEqual([
      [1, "text,license"],
      [2, '"oops,MIT'],
      [3, "fine,MIT"],
      [4, 'x,"y"'],
      [5, "last,MIT"],
    ]);
  });
});
