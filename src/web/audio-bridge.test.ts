import assert from "node:assert/strict";
import { afterEach, describe, it, type TestContext } from "node:test";
import { generateTestSignal } from "../devices/audio/test-signal.ts";
import { audioWorkletSupport, MicrophoneBridge, openMicrophone, SpeakerBridge } from "./audio-bridge.ts";
import type {
  AudioContextLike,
  AudioNodeLike,
  AudioWorkletNodeOptionsLike,
  MediaStreamLike,
} from "./dom-types.ts";
import { START_WAIT_PACKETS } from "./pipes.ts";
import { loadWorklet, portPair, type SimPort, type SimProcessor } from "./testing/audio-sim.ts";
import { MICROPHONE_PROCESSOR, SPEAKER_PROCESSOR } from "./worklet-source.ts";

/**
 * The WebAudio shell around the pipes, in Node: a stand-in AudioContext and AudioWorkletNode that run
 * the real worklet code (the browser itself is exercised by the demo's Chromium tests).
 */
class FakeNode implements AudioNodeLike {
  readonly connections: AudioNodeLike[] = [];
  disconnected = 0;
  connect(destination: AudioNodeLike): unknown {
    this.connections.push(destination);
    return destination;
  }
  disconnect(): void {
    this.disconnected++;
  }
}

class FakeWorkletNode extends FakeNode {
  static made: FakeWorkletNode[] = [];
  readonly port: SimPort;
  readonly worklet: SimPort;
  readonly processor: SimProcessor;
  constructor(
    _context: AudioContextLike,
    readonly name: string,
    readonly options: AudioWorkletNodeOptionsLike,
  ) {
    super();
    const [main, worklet] = portPair();
    this.port = main;
    this.worklet = worklet;
    const classes = loadWorklet(() => worklet);
    const Processor = name === MICROPHONE_PROCESSOR ? classes.microphone : classes.speaker;
    this.processor = new Processor(options as never);
    FakeWorkletNode.made.push(this);
  }
}

function fakeContext(sampleRate = 48000) {
  const modules: string[] = [];
  const sources: FakeNode[] = [];
  const context = {
    sampleRate,
    state: "running",
    destination: new FakeNode(),
    audioWorklet: {
      addModule: async (url: string) => {
        modules.push(url);
      },
    },
    createMediaStreamSource: (_stream: MediaStreamLike) => {
      const node = new FakeNode();
      sources.push(node);
      return node;
    },
  };
  return { context, modules, sources };
}

const fakeStream = (tracks = 1): MediaStreamLike => {
  const list = Array.from({ length: tracks }, () => ({ kind: "audio", stop: () => {} }));
  return { getAudioTracks: () => list, getTracks: () => list };
};

const globals = globalThis as Record<string, unknown>;
afterEach(() => {
  delete globals["AudioWorkletNode"];
  delete globals["navigator"];
  FakeWorkletNode.made = [];
});

describe("browser checks", () => {
  it("audioWorkletSupport says why not when AudioWorkletNode is missing", () => {
    const none = audioWorkletSupport();
    assert.equal(none.ok, false);
    assert.match(none.reason ?? "", /AudioWorklet/);
    globals["AudioWorkletNode"] = FakeWorkletNode;
    assert.deepEqual(audioWorkletSupport(), { ok: true });
  });

  it("openMicrophone never throws: no mediaDevices, a denied permission, and a granted one", async () => {
    const missing = await openMicrophone();
    assert.equal(missing.stream, null);
    assert.match(missing.reason ?? "", /getUserMedia/);

    let asked: unknown = null;
    const denied = Object.assign(new Error("Permission denied"), { name: "NotAllowedError" });
    globals["navigator"] = { mediaDevices: { getUserMedia: async () => Promise.reject(denied) } };
    assert.deepEqual(await openMicrophone(), { stream: null, reason: "microphone permission was denied" });

    const stream = fakeStream();
    globals["navigator"] = {
      mediaDevices: {
        getUserMedia: async (constraints: unknown) => {
          asked = constraints;
          return stream;
        },
      },
    };
    const granted = await openMicrophone({ deviceId: "mic-2" });
    assert.equal(granted.stream, stream);
    assert.deepEqual(asked, {
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, deviceId: "mic-2" },
      video: false,
    });
  });
});

describe("MicrophoneBridge and SpeakerBridge", () => {
  it("load the worklet module once per context (a Blob URL) and wire their nodes", async () => {
    globals["AudioWorkletNode"] = FakeWorkletNode;
    const { context, modules, sources } = fakeContext();
    const mic = await MicrophoneBridge.create(context, fakeStream());
    const speaker = await SpeakerBridge.create(context);
    const tap = new FakeNode();
    const untapped = await SpeakerBridge.create(context, { destination: null, transport: "shared" });
    assert.equal(modules.length, 1);
    assert.match(modules[0] ?? "", /^blob:/);
    const [micNode, speakerNode, untappedNode] = FakeWorkletNode.made;
    assert.equal(micNode?.name, MICROPHONE_PROCESSOR);
    assert.deepEqual(micNode?.connections, [context.destination]);
    assert.deepEqual(sources[0]?.connections, [micNode]);
    assert.equal(speakerNode?.name, SPEAKER_PROCESSOR);
    assert.equal(speaker.output, speakerNode);
    assert.deepEqual(speakerNode?.connections, [context.destination]);
    assert.deepEqual(untappedNode?.connections, []);
    untapped.output.connect(tap);
    assert.equal(mic.stats().transport, "message", "not crossOriginIsolated: MessagePort batches");
    assert.equal(untapped.stats().transport, "shared");

    mic.setStream(null);
    assert.equal(sources[0]?.disconnected, 1);
    mic.setStream(fakeStream(0)); // no audio track: silence, no source
    assert.equal(sources.length, 1);
    mic.close();
    speaker.close();
    assert.equal(micNode?.disconnected, 1);
    const out = new Int16Array(96).fill(7);
    assert.equal(mic.read(out, 48, { sampleRate: 48000, channels: 2 }), 48, "closed: silence");
    assert.ok(out.every((v) => v === 0));
  });

  for (const transport of ["shared", "message"] as const) {
    it(`carry the signal both ways through the worklet code (${transport} transport)`, async (t) => {
      globals["AudioWorkletNode"] = FakeWorkletNode;
      // The wall clock the microphone's start judges its reads' pace by: here 1 ms per USB frame.
      let wall = 0;
      t.mock.method(performance, "now", () => wall);
      const { context } = fakeContext();
      const mic = await MicrophoneBridge.create(context, fakeStream(), { transport });
      const speaker = await SpeakerBridge.create(context, { transport });
      const [micNode, speakerNode] = FakeWorkletNode.made;
      if (!micNode || !speakerNode) throw new Error("nodes not made");
      const format = { sampleRate: 48000, channels: 2 } as const;
      mic.start(format);
      speaker.start(format);
      const signal = generateTestSignal(48 * 400, 2, 100);
      const left = new Float32Array(128);
      const right = new Float32Array(128);
      const packet = new Int16Array(96);
      const heard: number[] = [];
      const played: number[] = [];
      let micFrame = 0;
      for (let ms = 0; ms < 400; ms++) {
        wall = ms;
        // The card renders a quantum every 2⅔ ms; the frame clock runs every ms.
        while ((micFrame + 128) * 1000 <= (ms + 1) * 48000) {
          micNode.worklet.deliver();
          speakerNode.worklet.deliver();
          for (let i = 0; i < 128; i++) {
            left[i] = (signal[(micFrame + i) * 2] ?? 0) / 32768;
            right[i] = (signal[(micFrame + i) * 2 + 1] ?? 0) / 32768;
          }
          micNode.processor.process([[left, right]], [[new Float32Array(128)]]);
          const outL = new Float32Array(128);
          const outR = new Float32Array(128);
          speakerNode.processor.process([], [[outL, outR]]);
          for (let i = 0; i < 128; i++) played.push(Math.round((outL[i] ?? 0) * 32768));
          micFrame += 128;
        }
        micNode.port.deliver();
        speakerNode.port.deliver();
        mic.read(packet, 48, format);
        for (let i = 0; i < 48; i++) heard.push(packet[i * 2] ?? 0);
        speaker.write(signal.subarray(ms * 96, ms * 96 + 96), 48, format);
      }
      const firstHeard = heard.findIndex((v) => v !== 0);
      assert.ok(firstHeard > 0, "silence while the ring primes");
      // The signal's start, unless the microphone's start waited for pace with the ring at its
      // target (the shared ring's 20 ms fills before 32 reads have shown their pace): then from the
      // card's frames of the moment, contiguous.
      const from = heard[firstHeard] ?? 0;
      assert.deepEqual(heard.slice(firstHeard, firstHeard + 5), [
        from,
        from + 1,
        from + 2,
        from + 3,
        from + 4,
      ]);
      assert.equal(from === 100, mic.stats().startWaits === 0, `the signal from ${from}`);
      const firstPlayed = played.findIndex((v) => v !== 0);
      assert.deepEqual(played.slice(firstPlayed, firstPlayed + 5), [100, 101, 102, 103, 104]);
      for (const bridge of [mic, speaker]) {
        const s = bridge.stats();
        assert.equal(s.running, true);
        assert.equal(s.underruns + s.overruns, 0);
        assert.equal(s.ratio, 1);
        // Matched rates, no drift: every frame passed exactly, no correction ever started.
        assert.equal(s.mode, "exact");
        assert.ok(s.exactFrames > 48 * 300, `${s.exactFrames} exact frames`);
        assert.equal(s.resampledFrames, 0);
        assert.equal(s.resampledSpans, 0);
        // The default target: 20 ms on the shared ring, 80 ms through MessagePort batches.
        assert.equal(s.targetMs, transport === "shared" ? 20 : 80);
        assert.ok(Math.abs(s.fillMs - s.targetMs) < 10, `fill ${s.fillMs} ms`);
        assert.ok(s.latencyMs > s.fillMs);
      }
      mic.stop();
      assert.equal(mic.stats().running, false);
    });
  }
});

/**
 * What the source failed to deliver (AudioBridgeStats.sourceGaps … longestSilentRun): counted in the
 * worklet, the only place that sees the card's input, so a break in a recording can be told apart
 * from a loss in the bridge or the guest. The embed test's capture once held ~10 ms of zeros the
 * bridge did not count (docs/web-audio.md, Transports); Chromium hands a worklet an input with no
 * channels while a MediaStream source has no data.
 */
describe("MicrophoneBridge counts what its source failed to deliver", () => {
  type Quantum = "gap" | readonly [left: Float32Array, right: Float32Array];
  /** 128 frames of the frame counter from `frame` (never exactly zero there), as the card's stereo. */
  const signal = (frame: number): [Float32Array, Float32Array] => {
    const s = generateTestSignal(128, 2, frame);
    const left = new Float32Array(128).map((_, i) => (s[i * 2] ?? 0) / 32768);
    const right = new Float32Array(128).map((_, i) => (s[i * 2 + 1] ?? 0) / 32768);
    return [left, right];
  };
  /** The signal with frames [from, to) exactly zero on both channels. */
  const zeroed = (frame: number, from: number, to: number): [Float32Array, Float32Array] => {
    const [left, right] = signal(frame);
    left.fill(0, from, to);
    right.fill(0, from, to);
    return [left, right];
  };

  async function microphone(transport: "shared" | "message") {
    globals["AudioWorkletNode"] = FakeWorkletNode;
    const { context } = fakeContext();
    const mic = await MicrophoneBridge.create(context, fakeStream(), { transport });
    const node = FakeWorkletNode.made[0];
    if (!node) throw new Error("no worklet node");
    /** The card renders these quanta; the main thread then takes the worklet's messages. */
    const feed = (quanta: readonly Quantum[]): void => {
      for (const q of quanta) {
        node.worklet.deliver();
        node.processor.process(q === "gap" ? [[]] : [[q[0], q[1]]], [[new Float32Array(128)]]);
      }
      node.port.deliver();
    };
    const counts = () => {
      const s = mic.stats();
      return [s.sourceGaps, s.sourceGapFrames, s.silentRuns, s.silentFrames, s.longestSilentRun];
    };
    return { mic, node, feed, counts };
  }

  const format = { sampleRate: 48000, channels: 2 } as const;

  for (const transport of ["shared", "message"] as const) {
    it(`channel-less quanta and runs of exact zeros, spanning quanta, counted while the guest streams (${transport} transport)`, async () => {
      const { mic, feed, counts } = await microphone(transport);
      // Before the guest streams nothing is counted: silence then is nobody's loss.
      feed(["gap", "gap", zeroed(0, 0, 128)]);
      assert.deepEqual(counts(), [0, 0, 0, 0, 0]);
      mic.start(format);
      // A real signal: nothing.
      feed([signal(1000), signal(1128), signal(1256)]);
      assert.deepEqual(counts(), [0, 0, 0, 0, 0], "a signal");
      // Three channel-less quanta in a row: one gap of 384 frames, and a silent run as long.
      feed(["gap", "gap", "gap", signal(2000)]);
      assert.deepEqual(counts(), [1, 384, 1, 384, 384]);
      // 28 + 128 + 44 = 200 zero frames across three quanta: one run.
      feed([zeroed(3000, 100, 128), zeroed(3128, 0, 128), zeroed(3256, 0, 44)]);
      assert.deepEqual(counts(), [1, 384, 2, 584, 384]);
      // 63 zeros are a signal's business (below 64 frames); 64 are the source's silence.
      feed([zeroed(4000, 10, 73), zeroed(4128, 10, 74)]);
      assert.deepEqual(counts(), [1, 384, 3, 648, 384]);
      // Zeros on one channel only: the other carries signal.
      const [left, right] = signal(5000);
      left.fill(0);
      feed([[left, right]]);
      assert.deepEqual(counts(), [1, 384, 3, 648, 384], "one channel still carries signal");
      // Zeros, a gap and zeros again: one gap, one silent run of them all; a run in progress is
      // counted as it grows, and becomes the longest while it does.
      feed([zeroed(6000, 0, 128), "gap", zeroed(6128, 0, 128)]);
      assert.deepEqual(counts(), [2, 512, 4, 1032, 384]);
      feed([zeroed(6256, 0, 128), zeroed(6384, 0, 100)]);
      assert.deepEqual(counts(), [2, 512, 4, 1260, 612], "the run grew to 612 frames");
      feed([signal(7000)]);
      // The guest stops: nothing more is counted, and a run does not carry over into the next stream.
      feed([zeroed(7128, 100, 128)]);
      mic.stop();
      feed(["gap", "gap"]);
      mic.start(format);
      feed([zeroed(8000, 0, 40), signal(8128)]);
      assert.deepEqual(counts(), [2, 512, 4, 1260, 612], "28 + 40 zeros, but a stop in between");
      // What was counted is the source's, not the bridge's: no under- or overrun.
      const s = mic.stats();
      assert.equal(s.underruns + s.overruns, 0);
    });
  }

  it("a speaker reports none; a malformed samples message counts nothing and throws nothing", async () => {
    const { mic, node, counts } = await microphone("message");
    const speaker = await SpeakerBridge.create(fakeContext().context);
    mic.start(format);
    assert.deepEqual(
      [speaker.stats().sourceGaps, speaker.stats().silentRuns, speaker.stats().longestSilentRun],
      [0, 0, 0],
    );
    for (const junk of ["7", Number.NaN, Number.POSITIVE_INFINITY, null, {}, undefined]) {
      node.worklet.postMessage({
        type: "samples",
        data: new Float32Array(8),
        sourceGaps: junk,
        sourceGapFrames: junk,
        silentRuns: junk,
        silentFrames: junk,
        longestSilentRun: junk,
      });
      node.port.deliver();
      assert.deepEqual(counts(), [0, 0, 0, 0, 0], String(junk));
    }
    node.worklet.postMessage({ type: "samples", data: new Float32Array(8), silentRuns: -5 });
    node.port.deliver();
    assert.ok(Number.isInteger(mic.stats().silentRuns), "an integer whatever a message says");
  });
});

/**
 * A stream's start waits for the guest's packets to keep real-time pace (src/web/start-pace.ts). In
 * v86 the guest starting arecord keeps the emulator busy, USB time falls behind the wall clock, and
 * the overdue frames then run up to 4 per timer hook: a bridge primed during that catch-up read its
 * ring dry as the backlog replayed (the README's embed page in Chromium: a 102-frame underrun at the
 * start of the guest's first capture). Here the card renders the frame counter on the wall clock and
 * the USB frames read at the times a schedule gives.
 */
describe("MicrophoneBridge starts a stream only once USB keeps real time", () => {
  const format = { sampleRate: 48000, channels: 2 } as const;

  async function microphone(t: TestContext, transport: "shared" | "message") {
    globals["AudioWorkletNode"] = FakeWorkletNode;
    let wall = 0;
    t.mock.method(performance, "now", () => wall);
    // The packet counts below are for a 50 ms target through MessagePort batches (the default was
    // 50 ms when they were written; what the pace rule does does not depend on it).
    const target = transport === "message" ? { targetLatencyMs: 50, maxLatencyMs: 300 } : {};
    const mic = await MicrophoneBridge.create(fakeContext().context, fakeStream(), { transport, ...target });
    const node = FakeWorkletNode.made.at(-1);
    if (!node) throw new Error("no worklet node");
    const left = new Float32Array(128);
    const right = new Float32Array(128);
    const packet = new Int16Array(96);
    let cardFrame = 100; // frame 0 of the counter is a zero, read as silence
    let quanta = 0;
    /** Per packet read: its first frame's counter value (0: silence). */
    const heard: number[] = [];
    /** The wall clock moves to `ms`: the card renders the quanta due by then, the main thread takes their batches. */
    const advance = (ms: number): void => {
      wall = ms;
      for (; (quanta + 1) * 128 * 1000 <= ms * 48000; quanta++) {
        node.worklet.deliver();
        const s = generateTestSignal(128, 2, cardFrame);
        for (let i = 0; i < 128; i++) {
          left[i] = (s[i * 2] ?? 0) / 32768;
          right[i] = (s[i * 2 + 1] ?? 0) / 32768;
        }
        node.processor.process([[left, right]], [[new Float32Array(128)]]);
        cardFrame += 128;
      }
      node.port.deliver();
    };
    /** USB frames read at these wall times (ms), one packet each. */
    const readAt = (times: Iterable<number>): void => {
      for (const ms of times) {
        advance(ms);
        mic.read(packet, 48, format);
        heard.push(packet[0] ?? 0);
      }
    };
    return { mic, heard, advance, readAt, now: () => wall };
  }

  /** `count` reads from `from` ms, `perMs` per wall ms (1: real time; more: catching up). */
  function* reads(from: number, count: number, perMs: number): Generator<number> {
    for (let i = 0; i < count; i++) yield from + Math.floor(i / perMs);
  }

  /** The packets from `from` on carry the counter without a break (each 48 frames after the last). */
  function assertContiguous(heard: readonly number[], from: number): void {
    for (let k = from + 1; k < heard.length; k++) {
      const step = ((heard[k] ?? 0) - (heard[k - 1] ?? 0)) & 0xffff;
      assert.equal(step, 48, `packet ${k}: ${heard[k - 1]} then ${heard[k]}`);
    }
  }

  for (const transport of ["shared", "message"] as const) {
    it(`packets catching up a lag get silence, and the stream primes once they keep pace (${transport} transport)`, async (t) => {
      const { mic, heard, readAt } = await microphone(t, transport);
      mic.start(format);
      // USB was 20 ms behind when the guest started the stream, and then ran no frame for 60 ms (the
      // guest busy starting arecord): 80 ms of frames come due at once and run 4 per ms (v86's 4 ms of
      // frames per timer hook) until USB has caught up, then one per ms.
      const catchUp = [...reads(60, 108, 4)]; // 108 packets in 27 ms: 80 ms caught up by wall 87
      readAt(catchUp);
      readAt(reads(87, 400, 1));
      const first = heard.findIndex((v) => v !== 0);
      assert.ok(
        first >= catchUp.length,
        `signal at packet ${first}, during the catch-up (${catchUp.length})`,
      );
      const s = mic.stats();
      assert.equal(s.underruns, 0, "no underrun: primed after the catch-up");
      assert.equal(s.underrunFrames, 0);
      assert.equal(s.overruns, 0);
      assertContiguous(heard, first);
      // The wait is counted: one start that waited, from the read that found the ring at its target.
      assert.equal(s.startWaits, 1);
      assert.ok(s.startWaitFrames >= 48 * 100, `${s.startWaitFrames} frames waited`);
      assert.ok(s.startWaitFrames <= 48 * first, `${s.startWaitFrames} frames waited`);
      assert.equal(s.startWaitTimeouts, 0);
    });
  }

  it("packets catching up again after a gap get silence too: 32 packets spanning the gap took longer than real time, yet USB is behind", async (t) => {
    const { mic, heard, readAt } = await microphone(t, "shared");
    mic.start(format);
    // A catch-up (4 per ms), then no frame for 40 ms (a v86 task), then those 40 ms caught up 4 per
    // ms: the window's own pace looks slow there, but the packets are 40 ms behind the best pace seen
    // since the start (start-pace.ts: reads never run ahead of real time, so that is a lag).
    readAt(reads(0, 80, 4));
    readAt(reads(60, 52, 4));
    readAt(reads(73, 2000, 1));
    const first = heard.findIndex((v) => v !== 0);
    assert.ok(first >= 132, `signal at packet ${first}, before the second catch-up ended (packet 132)`);
    assertContiguous(heard, first);
    const s = mic.stats();
    assert.equal(s.underruns + s.overruns, 0);
    assert.equal(s.resampledSpans, 0, `fill ${s.fillMs} ms`);
  });

  it("packets at real time prime as soon as the ring holds the target and the pace is known (32 packets)", async (t) => {
    for (const transport of ["shared", "message"] as const) {
      const { mic, heard, readAt } = await microphone(t, transport);
      mic.start(format);
      // One per ms on average, in bursts of up to 4 (v86 runs the frames due at each timer hook).
      const bursty = function* (count: number): Generator<number> {
        for (let i = 0; i < count; i++) yield i - (i % [1, 2, 4, 3][Math.floor(i / 10) % 4]!);
      };
      readAt(bursty(400));
      const first = heard.findIndex((v) => v !== 0);
      const target = mic.stats().targetMs;
      // The target's fill, or the pace's 32 packets and then the fill from half the target back to it.
      const bound = Math.max(target, 32 + target / 2) + 4;
      assert.ok(first > 0 && first <= bound, `${transport}: signal at packet ${first} (at most ${bound})`);
      assertContiguous(heard, first);
      const s = mic.stats();
      assert.equal(s.underruns + s.overruns, 0, transport);
      assert.equal(s.startWaitTimeouts, 0, transport);
      mic.close();
    }
  });

  it("a start waits at most START_WAIT_PACKETS packets, then primes anyway (counted)", async (t) => {
    const { mic, heard, readAt } = await microphone(t, "shared");
    mic.start(format);
    // Four packets per wall ms for good: never real time.
    readAt(reads(0, 400, 4));
    const first = heard.findIndex((v) => v !== 0);
    assert.ok(
      first > START_WAIT_PACKETS && first <= START_WAIT_PACKETS + 4 * 10 + 4,
      `signal at packet ${first}: the wait ends at ${START_WAIT_PACKETS}, then half the target (10 ms) refills`,
    );
    const s = mic.stats();
    assert.equal(s.startWaitTimeouts, 1);
    assert.equal(s.startWaits, 1);
    // Read four times faster than the card fills it, the ring then runs dry: counted, as ever.
    assert.ok(s.underruns > 0);
  });

  it("each start waits afresh: stop and start reset the pace (a stream after a pause, then a catch-up)", async (t) => {
    const { mic, heard, advance, readAt, now } = await microphone(t, "message");
    mic.start(format);
    readAt(reads(0, 300, 1));
    const firstStream = heard.findIndex((v) => v !== 0);
    assert.ok(firstStream > 0 && firstStream <= 60, `first stream's signal at packet ${firstStream}`);
    mic.stop();
    // Half a second with no stream, then one at real time: primes as promptly (what the last stream's
    // reads said about pace is not this one's: it started after a pause).
    heard.length = 0;
    advance(now() + 500);
    mic.start(format);
    readAt(reads(now(), 300, 1));
    const second = heard.findIndex((v) => v !== 0);
    assert.ok(second > 0 && second <= 60, `second stream's signal at packet ${second}`);
    assertContiguous(heard, second);
    mic.stop();
    // A third stream whose packets catch up 80 ms: silence through the catch-up again.
    heard.length = 0;
    mic.start(format);
    const start = now() + 60;
    readAt(reads(start, 108, 4));
    readAt(reads(start + 27, 300, 1));
    const third = heard.findIndex((v) => v !== 0);
    assert.ok(third >= 108, `third stream's signal at packet ${third}, during its catch-up`);
    assertContiguous(heard, third);
    const s = mic.stats();
    assert.equal(s.underruns + s.overruns, 0);
    assert.equal(s.startWaits, 1, "only the third stream waited with its ring at the target");
  });
});
