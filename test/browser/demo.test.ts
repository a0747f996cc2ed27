/**
 * The demo page in a real browser (issue 11, item 3): Debian's chromium, headless, with a fake
 * microphone playing the frame-counter test signal, boots the bundled Linux guest in v86 with the UHCI
 * controller, and the guest
 * - records the microphone through the USB headset: the counter arrives with nothing dropped, inserted
 *   or repeated after the stream starts;
 * - plays the test signal: a tap on the speaker bridge's output receives it, checked the same way;
 * - gets what is typed into the page as key events and the page's pointer as absolute evdev events at
 *   the coordinates the page computed;
 * - sees the headset and the keyboard unplugged mid-stream and re-enumerates them when they come back;
 * - carries on after a save and restore of the whole machine (audio included).
 * It also measures the mic → guest → speaker round trip with the loopback (docs/benchmarks.md).
 * One boot for everything (it takes a minute or more on two busy cores); a screenshot of each step goes
 * to test-output/browser/. Run with `npm run test:browser` (needs `apt-get install chromium`).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import type { Browser, Page } from "puppeteer-core";
import { START_WAIT_PACKETS } from "../../demo/audio-switch.ts";
import { AbsCode, BtnCode, EvType, linuxKeycode } from "../../src/cli/linux-input.ts";
import { DEFAULT_HOST_STALL_POLICY } from "../../src/controller/uhci/frame-clock.ts";
import { checkTestSignal, type TestSignalReport } from "../../src/devices/audio/signal-check.ts";
import { generateTestSignal } from "../../src/devices/audio/test-signal.ts";
import { KeyUsage } from "../../src/devices/hid/keyboard-usages.ts";
import { quantileSorted } from "../../src/streaming/percentiles.ts";
import {
  CHROMIUM,
  channelOf,
  checkResampledCounter,
  type DemoServer,
  int16FromBase64,
  launchChromium,
  OUTPUT_DIR,
  type SourceCounts,
  screenshot,
  startDemo,
  writeFakeMicrophone,
} from "./browser.ts";

const RATE = 48000;
/** The fake microphone: 60 s of the mono frame counter, looped by Chromium. */
const MIC_SECONDS = 60;

interface GuestEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

/** What the tests read of the page's `window.demo` (demo/main.ts), evaluated inside the page. */
const DEMO = "window.demo";

let server: DemoServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

async function inPage<T>(expression: string): Promise<T> {
  return (await page.evaluate(expression)) as T;
}

/** Agent events (ttyS1) from index `from` on. */
async function agentEvents(from = 0): Promise<GuestEvent[]> {
  return inPage<GuestEvent[]>(`${DEMO}.agent.events.slice(${from})`);
}

async function eventCount(): Promise<number> {
  return inPage<number>(`${DEMO}.agent.events.length`);
}

/** Runs a command in the guest's agent and waits for an event it produces (after this call). */
async function runAndWait(
  command: string,
  until: (e: GuestEvent) => boolean,
  timeoutMs: number,
): Promise<GuestEvent[]> {
  const from = await eventCount();
  await page.evaluate(`${DEMO}.run(${JSON.stringify(command)})`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await agentEvents(from);
    if (events.some(until)) return events;
    if (Date.now() > deadline) {
      throw new Error(
        `'${command}': no matching event in ${timeoutMs} ms; got ${JSON.stringify(events).slice(0, 600)}`,
      );
    }
    await sleep(200);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface TreeRow {
  path: string;
  product: string;
  drivers: string;
}

async function waitForTree(
  check: (rows: TreeRow[]) => boolean,
  timeoutMs: number,
  what: string,
): Promise<TreeRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await inPage<TreeRow[]>(`${DEMO}.tree()`);
    if (check(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`${what}: the guest's USB tree is ${JSON.stringify(rows)}`);
    await sleep(500);
  }
}

const has = (rows: TreeRow[], path: string, driver: string) =>
  rows.some((row) => row.path === path && row.drivers.split(" ").includes(driver));

/** Breaks in the microphone stream itself, tapped before the bridge, while `during` runs. */
async function micStreamBreaks<T>(during: () => Promise<T>): Promise<{ result: T; breaks: number }> {
  await page.evaluate(`${DEMO}.microphoneTap.start()`);
  const result = await during();
  const tap = await inPage<{ channels: number; base64: string }>(`${DEMO}.microphoneTap.stop()`);
  const report = checkResampledCounter(channelOf(int16FromBase64(tap.base64), tap.channels, 0));
  return { result, breaks: report.breaks };
}

/** Records `frames` mono frames in the guest and returns them. */
async function recordInGuest(name: string, frames: number): Promise<Int16Array> {
  const events = await runAndWait(`rec ${RATE} 1 ${frames} ${name}`, (e) => e.event === "blob-end", 60_000);
  const begin = events.find((e) => e.event === "blob-begin");
  if (begin?.["rc"] !== 0) {
    const lines = await inPage<string[]>(`${DEMO}.agent.lines.slice(-10)`);
    assert.fail(
      `arecord failed: ${JSON.stringify(events).slice(0, 300)}; its messages: ${lines.join(" | ")}`,
    );
  }
  return int16FromBase64(await inPage<string>(`${DEMO}.agent.blobs.get(${JSON.stringify(name)})`));
}

/** What a bridge counted lost, with the microphone's source counts (what its source failed to deliver). */
interface BridgeLoss extends SourceCounts {
  underruns: number;
  overruns: number;
  underrunFrames: number;
  overrunFrames: number;
  latencyMs: number;
  fillMs: number;
  targetMs: number;
  contextRate: number;
}

async function bridgeStats(): Promise<{
  microphone: BridgeLoss | null;
  speaker: BridgeLoss | null;
  profile: string;
}> {
  return inPage(`${DEMO}.stats()`);
}

interface FrameGaps {
  maxGapMs: number;
  maxAheadMs: number;
  maxBehindMs: number;
  over10: number;
  over20: number;
  over50: number;
  packets: number;
}

/** The page's main thread during a step (demo/main.ts, `responsiveness()`). */
interface Responsiveness {
  longTasks: number;
  longestTaskMs: number;
  microphoneGaps: FrameGaps;
  speakerGaps: FrameGaps;
}

interface StepReport {
  step: string;
  microphoneLoss: number;
  speakerLoss: number;
  /** Under- and overrun events per bridge during the step: [microphone, speaker]. */
  underruns: [number, number];
  overruns: [number, number];
  /**
   * What the microphone's source failed to deliver during the step, counted in the bridge's worklet
   * before the bridge: stretches of input with no channels, and runs of ≥ 64 frames with no signal
   * (exact zeros or no channels), in ms at the context's rate; the longest run if it grew in the step.
   */
  source: { gaps: number; gapMs: number; silentRuns: number; silentMs: number; longestRunMs: number | null };
  responsiveness: Responsiveness;
}

/** Every audio step's counted loss and the main thread's responsiveness during it, for the report. */
const stepReports: StepReport[] = [];

/**
 * Runs an audio step and measures it: the frames each bridge counted as lost (under- and overruns)
 * while it ran, and the page's responsiveness (its longest main-thread task, the largest gap between
 * the headset's 1 ms USB packets). Printed, and written to test-output/browser/steps.json at the end.
 */
async function audioStep<T>(step: string, run: () => Promise<T>): Promise<{ result: T; report: StepReport }> {
  await page.evaluate(`${DEMO}.resetResponsiveness()`);
  const before = await bridgeStats();
  const result = await run();
  const now = await bridgeStats();
  const report: StepReport = {
    step,
    microphoneLoss: countedLoss(before.microphone, now.microphone),
    speakerLoss: countedLoss(before.speaker, now.speaker),
    underruns: [
      (now.microphone?.underruns ?? 0) - (before.microphone?.underruns ?? 0),
      (now.speaker?.underruns ?? 0) - (before.speaker?.underruns ?? 0),
    ],
    overruns: [
      (now.microphone?.overruns ?? 0) - (before.microphone?.overruns ?? 0),
      (now.speaker?.overruns ?? 0) - (before.speaker?.overruns ?? 0),
    ],
    source: sourceSilence(before.microphone, now.microphone),
    responsiveness: await inPage<Responsiveness>(`${DEMO}.responsiveness()`),
  };
  stepReports.push(report);
  process.stdout.write(`audio step: ${JSON.stringify(report)}\n`);
  return { result, report };
}

/** Frames the bridge itself counted as lost (underruns and overruns) on one side since `before`. */
function countedLoss(before: BridgeLoss | null, now: BridgeLoss | null): number {
  if (before === null || now === null) return 0;
  return now.underrunFrames - before.underrunFrames + (now.overrunFrames - before.overrunFrames);
}

/**
 * What the microphone's source failed to deliver between two readings of its bridge (0 without one; a
 * count that went down is another bridge, the loopback's, and counts from 0).
 */
function sourceSilence(before: BridgeLoss | null, now: BridgeLoss | null): StepReport["source"] {
  if (now === null) return { gaps: 0, gapMs: 0, silentRuns: 0, silentMs: 0, longestRunMs: null };
  const since = (key: "sourceGaps" | "sourceGapFrames" | "silentRuns" | "silentFrames") =>
    before === null || now[key] < before[key] ? now[key] : now[key] - before[key];
  const ms = (frames: number) => Math.round((frames * 10000) / now.contextRate) / 10;
  return {
    gaps: since("sourceGaps"),
    gapMs: ms(since("sourceGapFrames")),
    silentRuns: since("silentRuns"),
    silentMs: ms(since("silentFrames")),
    longestRunMs: now.longestSilentRun > (before?.longestSilentRun ?? 0) ? ms(now.longestSilentRun) : null,
  };
}

/** Whether the microphone's source reported a gap during the step, in words for a message. */
function sourceSaid(step: StepReport): string {
  const s = step.source;
  if (s.gaps + s.silentRuns === 0) return "the microphone's source reported no gap during the step";
  return (
    `the microphone's source reported gaps during the step (before the bridge): ${s.silentRuns} run(s) ` +
    `with no signal, ${s.silentMs} ms in all${s.longestRunMs === null ? "" : `, the longest ${s.longestRunMs} ms`}; ` +
    `${s.gaps} stretch(es) with no channels, ${s.gapMs} ms`
  );
}

/**
 * The controller's host-pause threshold: USB frames that ran this late (the page's main thread, and
 * v86 with it, stood still) are a host pause, in which a playback stream loses about the pause by
 * design (frame-clock.ts, HostStallPolicy "replay"). No buffer of an interactive size covers that.
 */
const HOST_PAUSE_MS = DEFAULT_HOST_STALL_POLICY.thresholdMs;

/**
 * Runs an audio step (see {@link audioStep}) up to three times: again only when a bridge counted a loss
 * AND the host starved the page meanwhile — USB packets {@link HOST_PAUSE_MS} or more late, in one gap
 * or in all (behind the wall clock since the stream started: v86 ran slower than real time for a
 * while, as the controller's own host-pause test counts it), or the microphone stream broken before it
 * reached the bridge (Chromium's fake capture device starved: the tap's counter broke, or the bridge's
 * worklet saw its input come with no channels or exact zeros, AudioBridgeStats.sourceGaps/silentRuns).
 * A loss without any of these is returned at once (and fails the step): the bridges' steady profile is sized for every lag shorter than a host
 * pause. Every attempt is in the printed report and steps.json.
 */
async function audioStepRetried<T>(
  step: string,
  run: () => Promise<T>,
  upstreamBreaks: (result: T) => number = () => 0,
): Promise<{ result: T; report: StepReport }> {
  for (let attempt = 1; ; attempt++) {
    const out = await audioStep(attempt === 1 ? step : `${step} (attempt ${attempt})`, run);
    const { report } = out;
    // A microphone stream already broken before the bridge is retried too: it would make the step a todo.
    const lost = report.microphoneLoss + report.speakerLoss > 0 || upstreamBreaks(out.result) > 0;
    const { microphoneGaps: mic, speakerGaps: speaker } = report.responsiveness;
    const gap = Math.max(mic.maxGapMs, speaker.maxGapMs, mic.maxBehindMs, speaker.maxBehindMs);
    const sourceGaps = report.source.gaps + report.source.silentRuns;
    const starved = gap >= HOST_PAUSE_MS || upstreamBreaks(out.result) > 0 || sourceGaps > 0;
    if (!lost || !starved || attempt === 3) return out;
    process.stdout.write(
      `audio step '${step}': lost audio while the host starved the page (USB packets up to ${gap.toFixed(0)} ms late, ` +
        `${upstreamBreaks(out.result)} breaks before the bridge; ${sourceSaid(report)}); again\n`,
    );
  }
}

/**
 * The frame counter arrived whole: bit-exact where nothing resampled it; otherwise (the bridge's drift
 * control interpolates) it decodes everywhere, every step 0–2 frames from its start to its end
 * (browser.ts, checkResampledCounter), over at least `minFrames` frames of signal.
 *
 * Any frame a bridge counted as lost (an underrun or overrun while the audio crossed) fails, whether or
 * not it fell inside the recording: the page's steady profile (demo/main.ts, Tuning) gives the bridges
 * room for this page's main-thread stalls, so a counted break is data lost that the step must not have.
 * The failure carries the step's responsiveness (longest task, USB packet gaps) to say why. A break
 * the bridge did not count is a silent drop or repeat, which the issue forbids: that fails too. A break
 * that arrived already broken in the microphone stream (tapped before the bridge, with the bridge
 * counting nothing) is the browser's capture path, upstream of anything here: reported as a todo.
 * Every failure first says whether the microphone's source reported gaps during the step (no
 * channels, or runs of exact zeros, counted in the bridge's worklet before the bridge).
 */
function assertCounterWhole(
  t: TestContext,
  mono: Int16Array,
  minFrames: number,
  step: StepReport,
  exact: TestSignalReport = checkTestSignal(mono, 1),
  upstreamBreaks = 0,
): void {
  const report = checkResampledCounter(mono);
  const lossCounted = step.microphoneLoss + step.speakerLoss;
  const why = `${sourceSaid(step)}; ${JSON.stringify({
    resampled: report,
    step,
    breaksInMicrophoneStream: upstreamBreaks,
    exact: { ...exact, events: exact.events.slice(0, 6) },
  })}`;
  assert.equal(lossCounted, 0, `the bridges counted frames lost during the step: ${why}`);
  assert.ok(report.start >= 0, `no signal: ${why}`);
  if (exact.bitExact && exact.dropped === 0) return;
  if (report.breaks > 0 && upstreamBreaks > 0) {
    t.todo(
      `${report.breaks} break(s) in the counter, and the microphone stream itself (tapped before the ` +
        `bridge) had ${upstreamBreaks}: lost in the browser's capture path, upstream of the bridge`,
    );
    return;
  }
  assert.equal(report.breaks, 0, why);
  assert.ok(report.frames * report.meanStep >= minFrames, `too little signal: ${why}`);
}

/**
 * Silence a guest recording may start with: the microphone bridge primes only once the guest's packets
 * keep real-time pace (uhci/web, START_WAIT_PACKETS: at most 250 packets, re-exported by
 * demo/audio-switch.ts), its ring held at half the steady target meanwhile, then fills it to the target
 * (demo/main.ts: 40 ms; 20 ms from half) before the guest's first packets carry signal; 60 ms more for
 * the guest's own stream start. Seen: 110 ms after the loopback left USB seconds behind.
 */
const RECORDING_LEAD_FRAMES = ((START_WAIT_PACKETS + 40 + 60) / 1000) * RATE;

/**
 * A guest recording of the fake microphone is whole: the counter (assertCounterWhole) starts within
 * {@link RECORDING_LEAD_FRAMES} and then runs to the recording's last frame. arecord always returns
 * the frames asked for, so silence at its end is signal the microphone stopped delivering.
 */
function assertRecordingWhole(
  t: TestContext,
  mono: Int16Array,
  step: StepReport,
  upstreamBreaks: number,
): void {
  assertCounterWhole(t, mono, mono.length - RECORDING_LEAD_FRAMES, step, undefined, upstreamBreaks);
  const { start, frames } = checkResampledCounter(mono);
  const why = `${sourceSaid(step)}; ${JSON.stringify({ start, frames, recorded: mono.length, step })}`;
  assert.ok(start <= RECORDING_LEAD_FRAMES, `the signal started late: ${why}`);
  // The counter passes 0 once in 65536 frames: a last frame of 0 is not the stream's end.
  assert.ok(mono.length - (start + frames) <= 1, `the signal stopped before the recording's end: ${why}`);
}

type Tap = { firstFrame: number; channels: number; base64: string };

/**
 * The loopback's round trips (ms) in one pair of taps. Marks: 20 points of the counter, 200 ms apart,
 * from 0.5 s in. Each counter value occurs once in 65536 frames (1.37 s), so where it reappears in the
 * output is that mark's round trip, as a click would be (the counter is a click on every frame).
 */
function roundTrips(input: Tap, output: Tap): number[] {
  const inSamples = channelOf(int16FromBase64(input.base64), input.channels, 0);
  const outSamples = channelOf(int16FromBase64(output.base64), output.channels, 0);
  const latencies: number[] = [];
  for (let k = 0; k < 20; k++) {
    const at = RATE / 2 + k * (RATE / 5);
    const value = inSamples[at];
    if (value === undefined) break;
    const absolute = input.firstFrame + at;
    // The output is the input, resampled or not, so the mark is where the counter passes its value:
    // out[j] ≤ value ≤ out[j + 1] on a rising step of at most 2. Within half the counter's period
    // (683 ms): beyond it the same value comes round again.
    const from = Math.max(0, absolute - output.firstFrame);
    for (let j = from; j + 1 < outSamples.length && j < from + 32768; j++) {
      const a = outSamples[j]!;
      const b = outSamples[j + 1]!;
      if (a <= value && value <= b && b - a <= 2) {
        latencies.push(((output.firstFrame + j - absolute) / RATE) * 1000);
        break;
      }
    }
  }
  return latencies;
}

describe("the demo page in chromium", () => {
  before(async () => {
    // The lane exists to run in a real browser: without one it fails, saying how to get it.
    if (!existsSync(CHROMIUM)) {
      throw new Error(`no ${CHROMIUM}: apt-get install chromium (or set CHROMIUM to a Chromium binary)`);
    }
    mkdirSync(OUTPUT_DIR, { recursive: true });
    const microphone = writeFakeMicrophone("counter", generateTestSignal(RATE * MIC_SECONDS, 1), RATE, 1);
    server = await startDemo();
    browser = await launchChromium(microphone);
    page = await browser.newPage();
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(`console: ${message.text()}`);
    });
    // DEMO_QUERY (e.g. "loopMic=6,60&loop=96,768,4000"): the page's tuning parameters (demo/main.ts,
    // readTuning), to measure other settings without editing the page.
    await page.goto(`${server.url}${process.env["DEMO_QUERY"] ? `?${process.env["DEMO_QUERY"]}` : ""}`);
    await page.waitForFunction(`${DEMO} !== undefined`, { timeout: 60_000 });
    // The guest boots (10–20 s alone; a minute or more on two shared cores), then the agent starts.
    await page.waitForFunction(`${DEMO}.agent.events.some((e) => e.event === "agent")`, {
      timeout: 240_000,
      polling: 500,
    });
  });

  after(async () => {
    if (stepReports.length > 0) {
      writeFileSync(join(OUTPUT_DIR, "steps.json"), `${JSON.stringify(stepReports, null, 2)}\n`);
    }
    await browser?.close();
    await server?.close();
  });

  it("boots with the headset, keyboard and tablet bound to their drivers", async () => {
    const rows = await waitForTree(
      (r) => has(r, "1-1", "snd-usb-audio") && has(r, "1-2", "usbhid") && has(r, "1-3", "usbhid"),
      30_000,
      "enumeration",
    );
    assert.equal(rows.length, 3);
    const messages = await inPage<string[]>(`${DEMO}.messages`);
    // The fake microphone was granted: nothing says the microphone is silent or audio is unavailable.
    assert.deepEqual(
      messages.filter((m) => /silent|No audio|blocked/.test(m)),
      [],
    );
    await screenshot(page, "01-booted");
  });

  it("records the microphone through the headset: the counter arrives whole", async (t) => {
    const { result, report } = await audioStepRetried(
      "record",
      () => micStreamBreaks(() => recordInGuest("mic", RATE * 2)),
      (r) => r.breaks,
    );
    assertRecordingWhole(t, result.result, report, result.breaks);
    await screenshot(page, "02-recorded");
  });

  it("plays the test signal into the page: the speaker tap receives it whole", async (t) => {
    const frames = RATE * 2;
    const { result: tap, report } = await audioStepRetried("play", async () => {
      await page.evaluate(`${DEMO}.speakerTap.start()`);
      const events = await runAndWait(
        `play ${RATE} 2 ${frames} ${RATE / 20}`,
        (e) => e.event === "play-end",
        60_000,
      );
      assert.equal(events.find((e) => e.event === "play-end")?.["rc"], 0);
      await sleep(500);
      return inPage<{ channels: number; gaps: number; base64: string }>(`${DEMO}.speakerTap.stop()`);
    });
    assert.equal(tap.channels, 2);
    assert.equal(tap.gaps, 0, "the tap missed render quanta");
    const samples = int16FromBase64(tap.base64);
    const exact = checkTestSignal(samples, 2, { expectedFrames: frames });
    // Linux never sends a playback's last packets (signal-check.ts): most of it, not all, arrives.
    assertCounterWhole(t, channelOf(samples, 2, 0), frames * 0.9, report, exact);
    await screenshot(page, "03-played");
  });

  it("types into the guest and moves its pointer: key and absolute evdev events", async () => {
    const from = await eventCount();
    await page.evaluate(`${DEMO}.run("inputs 12000")`);
    await page.waitForFunction(`${DEMO}.agent.events.slice(${from}).some((e) => e.event === "input-open")`, {
      timeout: 20_000,
    });
    const rect = await inPage<{ x: number; y: number; width: number; height: number }>(
      `(() => { const r = document.getElementById("screen").getBoundingClientRect(); return { x: r.left, y: r.top, width: r.width, height: r.height }; })()`,
    );
    const points = [
      { fx: 0.25, fy: 0.5 },
      { fx: 0.75, fy: 0.2 },
    ].map(({ fx, fy }) => ({
      x: Math.round(rect.x + fx * rect.width),
      y: Math.round(rect.y + fy * rect.height),
    }));
    // What the page sends: the tablet's 0..32767 across the screen element (demo/main.ts).
    const expected = points.map((p) => ({
      x: Math.round(((p.x - rect.x) / rect.width) * 32767),
      y: Math.round(((p.y - rect.y) / rect.height) * 32767),
    }));
    for (const point of points) {
      await page.mouse.move(point.x, point.y);
      await page.mouse.down();
      await sleep(100);
      await page.mouse.up();
      await sleep(300);
    }
    await page.keyboard.type("hello", { delay: 60 });
    await screenshot(page, "04-input");
    await page.waitForFunction(
      `${DEMO}.agent.events.slice(${from}).some((e) => e.event === "input-summary")`,
      { timeout: 30_000 },
    );
    const events = await agentEvents(from);
    const nodes = new Map(
      events.filter((e) => e.event === "input-device").map((e) => [String(e["node"]), String(e["name"])]),
    );
    const nodeOf = (word: string) => [...nodes].find(([, name]) => name.includes(word))?.[0];
    const keyboardNode = nodeOf("Keyboard");
    const tabletNode = nodeOf("Tablet");
    assert.ok(
      keyboardNode !== undefined && tabletNode !== undefined,
      `input nodes: ${JSON.stringify([...nodes])}`,
    );
    const input = events.filter((e) => e.event === "input");

    const pressed = input
      .filter((e) => e["node"] === keyboardNode && e["type"] === EvType.KEY && e["value"] === 1)
      .map((e) => e["code"]);
    const word = ["H", "E", "L", "L", "O"].map((k) => linuxKeycode(KeyUsage[k as "H"]));
    assert.deepEqual(pressed, word);

    // At each press of the left button, the tablet's last X and Y are the page's point.
    const tablet = input.filter((e) => e["node"] === tabletNode);
    let x = -1;
    let y = -1;
    const atPress: { x: number; y: number }[] = [];
    for (const e of tablet) {
      if (e["type"] === EvType.ABS && e["code"] === AbsCode.X) x = Number(e["value"]);
      if (e["type"] === EvType.ABS && e["code"] === AbsCode.Y) y = Number(e["value"]);
      if (e["type"] === EvType.KEY && e["code"] === BtnCode.LEFT && e["value"] === 1) atPress.push({ x, y });
    }
    assert.deepEqual(atPress, expected);
  });

  it("measures the loopback round trip (microphone → guest → speakers)", async () => {
    const hasMicTap = await inPage<boolean>(`${DEMO}.microphoneTap !== null`);
    assert.ok(hasMicTap, "no tap on the microphone stream");
    await page.evaluate(`${DEMO}.loopback(true)`);
    await sleep(2000);
    // Where the milliseconds sit while the marks cross: each bridge's own latency (its fill and a
    // render quantum), sampled every 250 ms, and the guest's ALSA delay on the capture and playback
    // PCMs (/proc/asound: frames queued between arecord/aplay and the USB driver).
    const bridgeSamples: { microphone: number[]; speaker: number[] } = { microphone: [], speaker: [] };
    const guestDelays: { capture: number[]; playback: number[] } = { capture: [], playback: [] };
    const eventsFrom = await eventCount();
    // 20 marks, 200 ms apart, in one 6 s window. When the host starved the page in a window (the
    // guest's tools spent it in xruns, so fewer than 20 marks crossed), up to two more windows add
    // their marks, and the report says how many windows it took.
    const latencies: number[] = [];
    const windows: StepReport[] = [];
    let input: Tap | null = null;
    let output: Tap | null = null;
    while (windows.length < 3 && latencies.length < 20) {
      const { result: taps, report } = await audioStep(`loopback window ${windows.length + 1}`, async () => {
        await page.evaluate(`${DEMO}.microphoneTap.start(); ${DEMO}.speakerTap.start()`);
        for (let i = 0; i < 24; i++) {
          await sleep(250);
          const now = await bridgeStats();
          if (now.microphone !== null) bridgeSamples.microphone.push(now.microphone.latencyMs);
          if (now.speaker !== null) bridgeSamples.speaker.push(now.speaker.latencyMs);
          if (i % 8 === 4) await page.evaluate(`${DEMO}.run("pcmdelay")`);
        }
        return {
          input: await inPage<Tap>(`${DEMO}.microphoneTap.stop()`),
          output: await inPage<Tap>(`${DEMO}.speakerTap.stop()`),
        };
      });
      windows.push(report);
      ({ input, output } = taps);
      for (const ms of roundTrips(taps.input, taps.output)) {
        if (latencies.length < 20) latencies.push(ms);
      }
    }
    for (const e of await agentEvents(eventsFrom)) {
      if (e.event !== "pcm-delay" || typeof e["delay"] !== "number") continue;
      (e["pcm"] === "pcm0c" ? guestDelays.capture : guestDelays.playback).push((e["delay"] / RATE) * 1000);
    }
    const stats = await bridgeStats();
    const tuning = await inPage<unknown>(`${DEMO}.tuning`);
    await page.evaluate(`${DEMO}.loopback(false)`);
    await screenshot(page, "08-loopback");
    await page.waitForFunction(`${DEMO}.agent.events.some((e) => e.event === "loop-off")`, {
      timeout: 20_000,
    });
    const loopMessages = await inPage<string[]>(`${DEMO}.agent.lines.slice(-6)`);
    // What unloop passed on from the whole run: aplay's underruns (each left what arecord captured
    // meanwhile queued) and the loop's restarts when its playback delay stayed high (demo/guest-agent.ts).
    const loopLines = await inPage<string[]>(`${DEMO}.agent.lines`);
    const guestLoop = {
      underruns: loopLines.filter((l) => l.startsWith("underrun")).length,
      restarts: loopLines.filter((l) => l.includes("restarted")).length,
    };
    const outSamples =
      output === null ? new Int16Array(0) : channelOf(int16FromBase64(output.base64), output.channels, 0);
    const context = await inPage<unknown>(
      `({ rate: ${DEMO}.context.sampleRate, base: ${DEMO}.context.baseLatency, output: ${DEMO}.context.outputLatency })`,
    );
    const sorted = [...latencies].sort((a, b) => a - b);
    const median = (values: number[]) =>
      values.length === 0
        ? null
        : quantileSorted(
            [...values].sort((a, b) => a - b),
            0.5,
          );
    const p50Ms = quantileSorted(sorted, 0.5);
    const parts = {
      microphoneBridgeMs: median(bridgeSamples.microphone),
      guestCaptureDelayMs: median(guestDelays.capture),
      guestPlaybackDelayMs: median(guestDelays.playback),
      speakerBridgeMs: median(bridgeSamples.speaker),
    };
    const accounted = Object.values(parts).reduce<number>((sum, v) => sum + (v ?? 0), 0);
    const result = {
      marks: latencies.length,
      windows: windows.length,
      p50Ms,
      p95Ms: quantileSorted(sorted, 0.95),
      minMs: sorted[0],
      maxMs: sorted.at(-1),
      latenciesMs: latencies.map((v) => Math.round(v * 10) / 10),
      breakdown: {
        ...parts,
        // What the four do not hold: the USB side's queued iso URBs beyond ALSA's delay accounting,
        // the pipe between arecord and aplay, the guest's scheduling, the marks' own sampling.
        restMs: Number.isFinite(p50Ms) ? p50Ms - accounted : null,
      },
      tuning,
      steps: windows,
      inputFrames: input?.base64.length ?? 0,
      outputNonZero: outSamples.filter((v) => v !== 0).length,
      loopMessages,
      guestLoop,
      bridges: stats,
      context,
    };
    writeFileSync(join(OUTPUT_DIR, "latency.json"), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`loopback round trip: ${JSON.stringify(result)}\n`);
    // A mark can fall in a gap the guest's xruns or the bridges counted (on this loaded host).
    assert.ok(latencies.length >= 10, `marks found at the output: ${JSON.stringify(result)}`);
    // What the issue aims at is ≤ 50 ms; docs/benchmarks.md says where today's milliseconds go.
    assert.ok(result.p50Ms < 683, JSON.stringify(result));
  });
  it("sees the headset and keyboard unplugged mid-stream, and re-enumerates them", async (t) => {
    // A playback running in the background while the devices go.
    await page.evaluate(`${DEMO}.run("play ${RATE} 2 ${RATE * 30} 0 &")`);
    await sleep(2000);
    await page.evaluate(`${DEMO}.unplug(1)`);
    await page.evaluate(`${DEMO}.unplug(2)`);
    await waitForTree((r) => !r.some((row) => row.path === "1-1" || row.path === "1-2"), 30_000, "removal");
    await screenshot(page, "05-unplugged");
    await page.evaluate(`${DEMO}.plug(1)`);
    await page.evaluate(`${DEMO}.plug(2)`);
    await waitForTree(
      (r) => has(r, "1-1", "snd-usb-audio") && has(r, "1-2", "usbhid") && has(r, "1-3", "usbhid"),
      60_000,
      "re-enumeration",
    );
    await screenshot(page, "06-replugged");
    // The re-enumerated headset records again.
    const { result, report } = await audioStepRetried(
      "record after replug",
      () => micStreamBreaks(() => recordInGuest("mic-replugged", RATE)),
      (r) => r.breaks,
    );
    assertRecordingWhole(t, result.result, report, result.breaks);
    assert.deepEqual(await inPage<string[]>(`${DEMO}.errors`), []);
    assert.deepEqual(pageErrors, []);
  });

  it("saves and restores the whole machine; the guest and its audio carry on", async (t) => {
    const bytes = await inPage<number>(`${DEMO}.saveState()`);
    assert.ok(bytes > 1 << 20);
    // Something changes after the save, so the restore has something to undo.
    await runAndWait("ev after-save", (e) => e.event === "after-save", 10_000);
    await page.evaluate(`${DEMO}.restoreState()`);
    await sleep(1000);
    await runAndWait("ev after-restore", (e) => e.event === "after-restore", 20_000);
    const { result, report } = await audioStepRetried(
      "record after restore",
      () => micStreamBreaks(() => recordInGuest("mic-restored", RATE)),
      (r) => r.breaks,
    );
    // After a restore USB time lags the wall clock: the recording may start with the bridge's start
    // wait (RECORDING_LEAD_FRAMES; one quiet run: 125 ms). The counter after it must still be whole.
    assertRecordingWhole(t, result.result, report, result.breaks);
    await screenshot(page, "07-restored");
    assert.deepEqual(pageErrors, []);
  });
});
