import { UsbKeyboard } from "../../devices/hid/keyboard.ts";
import { MouseButton } from "../../devices/hid/pointer-device.ts";
import { UsbTablet } from "../../devices/hid/tablet.ts";
import type { GuestImages } from "../../node/bundled-guest.ts";
import {
  describeInput,
  type GuestUsbDevice,
  guestInputEvents,
  guestInputNodes,
  guestUsbDevices,
  inputNodeOf,
  roundSeconds,
} from "../guest-report.ts";
import type { GuestEvent } from "../guest-vm/guest-serial.ts";
import {
  compareInput,
  expectedKeyEvents,
  expectedTabletEvents,
  type InputComparison,
  type TabletAction,
} from "../input-check.ts";
import { kernelOf, withGuest } from "./guest-run.ts";

/** Product IDs the job gives its devices, so the guest's input nodes can be told apart. */
export const KEYBOARD_PRODUCT = 0x0001;
const TABLET_PRODUCT = 0x0003;
const TABLET_ACTIONS: readonly TabletAction[] = [
  { kind: "move", x: 16384, y: 16384 },
  { kind: "move", x: 8192, y: 24576 },
  { kind: "click" },
  { kind: "move", x: 32767, y: 0 },
  { kind: "click" },
];
/** Seconds the guest listens to its input nodes once they exist. */
const LISTEN_SECONDS = 6;

export interface HidJobReport {
  ok: boolean;
  guest: { bootSeconds: number; kernel: string; usbReadySeconds: number; totalSeconds: number };
  usb: { devices: GuestUsbDevice[] };
  hid: {
    sent: number;
    received: number;
    lost: number;
    unexpected: number;
    inOrder: boolean;
    keyboard: InputComparison & { text: string };
    tablet: InputComparison;
  };
  problems: string[];
}

export interface HidJobOptions {
  images: GuestImages;
  /** Text to type (printable ASCII, \n, \t). */
  text: string;
  timeoutMs: number;
  onProgress?: (message: string) => void;
}

/**
 * The main job: boots the guest with a keyboard and a tablet on the two root ports, waits until its
 * input nodes are open, types `text`, moves and clicks the tablet, and compares what Linux's evdev saw.
 */
export async function runHidJob(options: HidJobOptions): Promise<HidJobReport> {
  const progress = options.onProgress ?? (() => {});
  const expectedKeys = expectedKeyEvents(options.text);
  const keyboard = new UsbKeyboard({ productId: KEYBOARD_PRODUCT });
  const tablet = new UsbTablet({ productId: TABLET_PRODUCT });
  const timeoutMs = options.timeoutMs;

  return withGuest(
    {
      images: options.images,
      // The closing `enum:now` lists the drivers once the input nodes are open (all bound by then).
      plan: `enum:2,hid:${LISTEN_SECONDS}:2,enum:now`,
      usb: [keyboard, tablet],
      onProgress: progress,
      describe: (event) => (event.event === "input-open" ? "typing and moving the tablet…" : undefined),
    },
    async (vm) => {
      const begin = await vm.waitForEvent((e) => e.event === "begin", timeoutMs);
      const bootSeconds = vm.secondsSinceStart;
      await vm.waitForEvent((e) => e.event === "input-open", timeoutMs);
      const usbReadySeconds = vm.secondsSinceStart;
      keyboard.typeText(options.text);
      for (const action of TABLET_ACTIONS) {
        if (action.kind === "move") tablet.moveTo(action.x, action.y);
        else tablet.click(MouseButton.Left);
      }
      await vm.waitForEvent((e) => e.event === "done", timeoutMs);
      return buildReport(vm.serial.events, {
        text: options.text,
        expectedKeys,
        bootSeconds,
        usbReadySeconds,
        totalSeconds: vm.secondsSinceStart,
        kernel: kernelOf(begin),
      });
    },
  );
}

interface ReportInputs {
  text: string;
  expectedKeys: ReturnType<typeof expectedKeyEvents>;
  bootSeconds: number;
  usbReadySeconds: number;
  totalSeconds: number;
  kernel: string;
}

export function buildReport(events: readonly GuestEvent[], inputs: ReportInputs): HidJobReport {
  const problems: string[] = [];
  const devices = guestUsbDevices(events);
  const nodes = guestInputNodes(events);
  const keyboardNode = inputNodeOf(nodes, KEYBOARD_PRODUCT);
  const tabletNode = inputNodeOf(nodes, TABLET_PRODUCT);
  if (keyboardNode === undefined) problems.push("the guest has no input node for the keyboard");
  if (tabletNode === undefined) problems.push("the guest has no input node for the tablet");
  const keyboard = compareInput(
    inputs.expectedKeys,
    keyboardNode ? guestInputEvents(events, keyboardNode) : [],
  );
  const tablet = compareInput(
    expectedTabletEvents(TABLET_ACTIONS),
    tabletNode ? guestInputEvents(events, tabletNode) : [],
  );
  for (const device of devices) {
    if (!device.drivers.includes("usbhid"))
      problems.push(`${device.product || device.path}: usbhid not bound`);
  }
  if (devices.length < 2) problems.push(`the guest saw ${devices.length} USB devices, expected 2`);
  for (const e of events) {
    if (e.event === "error") problems.push(`guest: ${String(e["message"])}`);
    if (e.event === "module" && e["ok"] === false) problems.push(`guest module ${String(e["name"])} failed`);
  }
  if (!keyboard.exact) problems.push("keyboard events differ from those sent");
  if (!tablet.exact) problems.push("tablet events differ from those sent");
  return {
    ok: problems.length === 0,
    guest: {
      bootSeconds: roundSeconds(inputs.bootSeconds),
      kernel: inputs.kernel,
      usbReadySeconds: roundSeconds(inputs.usbReadySeconds),
      totalSeconds: roundSeconds(inputs.totalSeconds),
    },
    usb: { devices },
    hid: {
      sent: keyboard.sent + tablet.sent,
      received: keyboard.received + tablet.received,
      lost: keyboard.lost + tablet.lost,
      unexpected: keyboard.unexpected + tablet.unexpected,
      inOrder: keyboard.exact && tablet.exact,
      keyboard: { ...keyboard, text: inputs.text },
      tablet,
    },
    problems,
  };
}

export function formatHidReport(report: HidJobReport): string {
  const lines = [
    "uhci — a Linux guest in v86 with the emulated UHCI controller",
    `  guest   Linux ${report.guest.kernel}: /init after ${report.guest.bootSeconds} s, input ready after ${report.guest.usbReadySeconds} s`,
    "  usb     devices as the guest sees them (sysfs):",
    ...report.usb.devices.map(
      (d) =>
        `          ${d.path.padEnd(5)} ${d.vendorId}:${d.productId}  ${d.product.padEnd(20)} ${d.speed.padStart(3)} Mbit/s  ${d.drivers.join(", ")}`,
    ),
    `  hid     keyboard typed ${JSON.stringify(report.hid.keyboard.text)}: ${describeInput(report.hid.keyboard)}`,
    `          tablet moved and clicked: ${describeInput(report.hid.tablet)}`,
    `  total   sent ${report.hid.sent}, received ${report.hid.received}, lost ${report.hid.lost}`,
    `  verdict ${report.ok ? "PASS" : "FAIL"}`,
    ...report.problems.map((p) => `          - ${p}`),
  ];
  return `${lines.join("\n")}\n`;
}
