import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Progress } from "./progress.ts";

/** A stderr stand-in that keeps what is written; `isTTY` as a terminal or a log file would say. */
function sink(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let written = "";
  const stream = {
    isTTY,
    write(chunk: string) {
      written += chunk;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => written };
}

describe("CLI progress", () => {
  it("writes a status repeated in a log once, and each new status on its own line", () => {
    const log = sink(false);
    const progress = new Progress(log.stream);
    for (const message of [
      "booting Linux…",
      "booting Linux…",
      "booting Linux…",
      "modules loaded",
      "booting Linux…",
    ]) {
      progress.update(message);
    }
    const lines = log
      .text()
      .split("\n")
      .filter((line) => line !== "");
    assert.deepEqual(
      lines.map((line) => line.replace(/^\[\s*\d+\.\d s\] /, "")),
      ["booting Linux…", "modules loaded", "booting Linux…"],
    );
  });

  it("rewrites one line in place on a terminal, repeats included, and ends it with a newline", () => {
    const tty = sink(true);
    const progress = new Progress(tty.stream);
    progress.update("booting Linux…");
    progress.update("booting Linux…");
    progress.done();
    const text = tty.text();
    assert.equal(text.split("\r").length - 1, 2);
    assert.ok(text.endsWith("\n"));
    assert.ok(!text.slice(0, -1).includes("\n"));
  });

  it("writes nothing when quiet", () => {
    const log = sink(false);
    const progress = new Progress(log.stream, true);
    progress.update("booting Linux…");
    progress.done();
    assert.equal(log.text(), "");
  });
});
