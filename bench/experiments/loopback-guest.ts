/**
 * Not part of `npm run bench`: the guest's own share of the demo's loopback (issue 11), in USB frames,
 * so the host's load does not enter it. The bundled Linux boots in v86 (Node) with a headset whose
 * microphone sends its frame index as the sample (mod 65536) and whose headphones note, for a sample
 * coming back, how many 1 ms IN packets the microphone has answered since that value went in. The
 * guest runs the demo's own `loop` shell function (demo/guest-agent.ts: `arecord | aplay` on plughw,
 * 48 kHz mono, the watchdog if asked) with the settings given, for a number of 10 s windows, and reads the
 * playback PCM's ALSA delay (`pcmdelay`) every second.
 *
 * Reported per window: marks (one every 100 ms; a mark not back within 500 ms is lost), their round
 * trip p50/p95/max in ms (±1: packet granularity), the median playback delay, and what the loop said
 * (aplay's underruns, the watchdog's restarts). What this leaves out is what the browser adds: the
 * microphone and speaker bridges (test/browser/demo.test.ts measures the whole round trip).
 *
 *   node --import tsx bench/experiments/loopback-guest.ts [PERIOD,BUFFER,START_US[,MAX_DELAY]] [windows]
 *   (default 96,768,4000 — the demo's loop settings, no watchdog — and 4 windows; MAX_DELAY in frames
 *   turns on the loop's watchdog, e.g. 960 = 4 ms of start + 16 ms)
 */
import { AGENT_FUNCTIONS } from "../../demo/guest-agent.ts";
import type { GuestEvent } from "../../src/cli/guest-vm/guest-serial.ts";
import { GuestVm } from "../../src/cli/guest-vm/guest-vm.ts";
import { UsbHeadset } from "../../src/devices/audio/headset.ts";
import type { AudioSink } from "../../src/devices/audio/sinks/audio-sink.ts";
import type { AudioSource } from "../../src/devices/audio/sources/audio-source.ts";
import type { StreamFormat } from "../../src/devices/audio/stream-format.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../../src/node/bundled-guest.ts";

const RATE = 48_000;
const MARK_EVERY = RATE / 10;
const LOST_AFTER_MS = 500;

const [settings = "96,768,4000", windowsArg = "4"] = process.argv.slice(2);
const [period, buffer, startUs, maxDelay = 0] = settings.split(",").map(Number);
const windows = Number(windowsArg);
if (![period, buffer, startUs, windows].every((v) => v !== undefined && Number.isInteger(v) && v > 0)) {
  throw new Error("usage: loopback-guest.ts [PERIOD,BUFFER,START_US] [windows]");
}

/** 1 ms IN packets answered so far: the microphone streams throughout, so this is USB time. */
let packets = 0;
let produced = 0;
let marking = false;
/** A mark's sample value → the packet count when it went in. */
const marks = new Map<number, number>();
const roundTrips: number[] = [];
let lost = 0;

const microphone: AudioSource = {
  read(out: Int16Array, frames: number, format: StreamFormat): number {
    for (let i = 0; i < frames; i++, produced++) {
      const value = produced & 0xffff;
      if (marking && produced % MARK_EVERY === 0) marks.set(value, packets);
      out.fill(value - 32768, i * format.channels, (i + 1) * format.channels);
    }
    packets++;
    return frames;
  },
};
const headphones: AudioSink = {
  write(samples: Int16Array, frames: number, format: StreamFormat): number {
    for (const [value, at] of marks) {
      if (packets - at > LOST_AFTER_MS) {
        marks.delete(value);
        lost++;
      }
    }
    for (let i = 0; i < frames; i++) {
      const value = ((samples[i * format.channels] ?? 0) + 32768) & 0xffff;
      const at = marks.get(value);
      if (at === undefined) continue;
      roundTrips.push(packets - at);
      marks.delete(value);
    }
    return frames;
  },
};

const delays: number[] = [];
const said: string[] = [];
let shell = false;
const vm = await GuestVm.boot({
  images: loadGuestImages(),
  cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.plan=wait,shell`,
  usb: [new UsbHeadset({ microphone: { source: microphone }, speaker: { sink: headphones } }), null],
  onEvent: (event: GuestEvent) => {
    if (event.event === "shell") shell = true;
    if (event.event === "pcm-delay" && event["pcm"] === "pcm0p")
      delays.push((Number(event["delay"]) / RATE) * 1000);
    if (event.event === "loop-said" && typeof event["text"] === "string") said.push(event["text"]);
  },
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
try {
  while (!shell) await sleep(200);
  await sleep(1500);
  for (const line of AGENT_FUNCTIONS) vm.sendSerial(`${line}\n`);
  await sleep(1000);
  for (let w = 0; w < windows; w++) {
    vm.sendSerial(`loop ${period} ${buffer} ${startUs}${maxDelay > 0 ? ` ${maxDelay}` : ""}\n`);
    await sleep(4000);
    roundTrips.length = 0;
    delays.length = 0;
    said.length = 0;
    marks.clear();
    lost = 0;
    marking = true;
    for (let i = 0; i < 40; i++) {
      await sleep(250);
      if (i % 4 === 2) vm.sendSerial("pcmdelay\n");
    }
    marking = false;
    lost += marks.size;
    // What aplay and the watchdog said in this window (unloop would print it where events cannot see it).
    vm.sendSerial(
      `while read -r l; do ev loop-said ",\\"text\\":\\"$l\\""; done </tmp/loop.err; unloop >/dev/null\n`,
    );
    await sleep(2000);
    const sorted = [...roundTrips].sort((a, b) => a - b);
    const sortedDelays = [...delays].sort((a, b) => a - b);
    process.stdout.write(
      `${JSON.stringify({
        settings,
        window: w + 1,
        marks: sorted.length,
        lost,
        p50Ms: quantile(sorted, 0.5),
        p95Ms: quantile(sorted, 0.95),
        maxMs: sorted.at(-1),
        playbackDelayMedianMs: quantile(sortedDelays, 0.5),
        underruns: said.filter((s) => s.startsWith("underrun")).length,
        restarts: said.filter((s) => s.includes("restarted")).length,
      })}\n`,
    );
  }
} finally {
  await vm.stop();
}
// The emulator's timers would keep the process alive.
process.exit(0);
