/**
 * Host pauses in the real guest (v86 + the bundled Linux; issue 10), two boots:
 *
 * 1. arecord and aplay each paused at seeded random points, each pause either a busy event loop (a busy
 *    main thread) or a SIGSTOP of the process running the emulator (a stopped process, a laptop asleep;
 *    the job runs in a child process for that), plus a pause just before the keyboard types. The
 *    controller's host-stall policy (docs/architecture.md, "Host stalls") must keep the guest's tools
 *    running: exit 0, every frame that arrives bit-exact, the audio lost bounded by the pauses and
 *    counted, no USB error in dmesg, the keys typed after a pause all arriving.
 *    The guest's clock excludes the pauses (GuestVm loads v86 with pause-free time): before it did, v86's
 *    guest clock jumped by a host pause and Linux 6.1.176's PCM read, which gives up after 1.1 × the
 *    buffer (arecord's default 500 ms: 550 ms) of guest jiffies, ended arecord with EIO after pauses of
 *    0.7 s and more whatever the bus did. Now the capture gets pauses ≥ 1 s, one of each kind.
 * 2. A background tab: aplay's emulator loop runs once a second for 15 s, then normally; the signal must
 *    run unbroken again at the emulated speaker within 100 ms of normal running, and the keyboard work.
 *    Only v86's loop is throttled here, the pause-free time's heartbeat runs on, so the tab is not a
 *    pause but a very slow host: the adapter's leash holds the guest's clock to the bus (a few ms per
 *    slice), the guest stands almost still through the tab and carries on after it, nothing lost and no
 *    host pause at the frame clock. (Before the leash its clock jumped ~1 s per slice and the frame
 *    clock replayed each second; in a real background tab the heartbeat is throttled too and every second
 *    is a pause: docs/architecture.md, "Host stalls".) 15 s, not the 60 s it was: a throttled second is
 *    the same at the 5th as at the 50th (the guest advances a few ms each), and the 60 s tab cost 146 s
 *    of CI; 15 still spans many of snd-usb-audio's and aplay's timeouts had the guest's clock run on.
 *
 * The full matrix (0.1–5 s in both directions, each way separately) is
 * `node --import tsx scripts/host-stalls.ts`, whose numbers are in docs/architecture.md. The seed is
 * logged: a failure replays with HOST_STALL_SEED=<seed>.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkBackgroundTab, checkStallRun } from "./helpers/host-stall-check.ts";
import { runBackgroundTab, runWithHostStalls } from "./helpers/host-stalls.ts";

// Two pauses: the kinds alternate (pauseSchedule), so each kind gets a pause of at least 1 s.
const CAPTURE_PAUSES_S = [1, 2];
const PLAYBACK_PAUSES_S = [0.1, 0.5, 1, 2];
const HID_PAUSE_S = 1;
const TAB_S = 15;

describe("host pauses in a Linux guest in v86", () => {
  it(`capture paused ${CAPTURE_PAUSES_S.join(", ")} s, playback ${PLAYBACK_PAUSES_S.join(", ")} s (busy loop or SIGSTOP), keys typed after a ${HID_PAUSE_S} s pause`, async (t) => {
    const seed = Number(process.env["HOST_STALL_SEED"] ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed}`);
    const result = await runWithHostStalls({
      way: "both",
      pausesS: [],
      capturePausesS: CAPTURE_PAUSES_S,
      playbackPausesS: PLAYBACK_PAUSES_S,
      hidPauseS: HID_PAUSE_S,
      seed,
      seconds: 6,
    });
    for (const p of result.pauses)
      t.diagnostic(`${p.phase} pause ${p.ms} ms (${p.kind}) at +${p.atMs} ms, clock jumped ${p.actualMs} ms`);
    for (const [name, r] of [
      ["capture", result.report.capture],
      ["playback", result.report.playback],
    ] as const)
      if (r !== null)
        t.diagnostic(
          `${name}: ${r.framesReceived}/${r.framesSent} frames, ${r.dropped} dropped, xruns ${r.guestXruns}`,
        );
    t.diagnostic(`frame clock: ${JSON.stringify(result.stall)}`);
    t.diagnostic(`guest time: ${JSON.stringify(result.guestTime)}`);
    assert.deepEqual(checkStallRun(result), [], `seed ${seed}: ${result.toolErrors.join(" | ")}`);
    // The guest's clock did not see them: the pause-free time took each one out (less a heartbeat).
    const injectedMs = result.pauses.reduce((sum, p) => sum + p.ms, 0);
    assert.ok(
      result.guestTime !== null &&
        result.guestTime.pauses >= result.pauses.length &&
        result.guestTime.removedMs >= injectedMs - 10 * result.pauses.length,
      `guest time ${JSON.stringify(result.guestTime)} for ${result.pauses.length} pauses of ${injectedMs} ms`,
    );
    // Nor did the bus: with the pauses out of the guest's clock and a slow host held by the adapter's
    // leash, no lag beyond 100 ms reached the frame clock (before the leash, 125 in one run at load 3–7,
    // the longest 648 ms, replayed as host pauses).
    assert.equal(result.stall?.pauses, 0, `frame clock ${JSON.stringify(result.stall)}`);
    for (const kind of ["busy", "sigstop"] as const)
      assert.ok(
        result.pauses.some((p) => p.phase === "capture" && p.kind === kind && p.ms >= 1000),
        `capture survived a ${kind} pause of at least 1 s`,
      );
    for (const phase of ["capture", "playback"] as const)
      assert.equal(
        new Set(result.pauses.filter((p) => p.phase === phase).map((p) => p.kind)).size,
        2,
        `${phase} was paused both ways`,
      );
  });

  it(`a background tab: aplay's emulator loop at 1 Hz for ${TAB_S} s, then normal`, async (t) => {
    const options = { tabS: TAB_S };
    const result = await runBackgroundTab(options);
    const r = result.playback;
    t.diagnostic(
      `playback: rc ${r.guestExitCode}, ${r.framesReceived}/${r.framesSent} frames, ${r.dropped} dropped, xruns ${r.guestXruns}`,
    );
    t.diagnostic(
      `recovered ${result.recoveryMs?.toFixed(1)} ms after the tab; frame clock ${JSON.stringify(result.stall)}`,
    );
    t.diagnostic(`guest time: ${JSON.stringify(result.guestTime)}`);
    assert.deepEqual(checkBackgroundTab(result, options), [], result.toolErrors.join(" | "));
    // The tab did throttle the guest, and its clock waited for the bus through it (the leash; see the
    // header): held for most of the tab, no lag the frame clock took for a host pause, nothing lost.
    assert.ok(
      result.guestTime !== null && result.guestTime.heldMs >= 0.9 * TAB_S * 1000,
      `guest time ${JSON.stringify(result.guestTime)} across a ${TAB_S} s tab`,
    );
    assert.equal(result.stall?.pauses, 0, `frame clock ${JSON.stringify(result.stall)}`);
    assert.equal(r.dropped, 0, "frames dropped");
    assert.equal(r.guestXruns, 0, "aplay's underruns");
  });
});
