/** HID class codes and request values (HID 1.11 chapters 4 and 7). */

/** bInterfaceClass of a HID interface (HID 1.11 4.1). */
export const HID_INTERFACE_CLASS = 0x03;

/** bInterfaceSubClass (HID 1.11 4.2): only the boot subclass is defined. */
export const HidSubclass = {
  None: 0,
  /** The device also speaks the fixed boot protocol a BIOS understands (HID 1.11 4.2, Appendix B). */
  Boot: 1,
} as const;
export type HidSubclass = (typeof HidSubclass)[keyof typeof HidSubclass];

/** bInterfaceProtocol (HID 1.11 4.3): meaningful only with the boot subclass. */
export const HidInterfaceProtocol = {
  None: 0,
  Keyboard: 1,
  Mouse: 2,
} as const;
export type HidInterfaceProtocol = (typeof HidInterfaceProtocol)[keyof typeof HidInterfaceProtocol];

/** bRequest of the HID class requests (HID 1.11 7.2). */
export const HidRequest = {
  GetReport: 0x01,
  GetIdle: 0x02,
  GetProtocol: 0x03,
  SetReport: 0x09,
  SetIdle: 0x0a,
  SetProtocol: 0x0b,
} as const;

/** The report type in the high byte of GET_REPORT / SET_REPORT wValue (HID 1.11 7.2.1). */
export const HidReportType = {
  Input: 1,
  Output: 2,
  Feature: 3,
} as const;

/** GET_PROTOCOL / SET_PROTOCOL values (HID 1.11 7.2.5, 7.2.6). */
export const HidProtocol = {
  Boot: 0,
  Report: 1,
} as const;
export type HidProtocol = (typeof HidProtocol)[keyof typeof HidProtocol];

/** The idle duration unit of SET_IDLE / GET_IDLE, in milliseconds (HID 1.11 7.2.4). */
export const IDLE_UNIT_MS = 4;
