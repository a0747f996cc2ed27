/**
 * The browser lane's harness: the demo server (scripts/demo.mjs) and Debian's chromium driven by
 * puppeteer-core, with a fake microphone playing a WAV the test writes. Not a test file itself.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
// @ts-expect-error scripts/demo.mjs is plain JavaScript without declarations.
import { startDemoServer } from "../../scripts/demo.mjs";
import { encodeWav } from "../../src/devices/audio/wav.ts";
import type { AudioBridgeStats } from "../../src/web/audio-bridge.ts";

export const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
export const OUTPUT_DIR = join(process.cwd(), "test-output", "browser");

export interface DemoServer {
  url: string;
  close(): Promise<void>;
}

/** Writes `samples` (interleaved 16-bit) as a WAV file for Chromium's fake microphone; returns its path. */
export function writeFakeMicrophone(
  name: string,
  samples: Int16Array,
  sampleRate: number,
  channels: number,
): string {
  const path = join(tmpdir(), `uhci-browser-${process.pid}-${name}.wav`);
  writeFileSync(path, encodeWav(samples, { sampleRate, channels }));
  return path;
}

export async function startDemo(): Promise<DemoServer> {
  return (await startDemoServer({ port: 0, quiet: true })) as DemoServer;
}

/**
 * Headless chromium with a fake microphone (the WAV at `microphoneWav`, looped), permission granted
 * without a prompt and audio allowed to start without a gesture. `--no-sandbox`: CI runs as root.
 */
export async function launchChromium(microphoneWav: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-dev-shm-usage",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      `--use-file-for-fake-audio-capture=${microphoneWav}`,
      "--autoplay-policy=no-user-gesture-required",
      "--window-size=1600,1000",
    ],
    defaultViewport: { width: 1600, height: 1000 },
  });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const path = join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Decodes the base64 of little-endian 16-bit samples. */
export function int16FromBase64(base64: string): Int16Array {
  const bytes = Buffer.from(base64, "base64");
  const out = new Int16Array(bytes.byteLength >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(2 * i);
  return out;
}

/** Channel `channel` of interleaved samples. */
export function channelOf(samples: Int16Array, channels: number, channel: number): Int16Array {
  const out = new Int16Array(Math.floor(samples.length / channels));
  for (let i = 0; i < out.length; i++) out[i] = samples[i * channels + channel] ?? 0;
  return out;
}

/** A break in a resampled frame counter: between frames `at − 1` and `at` it stepped by `step`. */
export interface CounterBreak {
  readonly at: number;
  readonly from: number;
  readonly to: number;
}

export interface CounterReport {
  /** Index of the first non-zero sample (the stream's start); −1 when all is silence. */
  readonly start: number;
  /** Frames checked: from the start to the last non-zero sample. */
  readonly frames: number;
  /** Steps outside 0..2: a gap, a repeat run, a jump back, silence. */
  readonly breaks: number;
  readonly firstBreaks: readonly CounterBreak[];
  /** Mean step: the resampling ratio the counter shows (1 = none). */
  readonly meanStep: number;
  /** Frames in the counter's wrap zone (32767 → −32768) whose steps were not judged: see WRAP_ZONE. */
  readonly wrapFrames: number;
}

/**
 * Reads channel 0 of the frame-counter signal after it went through a resampler (the WebAudio bridge's
 * drift control moves the ratio a little from 1 even when the rates match, so samples are interpolated
 * and the counter is not bit-exact). What must hold instead is that the counter decodes everywhere: from
 * its first non-zero sample on, every step is 0, 1 or 2 (a ratio near 1, rounded), so nothing was
 * dropped, inserted, repeated or silenced. A frame interpolated across the 32767 → −32768 wrap lands
 * in between; it is counted apart when its neighbours are on both sides of the wrap.
 */
/** |sample| above which a step is inside the counter's wrap zone (the top and bottom 3 % of its range). */
const WRAP_ZONE = 31767;
/** Frames either side of a wrap whose steps are not judged. */
const WRAP_FRAMES = 8;

export function checkResampledCounter(samples: Int16Array): CounterReport {
  const start = samples.findIndex((v) => v !== 0);
  const firstBreaks: CounterBreak[] = [];
  let breaks = 0;
  let wrapFrames = 0;
  if (start === -1) return { start, frames: 0, breaks: 0, firstBreaks, meanStep: 0, wrapFrames };
  const step = (a: number, b: number) => ((b - a + 32768) & 0xffff) - 32768;
  const fine = (d: number) => d >= 0 && d <= 2;
  // Trailing silence is the stream's end (a playback that finished), not a break.
  let end = samples.length;
  while (end > start && samples[end - 1] === 0) end--;
  // Where the counter wraps: from the top quarter to the bottom quarter within 4 frames (a resampler
  // may put a frame or two anywhere in between).
  const wraps: number[] = [];
  for (let k = start + 1; k < end; k++) {
    if (samples[k - 1]! <= 16384) continue;
    for (let j = k; j < Math.min(end, k + 4); j++) {
      if (samples[j]! < -16384) {
        wraps.push(k);
        break;
      }
    }
  }
  const nearWrap = (k: number) => wraps.some((w) => Math.abs(w - k) <= WRAP_FRAMES);
  let advance = 0;
  for (let k = start + 1; k < end; k++) {
    const prev = samples[k - 1]!;
    const cur = samples[k]!;
    const d = step(prev, cur);
    if (fine(d)) {
      advance += d;
      continue;
    }
    // The resampler rings the same way where the stream starts from and ends in silence.
    if (k - start <= WRAP_FRAMES || end - k <= WRAP_FRAMES) continue;
    // Around the wrap a resampler on the way rings: the bridge's cubic overshoots the full-scale step by
    // thousands for a few frames (clipped at ±32767), a band-limited one by tens over ~100 frames.
    // Steps there are not the stream's.
    if ((Math.abs(prev) > WRAP_ZONE && Math.abs(cur) > WRAP_ZONE) || nearWrap(k)) {
      wrapFrames++;
      continue;
    }
    const next = samples[k + 1];
    if (
      prev > 32000 &&
      next !== undefined &&
      next < -32000 &&
      step(prev, next) >= 0 &&
      step(prev, next) <= 4
    ) {
      // Frame k lies between the two sides of the wrap; the step over it is what counts.
      wrapFrames++;
      k++;
      continue;
    }
    breaks++;
    if (firstBreaks.length < 16) firstBreaks.push({ at: k, from: prev, to: cur });
  }
  const frames = end - start;
  return {
    start,
    frames,
    breaks,
    firstBreaks,
    meanStep: frames > 1 ? advance / (frames - 1) : 0,
    wrapFrames,
  };
}

/** The microphone bridge's counts of what its source failed to deliver (uhci/web AudioBridgeStats). */
export type SourceCounts = Pick<
  AudioBridgeStats,
  "sourceGaps" | "sourceGapFrames" | "silentRuns" | "silentFrames" | "longestSilentRun"
>;
