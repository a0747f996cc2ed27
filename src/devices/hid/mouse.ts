import { openState, type SavedState } from "../../machine/snapshot.ts";
import type { HidDeviceOptions } from "./device-model.ts";
import { HidInterfaceProtocol, HidSubclass } from "./hid-constants.ts";
import { ReportKind } from "./hid-device.ts";
import { checkInteger, PointerDevice } from "./pointer-device.ts";
import {
  MOUSE_BOOT_REPORT_LENGTH,
  MOUSE_REPORT_DESCRIPTOR,
  MOUSE_REPORT_LENGTH,
} from "./report-descriptors.ts";

export type UsbMouseOptions = HidDeviceOptions;

/** The kind and version of a mouse's saved state ({@link UsbMouse.saveState}). */
export const USB_MOUSE_STATE = "usb-mouse";
export const USB_MOUSE_STATE_VERSION = 1;

/**
 * A relative mouse with the boot interface (subclass 1, protocol 2; HID 1.11 Appendix B.2): five
 * buttons, X, Y and a wheel. Report: [buttons, dx, dy, wheel], each motion -127..127; in boot protocol
 * the first three bytes. Idle starts infinite, as HID 1.11 7.2.4 recommends for mice.
 */
export class UsbMouse extends PointerDevice {
  constructor(options: UsbMouseOptions = {}) {
    super(
      {
        defaultName: "usb-mouse",
        defaultProduct: "USB Mouse",
        defaultProductId: 0x0002,
        subclass: HidSubclass.Boot,
        protocol: HidInterfaceProtocol.Mouse,
        reportDescriptor: MOUSE_REPORT_DESCRIPTOR,
        inputReportLength: MOUSE_REPORT_LENGTH,
        bootReportLength: MOUSE_BOOT_REPORT_LENGTH,
        defaultIdle: 0,
      },
      options,
    );
  }

  protected readonly relativeOffsets = [1, 2, 3] as const;

  /**
   * Moves by (dx, dy) counts; positive is right and down. While the newest waiting report is a move
   * too (the host has not polled since), the motion is added to it, as a real mouse accumulates motion
   * between polls; what does not fit its ±127 fields becomes new reports spread along the line. The
   * reports sum exactly to the motion. (0, 0) sends nothing.
   */
  move(dx: number, dy: number): void {
    checkInteger("dx", dx);
    checkInteger("dy", dy);
    this.addRelative(dx, dy, 0, ReportKind.Motion);
  }

  override get stateKind(): string {
    return USB_MOUSE_STATE;
  }

  /** The pointer state; a relative mouse has no position of its own. */
  override saveState(): SavedState {
    return { kind: USB_MOUSE_STATE, version: USB_MOUSE_STATE_VERSION, pointer: super.saveState() };
  }

  override prepareRestore(state: unknown): () => void {
    const r = openState(state, USB_MOUSE_STATE, USB_MOUSE_STATE_VERSION);
    return super.prepareRestore(r.raw("pointer"));
  }

  protected override writeReport(
    report: Uint8Array,
    buttons: number,
    dx: number,
    dy: number,
    wheel: number,
  ): void {
    report[0] = buttons;
    // Two's complement bytes (HID 1.11 5.8: fields are little-endian, signed when the logical minimum is).
    report[1] = dx & 0xff;
    report[2] = dy & 0xff;
    report[3] = wheel & 0xff;
  }
}
