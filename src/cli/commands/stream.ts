import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { StreamDirection } from "../../devices/audio/audio-model.ts";
import { BufferSource } from "../../devices/audio/sources/buffer-source.ts";
import { decodeWav, encodeWav } from "../../devices/audio/wav.ts";
import { IsoPreset } from "../../guest/iso-presets.ts";
import { HostModel, runSoftwareStream, type SoftwareStreamResult } from "../../streaming/software-stream.ts";
import { flagHelp, parseFlags, UsageError } from "../args.ts";
import { checkOutputFile } from "../output-paths.ts";
import { Progress } from "../progress.ts";

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
  "wav-in": { kind: "string", help: "16-bit PCM WAV to send (default: the frame-counter test signal)" },
  "wav-out": { kind: "string", help: "write what arrived as a WAV file" },
  json: { kind: "boolean", help: "print the report as JSON on stdout" },
  quiet: { kind: "boolean", help: "no progress bar" },
} as const;

export const STREAM_HELP = `uhci stream — stream audio through the UHCI controller with the software guest driver (no
emulator), on a virtual clock as fast as the host allows. The microphone sends to the guest (iso IN),
the guest sends to the speaker (iso OUT). Reports packets, missed (-EXDEV) and late packets, latency,
and whether what arrived is bit-exact.

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
  const input = flags["wav-in"] === undefined ? null : readWav(flags["wav-in"]);
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
  const seconds = flags.seconds ?? (input === null ? 10 : input.samples.length / channels / sampleRate);
  const preset =
    PRESETS[
      (flags.preset ??
        (direction === StreamDirection.Capture ? "linux-capture" : "linux-playback")) as keyof typeof PRESETS
    ];
  const urbs = flags.urbs ?? preset.urbs;
  const packetsPerUrb = flags.packets ?? preset.packetsPerUrb;
  const wavOut = flags["wav-out"];
  // Fail now, not after the stream, if the output cannot be written (output-paths.ts).
  if (wavOut !== undefined) checkOutputFile("--wav-out", wavOut);

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
      ...(input === null
        ? {}
        : direction === StreamDirection.Capture
          ? { source: new BufferSource(input.samples, channels) }
          : { playback: input.samples }),
      onProgress: (fraction) => progress.update(bar(fraction, seconds)),
    });
  } catch (error) {
    if (wavOut !== undefined) rmSync(`${wavOut}.partial`, { force: true });
    throw error;
  } finally {
    progress.done();
  }
  if (wavOut !== undefined) {
    writeFileSync(`${wavOut}.partial`, encodeWav(result.samples, { sampleRate, channels }));
    renameSync(`${wavOut}.partial`, wavOut);
  }
  const report = streamReport(result, input?.samples ?? null);
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatStreamReport(report));
  return report.ok ? 0 : 1;
}

function bar(fraction: number, seconds: number): string {
  const width = 30;
  const filled = Math.round(fraction * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(fraction * seconds).toFixed(0)}/${seconds.toFixed(0)} s of audio`;
}

export interface StreamReport {
  ok: boolean;
  direction: string;
  host: string;
  format: { sampleRate: number; channels: number; bits: 16 };
  preset: { urbs: number; packetsPerUrb: number };
  packets: { ok: number; missed: number; errors: number };
  /** Packets the guest had to schedule late (its stream ran dry and restarted). */
  latePackets: number;
  framesSent: number;
  framesReceived: number;
  lostFrames: number;
  bitExact: boolean;
  signal: { dropped: number; inserted: number; headLossFrames: number; tailLossFrames: number | null } | null;
  latency: {
    /** Host µs from a device's completion call to its data in guest memory (async devices). */
    completionToMemoryUs: { p50: number; p99: number; max: number } | null;
    /** Frames from a URB's last TD to the guest driver seeing it. */
    completionToGuestFrames: { p50: number; p99: number; max: number };
  };
  hostSeconds: number;
}

function streamReport(result: SoftwareStreamResult, sent: Int16Array | null): StreamReport {
  let bitExact: boolean;
  let lostFrames: number;
  if (result.check !== null) {
    bitExact = result.check.bitExact && result.check.dropped === 0 && result.check.inserted === 0;
    lostFrames = Math.max(0, result.framesSent - result.framesReceived) + result.check.dropped;
  } else {
    // A WAV: what arrived must be the WAV sample for sample (playback may add silence after it).
    const received = result.samples;
    const n = Math.min(sent?.length ?? 0, received.length);
    let same = n;
    for (let i = 0; i < n; i++) {
      if (received[i] !== sent![i]) {
        same = i;
        break;
      }
    }
    bitExact = same === n;
    lostFrames = Math.max(0, (sent?.length ?? 0) - received.length) / result.format.channels;
  }
  const pick = (s: { p50: number; p99: number; max: number }) => ({ p50: s.p50, p99: s.p99, max: s.max });
  return {
    ok: result.packets.missed === 0 && result.packets.errors === 0 && bitExact && lostFrames === 0,
    direction: result.direction,
    host: result.host,
    format: result.format,
    preset: result.preset,
    packets: result.packets,
    latePackets: result.lateRestarts,
    framesSent: result.framesSent,
    framesReceived: result.framesReceived,
    lostFrames,
    bitExact,
    signal:
      result.check === null
        ? null
        : {
            dropped: result.check.dropped,
            inserted: result.check.inserted,
            headLossFrames: result.check.headLossFrames,
            tailLossFrames: result.check.tailLossFrames,
          },
    latency: {
      completionToMemoryUs: result.completionToMemoryUs === null ? null : pick(result.completionToMemoryUs),
      completionToGuestFrames: pick(result.urbLagFrames),
    },
    hostSeconds: Math.round(result.hostSeconds * 1000) / 1000,
  };
}

function formatStreamReport(r: StreamReport): string {
  const lat = r.latency.completionToMemoryUs;
  const lines = [
    `uhci stream — ${r.direction === "capture" ? "microphone → guest (iso IN)" : "guest → speaker (iso OUT)"}, ${r.host} device, ${r.format.sampleRate} Hz ${r.format.channels === 2 ? "stereo" : "mono"} 16-bit, ${r.preset.urbs} URBs × ${r.preset.packetsPerUrb} packets`,
    `  packets   ${r.packets.ok} ok, ${r.packets.missed} missed (-EXDEV), ${r.packets.errors} errors, ${r.latePackets} late restarts`,
    `  frames    sent ${r.framesSent}, received ${r.framesReceived}, lost ${r.lostFrames}`,
    r.signal === null
      ? `  signal    ${r.bitExact ? "bit-exact" : "NOT bit-exact"} against the WAV`
      : `  signal    ${r.bitExact ? "bit-exact" : "NOT bit-exact"}: dropped ${r.signal.dropped}, inserted ${r.signal.inserted}, head loss ${r.signal.headLossFrames}, tail loss ${r.signal.tailLossFrames ?? "n/a"}`,
    `  latency   completion → guest driver: p50 ${r.latency.completionToGuestFrames.p50}, p99 ${r.latency.completionToGuestFrames.p99}, max ${r.latency.completionToGuestFrames.max} frames`,
    lat === null
      ? "            completion → guest memory: inside the frame walk (sync device)"
      : `            completion → guest memory: p50 ${lat.p50.toFixed(2)} µs, p99 ${lat.p99.toFixed(2)} µs, max ${lat.max.toFixed(1)} µs (host time)`,
    `  host      ${r.hostSeconds} s`,
    `  verdict   ${r.ok ? "PASS" : "FAIL"}`,
  ];
  return `${lines.join("\n")}\n`;
}
