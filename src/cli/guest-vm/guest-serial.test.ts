import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  EVENT_PREFIX,
  type GuestEvent,
  GuestSerialParser,
  MAX_CONSOLE_LINES,
  MAX_LINE_BYTES,
} from "./guest-serial.ts";

function feed(parser: GuestSerialParser, text: string | Uint8Array): void {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  for (const byte of bytes) parser.byte(byte);
}

describe("guest serial protocol parser", () => {
  it("parses protocol lines, console lines and a base64 blob", () => {
    const seen: GuestEvent[] = [];
    const parser = new GuestSerialParser((event) => seen.push(event));
    feed(parser, "Linux booting\r\n");
    feed(parser, `${EVENT_PREFIX}{"event":"ready","ports":2}\n`);
    feed(
      parser,
      `${EVENT_PREFIX}{"event":"blob-begin","name":"b"}\nAAEC\n/w==\n${EVENT_PREFIX}{"event":"blob-end"}\n`,
    );
    assert.deepEqual(parser.consoleLines, ["Linux booting"]);
    assert.deepEqual(
      seen.map((e) => e.event),
      ["ready", "blob-begin", "blob-end"],
    );
    assert.equal(seen[0]?.["ports"], 2);
    assert.deepEqual(Array.from(parser.blobs.get("b") ?? []), [0, 1, 2, 255]);
  });

  it("never throws on a line far longer than its limit: it is cut, counted, and parsing goes on", () => {
    // String.fromCharCode(...bytes) over such a line overflowed the call stack (issue 9, item 7).
    const parser = new GuestSerialParser();
    const long = new Uint8Array(MAX_LINE_BYTES * 3).fill(0x41);
    assert.doesNotThrow(() => {
      feed(parser, long);
      feed(parser, "\n");
    });
    assert.equal(parser.truncatedLines, 1);
    assert.equal(parser.consoleLines[0]?.length, MAX_LINE_BYTES);
    feed(parser, `${EVENT_PREFIX}{"event":"after"}\n`);
    assert.equal(parser.events.at(-1)?.event, "after");
  });

  it("turns a cut or garbage protocol line into a 'malformed' event, never an exception", () => {
    const parser = new GuestSerialParser();
    const garbage = new Uint8Array(4096);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 167 + 13) & 0xff;
    const lines = [
      `${EVENT_PREFIX}{"event":`,
      `${EVENT_PREFIX}[1,2,3]`,
      `${EVENT_PREFIX}{"event":42}`,
      `${EVENT_PREFIX}null`,
      `${EVENT_PREFIX}"text"`,
    ];
    assert.doesNotThrow(() => {
      for (const line of lines) feed(parser, `${line}\n`);
      feed(parser, EVENT_PREFIX);
      feed(
        parser,
        garbage.map((b) => (b === 0x0a ? 0x20 : b)),
      );
      feed(parser, "\n");
      feed(parser, `${EVENT_PREFIX}{"event":"${"x".repeat(MAX_LINE_BYTES)}"}\n`);
    });
    assert.deepEqual(
      parser.events.map((e) => e.event),
      new Array(lines.length + 2).fill("malformed"),
    );
    assert.equal(parser.truncatedLines, 1);
  });

  it("decodes a blob with characters outside base64 without throwing, and keeps console lines bounded", () => {
    const parser = new GuestSerialParser();
    feed(
      parser,
      `${EVENT_PREFIX}{"event":"blob-begin","name":"x"}\n!!AAEC\u00ff\n${EVENT_PREFIX}{"event":"blob-end"}\n`,
    );
    assert.ok(parser.blobs.has("x"));
    for (let i = 0; i < MAX_CONSOLE_LINES + 50; i++) feed(parser, `line ${i}\n`);
    assert.equal(parser.consoleLines.length, MAX_CONSOLE_LINES);
    assert.equal(parser.consoleLines.at(-1), `line ${MAX_CONSOLE_LINES + 49}`);
  });
});
