import { UsbHeadset } from "../../devices/audio/headset.ts";
import { UsbMicrophone } from "../../devices/audio/microphone.ts";
import { checkTestSignal, type TestSignalReport } from "../../devices/audio/signal-check.ts";
import { MemorySink } from "../../devices/audio/sinks/memory-sink.ts";
import { TestSignalSource } from "../../devices/audio/sources/test-signal-source.ts";
import { UsbKeyboard } from "../../devices/hid/keyboard.ts";
import { UsbTablet } from "../../devices/hid/tablet.ts";
import { UsbHub } from "../../devices/hub/usb-hub.ts";
import { UsbMassStorage } from "../../devices/storage/mass-storage.ts";
import type { GuestImages } from "../../node/bundled-guest.ts";
import { AudioAllowance, framesIn } from "../../streaming/stream-verdict.ts";
import type { UsbDevice } from "../../usb/device.ts";
import type { UsbipConnection } from "../../usbip/connection.ts";
import {
  describeInput,
  type GuestUsbDevice,
  guestInputEvents,
  guestInputNodes,
  guestToolOutput,
  guestUsbDevices,
  inputNodeOf,
  roundSeconds,
} from "../guest-report.ts";
import type { GuestEvent } from "../guest-vm/guest-serial.ts";
import { type GuestVm, requireV86 } from "../guest-vm/guest-vm.ts";
import { compareInput, expectedKeyEvents, type InputComparison } from "../input-check.ts";
import { hubPorts, plugUsbipInto } from "../usbip-option.ts";
import { kernelOf, withGuest } from "./guest-run.ts";
import { KEYBOARD_PRODUCT } from "./hid-job.ts";
import { prepareStickRoundTrip, type StickRoundTripReport } from "./stick-round-trip.ts";
import {
  planUsbipPlayback,
  USBIP_HUB_PORTS,
  type UsbipDeviceReport,
  type UsbipPlugged,
  usbipLines,
  usbipReport,
} from "./usbip-playback.ts";

export interface MainJobOptions {
  images: GuestImages;
  /** Text typed through the emulated keyboard. */
  text: string;
  sampleRate: number;
  channels: 1 | 2;
  /** Seconds recorded by `arecord` and played by `aplay`. */
  seconds: number;
  timeoutMs: number;
  onProgress?: (message: string) => void;
  /**
   * Test hook (the host-stall tests): every guest event, as it arrives, synchronously from inside the
   * emulator's loop (a handler that busy-waits blocks the emulator as a stalled host would).
   */
  onGuestEvent?: (event: GuestEvent) => void;
  /** Test hook: the machine, once booting (its controller's host-stall counters, for instance). */
  onMachine?: (vm: GuestVm) => void;
  /** Test hook: plan items run after the job's own (e.g. "dmesg"; guest-image/README.md). */
  extraPlanItems?: readonly string[];
  /** Test hook: the device plugged in for the headset (e.g. it behind an AsyncIsoWrapper: passthrough). */
  wrapHeadset?: (headset: UsbDevice) => UsbDevice;
  /**
   * Devices imported from USB/IP servers (`importAll`), plugged in behind the hub on its free ports
   * ({@link USBIP_HUB_PORTS}); at most two. The caller closes them when the job has ended.
   */
  usbip?: readonly UsbipConnection[];
}

export interface AudioDirectionReport {
  format: { sampleRate: number; channels: number; bits: 16 };
  /** Capture: frames the guest asked arecord for. Playback: frames of the test signal aplay played. */
  framesSent: number;
  /** Frames of the signal that arrived (in the guest's file, or at the emulated speaker). */
  framesReceived: number;
  bitExact: boolean;
  dropped: number;
  inserted: number;
  headLossFrames: number;
  tailLossFrames: number;
  /** Frames of silence before the signal started (the stream's start-up). */
  leadingSilenceFrames: number;
  /** xruns (overruns for arecord, underruns for aplay) the guest's ALSA tool reported. */
  guestXruns: number;
  /** Exit code of arecord/aplay in the guest; null when the guest never said it ended. */
  guestExitCode: number | null;
  /** What arecord/aplay wrote to its standard error in the guest (its error text when it failed). */
  guestToolOutput: string[];
  /** What arrived, interleaved 16-bit (written to the output folder by the CLI). */
  samples: Int16Array;
}

/** A device behind the main job's hub, as the guest sees it. */
export interface HubPortReport {
  /** Hub port (1-based). */
  port: number;
  /** What the host plugged in there. */
  device: string;
  /** Its sysfs path in the guest (1-1.N), or null when the guest never listed it. */
  path: string | null;
  /** The driver the guest must bind, and every driver it bound. */
  expectedDriver: string;
  drivers: string[];
  bound: boolean;
}

export interface MainJobReport {
  ok: boolean;
  guest: { bootSeconds: number; kernel: string; usbReadySeconds: number; totalSeconds: number };
  usb: { devices: GuestUsbDevice[] };
  /** The hub on root port 1 and every device behind it, with the drivers the guest bound. */
  hub: { path: string | null; drivers: string[]; ports: HubPortReport[] };
  capture: AudioDirectionReport | null;
  playback: AudioDirectionReport | null;
  hid: {
    sent: number;
    received: number;
    lost: number;
    unexpected: number;
    inOrder: boolean;
    keyboard: InputComparison & { text: string };
  };
  /** Class requests the headset saw, and how many it stalled (Linux probes controls it lacks). */
  audioRequests: { total: number; stalled: number };
  /** A file each way through the stick behind the hub (jobs/stick-round-trip.ts). */
  stick: StickRoundTripReport;
  /** Each `--usbip` device: where the guest saw it, the drivers it bound, and the test signal played to it. */
  usbip: UsbipDeviceReport[];
  problems: string[];
}

/**
 * Seconds the guest listens to the keyboard once its node is open. The guest reads for a fixed time
 * (`hid:SECONDS` in its plan), so the time is scaled to the text: each key change is one report, and
 * the keyboard is polled every 10 frames (its bInterval), so n events take n × 10 ms of USB time; twice
 * that covers USB running slower than the guest's clock under host load, and 2 s more the start-up.
 * At least 4 s (the default text's 38 events need 0.4 s).
 */
export function listenSeconds(text: string): number {
  const events = expectedKeyEvents(text).length;
  return Math.max(4, Math.ceil(2 + (events * 2 * 10) / 1000));
}

/**
 * The main job: boots the bundled Linux guest in v86 with a 7-port hub on root port 1 and behind it a
 * USB headset (microphone + headphones), a keyboard, a tablet, a second microphone and a stick
 * ({@link mainJobHubDevices}); the report lists each with the driver the guest bound. The guest records from the microphone with `arecord` (the
 * microphone sends the frame-counter test signal), plays the same signal with `aplay` to the
 * headphones, and reads the keyboard while the host types. Both audio streams are compared frame by
 * frame, the keystrokes event by event.
 */
export async function runMainJob(options: MainJobOptions): Promise<MainJobReport> {
  const progress = options.onProgress ?? (() => {});
  const { sampleRate, channels, seconds } = options;
  const expectedKeys = expectedKeyEvents(options.text);
  const sentFrames = Math.round(sampleRate * seconds);
  const speakerSink = new MemorySink({ channels, maxFrames: sentFrames + sampleRate * 2 });
  const headset = new UsbHeadset({
    microphone: { source: new TestSignalSource() },
    speaker: { sink: speakerSink },
  });
  const keyboard = new UsbKeyboard({ productId: KEYBOARD_PRODUCT });
  // v86 first: in the published package both v86 and js-fatfs are an install away, and the boot's
  // message is the one to see first.
  await requireV86();
  // The stick holds a file the guest reads and copies, and gets one the guest writes (issue 12).
  const trip = await prepareStickRoundTrip();
  // Every device sits behind a hub on root port 1 (issue 12). The second microphone sends the same
  // test signal as the headset's, so the recording is checked bit for bit whichever card arecord opens.
  const behindHub = mainJobHubDevices({
    headset: options.wrapHeadset?.(headset) ?? headset,
    keyboard,
    tablet: new UsbTablet(),
    microphone: new UsbMicrophone({ source: new TestSignalSource() }),
    stick: new UsbMassStorage({ store: trip.store }),
  });
  const hub = new UsbHub({ ports: HUB_PORTS });
  behindHub.forEach((entry) => {
    hub.attach(entry.port - 1, entry.device);
  });
  const usbip = options.usbip ?? [];
  if (usbip.length > USBIP_HUB_PORTS.length)
    throw new Error(
      `at most ${USBIP_HUB_PORTS.length} USB/IP devices (the hub's free ports), got ${usbip.length}`,
    );
  const plugged: UsbipPlugged[] = [];
  const audioItem = `${sampleRate}:${channels}:${seconds}`;
  const plan = [
    // The second listing (after the input nodes open) sees drivers that bound late on a loaded host.
    `enum:${1 + behindHub.length + usbip.length},capture:${audioItem},playback:${audioItem},hid:${listenSeconds(options.text)}:1,enum:now`,
    trip.planItems,
    // The USB/IP devices' turn comes last, through a shell on the console (jobs/usbip-playback.ts).
    ...(usbip.length > 0 ? ["shell"] : []),
    ...(options.extraPlanItems ?? []),
  ].join(",");

  return withGuest(
    {
      images: options.images,
      plan,
      usb: [hub],
      // USB/IP devices go behind the hub too, after the emulated ones: Linux's hub driver enumerates a
      // hub's ports in order, so the headset's sound card comes first and /init's playback item (the
      // first USB card that plays) keeps playing to it.
      onUhci: (handle) => {
        const devices = plugUsbipInto(
          handle.clock,
          hubPorts(hub),
          usbip,
          USBIP_HUB_PORTS[0] - 1,
          (busid, why, index) => {
            const entry = plugged[index];
            if (entry !== undefined) entry.lost = why;
            progress(`USB/IP device ${busid} unplugged: ${why}`);
          },
        );
        devices.forEach((device, i) => {
          plugged.push({
            busid: device.connection.device.busid,
            info: device.connection.device,
            hubPort: USBIP_HUB_PORTS[i] ?? 0,
            device,
            lost: null,
          });
        });
      },
      onProgress: progress,
      describe: (event) => {
        options.onGuestEvent?.(event);
        if (event.event === "capture-start")
          return `arecord: recording ${seconds} s from the USB microphone…`;
        if (event.event === "blob-begin")
          return "the guest sends its recording back over the serial console…";
        if (event.event === "playback-start") return `aplay: playing ${seconds} s to the USB headphones…`;
        if (event.event === "input-open") return "typing on the USB keyboard…";
        if (event.event === "mount") return "a file each way through the USB stick…";
        if (event.event === "usbip-playback-start")
          return `aplay: playing ${seconds} s to the USB/IP device at ${String(event["path"])}…`;
        return undefined;
      },
    },
    async (vm) => {
      options.onMachine?.(vm);
      const begin = await vm.waitForEvent((e) => e.event === "begin", options.timeoutMs);
      const bootSeconds = vm.secondsSinceStart;
      await vm.waitForEvent((e) => e.event === "capture-start", options.timeoutMs);
      const usbReadySeconds = vm.secondsSinceStart;
      await vm.waitForEvent((e) => e.event === "input-open", options.timeoutMs);
      keyboard.typeText(options.text);
      if (plugged.length > 0) await planUsbipPlayback(vm, plugged, options);
      await vm.waitForEvent((e) => e.event === "done", options.timeoutMs);
      const stick = await trip.check(vm.serial.events);
      return mainReport(vm.serial.events, vm.serial.blobs.get("capture0"), {
        stick,
        options,
        expectedKeys,
        speakerSamples: speakerSink.samples.slice(),
        requests: headset.stats,
        seconds: { boot: bootSeconds, usbReady: usbReadySeconds, total: vm.secondsSinceStart },
        kernel: kernelOf(begin),
        behindHub,
        usbip: plugged,
      });
    },
  );
}

/** The main job's hub: 7 ports, as common USB 1.1 hubs have. */
export const HUB_PORTS = 7;

/** A device the main job plugs in behind its hub, and the driver the guest must bind to it. */
export interface HubEntry {
  readonly port: number;
  readonly name: string;
  readonly device: UsbDevice;
  readonly productId: number;
  readonly expectedDriver: string;
}

/**
 * Where the main job's devices go behind the hub (ports 1–5; 6 and 7 stay free), with the driver each
 * needs in the bundled Linux guest: snd-usb-audio for the sound devices, usbhid for the keyboard and
 * the tablet, usb-storage for the stick.
 */
export function mainJobHubDevices(d: {
  headset: UsbDevice;
  keyboard: UsbDevice;
  tablet: UsbDevice;
  microphone: UsbDevice;
  stick: UsbDevice;
}): HubEntry[] {
  return [
    { port: 1, name: "headset", device: d.headset, productId: 0x0006, expectedDriver: "snd-usb-audio" },
    { port: 2, name: "keyboard", device: d.keyboard, productId: KEYBOARD_PRODUCT, expectedDriver: "usbhid" },
    { port: 3, name: "tablet", device: d.tablet, productId: 0x0003, expectedDriver: "usbhid" },
    { port: 4, name: "microphone", device: d.microphone, productId: 0x0004, expectedDriver: "snd-usb-audio" },
    { port: 5, name: "stick", device: d.stick, productId: 0x000a, expectedDriver: "usb-storage" },
  ];
}

/**
 * The hub and the devices behind it as the guest saw them: the hub is the device whose driver is
 * `hub`; a device behind its port N has the sysfs path `<hub path>.N` (Linux's port numbering).
 */
export function hubReport(
  devices: readonly GuestUsbDevice[],
  behind: readonly HubEntry[],
): MainJobReport["hub"] {
  const hub = devices.find((d) => d.drivers.includes("hub"));
  const ports = behind.map((entry): HubPortReport => {
    const path = hub === undefined ? null : `${hub.path}.${entry.port}`;
    const seen = devices.find((d) => d.path === path);
    const drivers = seen?.drivers ?? [];
    return {
      port: entry.port,
      device: entry.name,
      path: seen === undefined ? null : path,
      expectedDriver: entry.expectedDriver,
      drivers,
      bound: drivers.includes(entry.expectedDriver),
    };
  });
  return { path: hub?.path ?? null, drivers: hub?.drivers ?? [], ports };
}

interface MainReportInputs {
  behindHub: readonly HubEntry[];
  options: MainJobOptions;
  expectedKeys: ReturnType<typeof expectedKeyEvents>;
  speakerSamples: Int16Array;
  requests: { classRequests: number; stalledRequests: number };
  seconds: { boot: number; usbReady: number; total: number };
  kernel: string;
  stick: StickRoundTripReport;
  usbip: readonly UsbipPlugged[];
}

function mainReport(
  events: readonly GuestEvent[],
  recording: Uint8Array | undefined,
  inputs: MainReportInputs,
): MainJobReport {
  const { options } = inputs;
  const problems: string[] = [];
  const devices = guestUsbDevices(events);
  const expected = 1 + inputs.behindHub.length + inputs.usbip.length;
  if (devices.length < expected)
    problems.push(
      `the guest saw ${devices.length} USB devices, expected ${expected} (the hub and those behind it)`,
    );
  const hub = hubReport(devices, inputs.behindHub);
  const usbip = usbipReport(events, hub.path, devices, inputs.usbip, problems);
  if (hub.path === null) problems.push("the guest bound no hub driver");
  for (const port of hub.ports) {
    if (port.path === null) problems.push(`hub port ${port.port}: the guest did not list the ${port.device}`);
    else if (!port.bound)
      problems.push(
        `hub port ${port.port}: the ${port.device} has ${port.drivers.join(", ") || "no driver"}, not ${port.expectedDriver}`,
      );
  }
  for (const e of events) {
    if (e.event === "error") problems.push(`guest: ${String(e["message"])}`);
    if (e.event === "module" && e["ok"] === false) problems.push(`guest module ${String(e["name"])} failed`);
  }
  const capture = captureReport(events, recording, options, problems);
  const playback = playbackReport(events, inputs.speakerSamples, options, problems);
  const keyboardNode = inputNodeOf(guestInputNodes(events), KEYBOARD_PRODUCT);
  if (keyboardNode === undefined) problems.push("the guest has no input node for the keyboard");
  const keys = compareInput(inputs.expectedKeys, keyboardNode ? guestInputEvents(events, keyboardNode) : []);
  if (!keys.exact) problems.push("keyboard events differ from those sent");
  for (const p of inputs.stick.problems) problems.push(`stick: ${p}`);
  return {
    ok: problems.length === 0,
    guest: {
      bootSeconds: roundSeconds(inputs.seconds.boot),
      kernel: inputs.kernel,
      usbReadySeconds: roundSeconds(inputs.seconds.usbReady),
      totalSeconds: roundSeconds(inputs.seconds.total),
    },
    usb: { devices },
    hub,
    capture,
    playback,
    hid: {
      sent: keys.sent,
      received: keys.received,
      lost: keys.lost,
      unexpected: keys.unexpected,
      inOrder: keys.exact,
      keyboard: { ...keys, text: options.text },
    },
    audioRequests: { total: inputs.requests.classRequests, stalled: inputs.requests.stalledRequests },
    stick: inputs.stick,
    usbip,
    problems,
  };
}

const num = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : 0);

function directionReport(
  samples: Int16Array,
  check: TestSignalReport,
  options: MainJobOptions,
  framesSent: number,
  end: GuestEvent | undefined,
  toolOutput: string[],
): AudioDirectionReport {
  const exit = end === undefined ? undefined : { rc: end["rc"], xruns: end["xruns"] };
  return { ...signalDirectionReport(check, options, framesSent, exit, toolOutput), samples };
}

/**
 * One direction's report from the test-signal check and the guest tool's exit (`rc`, `xruns`; none:
 * the tool never finished), without the samples — shared with tests that judge streams as this job does.
 */
export function signalDirectionReport(
  check: TestSignalReport,
  format: { readonly sampleRate: number; readonly channels: number },
  framesSent: number,
  exit: { readonly rc?: unknown; readonly xruns?: unknown } | undefined,
  toolOutput: string[],
): Omit<AudioDirectionReport, "samples"> {
  return {
    format: { sampleRate: format.sampleRate, channels: format.channels, bits: 16 },
    framesSent,
    framesReceived: check.framesReceived,
    bitExact: check.bitExact,
    dropped: check.dropped,
    inserted: check.inserted,
    headLossFrames: check.headLossFrames,
    tailLossFrames: check.tailLossFrames ?? 0,
    leadingSilenceFrames: check.leadingSilenceFrames,
    guestXruns: num(exit?.xruns),
    guestExitCode: exit === undefined ? null : num(exit.rc),
    guestToolOutput: toolOutput,
  };
}

/**
 * Why one direction of the main job fails, one line each (empty: it passes). Head and tail loss are
 * judged by the allowances of every audio report (streaming/stream-verdict.ts, README "Reports"); a
 * failing guest tool is quoted in its own words.
 */
export function audioProblems(
  name: string,
  tool: string,
  report: Omit<AudioDirectionReport, "samples">,
): string[] {
  const problems: string[] = [];
  const rate = report.format.sampleRate;
  if (!report.bitExact) problems.push(`${name}: not bit-exact`);
  if (report.dropped > 0) problems.push(`${name}: ${report.dropped} frames dropped`);
  if (report.inserted > 0) problems.push(`${name}: ${report.inserted} frames inserted`);
  if (report.headLossFrames > framesIn(AudioAllowance.headLossMs, rate))
    problems.push(
      `${name}: head loss ${report.headLossFrames} frames, more than ${AudioAllowance.headLossMs} ms (${framesIn(AudioAllowance.headLossMs, rate)} frames)`,
    );
  if (report.tailLossFrames > framesIn(AudioAllowance.tailLossMs, rate))
    problems.push(
      `${name}: tail loss ${report.tailLossFrames} frames, more than ${AudioAllowance.tailLossMs} ms (${framesIn(AudioAllowance.tailLossMs, rate)} frames)`,
    );
  if (report.guestXruns > 0) problems.push(`${name}: the guest reported ${report.guestXruns} xruns`);
  const said = report.guestToolOutput.length > 0 ? `: ${report.guestToolOutput.join(" / ")}` : "";
  if (report.guestExitCode === null) problems.push(`${name}: ${tool} never finished in the guest${said}`);
  else if (report.guestExitCode !== 0)
    problems.push(`${name}: ${tool} exited with ${report.guestExitCode}${said}`);
  return problems;
}

function captureReport(
  events: readonly GuestEvent[],
  blob: Uint8Array | undefined,
  options: MainJobOptions,
  problems: string[],
): AudioDirectionReport | null {
  const end = events.find((e) => e.event === "capture-end");
  const start = events.find((e) => e.event === "capture-start");
  if (blob === undefined || start === undefined) {
    problems.push("capture: the guest sent no recording");
    return null;
  }
  const samples = new Int16Array(
    blob.buffer.slice(blob.byteOffset, blob.byteOffset + (blob.byteLength & ~1)),
  );
  const framesSent = num(start["frames"]);
  // The guest records exactly `framesSent` frames; a late start shows as silence at the head and the
  // missing end as tail loss (the microphone starts its signal at frame 0 when streaming starts).
  const check = checkTestSignal(samples, options.channels, { expectedFrames: framesSent });
  const report = directionReport(
    samples,
    check,
    options,
    framesSent,
    end,
    guestToolOutput(events, "arecord"),
  );
  problems.push(...audioProblems("capture", "arecord", report));
  return report;
}

function playbackReport(
  events: readonly GuestEvent[],
  received: Int16Array,
  options: MainJobOptions,
  problems: string[],
): AudioDirectionReport | null {
  const start = events.find((e) => e.event === "playback-start");
  const end = events.find((e) => e.event === "playback-end");
  if (start === undefined) {
    problems.push("playback: the guest did not play");
    return null;
  }
  const framesSent = num(start["frames"]);
  const check = checkTestSignal(received, options.channels, { expectedFrames: framesSent });
  const report = directionReport(received, check, options, framesSent, end, guestToolOutput(events, "aplay"));
  problems.push(...audioProblems("playback", "aplay", report));
  return report;
}

/** The stick's round trip in the text report: what went each way, and whether it arrived intact. */
function stickLines(r: StickRoundTripReport): string[] {
  if (!r.mounted) return ["  stick   the guest did not mount it"];
  const ms = (v: number | null) => (v === null ? "?" : `${v} ms`);
  return [
    `  stick   host → guest: host.bin ${r.hostToGuest.bytes} bytes, sha256 in the guest ${r.hostToGuest.equal ? "equal" : "DIFFERENT"} (read ${ms(r.guestMs.read)})`,
    `          guest → host: guest.bin (its copy) ${r.guestCopy.equal ? "byte for byte" : "DIFFERENT"}, random.bin ${r.guestToHost.bytes ?? "missing"} bytes ${r.guestToHost.equal ? "sha256 equal" : "DIFFERENT"} (written ${ms(r.guestMs.write)}, sync ${ms(r.guestMs.sync)}, ${r.unmounted ? "unmounted" : "NOT unmounted"})`,
  ];
}

export function formatMainReport(report: MainJobReport): string {
  const audio = (name: string, r: AudioDirectionReport | null) =>
    r === null
      ? [`  ${name.padEnd(8)} nothing arrived`]
      : [
          `  ${name.padEnd(8)} ${r.format.sampleRate} Hz ${r.format.channels === 2 ? "stereo" : "mono"} 16-bit: sent ${r.framesSent} frames, received ${r.framesReceived}, ${r.bitExact ? "bit-exact" : "NOT bit-exact"}`,
          `           dropped ${r.dropped}, inserted ${r.inserted}, head loss ${r.headLossFrames}, tail loss ${r.tailLossFrames}, leading silence ${r.leadingSilenceFrames}, guest xruns ${r.guestXruns}`,
          ...r.guestToolOutput.map((line) => `           guest: ${line}`),
        ];
  const lines = [
    "uhci — a Linux guest in v86 with the emulated UHCI controller",
    `  guest   Linux ${report.guest.kernel}: /init after ${report.guest.bootSeconds} s, audio streaming after ${report.guest.usbReadySeconds} s, done after ${report.guest.totalSeconds} s`,
    "  usb     devices as the guest sees them (sysfs):",
    ...report.usb.devices.map(
      (d) =>
        `          ${d.path.padEnd(7)} ${d.vendorId}:${d.productId}  ${d.product.padEnd(16)} ${d.speed.padStart(3)} Mbit/s  ${d.drivers.join(", ")}`,
    ),
    `  hub     ${report.hub.path === null ? "not bound by the guest" : `${report.hub.path} (${report.hub.drivers.join(", ")}), ${HUB_PORTS} ports:`}`,
    ...report.hub.ports.map(
      (p) =>
        `          port ${p.port}  ${p.device.padEnd(10)} ${(p.path ?? "-").padEnd(7)} ${p.bound ? `${p.expectedDriver} bound` : `NOT bound (${p.drivers.join(", ") || "no driver"})`}`,
    ),
    ...audio("capture", report.capture),
    ...audio("playback", report.playback),
    `  hid     keyboard typed ${JSON.stringify(report.hid.keyboard.text)}: ${describeInput(report.hid.keyboard)}`,
    ...stickLines(report.stick),
    ...usbipLines(report.usbip),
    `  verdict ${report.ok ? "PASS" : "FAIL"}`,
    ...report.problems.map((p) => `          - ${p}`),
  ];
  return `${lines.join("\n")}\n`;
}
