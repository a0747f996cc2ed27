import { openState, type SavedState } from "../../machine/snapshot.ts";
import type { HidDeviceOptions } from "./device-model.ts";
import { HidDevice, type HidDeviceSpec, ReportKind } from "./hid-device.ts";
import { POINTER_BUTTON_COUNT, RELATIVE_MAX } from "./report-descriptors.ts";

/**
 * Pointer buttons as bit masks of byte 0 of the pointer reports: Button page usages 1–5 (HID Usage
 * Tables §12). Masks combine: `buttonDown(MouseButton.Left | MouseButton.Right)` is one report.
 */
export const MouseButton = {
  Left: 0x01,
  Right: 0x02,
  Middle: 0x04,
  /** Button 4; Windows and Linux treat it as "back". */
  Back: 0x08,
  /** Button 5; Windows and Linux treat it as "forward". */
  Forward: 0x10,
} as const;
export type MouseButton = (typeof MouseButton)[keyof typeof MouseButton];

const ALL_BUTTONS = (1 << POINTER_BUTTON_COUNT) - 1;

/** The kind and version of the pointer layer of a saved state (mouse and tablet). */
export const HID_POINTER_STATE = "hid-pointer";
export const HID_POINTER_STATE_VERSION = 1;

/** Throws for the API caller's mistakes; never for anything the guest does. */
export function checkInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be an integer, got ${value}`);
}

/**
 * How many reports a relative motion of `totals` needs so that no field leaves -127..127: the boot
 * mouse's 8-bit fields (HID 1.11 Appendix B.2) would otherwise clip and lose movement.
 */
export function relativeReportCount(...totals: number[]): number {
  let steps = 0;
  for (const total of totals) steps = Math.max(steps, Math.ceil(Math.abs(total) / RELATIVE_MAX));
  return steps;
}

/**
 * Report `index` of `steps` of a motion of `total`: the motion spread evenly (so a long diagonal stays a
 * diagonal), each step within ±127 and the steps summing exactly to `total`.
 */
export function relativeStep(total: number, steps: number, index: number): number {
  return Math.round((total * (index + 1)) / steps) - Math.round((total * index) / steps);
}

/** Buttons and wheel, shared by the relative mouse and the absolute tablet. */
export abstract class PointerDevice extends HidDevice {
  private buttonMask = 0;
  private readonly nextReport: Uint8Array;

  protected constructor(spec: HidDeviceSpec, options: HidDeviceOptions) {
    super(spec, options);
    this.nextReport = new Uint8Array(spec.inputReportLength);
  }

  /** The buttons held down, as {@link MouseButton} bits. */
  get buttons(): number {
    return this.buttonMask;
  }

  /** Presses buttons (a {@link MouseButton} mask); one report if anything changed. */
  buttonDown(buttons: number): void {
    this.setButtons(this.buttonMask | checkButtons(buttons));
  }

  /** Releases buttons; one report if anything changed. */
  buttonUp(buttons: number): void {
    this.setButtons(this.buttonMask & ~checkButtons(buttons));
  }

  /** Presses then releases: two reports, so the host sees the click however fast it polls. */
  click(buttons: number): void {
    this.buttonDown(buttons);
    this.buttonUp(buttons);
  }

  /**
   * Sets exactly which buttons are down; one report of its own if anything changed (never merged with
   * motion below the queue's bound, so a press lands where the pointer was when it was pressed).
   */
  setButtons(buttons: number): void {
    const mask = checkButtons(buttons);
    if (mask === this.buttonMask) return;
    this.buttonMask = mask;
    this.emit(0, 0, 0, ReportKind.State);
  }

  /**
   * Turns the wheel by `clicks` detents; positive scrolls up (away from the user). Added to the newest
   * waiting report if that one is a wheel report too, as far as its 8-bit field allows; the rest
   * split into as many reports as the field needs.
   */
  wheel(clicks: number): void {
    checkInteger("wheel clicks", clicks);
    this.addRelative(0, 0, clicks, ReportKind.Wheel);
  }

  override get stateKind(): string {
    return HID_POINTER_STATE;
  }

  /** The HID state plus the buttons held. */
  override saveState(): SavedState {
    return {
      kind: HID_POINTER_STATE,
      version: HID_POINTER_STATE_VERSION,
      hid: super.saveState(),
      buttons: this.buttonMask,
    };
  }

  override prepareRestore(state: unknown): () => void {
    const r = openState(state, HID_POINTER_STATE, HID_POINTER_STATE_VERSION);
    const applyHid = super.prepareRestore(r.raw("hid"));
    const buttons = r.int("buttons", 0, ALL_BUTTONS);
    return () => {
      applyHid();
      this.buttonMask = buttons;
    };
  }

  /** Writes a whole input report for the current buttons and position plus the given relative motion. */
  protected abstract writeReport(
    report: Uint8Array,
    buttons: number,
    dx: number,
    dy: number,
    wheel: number,
  ): void;

  /**
   * Byte offsets of the report's signed 8-bit relative fields: dx, dy, wheel (−1 where the device has
   * none).
   */
  protected abstract readonly relativeOffsets: readonly [number, number, number];

  /** Queues one report made by an event of `kind` and refreshes the GET_REPORT state (relative fields 0). */
  protected emit(dx: number, dy: number, wheel: number, kind: ReportKind): void {
    this.writeReport(this.nextReport, this.buttonMask, dx, dy, wheel);
    this.queueReport(this.nextReport, kind);
    this.writeReport(this.inputState, this.buttonMask, 0, 0, 0);
  }

  /**
   * Relative motion the way a mouse reports it between polls: added to the newest waiting report when
   * an event of the same kind made it (each field up to ±127), the rest in as few new reports as the
   * fields need, spread evenly along the motion. The totals always reach the host exactly (below the
   * queue's bound).
   */
  protected addRelative(dx: number, dy: number, wheel: number, kind: ReportKind): void {
    const report = this.nextReport;
    if (this.coalescable(kind) && this.readNewest(report)) {
      const [xAt, yAt, wheelAt] = this.relativeOffsets;
      const oldX = signedField(report, xAt);
      const oldY = signedField(report, yAt);
      const oldWheel = signedField(report, wheelAt);
      const x = clampRelative(oldX + dx);
      const y = clampRelative(oldY + dy);
      const w = clampRelative(oldWheel + wheel);
      if (x !== oldX || y !== oldY || w !== oldWheel) {
        this.writeReport(report, this.buttonMask, x, y, w);
        this.rewriteNewest(report);
      }
      dx -= x - oldX;
      dy -= y - oldY;
      wheel -= w - oldWheel;
    }
    const steps = relativeReportCount(dx, dy, wheel);
    for (let i = 0; i < steps; i++) {
      this.emit(relativeStep(dx, steps, i), relativeStep(dy, steps, i), relativeStep(wheel, steps, i), kind);
    }
  }

  /** At the queue's bound: the incoming report's buttons and position, relative fields added (clipped). */
  protected override mergeOnOverflow(newest: Uint8Array, incoming: Uint8Array): void {
    const [xAt, yAt, wheelAt] = this.relativeOffsets;
    const x = clampRelative(signedField(newest, xAt) + signedField(incoming, xAt));
    const y = clampRelative(signedField(newest, yAt) + signedField(incoming, yAt));
    const w = clampRelative(signedField(newest, wheelAt) + signedField(incoming, wheelAt));
    super.mergeOnOverflow(newest, incoming);
    if (xAt >= 0) newest[xAt] = x & 0xff;
    if (yAt >= 0) newest[yAt] = y & 0xff;
    if (wheelAt >= 0) newest[wheelAt] = w & 0xff;
  }
}

/** A signed 8-bit field of a report; 0 for an absent field (offset −1). */
function signedField(report: Uint8Array, offset: number): number {
  return offset < 0 ? 0 : (report[offset]! << 24) >> 24;
}

function clampRelative(value: number): number {
  return Math.max(-RELATIVE_MAX, Math.min(RELATIVE_MAX, value));
}

function checkButtons(buttons: number): number {
  if (!Number.isInteger(buttons) || (buttons & ~ALL_BUTTONS) !== 0 || buttons < 0) {
    throw new RangeError(`buttons 0x${buttons.toString(16)} is not a mask of MouseButton values`);
  }
  return buttons;
}
