/**
 * The demo page: the bundled Linux guest in v86 with the UHCI controller, a USB headset on the page's
 * microphone and speakers (uhci/web's WebAudio bridge), a USB keyboard and a USB tablet fed by the page,
 * the serial console in xterm.js, a live USB tree and audio statistics, hotplug, a loopback and
 * save/restore. Served by `npm run demo` (scripts/demo.mjs), driven by test/browser/.
 */
import { Terminal } from "@xterm/xterm";
import type { V86, V86Options } from "v86";
import { attachUhciToV86, loadV86WithPauseFreeTime, type UhciOnV86 } from "../src/adapters/v86/index.ts";
import { EVENT_PREFIX, type GuestEvent, GuestSerialParser } from "../src/cli/guest-vm/guest-serial.ts";
import { MouseButton, type UsbDevice, UsbHeadset, UsbKeyboard, UsbTablet } from "../src/index.ts";
import type { PauseFreeTime } from "../src/machine/pause-free-time.ts";
import {
  type AudioBridgeStats,
  type AudioNodeLike,
  audioWorkletSupport,
  type BridgeOptions,
  MicrophoneBridge,
  openMicrophone,
  SpeakerBridge,
} from "../src/web/index.ts";
import { type FrameGaps, NO_FRAME_GAPS, SwitchableSink, SwitchableSource } from "./audio-switch.ts";
import { AGENT_BOOTSTRAP, AGENT_FUNCTIONS, AgentChannel, CONSOLE_COLS, CONSOLE_ROWS } from "./guest-agent.ts";
import { usageOfCode } from "./keymap.ts";
import { TapRecorder } from "./tap.ts";
import { driverSummary, formatText } from "./view-text.ts";

declare global {
  interface Window {
    V86: typeof V86;
    demo: DemoApi;
  }
}

interface DemoConfig {
  cmdline: string;
  initrd: string;
}

interface PortSlot {
  readonly label: string;
  readonly device: UsbDevice;
  plugged: boolean;
}

interface TreeRow {
  path: string;
  product: string;
  speed: string;
  devnum: number;
  drivers: string;
}

/** What the browser tests (test/browser/) and a curious user in the console can reach. */
export interface DemoApi {
  /** Resolves when the guest's shell and the page's agent on ttyS1 are up. */
  readonly ready: Promise<void>;
  readonly agent: AgentChannel;
  /** The console on ttyS0, parsed: /init's protocol events and the newest console lines. */
  readonly serial: GuestSerialParser;
  /** Errors the page caught (uncaught ones are collected by the tests from the page itself). */
  readonly errors: string[];
  readonly messages: string[];
  /** Runs a command line in the guest's agent (guest-agent.ts). */
  run(command: string): void;
  plug(port: number): void;
  unplug(port: number): void;
  saveState(): Promise<number>;
  restoreState(): Promise<void>;
  loopback(on: boolean): void;
  /** The bridges in use (the loopback's while it runs), and which profile that is. */
  stats(): {
    microphone: AudioBridgeStats | null;
    speaker: AudioBridgeStats | null;
    profile: "steady" | "loopback";
  };
  /** The main thread's responsiveness since the last `resetResponsiveness()` (see {@link Responsiveness}). */
  responsiveness(): Responsiveness;
  resetResponsiveness(): void;
  /** The bridges' and the guest's loopback settings this page runs with (URL parameters override them). */
  readonly tuning: Tuning;
  tree(): TreeRow[];
  readonly context: AudioContext | null;
  /** A recorder on the speaker bridge's output (what the guest plays). */
  readonly speakerTap: TapRecorder | null;
  /** A recorder on the microphone stream itself (what the guest is sent), for the latency check. */
  readonly microphoneTap: TapRecorder | null;
  readonly tablet: UsbTablet;
  readonly keyboard: UsbKeyboard;
  /** The guest's pause-free clock (`time.stats`: the host pauses taken out of it, as a save's); null with `?clock=real`. */
  readonly time: PauseFreeTime | null;
  readonly clock: ClockMode;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
};

const messages: string[] = [];
const MESSAGES_SHOWN = 4;
const errors: string[] = [];
function say(text: string, kind: "info" | "warn" = "info"): HTMLLIElement {
  messages.push(text);
  const item = document.createElement("li");
  item.textContent = text;
  item.className = kind;
  const list = $("messages");
  list.append(item);
  // A few lines only: each save and restore adds one, and an ever longer list pushed the screen and the
  // console down the page (tried headed). The oldest information goes first; warnings (a silent
  // microphone, no audio) stay, since they say why. `messages` keeps everything.
  while (list.childElementCount > MESSAGES_SHOWN) {
    const oldest = list.querySelector("li.info") ?? list.firstElementChild;
    if (oldest === null || oldest === item) break;
    oldest.remove();
  }
  return item;
}
function failed(what: string, error: unknown): void {
  const text = `${what}: ${error instanceof Error ? error.message : String(error)}`;
  errors.push(text);
  say(text, "warn");
}

// ---- audio --------------------------------------------------------------------------------------

/**
 * Two bridge profiles and the guest's loopback command (docs/benchmarks.md, section 5, measured them):
 * - steady (recording, playing, everything but the loopback): room for this page's jitter. The main
 *   thread runs v86, and every USB frame with it; when it is late the speaker's ring drains (an
 *   underrun once the gap outlasts its fill) and the microphone's fills (an overrun past its maximum),
 *   and overdue frames are then caught up a few per v86 slice. So the speaker's target and the
 *   microphone's maximum less its target are what a main-thread stall must stay under.
 * - loopback: small targets, for the round trip (issue 11 aims at ≤ 50 ms through the whole OS), and
 *   small maxima: after a stall the rings hold the stall's audio, which the drift control would take
 *   minutes to drain at ±2000 ppm (a speaker fill of 36 ms against a target of 8 was measured with a
 *   60 ms maximum); an overrun sheds it at once, a counted loss the loopback can afford.
 * - loop: `arecord | aplay` in the guest: ALSA period and buffer in frames at 48 kHz, and aplay's start
 *   threshold in µs (`--start-delay`): arecord and aplay run on the same USB frame clock, so aplay's
 *   buffer stays as full as it was when playback started: the start threshold, not the buffer size, is
 *   its share of the round trip, and the rest of the buffer is headroom for the guest's jitter.
 */
export interface Tuning {
  readonly steady: { readonly microphone: BridgeOptions; readonly speaker: BridgeOptions };
  readonly loopback: { readonly microphone: BridgeOptions; readonly speaker: BridgeOptions };
  readonly loop: { readonly periodFrames: number; readonly bufferFrames: number; readonly startUs: number };
}

/** `?name=target,max` (ms) → bridge options, else the default. */
function bridgeParam(params: URLSearchParams, name: string, fallback: BridgeOptions): BridgeOptions {
  const [target, max] = (params.get(name) ?? "").split(",").map(Number);
  if (target === undefined || !(target >= 1 && target <= 1000)) return fallback;
  return max !== undefined && max > target
    ? { targetLatencyMs: target, maxLatencyMs: max }
    : { targetLatencyMs: target };
}

function readTuning(params: URLSearchParams): Tuning {
  const [period, buffer, start] = (params.get("loop") ?? "").split(",").map(Number);
  const ok = (v: number | undefined, lo: number, hi: number): v is number =>
    v !== undefined && Number.isInteger(v) && v >= lo && v <= hi;
  return {
    steady: {
      microphone: bridgeParam(params, "mic", { targetLatencyMs: 40, maxLatencyMs: 300 }),
      speaker: bridgeParam(params, "speaker", { targetLatencyMs: 120, maxLatencyMs: 300 }),
    },
    loopback: {
      microphone: bridgeParam(params, "loopMic", { targetLatencyMs: 5, maxLatencyMs: 25 }),
      speaker: bridgeParam(params, "loopSpeaker", { targetLatencyMs: 8, maxLatencyMs: 30 }),
    },
    loop: {
      periodFrames: ok(period, 16, 4800) ? period : 96,
      bufferFrames: ok(buffer, 32, 48000) ? buffer : 768,
      startUs: ok(start, 0, 1_000_000) ? start : 4000,
    },
  };
}

/**
 * The main thread's responsiveness while the guest runs: its long tasks (over 50 ms, the browser's
 * PerformanceObserver 'longtask'), and the largest gap between the headset's USB packets (each 1 ms
 * apart when v86 keeps time), per direction.
 */
export interface Responsiveness {
  readonly longTasks: number;
  readonly longestTaskMs: number;
  readonly microphoneGaps: FrameGaps;
  readonly speakerGaps: FrameGaps;
}

interface Audio {
  context: AudioContext | null;
  microphone: SwitchableSource | null;
  speaker: SwitchableSink | null;
  bridges: {
    steady: { microphone: MicrophoneBridge; speaker: SpeakerBridge };
    loopback: { microphone: MicrophoneBridge; speaker: SpeakerBridge };
  } | null;
  speakerTap: TapRecorder | null;
  microphoneTap: TapRecorder | null;
}

/** The page without audio: the guest runs on with a silent microphone and nowhere to play. */
const NO_AUDIO: Audio = {
  context: null,
  microphone: null,
  speaker: null,
  bridges: null,
  speakerTap: null,
  microphoneTap: null,
};

/**
 * The AudioContext and both bridges. Every way this can fall short leaves a running guest and says why:
 * no AudioWorklet (an insecure page, an old browser) → no audio at all; no microphone permission →
 * the guest records silence; autoplay policy → a button that resumes the context.
 */
async function setUpAudio(tuning: Tuning): Promise<Audio> {
  const support = audioWorkletSupport();
  if (!support.ok) {
    say(
      `No audio: this browser cannot run an AudioWorklet (${support.reason ?? "unknown reason"}). ` +
        "The guest runs with a silent microphone and its sound goes nowhere.",
      "warn",
    );
    return NO_AUDIO;
  }
  // 48 kHz, the guest's usual rate, unless the page is opened with ?rate=N: the bridge then has no rate
  // to convert (the browser converts to the sound card's rate after it, in its own mixer).
  const rate = Number(new URLSearchParams(location.search).get("rate") ?? 48000);
  const context = new AudioContext({ latencyHint: "interactive", sampleRate: rate > 0 ? rate : 48000 });
  const mic = await openMicrophone();
  if (mic.stream === null) {
    say(`Microphone: silent (${mic.reason ?? "no stream"}); the guest records silence.`, "warn");
  }
  const bridges = {
    steady: {
      microphone: await MicrophoneBridge.create(context, mic.stream, tuning.steady.microphone),
      speaker: await SpeakerBridge.create(context, tuning.steady.speaker),
    },
    loopback: {
      microphone: await MicrophoneBridge.create(context, mic.stream, tuning.loopback.microphone),
      speaker: await SpeakerBridge.create(context, tuning.loopback.speaker),
    },
  };
  const microphone = new SwitchableSource(bridges.steady.microphone);
  const speaker = new SwitchableSink(bridges.steady.speaker);
  // One tap on both speaker bridges' outputs (only the one in use plays; the other outputs silence).
  const speakerOut = context.createGain();
  bridges.steady.speaker.output.connect(speakerOut as unknown as AudioNodeLike);
  bridges.loopback.speaker.output.connect(speakerOut as unknown as AudioNodeLike);
  const speakerTap = await TapRecorder.create(context, speakerOut);
  const microphoneTap =
    mic.stream === null
      ? null
      : await TapRecorder.create(context, context.createMediaStreamSource(mic.stream as MediaStream));
  if (context.state !== "running") offerAudioStart(context);
  return { context, microphone, speaker, bridges, speakerTap, microphoneTap };
}

/**
 * Chrome's autoplay policy: a context made before any user gesture starts suspended, and only a gesture
 * may resume it. The “Start audio” button is that gesture; so is the first click or key anywhere in the
 * page (tried headed: a user's first click is usually into the screen). Once the context runs, the
 * button goes and the message says so: a warning left standing after the click read as if audio were
 * still blocked.
 */
function offerAudioStart(context: AudioContext): void {
  const button = $<HTMLButtonElement>("start-audio");
  button.hidden = false;
  const notice = say(
    "Audio is blocked until you click “Start audio” (the browser's autoplay policy).",
    "warn",
  );
  const resume = (): void => {
    if (context.state === "suspended") void context.resume().catch(() => {});
  };
  button.addEventListener("click", resume);
  document.addEventListener("pointerdown", resume, { capture: true });
  document.addEventListener("keydown", resume, { capture: true });
  const onState = (): void => {
    if (context.state !== "running") return;
    button.hidden = true;
    notice.textContent = "Audio started (it waited for a click: the browser's autoplay policy).";
    notice.className = "info";
    messages.push(notice.textContent);
    document.removeEventListener("pointerdown", resume, { capture: true });
    document.removeEventListener("keydown", resume, { capture: true });
    context.removeEventListener("statechange", onState);
  };
  context.addEventListener("statechange", onState);
}

// ---- serial console ------------------------------------------------------------------------------

/**
 * Shows the console on ttyS0 without the protocol lines /init prints (`@@UHCI …`): bytes at the start of
 * a line are held only while they could still be that prefix.
 */
class ConsoleView {
  private held: number[] = [];
  private hiding = false;
  private atLineStart = true;
  constructor(private readonly terminal: Terminal) {}

  byte(value: number): void {
    if (this.hiding) {
      if (value === 0x0a) {
        this.hiding = false;
        this.atLineStart = true;
      }
      return;
    }
    if (this.atLineStart) {
      this.held.push(value);
      const matches = this.held.every((b, i) => EVENT_PREFIX.charCodeAt(i) === b);
      if (matches && this.held.length === EVENT_PREFIX.length) {
        this.held = [];
        this.hiding = true;
      } else if (!matches) {
        this.terminal.write(Uint8Array.from(this.held));
        this.atLineStart = value === 0x0a;
        this.held = [];
      }
      return;
    }
    this.terminal.write(Uint8Array.of(value));
    if (value === 0x0a) this.atLineStart = true;
  }
}

// ---- v86 -------------------------------------------------------------------------------------------

/**
 * v86 (its classic build, which defines `window.V86`) loaded with pause-free time
 * (src/adapters/v86/pause-free-v86.ts): the guest's clock stands still while the page's main thread is
 * blocked. A save blocks v86 for hundreds of ms (its whole RAM serialised in one task); on real time the
 * guest's clock jumped across it, and arecord and aplay, whose waits count guest jiffies, could end with
 * EIO (docs/architecture.md, "Host stalls"). The source is fetched first and evaluated as an inline
 * script, which runs at once: `performance.now` is the pause-free one only for v86's own evaluation,
 * and the rest of the page (the audio meters, the timers) keeps real time.
 */
/**
 * How the page keeps the guest's time (`?clock=`, to compare them; see {@link DEFAULT_CLOCK}):
 * - `leash`: pause-free time, passed to the adapter as `time`: the guest's clock also waits for the bus
 *   on a slow host (docs/architecture.md, "Host stalls");
 * - `pause-free`: pause-free time, USB time on it (`now`), no leash;
 * - `real`: v86's own clock (`performance.now()`): a save's blocked time shows in the guest.
 */
export type ClockMode = "leash" | "pause-free" | "real";
/**
 * Pause-free without the leash: the page's microphone and speakers run in real time, so USB time must
 * keep up with the wall clock. The leash makes the bus wait for a slow guest and never catch up: every
 * long task left it further behind the live bridges (a clean-clone browser run: USB packets 1.7 s
 * behind in the first recording, 12.8 s by the loopback, the bridges' losses growing with it).
 */
const DEFAULT_CLOCK: ClockMode = "pause-free";

function clockMode(params: URLSearchParams): ClockMode {
  const value = params.get("clock");
  return value === "leash" || value === "pause-free" || value === "real" ? value : DEFAULT_CLOCK;
}

async function loadV86(mode: ClockMode): Promise<{ V86: typeof V86; time: PauseFreeTime | null }> {
  const response = await fetch("/v86/libv86.js");
  if (!response.ok) throw new Error(`/v86/libv86.js: HTTP ${response.status}`);
  const source = await response.text();
  const evaluate = async (): Promise<typeof V86 | undefined> => {
    const script = document.createElement("script");
    // Named, so v86's frames in the console's stack traces say where they come from.
    script.textContent = `${source}\n//# sourceURL=${location.origin}/v86/libv86.js`;
    document.head.append(script);
    script.remove();
    return window.V86 as typeof V86 | undefined;
  };
  const { module, time } =
    mode === "real" ? { module: await evaluate(), time: null } : await loadV86WithPauseFreeTime(evaluate);
  if (typeof module !== "function") throw new Error("/v86/libv86.js did not define V86");
  return { V86: module, time };
}

// ---- the page ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const config = (await (await fetch("/config.json")).json()) as DemoConfig;
  const tuning = readTuning(new URLSearchParams(location.search));
  // v86 first, before anything else runs: it binds the guest's clock when it is evaluated.
  const clock = clockMode(new URLSearchParams(location.search));
  const { V86: Emulator, time } = await loadV86(clock);
  let uhci: UhciOnV86 | null = null;
  const audio = await setUpAudio(tuning).catch((error: unknown): Audio => {
    failed("audio", error);
    return NO_AUDIO;
  });

  const headset = new UsbHeadset({
    ...(audio.microphone === null ? {} : { microphone: { source: audio.microphone } }),
    ...(audio.speaker === null ? {} : { speaker: { sink: audio.speaker } }),
  });
  const keyboard = new UsbKeyboard();
  const tablet = new UsbTablet();
  // Three root ports: a UHCI has two, but uhci-hcd counts the PORTSC registers that answer (up to 7),
  // and the headset, keyboard and tablet each want their own without a hub.
  const slots: PortSlot[] = [
    { label: "headset", device: headset, plugged: true },
    { label: "keyboard", device: keyboard, plugged: true },
    { label: "tablet", device: tablet, plugged: true },
  ];

  const terminal = new Terminal({
    convertEol: false,
    fontSize: 13,
    rows: CONSOLE_ROWS,
    cols: CONSOLE_COLS,
    scrollback: 2000,
  });
  terminal.open($("terminal"));
  const consoleView = new ConsoleView(terminal);
  let looping = false;

  // Long tasks on the main thread (Chromium reports tasks over 50 ms): v86 shares this thread with the
  // DOM, and a task that long stops USB frames for as long (issue 11: the page stays responsive).
  let longTasks = 0;
  let longestTaskMs = 0;
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        longTasks++;
        longestTaskMs = Math.max(longestTaskMs, entry.duration);
      }
    }).observe({ type: "longtask", buffered: false });
  } catch {
    // A browser without 'longtask' entries: the USB packet gaps still say how late frames ran.
  }
  let agentUp = false;

  const agent = new AgentChannel((event) => {
    if (event.event === "agent-up") {
      for (const line of AGENT_FUNCTIONS) run(line);
    }
    if (event.event === "agent") {
      agentUp = true;
      markReady();
      $("status").textContent = "running";
      requestTree();
    }
    if (event.event === "tree") treeRows.push(event as unknown as TreeRow);
    if (event.event === "tree-end") {
      guestTree = treeRows;
      treeRows = [];
      renderTree();
    }
    if (event.event === "loop-on" || event.event === "loop-off") {
      $("loopback").textContent = event.event === "loop-on" ? "Stop loopback" : "Loopback";
    }
  });
  let treeRows: TreeRow[] = [];
  let guestTree: TreeRow[] = [];

  const images = await Promise.all(
    ["/guest/bios.bin", "/guest/vgabios-stdvga.bin", "/guest/bzImage", config.initrd].map(async (url) => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return response.arrayBuffer();
    }),
  );
  const options: V86Options = {
    wasm_path: "/v86/v86.wasm",
    memory_size: 128 * 1024 * 1024,
    vga_memory_size: 2 * 1024 * 1024,
    screen_container: $("screen"),
    // Fetched here and handed over as buffers, as `uhci shell` does in Node (v86's own URL loader
    // left the kernel without its initramfs in Chromium: "VFS: Unable to mount root fs").
    bios: { buffer: images[0]! },
    vga_bios: { buffer: images[1]! },
    bzimage: { buffer: images[2]! },
    initrd: { buffer: images[3]! },
    // The guest waits for a USB device, then runs a shell on ttyS0 (guest-image/init: the plan).
    cmdline: `${config.cmdline} uhci.plan=wait,shell`,
    autostart: true,
    // Keys and the pointer reach the guest over USB only, not through v86's PS/2 devices.
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
    uart1: true,
  };
  const emulator = new Emulator(options);

  const serial = new GuestSerialParser((event: GuestEvent) => {
    if (event.event === "shell") {
      $("status").textContent = "starting the page's agent…";
      // Let the shell print its prompt, then start the agent on ttyS1 and define its functions.
      // Its functions follow once the loop says it is listening (bytes sent earlier would be lost).
      setTimeout(() => emulator.serial0_send(AGENT_BOOTSTRAP), 500);
    }
  });
  emulator.add_listener("emulator-ready", () => {
    // USB time on the guest's clock (ClockMode): with the leash the adapter also holds that clock to the
    // bus, so on a slow host the guest waits instead of the bus replaying frames (docs/architecture.md).
    const clockOptions = time === null ? {} : clock === "leash" ? { time } : { now: time.now };
    uhci = attachUhciToV86(emulator, { ports: slots.length, ...clockOptions });
    slots.forEach((slot, port) => {
      uhci?.controller.attach(port, slot.device);
    });
    $("status").textContent = "booting Linux (about 10–20 s)…";
  });
  emulator.add_listener("serial0-output-byte", (byte: number) => {
    consoleView.byte(byte);
    serial.byte(byte);
  });
  emulator.add_listener("serial1-output-byte", (byte: number) => agent.byte(byte));
  terminal.onData((data) => emulator.serial0_send(data));

  const encoder = new TextEncoder();
  function run(command: string): void {
    emulator.serial_send_bytes(1, encoder.encode(`${command}\n`));
  }
  // The guest's view of the tree comes from a shell loop over sysfs (guest-agent.ts): dozens of
  // processes, guest CPU time that arecord and aplay then wait behind (and a loopback with 2 ms
  // periods has no room for that). So it is read every 2 s only for 30 s after something changed —
  // the boot, a plug or unplug, a root port's state as the controller sees it — every 30 s otherwise,
  // and not while the loopback runs.
  let treeBusyUntil = performance.now() + 30_000;
  let lastTreeRequest = 0;
  let portSignature = "";
  function treeChanged(): void {
    treeBusyUntil = performance.now() + 30_000;
  }
  function requestTree(): void {
    if (agentUp) {
      lastTreeRequest = performance.now();
      run("tree");
    }
  }
  setInterval(() => {
    const signature = (uhci?.controller.ports ?? [])
      .map((p) => `${p.connected ? 1 : 0}${p.enabled ? 1 : 0}${p.suspended ? 1 : 0}`)
      .join();
    if (signature !== portSignature) {
      portSignature = signature;
      treeChanged();
    }
    const now = performance.now();
    const every = now < treeBusyUntil ? 2000 : 30_000;
    if (!looping && now - lastTreeRequest >= every) requestTree();
  }, 500);

  // ---- USB tree and hotplug ----
  // One row per root port, made once; renderTree only changes the cells' text. Rebuilt on every tree
  // update (every 2 s after a change), a row's button could be replaced between a person's press and
  // release, and the click on "Unplug" was lost (tried headed).
  const setText = (element: HTMLElement, text: string): void => {
    if (element.textContent !== text) element.textContent = text;
  };
  const treeView = slots.map((slot, port) => {
    const row = document.createElement("tr");
    const cells = ["port", "device", "speed", "controller", "guest", "driver"].map((name) => {
      const cell = row.appendChild(document.createElement("td"));
      cell.className = name;
      return cell;
    });
    const button = row
      .appendChild(document.createElement("td"))
      .appendChild(document.createElement("button"));
    button.type = "button";
    button.dataset["port"] = String(port + 1);
    button.addEventListener("click", () => (slot.plugged ? unplug(port + 1) : plug(port + 1)));
    $("usb-tree").append(row);
    return { cells, button };
  });
  function renderTree(): void {
    slots.forEach((slot, port) => {
      const view = treeView[port];
      if (view === undefined) return;
      const root = uhci?.controller.ports[port];
      const guest = guestTree.find((row) => row.path === `1-${port + 1}`);
      const texts = [
        String(port + 1),
        // Short cells: the tree must fit beside the screen in one line per port (tried headed).
        slot.plugged ? slot.device.name : `— (${slot.label} unplugged)`,
        slot.plugged ? (root?.speed ?? "") : "",
        root?.enabled === true ? `address ${slot.device.address}` : slot.plugged ? "not enabled" : "",
        guest === undefined ? "" : `${guest.product} · ${guest.speed} Mb/s · dev ${guest.devnum}`,
        guest === undefined ? "" : driverSummary(guest.drivers),
      ];
      texts.forEach((text, i) => {
        const cell = view.cells[i];
        if (cell !== undefined) setText(cell, text);
      });
      setText(view.button, slot.plugged ? "Unplug" : "Plug in");
    });
  }
  function slotAt(port: number): PortSlot {
    const slot = slots[port - 1];
    if (slot === undefined) throw new RangeError(`no root port ${port} (1–${slots.length})`);
    return slot;
  }
  function plug(port: number): void {
    const slot = slotAt(port);
    if (slot.plugged || uhci === null) return;
    uhci.controller.attach(port - 1, slot.device);
    slot.plugged = true;
    treeChanged();
    renderTree();
  }
  function unplug(port: number): void {
    const slot = slotAt(port);
    if (!slot.plugged || uhci === null) return;
    uhci.controller.detach(port - 1);
    slot.plugged = false;
    treeChanged();
    renderTree();
  }
  renderTree();

  // ---- audio statistics ----
  const safeStats = (bridge: MicrophoneBridge | SpeakerBridge | null): AudioBridgeStats | null => {
    if (bridge === null) return null;
    try {
      return bridge.stats();
    } catch {
      return null;
    }
  };
  const activeBridges = (): { microphone: MicrophoneBridge | null; speaker: SpeakerBridge | null } => {
    const b = audio.bridges;
    if (b === null) return { microphone: null, speaker: null };
    return looping ? b.loopback : b.steady;
  };
  // What the microphone's source failed to deliver while the guest streamed, counted before the
  // bridge (input with no channels, runs of exact zeros): a gap the browser or the microphone made,
  // told apart from one the bridge made (its underruns and overruns).
  const sourceGapsText = (s: AudioBridgeStats): string => {
    if (s.silentRuns + s.sourceGaps === 0) return "none";
    const ms = (frames: number) => ((frames * 1000) / s.contextRate).toFixed(0);
    return `${s.silentRuns} silent, ${ms(s.silentFrames)} ms (longest ${ms(s.longestSilentRun)}); ${s.sourceGaps} without input`;
  };
  function renderStats(): void {
    const body = $("audio-stats");
    body.replaceChildren();
    const streams: [string, AudioBridgeStats | null, boolean][] = [
      ["microphone → guest", safeStats(activeBridges().microphone), true],
      ["guest → speakers", safeStats(activeBridges().speaker), false],
    ];
    for (const [name, s, microphone] of streams) {
      const row = document.createElement("tr");
      const cells =
        s === null
          ? [name, "no audio", "", "", "", "", "", ""]
          : [
              name,
              // The context's rate is on the line under the table. An idle bridge's fill is what it
              // held when its stream stopped (a stale 68 ms read as a live value, tried headed).
              s.running ? formatText(s.guestRate, s.channels) : "idle",
              s.running
                ? `${s.fillMs.toFixed(1)} / ${s.targetMs.toFixed(0)} ms`
                : `— / ${s.targetMs.toFixed(0)} ms`,
              String(s.underruns),
              String(s.overruns),
              microphone ? sourceGapsText(s) : "—",
              s.running ? `${s.latencyMs.toFixed(1)} ms` : "—",
              s.running ? s.ratio.toFixed(5) : "—",
            ];
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      body.append(row);
    }
    const context = audio.context;
    $("audio-context").textContent =
      context === null
        ? "no AudioContext"
        : `AudioContext ${context.state}, ${context.sampleRate} Hz, output latency ` +
          `${((context.outputLatency || 0) * 1000).toFixed(1)} ms + base ${(context.baseLatency * 1000).toFixed(1)} ms`;
  }
  setInterval(renderStats, 500);

  // ---- keyboard and tablet on the screen ----
  const screen = $("screen");
  screen.tabIndex = 0;
  screen.addEventListener("keydown", (event) => {
    const usage = usageOfCode(event.code);
    if (usage === undefined) return;
    event.preventDefault();
    if (!event.repeat) keyboard.keyDown(usage);
  });
  screen.addEventListener("keyup", (event) => {
    const usage = usageOfCode(event.code);
    if (usage === undefined) return;
    event.preventDefault();
    keyboard.keyUp(usage);
  });
  // A key held while the screen loses focus would stay down in the guest.
  screen.addEventListener("blur", () => keyboard.releaseAll());
  // The tablet's 0..32767 span the screen element: the guest's pointer is where the page's is.
  const toTablet = (event: PointerEvent): void => {
    const rect = screen.getBoundingClientRect();
    if (rect.width <= 0 || rect.height <= 0) return;
    const fx = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
    const fy = Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height));
    tablet.moveTo(Math.round(fx * 32767), Math.round(fy * 32767));
  };
  const BUTTONS = [
    MouseButton.Left,
    MouseButton.Middle,
    MouseButton.Right,
    MouseButton.Back,
    MouseButton.Forward,
  ];
  screen.addEventListener("pointermove", toTablet);
  screen.addEventListener("pointerdown", (event) => {
    screen.focus();
    toTablet(event);
    const button = BUTTONS[event.button];
    if (button !== undefined) tablet.buttonDown(button);
    event.preventDefault();
  });
  screen.addEventListener("pointerup", (event) => {
    toTablet(event);
    const button = BUTTONS[event.button];
    if (button !== undefined) tablet.buttonUp(button);
  });
  screen.addEventListener("contextmenu", (event) => event.preventDefault());

  // ---- loopback, save and restore ----
  /** The bridges for the loopback (on) or the steady ones (off), and the button's label. */
  function useLoopProfile(on: boolean): void {
    looping = on;
    const bridges = activeBridges();
    if (bridges.microphone !== null) audio.microphone?.use(bridges.microphone);
    if (bridges.speaker !== null) audio.speaker?.use(bridges.speaker);
    $("loopback").textContent = on ? "Stop loopback" : "Loopback";
  }
  function loopback(on: boolean): void {
    // The bridges switch before the guest's tools start: the loopback's small targets while it runs
    // (Tuning above), the steady ones again after.
    useLoopProfile(on);
    const { periodFrames, bufferFrames, startUs } = tuning.loop;
    run(on ? `loop ${periodFrames} ${bufferFrames} ${startUs}` : "unloop");
  }
  $("loopback").addEventListener("click", () => loopback(!looping));

  // Beside the machine's state, whether its loopback ran: a restore puts the bridges and the button
  // back as the restored guest has them (restored into a page that had stopped it, the button read
  // "Loopback" while arecord | aplay ran on in the guest, on the steady bridges).
  let saved: { state: ArrayBuffer; looping: boolean } | null = null;
  // v86 saves and restores in one task of hundreds of ms (a second and more on a loaded host), the page
  // frozen meanwhile: the status says so first, painted before the task (a frame, or 100 ms without one).
  const painted = (): Promise<void> =>
    new Promise((resolve) => {
      requestAnimationFrame(() => setTimeout(resolve, 0));
      setTimeout(resolve, 100);
    });
  async function busy<T>(doing: string, work: () => Promise<T>): Promise<T> {
    const status = $("status");
    const before = status.textContent;
    const buttons = [$<HTMLButtonElement>("save"), $<HTMLButtonElement>("restore")];
    const disabled = buttons.map((b) => b.disabled);
    for (const b of buttons) b.disabled = true;
    status.textContent = doing;
    try {
      await painted();
      return await work();
    } finally {
      status.textContent = before;
      buttons.forEach((b, i) => {
        b.disabled = disabled[i] === true && saved === null;
      });
    }
  }
  async function saveState(): Promise<number> {
    return busy("saving the machine…", async () => {
      const state = await emulator.save_state();
      saved = { state, looping };
      say(`Saved the machine (${(state.byteLength / 1048576).toFixed(1)} MiB, USB devices included).`);
      return state.byteLength;
    });
  }
  async function restoreState(): Promise<void> {
    const snapshot = saved;
    if (snapshot === null) throw new Error("nothing saved yet");
    await busy("restoring the machine…", async () => {
      // The controller and its devices come back from v86's state (the adapter's set_state hook): the
      // same devices on the same ports restore in place, so the guest's audio streams carry on. Restored
      // while running: the adapter resumes the guest's clock from the save (uhci-v86.ts, setGuestTsc).
      await emulator.restore_state(snapshot.state);
      useLoopProfile(snapshot.looping);
      treeChanged();
      say("Restored the machine.");
    });
  }
  $("save").addEventListener("click", () => void saveState().catch((e: unknown) => failed("save", e)));
  $("restore").addEventListener(
    "click",
    () => void restoreState().catch((e: unknown) => failed("restore", e)),
  );

  window.demo = {
    ready,
    agent,
    serial,
    errors,
    messages,
    run,
    plug,
    unplug,
    saveState,
    restoreState,
    loopback,
    stats: () => ({
      microphone: safeStats(activeBridges().microphone),
      speaker: safeStats(activeBridges().speaker),
      profile: looping ? "loopback" : "steady",
    }),
    responsiveness: () => ({
      longTasks,
      longestTaskMs,
      microphoneGaps: audio.microphone?.gaps.snapshot() ?? NO_FRAME_GAPS,
      speakerGaps: audio.speaker?.gaps.snapshot() ?? NO_FRAME_GAPS,
    }),
    resetResponsiveness: () => {
      longTasks = 0;
      longestTaskMs = 0;
      audio.microphone?.gaps.reset();
      audio.speaker?.gaps.reset();
    },
    tuning,
    tree: () => guestTree,
    context: audio.context,
    speakerTap: audio.speakerTap,
    microphoneTap: audio.microphoneTap,
    tablet,
    keyboard,
    time,
    clock,
  };
  $("status").textContent = "loading v86…";
}

main().catch((error: unknown) => failed("the demo failed to start", error));
