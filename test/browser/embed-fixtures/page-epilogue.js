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
const losses = [];
const fills = [];
let lastLoss = "";
let window100 = null;
setInterval(() => {
  const m = readState()?.microphone;
  if (!m) return;
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
  trace: () => ({
    now: Math.round(performance.now()),
    longTasks: longTasks.splice(0),
    losses: losses.splice(0),
    fills: fills.splice(0),
  }),
};
