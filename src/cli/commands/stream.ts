import { readFileSync, rmSync, statSync } from "node:fs";
import { StreamDirection } from "../../devices/audio/audio-model.ts";
import { BufferSource } from "../../devices/audio/sources/buffer-source.ts";
import { decodeWav, encodeWav } from "../../devices/audio/wav.ts";
import { IsoPreset } from "../../guest/iso-presets.ts";
import { LIVE_BUFFER_MS } from "../../streaming/live-audio.ts";
import {
  HostModel,
  type HostStall,
  runSoftwareStream,
  type SoftwareStreamResult,
} from "../../streaming/software-stream.ts";
import { AudioAllowance, framesIn, type StallLoss } from "../../streaming/stream-verdict.ts";
import { flagHelp, parseFlags, UsageError } from "../args.ts";
import { Progress } from "../progress.ts";
import { checkOutputFile, userPath, writeFileWhole } from "../user-paths.ts";

const RATES = ["8000", "16000", "22050", "32000", "44100", "48000"] as const;

export const STREAM_FLAGS = {
  device: {
    kind: "string",
    help: "microphone (iso IN, the guest records) or speaker (iso OUT, the guest plays)",
    default: "microphone",
    choices: ["microphone", "speaker"],
  },
  rate: { kind: "string", help: "sample rate in Hz (default 48000, or the WAV's)", choices: RATES },
  channels: { kind: "number", help: "1 or 2 (default 2, or the WAV's)", min: 1, max: 2, integer: true },
  seconds: {
    kind: "number",
    help: "seconds of audio (default 10, or the WAV's length)",
    min: 0.01,
    max: 86_400,
  },
  host: {
    kind: "string",
    help: "sync: the device answers at once; async: later, like passthrough",
    default: "sync",
    choices: ["sync", "async"],
  },
  preset: {
    kind: "string",
    help: "URBs × packets in flight: seed (4×5), linux-playback (3×6), linux-capture (12×1)",
    choices: ["seed", "linux-playback", "linux-capture"],
  },
  urbs: { kind: "number", help: "URBs in flight (overrides --preset)", min: 1, max: 64, integer: true },
  packets: { kind: "number", help: "packets per URB (overrides --preset)", min: 1, max: 64, integer: true },
  "wav-in": {
    kind: "string",
    help: "16-bit PCM WAV to send (default: the frame-counter test signal); --seconds takes its start",
  },
  "wav-out": {
    kind: "string",
    help: "write what arrived as a WAV file (silence a speaker played while data was late is counted, not written)",
  },
  stall: {
    kind: "string",
    help: "host stalls, comma-separated: PAUSE[@AT], e.g. 500@2000 or 2s@1.5s,100 (ms unless 's'; AT is the machine's time from the stream's start, earlier stalls included, default the middle); not with --wav-in",
  },
  json: { kind: "boolean", help: "print the report as JSON on stdout" },
  quiet: { kind: "boolean", help: "no progress bar" },
} as const;

export const STREAM_HELP = `uhci stream — stream audio through the UHCI controller with the software guest driver (no
emulator), on a virtual clock as fast as the host allows. The microphone sends to the guest (iso IN),
the guest sends to the speaker (iso OUT). Reports packets, missed (-EXDEV) and late packets, latency,
and whether what arrived is bit-exact. The microphone and speaker live in real time: audio the host
does not fetch within ${LIVE_BUFFER_MS} ms is lost, data that comes late is played as silence.

The verdict is PASS only if nothing is inserted or altered, nothing is lost outside a stall, head and
tail loss are at most ${AudioAllowance.headLossMs} and ${AudioAllowance.tailLossMs} ms, and each stall loses at most its own length + ${AudioAllowance.stallExtraMs} ms.

${flagHelp(STREAM_FLAGS)}`;

const PRESETS = {
  seed: IsoPreset.Seed,
  "linux-playback": IsoPreset.LinuxPlayback,
  "linux-capture": IsoPreset.LinuxCapture,
} as const;

interface Input {
  samples: Int16Array;
  sampleRate: number;
  channels: number;
}

function readWav(path: string): Input {
  let bytes: Uint8Array;
  try {
    // Only a regular file: reading a device (/dev/zero) or a pipe with no writer would never end.
    if (!statSync(path).isFile()) throw new Error("not a regular file");
    bytes = readFileSync(path);
  } catch (error) {
    throw new UsageError(
      `--wav-in: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  try {
    const wav = decodeWav(bytes);
    return { samples: wav.samples, sampleRate: wav.format.sampleRate, channels: wav.format.channels };
  } catch (error) {
    throw new UsageError(`--wav-in: ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export async function runStream(argv: readonly string[]): Promise<number> {
  const flags = parseFlags(argv, STREAM_FLAGS);
  const direction = flags.device === "speaker" ? StreamDirection.Playback : StreamDirection.Capture;
  const input = flags["wav-in"] === undefined ? null : readWav(userPath(flags["wav-in"]));
  const sampleRate = Number(flags.rate ?? input?.sampleRate ?? 48_000);
  const channels = flags.channels ?? input?.channels ?? 2;
  if (input !== null && (input.sampleRate !== sampleRate || input.channels !== channels)) {
    throw new UsageError(
      `--wav-in is ${input.sampleRate} Hz with ${input.channels} channels; the stream is ${sampleRate} Hz with ${channels} (resampling is not done)`,
    );
  }
  if (!RATES.includes(String(sampleRate) as (typeof RATES)[number])) {
    throw new UsageError(
      `--wav-in: ${sampleRate} Hz is not a rate the USB audio devices offer (${RATES.join(", ")})`,
    );
  }
  if (channels !== 1 && channels !== 2)
    throw new UsageError(`--wav-in: ${channels} channels; the devices do 1 or 2`);
  const wavSeconds = input === null ? 0 : input.samples.length / channels / sampleRate;
  const seconds = flags.seconds ?? (input === null ? 10 : wavSeconds);
  if (input !== null && Math.round(seconds * sampleRate) * channels > input.samples.length)
    throw new UsageError(
      `--seconds ${seconds} is longer than --wav-in (${wavSeconds.toFixed(3)} s): the whole WAV is ${Math.floor(input.samples.length / channels)} frames`,
    );
  // Only what was asked for is streamed and compared: the start of a longer WAV.
  const sent = input === null ? null : input.samples.subarray(0, Math.round(seconds * sampleRate) * channels);
  const stalls = flags.stall === undefined ? [] : parseStalls(flags.stall, seconds * 1000);
  if (stalls.length > 0 && input !== null)
    throw new UsageError(
      "--stall needs the frame-counter test signal to locate what each stall lost; it cannot be used with --wav-in",
    );
  const preset =
    PRESETS[
      (flags.preset ??
        (direction === StreamDirection.Capture ? "linux-capture" : "linux-playback")) as keyof typeof PRESETS
    ];
  const urbs = flags.urbs ?? preset.urbs;
  const packetsPerUrb = flags.packets ?? preset.packetsPerUrb;
  // Fail now, not after the stream, if the output cannot be written (user-paths.ts).
  const wavOut = flags["wav-out"] === undefined ? undefined : checkOutputFile("--wav-out", flags["wav-out"]);

  const progress = new Progress(process.stderr, flags.quiet || flags.json);
  let result: SoftwareStreamResult;
  try {
    result = runSoftwareStream({
      direction,
      host: flags.host === "async" ? HostModel.Async : HostModel.Sync,
      sampleRate,
      channels,
      seconds,
      urbs,
      packetsPerUrb,
      stalls,
      ...(sent === null
        ? {}
        : direction === StreamDirection.Capture
          ? { source: new BufferSource(sent, channels) }
          : { playback: sent }),
      onProgress: (fraction) => progress.update(bar(fraction, seconds)),
    });
  } catch (error) {
    if (wavOut !== undefined) rmSync(`${wavOut}.partial`, { force: true });
    throw error;
  } finally {
    progress.done();
  }
  if (wavOut !== undefined) {
    writeFileWhole(wavOut, encodeWav(result.samples, { sampleRate, channels }));
  }
  const report = streamReport(result, sent);
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatStreamReport(report));
  return report.ok ? 0 : 1;
}

function bar(fraction: number, seconds: number): string {
  const width = 30;
  const filled = Math.round(fraction * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(fraction * seconds).toFixed(0)}/${seconds.toFixed(0)} s of audio`;
}

/**
 * `--stall` as given: PAUSE[@AT] items, comma-separated; each a number of ms, or of seconds with an `s`
 * (`ms` may be written). AT is where in the stream the host stops, default the middle.
 */
export function parseStalls(text: string, streamMs: number): HostStall[] {
  const stalls: HostStall[] = [];
  for (const item of text.split(",")) {
    const [pause, at, extra] = item.trim().split("@");
    const bad = (why: string) =>
      new UsageError(
        `--stall ${JSON.stringify(item.trim())}: ${why} (write PAUSE[@AT], e.g. 500@2000 or 2s@1.5s)`,
      );
    if (extra !== undefined) throw bad("one @ at most");
    const ms = duration(pause ?? "");
    if (ms === null || ms <= 0) throw bad("the pause must be a duration above 0");
    if (ms > 3_600_000) throw bad("the pause must be at most an hour");
    const atMs = at === undefined ? Math.floor(streamMs / 2) : duration(at);
    if (atMs === null || atMs < 0) throw bad("AT must be a duration from the stream's start");
    stalls.push({ ms, atMs });
  }
  stalls.sort((a, b) => a.atMs - b.atMs);
  // AT counts the machine's time, so earlier stalls lengthen the stream a later one may fall in.
  let earlierMs = 0;
  for (const stall of stalls) {
    if (stall.atMs >= streamMs + earlierMs)
      throw new UsageError(
        `--stall: a stall at ${stall.atMs} ms is past the end of the ${streamMs / 1000} s stream${earlierMs > 0 ? ` (+ ${earlierMs} ms of stalls before it)` : ""}`,
      );
    earlierMs += stall.ms;
  }
  return stalls;
}

/** "500", "500ms", "0.5s" → ms; null when not a finite duration. */
function duration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?|\.\d+)(ms|s)?$/.exec(text.trim());
  if (match === null) return null;
  const value = Number(match[1]) * (match[2] === "s" ? 1000 : 1);
  return Number.isFinite(value) ? value : null;
}

export interface StreamReport {
  /** PASS: the {@link problems} list is empty. */
  ok: boolean;
  /** Why the verdict is FAIL, one line each. */
  problems: string[];
  direction: string;
  host: string;
  format: { sampleRate: number; channels: number; bits: 16 };
  preset: { urbs: number; packetsPerUrb: number };
  packets: { ok: number; missed: number; errors: number };
  /** Packets the guest had to schedule late (its stream ran dry and restarted). */
  latePackets: number;
  /** Frames asked for: the guest records this many, or plays this many. */
  framesExpected: number;
  /** Frames the source side produced (for capture, including what the host never fetched in time). */
  framesSent: number;
  framesReceived: number;
  /** Frames lost or late (played as silence), wherever they were. */
  lostFrames: number;
  /** Of those, frames lost outside every stall and its 100 ms recovery. */
  lostOutsideStalls: number;
  bitExact: boolean;
  headLossFrames: number;
  tailLossFrames: number;
  /** The allowances the verdict uses, in ms of audio. */
  allowance: { headLossMs: number; tailLossMs: number; stallExtraMs: number };
  /** Each host stall: when (ms into the stream), how long, and the frames and ms of audio it cost. */
  stalls: (StallLoss & { lostMs: number })[];
  /** The frame-counter check: frames missing from the signal (part of lostFrames), frames inserted. */
  signal: { dropped: number; inserted: number } | null;
  latency: {
    /** Host µs from a device's completion call to its data in guest memory (async devices). */
    completionToMemoryUs: { p50: number; p99: number; max: number } | null;
    /** Frames from a URB's last TD to the guest driver seeing it. */
    completionToGuestFrames: { p50: number; p99: number; max: number };
  };
  hostSeconds: number;
}

function streamReport(result: SoftwareStreamResult, sent: Int16Array | null): StreamReport {
  const rate = result.format.sampleRate;
  const channels = result.format.channels;
  const problems = [...result.problems];
  let bitExact = result.bitExact;
  let headLossFrames = result.headLossFrames;
  let tailLossFrames = result.tailLossFrames;
  let lostFrames = result.lost.total;
  let lostOutsideStalls = result.lost.outsideStalls;
  let receivedFrames = result.framesReceived;
  if (sent !== null) {
    // A WAV: what arrived must be the WAV, sample for sample, from its first frame (playback may add
    // silence after it). Its first difference ends the comparison: without a frame counter, a gap cannot
    // be told from an alteration, so everything from there on counts as lost.
    const received = result.samples;
    const n = Math.min(sent.length, received.length);
    let same = n;
    for (let i = 0; i < n; i++) {
      if (received[i] !== sent[i]) {
        same = i;
        break;
      }
    }
    const sameFrames = Math.floor(same / channels);
    const sentFrames = sent.length / channels;
    bitExact = same === n;
    // Of what was sent: a speaker also gets the silence the guest plays after the WAV.
    receivedFrames = sameFrames;
    headLossFrames = 0;
    tailLossFrames = 0;
    lostFrames = Math.max(lostFrames, sentFrames - sameFrames);
    lostOutsideStalls = Math.max(lostOutsideStalls, sentFrames - sameFrames);
    if (!bitExact) problems.push(`what arrived differs from the WAV from frame ${sameFrames} on`);
    else if (sameFrames < sentFrames)
      problems.push(`${sameFrames} of the WAV's ${sentFrames} frames arrived`);
  }
  const pick = (s: { p50: number; p99: number; max: number }) => ({ p50: s.p50, p99: s.p99, max: s.max });
  const toMs = (frames: number) => Math.round((frames * 10_000) / rate) / 10;
  return {
    ok: problems.length === 0,
    problems,
    direction: result.direction,
    host: result.host,
    format: result.format,
    preset: result.preset,
    packets: result.packets,
    latePackets: result.lateRestarts,
    framesExpected: result.framesExpected,
    framesSent: result.framesSent,
    framesReceived: receivedFrames,
    lostFrames,
    lostOutsideStalls,
    bitExact,
    headLossFrames,
    tailLossFrames,
    allowance: {
      headLossMs: AudioAllowance.headLossMs,
      tailLossMs: AudioAllowance.tailLossMs,
      stallExtraMs: AudioAllowance.stallExtraMs,
    },
    stalls: result.stalls.map((s) => ({ ...s, lostMs: toMs(s.lostFrames) })),
    signal:
      result.check === null ? null : { dropped: result.lost.fromSignal, inserted: result.check.inserted },
    latency: {
      completionToMemoryUs: result.completionToMemoryUs === null ? null : pick(result.completionToMemoryUs),
      completionToGuestFrames: pick(result.urbLagFrames),
    },
    hostSeconds: Math.round(result.hostSeconds * 1000) / 1000,
  };
}

function formatStreamReport(r: StreamReport): string {
  const lat = r.latency.completionToMemoryUs;
  const rate = r.format.sampleRate;
  const head = framesIn(r.allowance.headLossMs, rate);
  const tail = framesIn(r.allowance.tailLossMs, rate);
  const lines = [
    `uhci stream — ${r.direction === "capture" ? "microphone → guest (iso IN)" : "guest → speaker (iso OUT)"}, ${r.host} device, ${r.format.sampleRate} Hz ${r.format.channels === 2 ? "stereo" : "mono"} 16-bit, ${r.preset.urbs} URBs × ${r.preset.packetsPerUrb} packets`,
    `  packets   ${r.packets.ok} ok, ${r.packets.missed} missed (-EXDEV), ${r.packets.errors} errors, ${r.latePackets} late restarts`,
    `  frames    asked ${r.framesExpected}, received ${r.framesReceived}, lost ${r.lostFrames} (${r.lostOutsideStalls} outside stalls)`,
    `  signal    ${r.bitExact ? "bit-exact" : "NOT bit-exact"}${r.signal === null ? " against the WAV" : `: dropped ${r.signal.dropped}, inserted ${r.signal.inserted}`}, head loss ${r.headLossFrames} (allowed ${head}), tail loss ${r.tailLossFrames} (allowed ${tail})`,
    ...r.stalls.map(
      (s) =>
        `  stall     ${s.ms} ms at ${s.atMs} ms: lost ${s.lostFrames} frames (${s.lostMs} ms; allowed ${s.ms + r.allowance.stallExtraMs} ms)`,
    ),
    `  latency   completion → guest driver: p50 ${r.latency.completionToGuestFrames.p50}, p99 ${r.latency.completionToGuestFrames.p99}, max ${r.latency.completionToGuestFrames.max} frames`,
    lat === null
      ? "            completion → guest memory: inside the frame walk (sync device)"
      : `            completion → guest memory: p50 ${lat.p50.toFixed(2)} µs, p99 ${lat.p99.toFixed(2)} µs, max ${lat.max.toFixed(1)} µs (host time)`,
    `  host      ${r.hostSeconds} s`,
    `  verdict   ${r.ok ? "PASS" : "FAIL"}`,
    ...r.problems.map((p) => `            - ${p}`),
  ];
  return `${lines.join("\n")}\n`;
}
