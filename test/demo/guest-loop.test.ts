/**
 * The demo's `loop` shell function (demo/guest-agent.ts), run by the host's POSIX shell with arecord,
 * aplay and killall replaced by shell functions and the playback PCM's /proc status by a file the test
 * writes: given a limit, its watchdog leaves the pair alone while the ALSA delay is under it, restarts
 * it when the delay stays above, and `unloop` ends it; without one (as the page calls it) it never does. (The guest runs busybox ash; the
 * function uses only what POSIX sh has.) What the restart buys in the guest, in USB frames, is in
 * docs/benchmarks.md section 5 (bench/experiments/loopback-guest.ts).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { AGENT_FUNCTIONS } from "../../demo/guest-agent.ts";

const dir = mkdtempSync(join(tmpdir(), "uhci-loop-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The agent's function named `name`, its guest paths moved into the test's folder. */
function agentFunction(name: string): string {
  const line = AGENT_FUNCTIONS.find((l) => l.startsWith(`${name}(){`));
  assert.ok(line !== undefined, `no ${name} in AGENT_FUNCTIONS`);
  const status = "/proc/asound/card$c/pcm0p/sub0/status";
  assert.ok(name !== "loop" || line.includes(status), "the loop reads the playback PCM's status");
  return line.replaceAll(status, "$T/status").replaceAll("/tmp/loop.", "$T/loop.");
}

function writeDelay(frames: number): void {
  writeFileSync(
    join(dir, "status"),
    `state: RUNNING\nowner_pid   : 1\ndelay       : ${frames}\navail       : 48\n`,
  );
}

/**
 * Stand-ins: arecord writes until killall asks it to stop (a file), then exits, so aplay (cat) sees the
 * end of its input and the pair is over, as SIGTERM ends the real pair; each start is counted.
 */
const STUBS = [
  "card(){ echo 0; }",
  "mix(){ :; }",
  'ev(){ echo "$1" >>"$T/events"; }',
  'arecord(){ echo start >>"$T/starts"; while [ ! -e "$T/stop" ]; do printf x || return; sleep 0.05; done; }',
  "aplay(){ cat >/dev/null; }",
  'killall(){ echo "$*" >>"$T/killed"; touch "$T/stop"; sleep 0.3; rm -f "$T/stop"; }',
];

const lines = (file: string): string[] => {
  try {
    return readFileSync(join(dir, file), "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
};

describe("the demo's loopback loop in the guest's shell", () => {
  it("restarts arecord | aplay only while the playback delay stays over the limit, and stops on unloop", async () => {
    writeDelay(720); // 15 ms: under 4 ms + 16 ms (960 frames)
    const script = [
      ...STUBS,
      agentFunction("loop"),
      agentFunction("unloop"),
      // The watchdog's limit: 4 ms of start + 16 ms, as bench/experiments/loopback-guest.ts passes it.
      "loop 96 768 4000 960",
      `while [ ! -e "$T/phase2" ]; do sleep 0.1; done`,
      `while [ ! -e "$T/phase3" ]; do sleep 0.1; done`,
      "unloop >/dev/null",
      // Every background job (the loop's subshell and its pair) must end after unloop.
      "wait",
      'echo ended >>"$T/events"',
    ].join("\n");
    const shell = spawn("/bin/sh", ["-c", script], { env: { ...process.env, T: dir }, stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => shell.on("exit", resolve));
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      // 2.5 s under the threshold: five checks, no restart.
      await sleep(2500);
      assert.deepEqual(lines("events"), ["loop-on"]);
      assert.equal(lines("starts").length, 1, "one arecord | aplay");
      assert.ok(!lines("loop.err").some((l) => l.includes("restarted")), lines("loop.err").join("\n"));
      // Over it (2000 frames = 42 ms) for 3 s: at least two checks in a row, so a restart.
      writeDelay(2000);
      await sleep(3000);
      writeDelay(720);
      writeFileSync(join(dir, "phase2"), "");
      await sleep(1500);
      const restarts = lines("loop.err").filter((l) => l.includes("restarted"));
      assert.ok(restarts.length >= 1, `no restart: ${lines("loop.err").join("\n")}`);
      assert.match(restarts[0] ?? "", /playback delay 2000 frames, restarted/);
      assert.ok(lines("starts").length >= 2, "the pair started again after the restart");
      // Back under the threshold: no further restart.
      const before = restarts.length;
      await sleep(1500);
      assert.equal(lines("loop.err").filter((l) => l.includes("restarted")).length, before);
      writeFileSync(join(dir, "phase3"), "");
      const code = await Promise.race([exited, sleep(8000).then(() => "timeout" as const)]);
      assert.equal(code, 0, "the shell (and the loop it started) ended after unloop");
      assert.deepEqual(lines("events").slice(-2), ["loop-off", "ended"]);
    } finally {
      shell.kill();
    }
  });

  it("never restarts the pair without a limit (the page's call)", async () => {
    for (const f of ["events", "starts", "loop.err", "phase2", "phase3"])
      rmSync(join(dir, f), { force: true });
    writeDelay(2000);
    const script = [
      ...STUBS,
      agentFunction("loop"),
      agentFunction("unloop"),
      "loop 96 768 4000",
      "sleep 2.5",
      "unloop >/dev/null",
      "wait",
    ].join("\n");
    const shell = spawn("/bin/sh", ["-c", script], { env: { ...process.env, T: dir }, stdio: "ignore" });
    const code = await new Promise<number | null>((resolve) => shell.on("exit", resolve));
    assert.equal(code, 0);
    assert.equal(lines("starts").length, 1, "one arecord | aplay, never restarted");
    assert.ok(!lines("loop.err").some((l) => l.includes("restarted")), lines("loop.err").join("\n"));
  });
});
