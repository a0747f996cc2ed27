/**
 * Reports that cannot lie (issue 10, item 4), tried as a new user would: a verdict fails whenever
 * frames are lost or late beyond the stated allowances, compares only what was asked for, quotes a
 * failing guest tool, and `--stall` counts what each host stall cost.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseStalls, type StreamReport } from "../../src/cli/commands/stream.ts";
import { guestToolOutput, guestUsbDevices } from "../../src/cli/guest-report.ts";
import type { GuestEvent } from "../../src/cli/guest-vm/guest-serial.ts";
import { expectedKeyEvents } from "../../src/cli/input-check.ts";
import { type AudioDirectionReport, audioProblems, listenSeconds } from "../../src/cli/jobs/main-job.ts";
import { checkTestSignal } from "../../src/devices/audio/signal-check.ts";
import { generateTestSignal } from "../../src/devices/audio/test-signal.ts";
import { decodeWav, encodeWav } from "../../src/devices/audio/wav.ts";

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

function uhci(...args: string[]) {
  const run = spawnSync(process.execPath, ["--import", "tsx", main, ...args], { encoding: "utf8" });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function json(...args: string[]): { code: number | null; report: StreamReport; stderr: string } {
  const r = uhci("stream", "--json", ...args);
  return { code: r.code, report: JSON.parse(r.stdout) as StreamReport, stderr: r.stderr };
}

describe("uhci stream: the verdict fails whenever frames are lost or late", () => {
  it("--host async --urbs 1 --packets 1 delivers a fraction of the audio: FAIL, exit 1, and why", () => {
    const { code, report } = json("--host", "async", "--urbs", "1", "--packets", "1", "--seconds", "2");
    assert.equal(code, 1);
    assert.equal(report.ok, false);
    assert.ok(report.framesReceived < report.framesExpected / 2, JSON.stringify(report));
    assert.ok(report.lostOutsideStalls > report.framesExpected / 2);
    assert.match(report.problems.join("\n"), /lost or late outside any stall/);
    // The same stream played: the speaker starves between the guest's late packets.
    const played = json(
      "--device",
      "speaker",
      "--host",
      "async",
      "--urbs",
      "1",
      "--packets",
      "1",
      "--seconds",
      "2",
    );
    assert.equal(played.code, 1);
    assert.equal(played.report.ok, false);
    assert.match(played.report.problems.join("\n"), /lost or late outside any stall/);
    const text = uhci(
      "stream",
      "--host",
      "async",
      "--urbs",
      "1",
      "--packets",
      "1",
      "--seconds",
      "1",
      "--quiet",
    );
    assert.equal(text.code, 1);
    assert.match(text.stdout, /verdict {3}FAIL\n {12}- /);
  });

  it("a healthy stream states its allowances and passes", () => {
    const { code, report } = json("--seconds", "1");
    assert.equal(code, 0);
    assert.ok(report.ok && report.bitExact);
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.allowance, { headLossMs: 10, tailLossMs: 10, stallExtraMs: 25 });
    assert.equal(report.framesExpected, 48_000);
    assert.equal(report.framesReceived, 48_000);
    assert.equal(report.lostFrames, 0);
  });
});

describe("uhci stream --wav-in compares only what was asked to stream", () => {
  const dir = mkdtempSync(join(tmpdir(), "uhci-reports-"));
  const wav = join(dir, "long.wav");
  // A 48 s WAV, as in the issue: --seconds 1 streams and compares its first second.
  writeFileSync(wav, encodeWav(generateTestSignal(48 * 48_000, 2), { sampleRate: 48_000, channels: 2 }));

  it("--seconds 1 of a 48 s WAV: PASS and bit-exact, to the microphone and from the speaker", () => {
    for (const device of ["microphone", "speaker"]) {
      const { code, report } = json("--wav-in", wav, "--seconds", "1", "--device", device);
      assert.equal(code, 0, JSON.stringify(report.problems));
      assert.ok(report.ok && report.bitExact);
      assert.equal(report.framesExpected, 48_000);
      assert.equal(report.framesReceived, 48_000);
      assert.equal(report.lostFrames, 0);
    }
  });

  it("--seconds beyond the WAV, or --stall with a WAV, is refused with one line and exit 2", () => {
    for (const args of [
      ["--seconds", "49"],
      ["--seconds", "1", "--stall", "100"],
    ]) {
      const r = uhci("stream", "--wav-in", wav, ...args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.match(r.stderr, /^uhci: --(seconds|stall)/);
      assert.equal(r.stdout, "");
    }
  });
});

describe("uhci stream --stall: what each host stall cost", () => {
  it("counts the loss at each stall within the stall + 25 ms, capture and playback, and passes", () => {
    for (const device of ["microphone", "speaker"]) {
      const { code, report } = json("--device", device, "--seconds", "3", "--stall", "500@1000,1s@2.2s");
      assert.equal(code, 0, JSON.stringify(report.problems));
      assert.equal(report.stalls.length, 2);
      for (const stall of report.stalls) {
        assert.ok(stall.lostMs > stall.ms - 40 && stall.lostMs <= stall.ms + 25, JSON.stringify(stall));
        // lostMs is lostFrames said in ms (to 0.1 ms).
        assert.ok(Math.abs(stall.lostMs - (stall.lostFrames * 1000) / 48_000) <= 0.05, JSON.stringify(stall));
      }
      assert.deepEqual(
        report.stalls.map((s) => [s.atMs, s.ms]),
        [
          [1000, 500],
          [2200, 1000],
        ],
      );
      assert.equal(report.lostOutsideStalls, 0);
      assert.ok(report.bitExact);
    }
    const text = uhci("stream", "--seconds", "2", "--stall", "100", "--quiet");
    assert.equal(text.code, 0);
    assert.match(text.stdout, /stall {5}100 ms at 1000 ms: lost \d+ frames \([\d.]+ ms; allowed 125 ms\)/);
  });

  it("the report agrees with the WAV it wrote: frames, and the gap the stall left", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-reports-"));
    for (const device of ["microphone", "speaker"]) {
      const out = join(dir, `${device}.wav`);
      const { code, report } = json(
        "--device",
        device,
        "--seconds",
        "3",
        "--stall",
        "700@1000",
        "--wav-out",
        out,
      );
      assert.equal(code, 0, JSON.stringify(report.problems));
      const wav = decodeWav(readFileSync(out));
      const check = checkTestSignal(wav.samples, 2, device === "speaker" ? { expectedFrames: 144_000 } : {});
      assert.ok(check.bitExact);
      assert.equal(check.inserted, report.signal?.inserted);
      assert.equal(check.dropped, report.signal?.dropped);
      assert.equal(check.framesReceived, report.framesReceived);
      if (device === "microphone") {
        // The microphone's loss is a gap in what arrived: the WAV shows exactly the stall's count.
        assert.equal(check.dropped, report.stalls[0]?.lostFrames);
        assert.ok(check.dropped > 0);
      } else {
        // The speaker's loss is silence played while no data came: counted, not in the WAV.
        assert.equal(check.tailLossFrames, report.tailLossFrames);
        assert.ok((report.stalls[0]?.lostFrames ?? 0) > 0);
      }
    }
  });

  it("refuses a malformed or out-of-stream --stall with one line and exit 2", () => {
    for (const stall of ["abc", "0", "-5", "100@", "1@2@3", "100@3s", "2s@x", "100,"]) {
      const r = uhci("stream", "--seconds", "3", `--stall=${stall}`);
      assert.equal(r.code, 2, `${stall}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, /^uhci: --stall/);
    }
  });

  it("parseStalls: ms or s, AT defaults to the middle, AT counts the stalls before it", () => {
    assert.deepEqual(parseStalls("500", 4000), [{ ms: 500, atMs: 2000 }]);
    assert.deepEqual(parseStalls("2s@1.5s, 100ms@0", 4000), [
      { ms: 100, atMs: 0 },
      { ms: 2000, atMs: 1500 },
    ]);
    // A 3 s stalled host makes a 4 s stream 7 s long: a stall at 6 s still falls inside it.
    assert.deepEqual(parseStalls("3s@1s,100@6s", 4000), [
      { ms: 3000, atMs: 1000 },
      { ms: 100, atMs: 6000 },
    ]);
    assert.throws(() => parseStalls("100@6s", 4000), /past the end of the 4 s stream/);
  });
});

describe("uhci start: the main job's report", () => {
  const clean: Omit<AudioDirectionReport, "samples"> = {
    format: { sampleRate: 48_000, channels: 2, bits: 16 },
    framesSent: 144_000,
    framesReceived: 144_000,
    bitExact: true,
    dropped: 0,
    inserted: 0,
    headLossFrames: 0,
    tailLossFrames: 0,
    leadingSilenceFrames: 0,
    guestXruns: 0,
    guestExitCode: 0,
    guestToolOutput: [],
  };

  it("a failing guest tool is quoted in its own words", () => {
    const events = [
      { event: "capture-end", rc: 1, ms: 900, xruns: 0 },
      { event: "log", source: "arecord", line: "arecord: pcm_read:2221: read error: Input/output error" },
      { event: "log", source: "dmesg", line: "usb 1-1: something else" },
      { event: "log", source: "arecord", line: "   " },
    ] as GuestEvent[];
    const output = guestToolOutput(events, "arecord");
    assert.deepEqual(output, ["arecord: pcm_read:2221: read error: Input/output error"]);
    const problems = audioProblems("capture", "arecord", {
      ...clean,
      guestExitCode: 1,
      guestToolOutput: output,
    });
    assert.deepEqual(problems, [
      "capture: arecord exited with 1: arecord: pcm_read:2221: read error: Input/output error",
    ]);
    assert.deepEqual(audioProblems("playback", "aplay", { ...clean, guestExitCode: null }), [
      "playback: aplay never finished in the guest",
    ]);
    assert.deepEqual(audioProblems("capture", "arecord", clean), []);
  });

  it("a later bus listing replaces an earlier one: late-bound drivers count, unplugged devices go", () => {
    const listing = (path: string, driver: string) => ({
      event: "usb-device",
      path,
      roothub: false,
      idVendor: "1209",
      product: path,
      driver: "usb",
      interfaces: [{ name: `${path}:1.0`, driver, hidDriver: "" }],
    });
    const events = [
      { event: "item-begin", index: 0, item: "enum:3" },
      listing("1-1", ""),
      listing("1-2", "usbhid"),
      { event: "item-begin", index: 1, item: "hid:5:2" },
      { event: "item-begin", index: 2, item: "enum:now" },
      listing("1-1", "usbhid"),
    ] as GuestEvent[];
    const devices = guestUsbDevices(events);
    assert.deepEqual(
      devices.map((d) => [d.path, d.drivers]),
      [["1-1", ["usb", "usbhid"]]],
    );
  });

  it("head and tail loss beyond 10 ms each are a FAIL", () => {
    assert.deepEqual(
      audioProblems("playback", "aplay", { ...clean, headLossFrames: 480, tailLossFrames: 480 }),
      [],
    );
    assert.match(
      audioProblems("playback", "aplay", { ...clean, tailLossFrames: 481 }).join(),
      /tail loss 481 frames, more than 10 ms/,
    );
    assert.match(
      audioProblems("capture", "arecord", { ...clean, headLossFrames: 481 }).join(),
      /head loss 481 frames/,
    );
  });

  it("the guest listens long enough for every key of a long text (282 characters)", () => {
    const text = "The quick brown fox jumps over the lazy dog! ".repeat(7).slice(0, 282);
    const events = expectedKeyEvents(text).length;
    // One report per event, one report per 10 ms poll: the listening time covers twice that.
    assert.ok(listenSeconds(text) * 1000 >= events * 10 * 2, `${events} events in ${listenSeconds(text)} s`);
    assert.equal(listenSeconds("Hello from uhci!\n"), 4);
  });
});
