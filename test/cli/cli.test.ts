/** The `uhci` command as a user runs it: reports on stdout, one-line errors and exit code 2 for bad input. */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

function uhci(...args: string[]) {
  const run = spawnSync(process.execPath, ["--import", "tsx", main, ...args], { encoding: "utf8" });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("uhci stream", () => {
  it("streams 44.1 kHz mono to the speaker, and the seed preset from an async microphone as JSON", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-cli-"));
    const out = join(dir, "got.wav");
    const r = uhci("stream", "--device", "speaker", "--rate", "44100", "--channels", "1", "--seconds", "1");
    assert.equal(r.code, 0, r.stderr);
    const j = uhci(
      "stream",
      "--device=microphone",
      "--host=async",
      "--preset=seed",
      "--seconds=1",
      // A flag given twice takes its last value.
      "--channels=2",
      "--json",
      `--wav-out=${out}`,
      "--channels",
      "1",
    );
    assert.equal(j.code, 0, j.stderr);
    const report = JSON.parse(j.stdout) as {
      ok: boolean;
      bitExact: boolean;
      packets: { missed: number };
      format: { channels: number };
    };
    assert.equal(report.format.channels, 1);
    assert.ok(report.ok && report.bitExact);
    assert.equal(report.packets.missed, 0);
    assert.ok(existsSync(out));
    assert.ok(!existsSync(`${out}.partial`));
  });

  it("answers bad input with one line and exit code 2, leaving no output file", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-cli-"));
    const bad = join(dir, "bad.wav");
    writeFileSync(bad, "not a wav at all");
    for (const args of [
      ["stream", "--bogus"],
      ["stream", "--rate"],
      ["stream", "--rate", "--json"],
      ["stream", "--json=yes"],
      ["stream", "speaker"],
      ["stream", "--rate", "12345"],
      ["stream", "--channels", "3"],
      ["stream", "--seconds", "abc"],
      ["stream", "--wav-in", join(dir, "missing.wav")],
      ["stream", "--wav-in", bad],
      ["stream", "--wav-out", join(dir, "no-such-dir", "x.wav")],
      ["start", "--guest-dir", join(dir, "nothing-here")],
      ["start", "--text", "naïve"],
      ["shell", "--devices", "keyboard,printer"],
      ["frobnicate"],
    ]) {
      const r = uhci(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^uhci: /);
    }
    assert.ok(!existsSync(join(dir, "no-such-dir")));
  });

  it("prints help and the version", () => {
    assert.match(uhci("help").stdout, /commands:/);
    assert.match(uhci("stream", "--help").stdout, /--wav-in/);
    assert.match(uhci("version").stdout, /^\d+\.\d+\.\d+/);
  });

  it("names every command and subcommand in the general help, and the peers the published package needs", () => {
    const help = uhci("help").stdout;
    for (const words of [
      "start",
      "shell",
      "stream",
      "stick pack",
      "stick unpack",
      "stick ls",
      "usbip list",
      "usbip relay",
    ]) {
      assert.ok(help.includes(words), `uhci help names '${words}'`);
    }
    // `uhci stick` without js-fatfs stops with "npm install js-fatfs": the overview says so up front.
    assert.match(help, /npm install v86 js-fatfs/);
  });
});
