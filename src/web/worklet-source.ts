import {
  H_ACTIVE,
  H_LONGEST_SILENT_RUN,
  H_OVERRUN_FRAMES,
  H_OVERRUNS,
  H_PRIME,
  H_QUANTA,
  H_READ,
  H_SILENT_FRAMES,
  H_SILENT_RUNS,
  H_SOURCE_GAP_FRAMES,
  H_SOURCE_GAPS,
  H_UNDERRUN_FRAMES,
  H_UNDERRUNS,
  H_WRITE,
  HEADER_SLOTS,
  SILENT_RUN_MIN_FRAMES,
} from "./frame-ring.ts";

/** The processor names the module registers. */
export const MICROPHONE_PROCESSOR = "uhci-microphone-bridge";
export const SPEAKER_PROCESSOR = "uhci-speaker-bridge";

/** What the bridges pass as `processorOptions`. */
export interface WorkletProcessorOptions {
  /** "shared": `buffer` is the ring, shared with the main thread; "message": samples go through the port. */
  readonly transport: "shared" | "message";
  /** The shared ring's buffer (shared transport only). */
  readonly buffer: SharedArrayBuffer | ArrayBuffer | null;
  /** Ring capacity in frames (a power of two); two channels. */
  readonly capacityFrames: number;
  /** Message transport, speaker: render quanta between reports of the worklet's position. */
  readonly reportEvery: number;
}

/**
 * The AudioWorklet module, as source text: the bridges load it from a Blob URL, so a page needs no file
 * besides its bundle. It is plain JavaScript (the worklet scope runs no TypeScript and imports
 * nothing) and keeps its own copy of the ring logic of frame-ring.ts, with the header slots spliced in
 * from there. A page whose Content-Security-Policy forbids `blob:` module URLs can serve this text as a
 * file and pass its URL (`BridgeOptions.moduleUrl`).
 *
 * Microphone processor: each render quantum (128 frames) of its input, up- or down-mixed to stereo by
 * WebAudio (channelCount 2, explicit), goes into the ring while the guest streams (H_ACTIVE); a quantum
 * that does not fit is dropped and counted (one overrun per episode). Without a connected input it
 * writes silence, so a page without a microphone still feeds the guest on the sound card's clock.
 * While the guest streams it also counts what the source failed to deliver, which only it can see: a
 * quantum with no channels (Chromium's input while a MediaStream source has no data, or no stream is
 * connected) and runs of exact zeros on every channel (H_SOURCE_GAPS…H_LONGEST_SILENT_RUN); with the
 * message transport those counts ride on each samples message.
 *
 * Speaker processor: plays the ring into its stereo output. After a start or an underrun it waits for
 * H_PRIME frames first (silence meanwhile, not counted); a quantum it cannot fill is an underrun
 * (counted, the rest silence, then it primes again). When the guest stops it plays out what is left.
 */
export const WORKLET_SOURCE = `"use strict";
const H_WRITE = ${H_WRITE}, H_READ = ${H_READ}, H_ACTIVE = ${H_ACTIVE}, H_UNDERRUNS = ${H_UNDERRUNS},
  H_UNDERRUN_FRAMES = ${H_UNDERRUN_FRAMES}, H_OVERRUNS = ${H_OVERRUNS}, H_OVERRUN_FRAMES = ${H_OVERRUN_FRAMES},
  H_PRIME = ${H_PRIME}, H_QUANTA = ${H_QUANTA}, HEADER_SLOTS = ${HEADER_SLOTS},
  H_SOURCE_GAPS = ${H_SOURCE_GAPS}, H_SOURCE_GAP_FRAMES = ${H_SOURCE_GAP_FRAMES}, H_SILENT_RUNS = ${H_SILENT_RUNS},
  H_SILENT_FRAMES = ${H_SILENT_FRAMES}, H_LONGEST_SILENT_RUN = ${H_LONGEST_SILENT_RUN},
  SILENT_RUN_MIN_FRAMES = ${SILENT_RUN_MIN_FRAMES};
const CHANNELS = 2;

class Ring {
  constructor(buffer, capacity) {
    this.capacity = capacity;
    this.header = new Int32Array(buffer, 0, HEADER_SLOTS);
    this.data = new Float32Array(buffer, HEADER_SLOTS * 4, CHANNELS * capacity);
  }
  available() {
    const n = (Atomics.load(this.header, H_WRITE) - Atomics.load(this.header, H_READ)) | 0;
    return n < 0 ? 0 : n > this.capacity ? this.capacity : n;
  }
  add(slot, value) { Atomics.store(this.header, slot, (Atomics.load(this.header, slot) + value) | 0); }
  writeInterleaved(source, frames) {
    const write = Atomics.load(this.header, H_WRITE);
    let slot = (write >>> 0) % this.capacity;
    for (let i = 0, n = frames * CHANNELS; i < n; i += CHANNELS) {
      this.data[slot * CHANNELS] = source[i];
      this.data[slot * CHANNELS + 1] = source[i + 1];
      slot = slot + 1 === this.capacity ? 0 : slot + 1;
    }
    Atomics.store(this.header, H_WRITE, (write + frames) | 0);
  }
  writePlanar(left, right, frames) {
    const write = Atomics.load(this.header, H_WRITE);
    let slot = (write >>> 0) % this.capacity;
    for (let i = 0; i < frames; i++) {
      this.data[slot * CHANNELS] = left ? left[i] : 0;
      this.data[slot * CHANNELS + 1] = right ? right[i] : left ? left[i] : 0;
      slot = slot + 1 === this.capacity ? 0 : slot + 1;
    }
    Atomics.store(this.header, H_WRITE, (write + frames) | 0);
  }
  readPlanar(left, right, offset, frames) {
    const read = Atomics.load(this.header, H_READ);
    let slot = (read >>> 0) % this.capacity;
    for (let i = offset; i < offset + frames; i++) {
      const l = this.data[slot * CHANNELS], r = this.data[slot * CHANNELS + 1];
      if (left) left[i] = right ? l : (l + r) / 2;
      if (right) right[i] = r;
      slot = slot + 1 === this.capacity ? 0 : slot + 1;
    }
    Atomics.store(this.header, H_READ, (read + frames) | 0);
  }
}

function ringFor(options) {
  const capacity = options.capacityFrames;
  const buffer = options.transport === "shared" && options.buffer
    ? options.buffer
    : new ArrayBuffer(HEADER_SLOTS * 4 + CHANNELS * capacity * 4);
  return new Ring(buffer, capacity);
}

class UhciMicrophoneBridge extends AudioWorkletProcessor {
  constructor(nodeOptions) {
    super();
    const options = nodeOptions.processorOptions;
    this.message = options.transport !== "shared";
    this.ring = ringFor(options);
    this.overflowing = false;
    this.closed = false;
    // The source's silence in progress (frames) and whether the last quantum had no channels.
    this.silentRun = 0;
    this.inGap = false;
    this.port.onmessage = (event) => {
      const m = event.data;
      if (m && m.type === "config") Atomics.store(this.ring.header, H_ACTIVE, m.active ? 1 : 0);
      else if (m && m.type === "close") this.closed = true;
    };
  }
  // Counts what the source did not deliver in this quantum: no channels at all, or exact zeros on
  // every channel for SILENT_RUN_MIN_FRAMES frames or more (a run may span quanta).
  watchSource(left, right, frames) {
    const ring = this.ring;
    let run = this.silentRun, runs = 0, silent = 0, longest = 0;
    if (left === null) {
      if (!this.inGap) ring.add(H_SOURCE_GAPS, 1);
      this.inGap = true;
      ring.add(H_SOURCE_GAP_FRAMES, frames);
      if (run >= SILENT_RUN_MIN_FRAMES) silent = frames;
      else if (run + frames >= SILENT_RUN_MIN_FRAMES) { runs = 1; silent = run + frames; }
      run += frames;
    } else {
      this.inGap = false;
      for (let i = 0; i < frames; i++) {
        if (left[i] === 0 && (right === null || right[i] === 0)) {
          run++;
          if (run > SILENT_RUN_MIN_FRAMES) silent++;
          else if (run === SILENT_RUN_MIN_FRAMES) { runs++; silent += run; }
        } else {
          if (run > longest) longest = run;
          run = 0;
        }
      }
    }
    this.silentRun = run;
    if (runs !== 0) ring.add(H_SILENT_RUNS, runs);
    if (silent !== 0) ring.add(H_SILENT_FRAMES, silent);
    // A run ended in this quantum, or one still going (the longest grows with it).
    if (run > longest) longest = run;
    if (longest >= SILENT_RUN_MIN_FRAMES && longest > Atomics.load(ring.header, H_LONGEST_SILENT_RUN))
      Atomics.store(ring.header, H_LONGEST_SILENT_RUN, longest | 0);
  }
  process(inputs) {
    if (this.closed) return false;
    const ring = this.ring;
    ring.add(H_QUANTA, 1);
    const input = inputs[0];
    const left = input && input.length > 0 ? input[0] : null;
    const right = input && input.length > 1 ? input[1] : null;
    const frames = left ? left.length : 128;
    if (Atomics.load(ring.header, H_ACTIVE) === 0) {
      // Silence while the guest does not stream is nobody's loss; a run starts afresh with the stream.
      this.silentRun = 0;
      this.inGap = false;
      return true;
    }
    this.watchSource(left, right, frames);
    if (this.message) {
      const data = new Float32Array(frames * CHANNELS);
      for (let i = 0; i < frames; i++) {
        data[i * CHANNELS] = left ? left[i] : 0;
        data[i * CHANNELS + 1] = right ? right[i] : left ? left[i] : 0;
      }
      const h = ring.header;
      this.port.postMessage({
        type: "samples",
        data,
        sourceGaps: h[H_SOURCE_GAPS],
        sourceGapFrames: h[H_SOURCE_GAP_FRAMES],
        silentRuns: h[H_SILENT_RUNS],
        silentFrames: h[H_SILENT_FRAMES],
        longestSilentRun: h[H_LONGEST_SILENT_RUN],
      }, [data.buffer]);
      return true;
    }
    if (ring.capacity - ring.available() < frames) {
      if (!this.overflowing) ring.add(H_OVERRUNS, 1);
      this.overflowing = true;
      ring.add(H_OVERRUN_FRAMES, frames);
      return true;
    }
    this.overflowing = false;
    ring.writePlanar(left, right, frames);
    return true;
  }
}

class UhciSpeakerBridge extends AudioWorkletProcessor {
  constructor(nodeOptions) {
    super();
    const options = nodeOptions.processorOptions;
    this.message = options.transport !== "shared";
    this.reportEvery = Math.max(1, options.reportEvery | 0);
    this.ring = ringFor(options);
    this.primed = false;
    // Silence while priming again after an underrun is loss too (counted), unlike before the first fill.
    this.afterUnderrun = false;
    this.closed = false;
    this.quanta = 0;
    this.port.onmessage = (event) => {
      const m = event.data;
      if (!m) return;
      const ring = this.ring;
      if (m.type === "samples") {
        const data = m.data;
        const frames = Math.floor(data.length / CHANNELS);
        const fit = Math.min(frames, ring.capacity - ring.available());
        if (fit < frames) {
          ring.add(H_OVERRUNS, 1);
          ring.add(H_OVERRUN_FRAMES, frames - fit);
        }
        ring.writeInterleaved(data, fit);
      } else if (m.type === "config") {
        Atomics.store(ring.header, H_ACTIVE, m.active ? 1 : 0);
        Atomics.store(ring.header, H_PRIME, m.prime | 0);
      } else if (m.type === "close") {
        this.closed = true;
      }
    };
  }
  process(_inputs, outputs) {
    if (this.closed) return false;
    const ring = this.ring;
    const header = ring.header;
    ring.add(H_QUANTA, 1);
    const output = outputs[0];
    const left = output && output.length > 0 ? output[0] : null;
    const right = output && output.length > 1 ? output[1] : null;
    const frames = left ? left.length : 128;
    const available = ring.available();
    let play = 0;
    if (Atomics.load(header, H_ACTIVE) === 0) {
      play = Math.min(available, frames);
      this.primed = false;
      this.afterUnderrun = false;
    } else if (!this.primed) {
      if (available >= Math.max(frames, Atomics.load(header, H_PRIME))) {
        this.primed = true;
        this.afterUnderrun = false;
        play = frames;
      } else if (this.afterUnderrun) {
        ring.add(H_UNDERRUN_FRAMES, frames);
      }
    } else if (available >= frames) {
      play = frames;
    } else {
      play = available;
      ring.add(H_UNDERRUNS, 1);
      ring.add(H_UNDERRUN_FRAMES, frames - available);
      this.primed = false;
      this.afterUnderrun = true;
    }
    ring.readPlanar(left, right, 0, play);
    for (let i = play; i < frames; i++) {
      if (left) left[i] = 0;
      if (right) right[i] = 0;
    }
    if (this.message && ++this.quanta % this.reportEvery === 0) {
      this.port.postMessage({
        type: "report",
        read: Atomics.load(header, H_READ),
        underruns: Atomics.load(header, H_UNDERRUNS),
        underrunFrames: Atomics.load(header, H_UNDERRUN_FRAMES),
        overruns: Atomics.load(header, H_OVERRUNS),
        overrunFrames: Atomics.load(header, H_OVERRUN_FRAMES),
      });
    }
    return true;
  }
}

registerProcessor(${JSON.stringify(MICROPHONE_PROCESSOR)}, UhciMicrophoneBridge);
registerProcessor(${JSON.stringify(SPEAKER_PROCESSOR)}, UhciSpeakerBridge);
`;
