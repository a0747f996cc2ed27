// Not the user's: hands test/browser/embed.test.ts the guest's serial console (the bundled guest's
// protocol lines) and what the devices the README's lines made report (the test fills in which).
const serialBytes = [];
emulator.add_listener("serial0-output-byte", (byte) => serialBytes.push(byte));
const readState = () => /* the mix's state */ null;
// Where a break in the microphone comes from: the main thread's long tasks (v86 runs there) and each
// change of the bridge's loss counters and of its source counts (gaps/gap frames/silent runs/silent
// frames/longest run), on the page's clock (performance.now(), ms).
const longTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push([Math.round(e.startTime), Math.round(e.duration)]);
  }).observe({ type: "longtask" });
} catch {
  // No longtask timing in this browser: the trace has the counters only.
}
// A tap on the microphone stream before the bridge (the test's, not the README's): while the guest
// streams, the stream's first channel as the browser hands it to the page (a quantum with no channels
// as 128 zeros), so a break in the recording can be checked against what came in. A recording once
// jumped ~30 ms ahead (1440 frames of the file) with no silence in their place and nothing counted by
// the bridge: a skip no count in the bridge can see, which this tap places before or after it. Only
// on the headset's page (`stream` and `context` are its names).
let tap = null;
const tapped = [];
if (typeof stream !== "undefined" && stream !== null && typeof context !== "undefined") {
  const tapSource = `registerProcessor("embed-tap", class extends AudioWorkletProcessor {
    constructor() { super(); this.on = false; this.port.onmessage = (e) => { this.on = e.data === true; }; }
    process(inputs) {
      if (this.on) {
        const input = inputs[0];
        const block = input && input.length > 0 ? input[0].slice() : new Float32Array(128);
        this.port.postMessage({ frame: currentFrame, block }, [block.buffer]);
      }
      return true;
    }
  });`;
  await context.audioWorklet.addModule(
    URL.createObjectURL(new Blob([tapSource], { type: "text/javascript" })),
  );
  tap = new AudioWorkletNode(context, "embed-tap", {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    outputChannelCount: [1],
  });
  tap.port.onmessage = (e) => tapped.push(e.data);
  context.createMediaStreamSource(stream).connect(tap);
  const mute = context.createGain();
  mute.gain.value = 0;
  tap.connect(mute).connect(context.destination);
}
let tapOn = false;
// Each stretch the guest streamed, once it ends: what the bridge counted during it (its counters less
// those at the previous stretch's end: the bridge counts only while the guest streams), the audio
// frames the tap took in it, and the page's long tasks meanwhile. Linux sets the streaming interface
// more than once as arecord opens and prepares the device, so one capture is a few short stretches and
// a long one (test/browser/embed.test.ts merges them; the plan records twice, and the second capture is
// checked only when the host starved the first).
const COUNTED = [
  "underruns",
  "underrunFrames",
  "overruns",
  "overrunFrames",
  "sourceGaps",
  "sourceGapFrames",
  "silentRuns",
  "silentFrames",
];
const streams = [];
let countsAtEnd = Object.fromEntries(COUNTED.map((name) => [name, 0]));
let streamBegan = 0;
let streamFrom = 0;
const tapSamples = (blocks) => {
  const samples = [];
  let missed = 0;
  for (let k = 0; k < blocks.length; k++) {
    const { frame, block } = blocks[k];
    if (k > 0 && frame !== blocks[k - 1].frame + blocks[k - 1].block.length) missed++;
    for (const v of block) samples.push(Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
  }
  return { samples, missed };
};
const losses = [];
const fills = [];
let lastLoss = "";
let window100 = null;
setInterval(() => {
  const m = readState()?.microphone;
  if (!m) return;
  // The tap runs while the guest streams.
  if (m.running !== tapOn) {
    tapOn = m.running;
    const now = performance.now();
    // The tap's blocks reach the page late when it is busy: each stream takes those from the audio
    // frames between its start and end as the page saw them.
    const frame = typeof context === "undefined" ? 0 : Math.round(context.currentTime * context.sampleRate);
    if (tapOn) {
      streamBegan = now;
      streamFrom = frame;
    } else {
      const counts = Object.fromEntries(COUNTED.map((name) => [name, m[name] - countsAtEnd[name]]));
      countsAtEnd = Object.fromEntries(COUNTED.map((name) => [name, m[name]]));
      const during = longTasks.filter(([start, duration]) => start + duration >= streamBegan && start <= now);
      streams.push({
        counts,
        longestSilentRun: m.longestSilentRun,
        contextRate: m.contextRate,
        targetMs: m.targetMs,
        frames: [streamFrom, frame],
        longTasks: during,
      });
    }
    tap?.port.postMessage(tapOn);
  }
  // The fill's range over each 100 ms while the guest streams.
  const t = Math.round(performance.now());
  if (m.running) {
    if (window100 === null || t - window100[0] >= 100) {
      if (window100 !== null) fills.push(window100);
      window100 = [t, Math.round(m.fillMs), Math.round(m.fillMs)];
    }
    window100[1] = Math.min(window100[1], Math.round(m.fillMs));
    window100[2] = Math.max(window100[2], Math.round(m.fillMs));
  }
  const loss = `${m.underruns}/${m.underrunFrames}/${m.overruns}/${m.overrunFrames}/${m.running}`;
  // What the source failed to deliver (no channels; runs of exact zeros), counted before the bridge.
  const source = `${m.sourceGaps}/${m.sourceGapFrames}/${m.silentRuns}/${m.silentFrames}/${m.longestSilentRun}`;
  if (`${loss} ${source}` === lastLoss) return;
  lastLoss = `${loss} ${source}`;
  losses.push({ t: Math.round(performance.now()), loss, source, fillMs: Math.round(m.fillMs) });
}, 20);
window.embed = {
  serial: () => serialBytes.splice(0),
  state: readState,
  // The stretches that ended, in order (see `streams` above), each with its length (ms), its tapped
  // stream (×32768, rounded: 16-bit, as the guest's samples) and the render quanta the tap missed.
  streams: () =>
    streams.map(({ frames: [from, to], ...stream }) => ({
      ...stream,
      ms: ((to - from) * 1000) / stream.contextRate,
      tap: tapSamples(tapped.filter(({ frame }) => frame >= from && frame < to)),
    })),
  trace: () => ({
    now: Math.round(performance.now()),
    longTasks: [...longTasks],
    losses: losses.splice(0),
    fills: fills.splice(0),
  }),
};
