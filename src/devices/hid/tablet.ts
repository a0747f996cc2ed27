import { openState, type SavedState } from "../../machine/snapshot.ts";
import type { HidDeviceOptions } from "./device-model.ts";
import { HidInterfaceProtocol, HidSubclass } from "./hid-constants.ts";
import { ReportKind } from "./hid-device.ts";
import { checkInteger, PointerDevice } from "./pointer-device.ts";
import {
  TABLET_MAX_COORDINATE,
  TABLET_REPORT_DESCRIPTOR,
  TABLET_REPORT_LENGTH,
} from "./report-descriptors.ts";

export type UsbTabletOptions = HidDeviceOptions;

/** The kind and version of a tablet's saved state ({@link UsbTablet.saveState}). */
export const USB_TABLET_STATE = "usb-tablet";
export const USB_TABLET_STATE_VERSION = 1;

/**
 * An absolute pointer (like QEMU's usb-tablet): five buttons, X and Y in 0..32767 across the whole
 * screen, and a relative wheel. No boot interface, so a BIOS ignores it and GET/SET_PROTOCOL STALL.
 * Report: [buttons, X lo, X hi, Y lo, Y hi, wheel]. The pointer starts at (0, 0).
 */
export class UsbTablet extends PointerDevice {
  private px = 0;
  private py = 0;

  constructor(options: UsbTabletOptions = {}) {
    super(
      {
        defaultName: "usb-tablet",
        defaultProduct: "USB Tablet",
        defaultProductId: 0x0003,
        subclass: HidSubclass.None,
        protocol: HidInterfaceProtocol.None,
        reportDescriptor: TABLET_REPORT_DESCRIPTOR,
        inputReportLength: TABLET_REPORT_LENGTH,
        defaultIdle: 0,
      },
      options,
    );
  }

  get x(): number {
    return this.px;
  }

  get y(): number {
    return this.py;
  }

  /** Only the wheel is relative. */
  protected readonly relativeOffsets = [-1, -1, 5] as const;

  /**
   * Moves to (x, y), each an integer 0..32767 (0 = left/top edge). While the newest waiting report is a
   * move too (the host has not polled since), its position is replaced: the host only ever needs the
   * latest point. Otherwise one new report. Nothing if the point did not change.
   */
  moveTo(x: number, y: number): void {
    checkCoordinate("x", x);
    checkCoordinate("y", y);
    if (x === this.px && y === this.py) return;
    this.px = x;
    this.py = y;
    if (this.coalescable(ReportKind.Motion)) {
      this.writeReport(this.inputState, this.buttons, 0, 0, 0);
      this.rewriteNewest(this.inputState);
    } else {
      this.emit(0, 0, 0, ReportKind.Motion);
    }
  }

  /** Moves to a point given as fractions 0..1 of the screen's width and height. */
  moveToFraction(fx: number, fy: number): void {
    this.moveTo(fractionToCoordinate("fx", fx), fractionToCoordinate("fy", fy));
  }

  override get stateKind(): string {
    return USB_TABLET_STATE;
  }

  /** The pointer state plus the absolute position. */
  override saveState(): SavedState {
    return {
      kind: USB_TABLET_STATE,
      version: USB_TABLET_STATE_VERSION,
      pointer: super.saveState(),
      x: this.px,
      y: this.py,
    };
  }

  override prepareRestore(state: unknown): () => void {
    const r = openState(state, USB_TABLET_STATE, USB_TABLET_STATE_VERSION);
    const applyPointer = super.prepareRestore(r.raw("pointer"));
    const x = r.int("x", 0, TABLET_MAX_COORDINATE);
    const y = r.int("y", 0, TABLET_MAX_COORDINATE);
    return () => {
      applyPointer();
      this.px = x;
      this.py = y;
    };
  }

  protected override writeReport(
    report: Uint8Array,
    buttons: number,
    _dx: number,
    _dy: number,
    wheel: number,
  ): void {
    report[0] = buttons;
    // Multi-byte fields are little-endian (HID 1.11 5.8).
    report[1] = this.px & 0xff;
    report[2] = this.px >> 8;
    report[3] = this.py & 0xff;
    report[4] = this.py >> 8;
    report[5] = wheel & 0xff;
  }
}

function checkCoordinate(name: string, value: number): void {
  checkInteger(name, value);
  if (value < 0 || value > TABLET_MAX_COORDINATE) {
    throw new RangeError(`${name} ${value} is outside 0..${TABLET_MAX_COORDINATE}`);
  }
}

function fractionToCoordinate(name: string, fraction: number): number {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`${name} ${fraction} is outside 0..1`);
  return Math.round(fraction * TABLET_MAX_COORDINATE);
}
