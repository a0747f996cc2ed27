import { type JsonValue, openState, type SavedState, StateReader } from "../../machine/snapshot.ts";
import type { FrameClockState } from "./frame-clock.ts";
import { UsbIntCause } from "./frame-walker.ts";
import { PortSc, UsbCmd, UsbSts } from "./registers.ts";

/**
 * The saved state of a {@link UhciController} (`kind: "uhci-controller"`, version 1):
 *
 * ```jsonc
 * {
 *   "kind": "uhci-controller", "version": 1,
 *   "registers": { "USBCMD": 1, "USBSTS": 0, "USBINTR": 15, "FRNUM": 1234, "FRBASEADD": 65536,
 *                  "SOFMOD": 64, "PORTSC": [149, 128] },
 *   "usbIntCauses": { "ioc": false, "shortPacket": false },  // what lies behind USBSTS.USBINT
 *   "irqLevel": false,
 *   "frameClock": { "running": true, "periodMs": 1, "framesRun": 5000, "sinceStartMs": 5000.25 },
 *   "globalSuspend": false,
 *   "ports": [
 *     { "enabled": true, "suspended": false,
 *       "device": { "name": "usb-keyboard", "snapshotMode": "in-place", "state": { "kind": "usb-keyboard", … } } },
 *     { "enabled": false, "suspended": false, "device": null }
 *   ],
 *   "asyncRequestsDropped": 0
 * }
 * ```
 *
 * Not saved: requests in flight to async devices (their TD pairings: a request held by a backend cannot
 * be saved; `asyncRequestsDropped` counts them — their TDs stay active in guest memory, and after a
 * restore the controller asks the device again or, for a re-attached device, the guest re-enumerates);
 * the packet pool, the per-frame counters and the frames-per-wake-up histogram (observability); and the
 * limits given to the constructor (configuration, not state). Between frames the walker holds nothing.
 */
export const UHCI_CONTROLLER_STATE = "uhci-controller";
export const UHCI_CONTROLLER_STATE_VERSION = 1;

/** The fields of a validated controller state. */
export interface CheckedControllerState {
  readonly usbcmd: number;
  readonly usbsts: number;
  readonly usbintr: number;
  readonly frnum: number;
  readonly frbaseadd: number;
  readonly sofmod: number;
  readonly portsc: readonly number[];
  /** {@link UsbIntCause} bits. */
  readonly usbIntCauses: number;
  readonly irqLevel: boolean;
  readonly frameClock: FrameClockState;
  readonly globalSuspend: boolean;
  readonly ports: readonly CheckedPortState[];
}

export interface CheckedPortState {
  readonly enabled: boolean;
  readonly suspended: boolean;
  /** What was plugged in; `state` is null for a device that is re-attached (passthrough). */
  readonly device: {
    readonly name: string;
    /** The saved device state's kind, or null when only its presence was saved. */
    readonly kind: string | null;
    readonly state: unknown;
  } | null;
}

/** Bits PORTSC can hold (UHCI 2.1.7): bits 0–9 and 12. */
const PORTSC_BITS =
  PortSc.CCS |
  PortSc.CSC |
  PortSc.PE |
  PortSc.PEC |
  PortSc.LINE_DPLUS |
  PortSc.LINE_DMINUS |
  PortSc.RD |
  PortSc.ALWAYS_ONE |
  PortSc.LSDA |
  PortSc.PR |
  PortSc.SUSP;
/** The frame length SOFMOD allows: 11936..12063 bit times at 12 Mbit/s. */
const MIN_PERIOD_MS = 11936 / 12000;
const MAX_PERIOD_MS = (11936 + 127) / 12000;
/**
 * Frames a saved clock may be behind: a minute. The adapters catch up within milliseconds, so more
 * than this is not a real snapshot, and would make the restored controller run frames for a long time.
 */
const MAX_OVERDUE_FRAMES = 60_000;

/** The saved form (see {@link UHCI_CONTROLLER_STATE}); `ports` are made by the controller. */
export function controllerStateJson(
  s: Omit<CheckedControllerState, "ports">,
  ports: JsonValue[],
  asyncRequestsDropped: number,
): SavedState {
  return {
    kind: UHCI_CONTROLLER_STATE,
    version: UHCI_CONTROLLER_STATE_VERSION,
    registers: {
      USBCMD: s.usbcmd,
      USBSTS: s.usbsts,
      USBINTR: s.usbintr,
      FRNUM: s.frnum,
      FRBASEADD: s.frbaseadd,
      SOFMOD: s.sofmod,
      PORTSC: [...s.portsc],
    },
    usbIntCauses: {
      ioc: (s.usbIntCauses & UsbIntCause.IOC) !== 0,
      shortPacket: (s.usbIntCauses & UsbIntCause.SHORT_PACKET) !== 0,
    },
    irqLevel: s.irqLevel,
    frameClock: { ...s.frameClock },
    globalSuspend: s.globalSuspend,
    ports,
    asyncRequestsDropped,
  };
}

/** Validates a saved controller state for a controller with `portCount` ports; throws SnapshotError. */
export function readControllerState(state: unknown, portCount: number): CheckedControllerState {
  const r = openState(state, UHCI_CONTROLLER_STATE, UHCI_CONTROLLER_STATE_VERSION);
  const regs = r.object("registers");
  const usbcmd = regs.int("USBCMD", 0, 0xff);
  const usbsts = regs.int("USBSTS", 0, 0x3f);
  const usbintr = regs.int("USBINTR", 0, 0x0f);
  const frnum = regs.int("FRNUM", 0, 0x7ff);
  const frbaseadd = regs.int("FRBASEADD", 0, 0xfffff000);
  if (frbaseadd % 4096 !== 0) throw regs.error("FRBASEADD", "must be 4 KiB aligned (UHCI 2.1.5)");
  const sofmod = regs.int("SOFMOD", 0, 0x7f);
  const portsc = regs.ints("PORTSC", 0, 0xffff, 7);
  if (portsc.length !== portCount) {
    throw regs.error("PORTSC", `holds ${portsc.length} ports; this controller has ${portCount}`);
  }
  portsc.forEach((value, i) => {
    if ((value & ~PORTSC_BITS) !== 0)
      throw regs.error(`PORTSC[${i}]`, `0x${value.toString(16)} has undefined bits`);
  });

  const causes = r.object("usbIntCauses");
  const usbIntCauses =
    (causes.bool("ioc") ? UsbIntCause.IOC : 0) | (causes.bool("shortPacket") ? UsbIntCause.SHORT_PACKET : 0);
  const irqLevel = r.bool("irqLevel");

  const fc = r.object("frameClock");
  const running = fc.bool("running");
  const periodMs = fc.number("periodMs", MIN_PERIOD_MS - 1e-9, MAX_PERIOD_MS + 1e-9);
  const framesRun = fc.int("framesRun", 0, Number.MAX_SAFE_INTEGER);
  const sinceStartMs = fc.number("sinceStartMs", 0);
  const due = Math.floor(sinceStartMs / periodMs + 1e-9);
  if (running && (framesRun > due + 1 || due - framesRun > MAX_OVERDUE_FRAMES)) {
    throw fc.error("framesRun", `${framesRun} does not fit ${sinceStartMs} ms of ${periodMs} ms frames`);
  }
  // The clock runs exactly while RS is set and the controller is not halted (start and stop keep the
  // three in step), so a state where they disagree was not made by a controller.
  if (running === ((usbsts & UsbSts.HCHALTED) !== 0) || (running && (usbcmd & UsbCmd.RS) === 0)) {
    throw r.error(
      "frameClock",
      `says ${running ? "running" : "stopped"}, but USBCMD.RS or USBSTS.HCHALTED disagrees`,
    );
  }

  const globalSuspend = r.bool("globalSuspend");
  const entries = r.array("ports", 7);
  if (entries.length !== portCount)
    throw r.error("ports", `holds ${entries.length} ports; this controller has ${portCount}`);
  const ports = entries.map((entry, i): CheckedPortState => {
    const p = StateReader.of(entry, `${r.path}.ports[${i}]`, r.version);
    const enabled = p.bool("enabled");
    const suspended = p.bool("suspended");
    if (!p.has("device")) return { enabled, suspended, device: null };
    const d = p.object("device");
    const name = d.string("name", 256);
    d.oneOf("snapshotMode", ["in-place", "reattach"]);
    const raw = d.raw("state");
    // The device's own reader checks its state in full; here only that it is a state at all.
    const kind = raw === null ? null : StateReader.of(raw, `${d.path}.state`).string("kind", 256);
    return { enabled, suspended, device: { name, kind, state: raw } };
  });

  return {
    usbcmd,
    usbsts,
    usbintr,
    frnum,
    frbaseadd,
    sofmod,
    portsc,
    usbIntCauses,
    irqLevel,
    frameClock: { running, periodMs, framesRun, sinceStartMs },
    globalSuspend,
    ports,
  };
}
