import { PlaybackPipe } from "../pipes.ts";
import { loadWorklet, portPair } from "./audio-sim.ts";

const pipe = new PlaybackPipe({ contextRate: 48000, shared: true });
const [, wp] = portPair();
const cls = loadWorklet(() => wp);
const proc = new cls.speaker({
  processorOptions: {
    transport: "shared",
    buffer: pipe.ring.buffer,
    capacityFrames: pipe.ring.capacityFrames,
    reportEvery: 2,
  },
});
const fmt = { sampleRate: 48000, channels: 2 };
pipe.start(fmt);
const pkt = new Int16Array(96).fill(1000);
const l = new Float32Array(128),
  r = new Float32Array(128);
let q = 0;
for (let ms = 0; ms < 3000; ms++) {
  while ((q * 128) / 48 <= ms) {
    proc.process([], [[l, r]]);
    q++;
  }
  pipe.write(pkt, 48, fmt);
  const s = pipe.stats();
  if (ms < 40 || ms % 300 === 0) console.log(ms, s.fillFrames, s.ratio, l[0]);
}
