import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { writeFileWhole } from "./user-paths.ts";

describe("writeFileWhole: every CLI output, whole or not at all", () => {
  it("never writes through a symbolic link left at the partial file's name", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-whole-"));
    const target = join(dir, "precious.txt");
    writeFileSync(target, "precious");
    symlinkSync(target, join(dir, "out.wav.partial"));
    writeFileWhole(join(dir, "out.wav"), "new");
    assert.equal(readFileSync(target, "utf8"), "precious");
    assert.equal(readFileSync(join(dir, "out.wav"), "utf8"), "new");
    assert.ok(!existsSync(join(dir, "out.wav.partial")));
  });

  it("a write that fails before the rename leaves the old file and no partial file", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-whole-"));
    const out = join(dir, "report.json");
    writeFileSync(out, "old");
    assert.throws(
      () =>
        writeFileWhole(out, "new", {
          before: () => {
            throw new Error("ENOSPC");
          },
        }),
      /ENOSPC/,
    );
    assert.equal(readFileSync(out, "utf8"), "old");
    assert.ok(!existsSync(`${out}.partial`));
  });
});
