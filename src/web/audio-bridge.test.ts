import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { generateTestSignal } from "../devices/audio/test-signal.ts";
import { audioWorkletSupport, MicrophoneBridge, openMicrophone, SpeakerBridge } from "./audio-bridge.ts";
import type {
  AudioContextLike,
  AudioNodeLike,
  AudioWorkletNodeOptionsLike,
  MediaStreamLike,
} from "./dom-types.ts";
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
    it(`carry the signal both ways through the worklet code (${transport} transport)`, async () => {
      globals["AudioWorkletNode"] = FakeWorkletNode;
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
      assert.deepEqual(heard.slice(firstHeard, firstHeard + 5), [100, 101, 102, 103, 104]);
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
        // The default target: 20 ms on the shared ring, 50 ms through MessagePort batches.
        assert.equal(s.targetMs, transport === "shared" ? 20 : 50);
        assert.ok(Math.abs(s.fillMs - s.targetMs) < 10, `fill ${s.fillMs} ms`);
        assert.ok(s.latencyMs > s.fillMs);
      }
      mic.stop();
      assert.equal(mic.stats().running, false);
    });
  }
});
