/**
 * Records what flows through an AudioNode, stamped with the AudioContext's frame clock: the browser
 * tests check the guest's playback through it (the speaker bridge's output) and time clicks between
 * the microphone stream and that output (the loopback latency). Recording is off until `start()`; the
 * worklet copies each render quantum while on (test tooling, not a hot path of the library).
 */
const TAP_PROCESSOR = `
class UhciDemoTap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.on = false;
    this.port.onmessage = (event) => { this.on = event.data === true; };
  }
  process(inputs) {
    const input = inputs[0];
    if (this.on && input !== undefined && input.length > 0) {
      const channels = input.map((channel) => channel.slice());
      this.port.postMessage({ frame: currentFrame, channels }, channels.map((c) => c.buffer));
    }
    return true;
  }
}
registerProcessor("uhci-demo-tap", UhciDemoTap);
`;

let moduleUrl: string | null = null;

interface Block {
  frame: number;
  channels: Float32Array[];
}

export class TapRecorder {
  private blocks: Block[] = [];

  private constructor(private readonly node: AudioWorkletNode) {
    node.port.onmessage = (event: MessageEvent<Block>) => {
      this.blocks.push(event.data);
    };
  }

  static async create(context: AudioContext, source: AudioNode): Promise<TapRecorder> {
    if (moduleUrl === null) {
      moduleUrl = URL.createObjectURL(new Blob([TAP_PROCESSOR], { type: "text/javascript" }));
    }
    await context.audioWorklet.addModule(moduleUrl);
    const node = new AudioWorkletNode(context, "uhci-demo-tap", {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
    });
    source.connect(node);
    // Pulled by the graph through a silent gain, so it runs whether or not anything else listens.
    const mute = context.createGain();
    mute.gain.value = 0;
    node.connect(mute).connect(context.destination);
    return new TapRecorder(node);
  }

  start(): void {
    this.blocks = [];
    this.node.port.postMessage(true);
  }

  /**
   * Stops and returns what was recorded, interleaved, as 16-bit samples (×32768, rounded, clamped: the
   * inverse of the bridge's 16-bit → float step, so a signal that crossed unchanged is bit-exact), in
   * base64 for the trip out of the page, with the context frame of its first sample and the number of
   * breaks in the frame stamps (render quanta the tap missed).
   */
  stop(): { firstFrame: number; frames: number; channels: number; gaps: number; base64: string } {
    this.node.port.postMessage(false);
    const blocks = this.blocks;
    this.blocks = [];
    const channels = Math.max(1, blocks[0]?.channels.length ?? 1);
    const total = blocks.reduce((n, b) => n + (b.channels[0]?.length ?? 0), 0);
    const out = new Int16Array(total * channels);
    let at = 0;
    let gaps = 0;
    let expected = blocks[0]?.frame ?? 0;
    for (const block of blocks) {
      if (block.frame !== expected) gaps++;
      const length = block.channels[0]?.length ?? 0;
      for (let i = 0; i < length; i++) {
        for (let c = 0; c < channels; c++) {
          // A block with fewer channels (the source changed) repeats its last one.
          const value = block.channels[Math.min(c, block.channels.length - 1)]?.[i] ?? 0;
          out[at++] = Math.max(-32768, Math.min(32767, Math.round(value * 32768)));
        }
      }
      expected = block.frame + length;
    }
    let binary = "";
    const bytes = new Uint8Array(out.buffer);
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return { firstFrame: blocks[0]?.frame ?? 0, frames: total, channels, gaps, base64: btoa(binary) };
  }
}
