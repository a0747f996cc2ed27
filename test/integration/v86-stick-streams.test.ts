/**
 * Issue 12, item 3: the Linux guest streams audio bit-exact WHILE the stick is read and written. The main
 * job's hub (a headset, a keyboard, a tablet, a second microphone and a stick behind a 7-port hub on
 * root port 1) is booted into the guest's shell; a script (helpers/stick-streams.sh) starts a `dd` that
 * reads 5 MiB from the stick's raw disk and one that writes 5 MiB to it (O_DIRECT), and while both run,
 * `arecord` records from the headset and from the second microphone and `aplay` plays to the headset,
 * 48 kHz stereo, all at once. Checked on the host:
 * - each of the three streams bit-exact, nothing dropped or inserted, no guest xrun, head and tail loss
 *   within the allowances every audio report is judged by (streaming/stream-verdict.ts);
 * - the bytes read have the sha256 of what the host put in the image, and the image holds the guest's
 *   bytes (their sha256 as the guest computed it) where it wrote them;
 * - the stick itself moved data both ways between the streams' start and end (its own counters, read
 *   when the guest says the streams start and end), so the transfers really overlapped the audio.
 * One boot. The numbers (MB/s each way during the streams) are printed as diagnostics:
 * docs/benchmarks.md, section 6.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import type { GuestEvent } from "../../src/cli/guest-vm/guest-serial.ts";
import { GuestVm } from "../../src/cli/guest-vm/guest-vm.ts";
import {
  type AudioDirectionReport,
  audioProblems,
  mainJobHubDevices,
  signalDirectionReport,
} from "../../src/cli/jobs/main-job.ts";
import { UsbHeadset } from "../../src/devices/audio/headset.ts";
import { UsbMicrophone } from "../../src/devices/audio/microphone.ts";
import { checkTestSignal } from "../../src/devices/audio/signal-check.ts";
import type { AudioSink } from "../../src/devices/audio/sinks/audio-sink.ts";
import { MemorySink } from "../../src/devices/audio/sinks/memory-sink.ts";
import { TestSignalSource } from "../../src/devices/audio/sources/test-signal-source.ts";
import type { StreamFormat } from "../../src/devices/audio/stream-format.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbTablet } from "../../src/devices/hid/tablet.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import { MemoryBlockStore } from "../../src/devices/storage/block-store.ts";
import { UsbMassStorage } from "../../src/devices/storage/mass-storage.ts";
import { SeededRandom } from "../../src/machine/seeded-random.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../../src/node/bundled-guest.ts";

const RATE = 48_000;
const CHANNELS = 2;
/** Seconds of each stream. */
const SECONDS = 4;
/** dd's block (64 KiB) and the two regions of the 16 MiB stick, in those blocks: read 1–6 MiB, write 8–13 MiB. */
const DD_BLOCK = 64 * 1024;
const STICK_BYTES = 16 * 1024 * 1024;
const READ = { skip: 16, count: 80 };
const WRITE = { seek: 128, count: 80 };
/** The whole test: a boot (20–55 s here), the transfers, and 2.5 MB of recordings back over the serial line. */
const LIMIT_MS = 240_000;

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const num = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : Number.NaN);
const script = readFileSync(new URL("./helpers/stick-streams.sh", import.meta.url), "utf8");

/** Types `text` into the guest's shell as a file and runs it, in lines busybox's line editor takes whole. */
function typeScript(vm: GuestVm, text: string): void {
  const encoded = Buffer.from(text).toString("base64");
  vm.sendSerial("rm -f /tmp/s.b64\n");
  for (let at = 0; at < encoded.length; at += 600) {
    vm.sendSerial(`echo ${encoded.slice(at, at + 600)} >> /tmp/s.b64\n`);
  }
  // The last line typed: nothing typed later can be echoed into the script's output.
  vm.sendSerial("base64 -d /tmp/s.b64 > /tmp/s.sh && sh /tmp/s.sh; exit\n");
}

/**
 * The headset's sink, noting the bus time of each packet while `timing`: a frame with no packet between
 * two that have one is playback the guest queued too late — its URB landed in frames already run, and
 * uhci-hcd retires those packets with -EXDEV, so snd-usb-audio counts no underrun. How 96 frames went
 * missing beside four busy loops while the v86 adapter ran 4 ms of frames per busy hook
 * (docs/architecture.md, "Host stalls").
 */
class PacketTimedSink implements AudioSink {
  timing = false;
  /** Frames of the bus with no packet between the first and the last packet seen while timing. */
  missedPackets = 0;
  private last = Number.NaN;
  constructor(
    readonly inner: MemorySink,
    private readonly busMs: () => number,
  ) {}
  start(format: StreamFormat): void {
    this.inner.start(format);
  }
  write(samples: Int16Array, frames: number, format: StreamFormat): number {
    if (this.timing) {
      const now = this.busMs();
      if (!Number.isNaN(this.last)) this.missedPackets += Math.max(0, Math.round(now - this.last) - 1);
      this.last = now;
    }
    return this.inner.write(samples, frames, format);
  }
}

interface StickCount {
  read: number;
  written: number;
  /** The frame clock's host-pause counters (lags beyond 100 ms replayed), to tell a slow guest from the bus. */
  pauses: number;
  replayed: number;
  /** The guest's pause-free time: ms it waited for the bus (the adapter's leash) and host pauses taken out. */
  heldMs: number;
  removedMs: number;
}

describe("Linux in v86: audio through the hub while the stick is read and written", () => {
  let vm: GuestVm | undefined;
  after(async () => {
    await vm?.stop();
  });

  // Was a todo (failed 6 of 8 runs at load 4–10): v86's timer hook, where frames run, came up to 335 ms
  // apart while the guest's clock ran on, the frame clock took the lag for a host pause and replayed the
  // frames at once, and playback frames beyond snd-usb-audio's queue carried nothing. The adapter now
  // holds the guest's pause-free clock to the bus (its leash: docs/architecture.md, "Host stalls"), so
  // a slow host makes the guest wait instead; the diagnostics say how long it waited during the streams.
  // Beside four busy loops 96 playback frames still went missing (0 xruns, 0 lags): the adapter ran 4 ms
  // of frames per hook while the guest, busy with the stick, kept interrupts off for 20–28 ms of bus, and
  // snd-usb-audio's resubmitted URBs landed in frames already run; leashed, a hook that finds the
  // controller's interrupt still pending now runs 1 ms. The diagnostics count such missing packets.
  it("records twice and plays once bit-exact while dd reads and writes the stick", async (t) => {
    const frames = RATE * SECONDS;
    const speakerSink = new MemorySink({ channels: CHANNELS, maxFrames: frames + RATE * 2 });
    const timedSink = new PacketTimedSink(speakerSink, () => vm?.uhci?.clock.now() ?? Number.NaN);
    const headset = new UsbHeadset({
      microphone: { source: new TestSignalSource() },
      speaker: { sink: timedSink },
    });
    // The stick's read region holds seeded random bytes (sector 0 stays zero: no partition table).
    const store = new MemoryBlockStore(STICK_BYTES / 512);
    const random = new SeededRandom(1212);
    const readRegion = store.bytes.subarray(READ.skip * DD_BLOCK, (READ.skip + READ.count) * DD_BLOCK);
    for (let i = 0; i < readRegion.length; i++) readRegion[i] = random.u32() & 0xff;
    const stick = new UsbMassStorage({ store });
    const hub = new UsbHub({ ports: 7 });
    for (const entry of mainJobHubDevices({
      headset,
      keyboard: new UsbKeyboard(),
      tablet: new UsbTablet(),
      microphone: new UsbMicrophone({ source: new TestSignalSource() }),
      stick,
    })) {
      hub.attach(entry.port - 1, entry.device);
    }

    // The stick's counters when the guest says the streams start and end (synchronously, from inside
    // the emulator's loop: what the device had moved at that point of the guest's time).
    const at: { start?: StickCount; end?: StickCount } = {};
    const count = (): StickCount => ({
      read: stick.stats.bytesRead,
      written: stick.stats.bytesWritten,
      pauses: vm?.uhci?.controller.hostStallStats.pauses ?? 0,
      replayed: vm?.uhci?.controller.hostStallStats.framesReplayed ?? 0,
      heldMs: vm?.time.stats.heldMs ?? 0,
      removedMs: vm?.time.stats.removedMs ?? 0,
    });
    vm = await GuestVm.boot({
      images: loadGuestImages(),
      cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.timeout=30 uhci.plan=enum:6,shell`,
      usb: [hub],
      onEvent: (event) => {
        if (event.event === "streams-start") {
          at.start = count();
          timedSink.timing = true;
        }
        if (event.event === "streams-end") {
          at.end = count();
          timedSink.timing = false;
        }
      },
    });
    const machine = vm;
    const started = performance.now();
    await machine.waitForEvent((e) => e.event === "shell", LIMIT_MS);
    // Let the shell print its prompt before the script is typed (as `uhci shell` does).
    await new Promise((resolve) => setTimeout(resolve, 500));
    const settings = [
      `RATE=${RATE} CH=${CHANNELS} SECS=${SECONDS} PAD=${(RATE * 50) / 1000}`,
      `RSKIP=${READ.skip} RCOUNT=${READ.count} WSEEK=${WRITE.seek} WCOUNT=${WRITE.count}`,
    ].join("\n");
    typeScript(machine, `${settings}\n${script}`);
    const ended = await machine.waitForEvent(
      (e) => e.event === "script-done" || e.event === "script-error" || e.event === "done",
      LIMIT_MS - (performance.now() - started),
    );
    const events = machine.serial.events;
    const tail = () => machine.serial.consoleLines.slice(-30).join("\n");
    assert.equal(ended.event, "script-done", `${JSON.stringify(ended)}\n${tail()}`);
    const find = (match: (e: GuestEvent) => boolean) => {
      const found = events.find(match);
      assert.ok(found !== undefined, tail());
      return found;
    };
    const ready = find((e) => e.event === "ready");
    const start = find((e) => e.event === "streams-start");
    const end = find((e) => e.event === "streams-end");
    const ddRead = find((e) => e.event === "stick-dd" && e["dir"] === "read");
    const ddWrite = find((e) => e.event === "stick-dd" && e["dir"] === "write");
    const logs = (source: string) =>
      events.filter((e) => e.event === "log" && e["source"] === source).map((e) => String(e["line"]));

    // The audio: three streams, each judged as the main job judges its two.
    const exits = end as unknown as Record<
      "capture0" | "capture1" | "playback",
      { rc: number; xruns: number }
    >;
    const direction = (
      samples: Int16Array,
      tool: { rc: number; xruns: number },
      output: string[],
    ): Omit<AudioDirectionReport, "samples"> => {
      const check = checkTestSignal(samples, CHANNELS, { expectedFrames: frames });
      return signalDirectionReport(check, { sampleRate: RATE, channels: CHANNELS }, frames, tool, output);
    };
    const recording = (name: string) => {
      const blob = machine.serial.blobs.get(name);
      assert.ok(blob !== undefined, `the guest sent its recording ${name}\n${tail()}`);
      return new Int16Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + (blob.byteLength & ~1)));
    };
    assert.equal(num(ready["frames"]), frames);
    const reports = {
      "capture (headset)": direction(recording("c0"), exits.capture0, logs("arecord0")),
      "capture (second microphone)": direction(recording("c1"), exits.capture1, logs("arecord1")),
      "playback (headset)": direction(speakerSink.samples.slice(), exits.playback, logs("aplay")),
    };
    // A slow guest on a loaded host (v86's timer hook far apart) waits for the bus: no lag beyond 100 ms
    // reaches the frame clock, nothing is replayed (docs/benchmarks.md, section 6).
    if (at.start !== undefined && at.end !== undefined)
      t.diagnostic(
        `frame clock during the streams: ${at.end.pauses - at.start.pauses} lags beyond 100 ms, ${at.end.replayed - at.start.replayed} frames replayed; the guest's clock waited ${(at.end.heldMs - at.start.heldMs).toFixed(0)} ms for the bus, ${(at.end.removedMs - at.start.removedMs).toFixed(0)} ms of host pauses taken out`,
      );
    const problems: string[] = [];
    for (const [name, report] of Object.entries(reports)) {
      problems.push(...audioProblems(name, name.startsWith("capture") ? "arecord" : "aplay", report));
      t.diagnostic(
        `${name}: ${report.framesReceived}/${frames} frames, ${report.bitExact ? "bit-exact" : "NOT bit-exact"}, dropped ${report.dropped}, inserted ${report.inserted}, head loss ${report.headLossFrames}, tail loss ${report.tailLossFrames}, guest xruns ${report.guestXruns}`,
      );
    }
    t.diagnostic(
      `playback packets missing mid-stream (bus frames with none: the guest's URB came too late): ${timedSink.missedPackets}`,
    );
    assert.deepEqual(
      problems,
      [],
      `${timedSink.missedPackets} playback packets missing mid-stream\n${logs("dmesg").slice(-40).join("\n")}`,
    );
    // The mechanism: however slow the host, no lag reached the frame clock as a host pause.
    assert.equal(
      at.end && at.start && at.end.pauses - at.start.pauses,
      0,
      "lags beyond 100 ms during the streams",
    );

    // The stick: both transfers whole and intact.
    assert.equal(ddRead["rc"], 0, logs("ddread").join("\n"));
    assert.equal(ddWrite["rc"], 0, logs("ddwrite").join("\n"));
    assert.equal(ddRead["sha256"], sha(readRegion), "the guest read the host's bytes");
    const written = store.bytes.subarray(WRITE.seek * DD_BLOCK, (WRITE.seek + WRITE.count) * DD_BLOCK);
    assert.equal(sha(written), ready["writeSha256"], "the image holds the guest's bytes where it wrote them");
    assert.ok(stick.stats.bytesRead >= readRegion.length);
    assert.ok(stick.stats.bytesWritten >= written.length);
    assert.equal(stick.stats.phaseErrors, 0);

    // …and under way during the streams: the stick moved data both ways between their start and end.
    assert.ok(at.start !== undefined && at.end !== undefined);
    const duringRead = at.end.read - at.start.read;
    const duringWritten = at.end.written - at.start.written;
    const streamMs = num(end["ms"]) - num(start["ms"]);
    const rate = (bytes: number, ms: number) => `${(bytes / 1e3 / ms).toFixed(2)} MB/s`;
    t.diagnostic(
      `during the streams (${streamMs} ms): stick read ${duringRead} B (${rate(duringRead, streamMs)}), written ${duringWritten} B (${rate(duringWritten, streamMs)})`,
    );
    for (const dd of [ddRead, ddWrite]) {
      const ms = num(dd["end"]) - num(dd["start"]);
      t.diagnostic(
        `dd ${String(dd["dir"])}: ${num(dd["bytes"])} B in ${ms} ms (${rate(num(dd["bytes"]), ms)})`,
      );
    }
    // At least 1 MiB each way while the audio ran (the whole streams' time at ≥ 0.2 MB/s).
    assert.ok(duringRead >= 1024 * 1024, `the stick read ${duringRead} bytes during the streams`);
    assert.ok(duringWritten >= 1024 * 1024, `the stick wrote ${duringWritten} bytes during the streams`);
    // Both dd's were still running when the streams ended: the audio never had the bus to itself.
    assert.ok(num(ddRead["end"]) >= num(end["ms"]), "dd read ended before the streams did");
    assert.ok(num(ddWrite["end"]) >= num(end["ms"]), "dd write ended before the streams did");
  });
});
