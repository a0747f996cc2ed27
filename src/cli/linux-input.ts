/**
 * Linux input-event facts the reports compare against (include/uapi/linux/input-event-codes.h values):
 * event types, and the keycodes Linux's HID input layer gives the Keyboard page usages we type.
 */
export const EvType = {
  SYN: 0,
  KEY: 1,
  REL: 2,
  ABS: 3,
  MSC: 4,
} as const;

export const AbsCode = { X: 0, Y: 1 } as const;
export const RelCode = { X: 0, Y: 1, WHEEL: 8 } as const;
export const BtnCode = { LEFT: 0x110, RIGHT: 0x111, MIDDLE: 0x112, SIDE: 0x113, EXTRA: 0x114 } as const;

/** HID Keyboard page usage → Linux keycode, for the keys of a US layout (HID Usage Tables §10). */
const LETTER_KEYCODES = [
  30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44,
] as const;
const DIGIT_KEYCODES = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11] as const; // usages 0x1E ("1") … 0x27 ("0")

const OTHER_KEYCODES: Readonly<Record<number, number>> = {
  40: 28, // Enter
  41: 1, // Escape
  42: 14, // Backspace
  43: 15, // Tab
  44: 57, // Space
  45: 12, // - _
  46: 13, // = +
  47: 26, // [ {
  48: 27, // ] }
  49: 43, // \ |
  51: 39, // ; :
  52: 40, // ' "
  53: 41, // ` ~
  54: 51, // , <
  55: 52, // . >
  56: 53, // / ?
  57: 58, // Caps Lock
  68: 87, // F11
  69: 88, // F12
  224: 29, // Left Control
  225: 42, // Left Shift
  226: 56, // Left Alt
  227: 125, // Left GUI
  228: 97, // Right Control
  229: 54, // Right Shift
  230: 100, // Right Alt
  231: 126, // Right GUI
};

/** The Linux keycode for a Keyboard page usage, or undefined for keys outside the table. */
export function linuxKeycode(usage: number): number | undefined {
  if (usage >= 0x04 && usage <= 0x1d) return LETTER_KEYCODES[usage - 0x04];
  if (usage >= 0x1e && usage <= 0x27) return DIGIT_KEYCODES[usage - 0x1e];
  if (usage >= 0x3a && usage <= 0x43) return 59 + (usage - 0x3a); // F1–F10
  return OTHER_KEYCODES[usage];
}
