import { type KeyName, KeyUsage } from "./keyboard-usages.ts";

/**
 * Which key (and whether Shift) types each character on a US keyboard layout. The pairs come from the
 * usage names of the Keyboard/Keypad page, which are the US legends ("Keyboard 1 and !", HID Usage
 * Tables §10).
 *
 * Supported: printable ASCII (space to "~"), "\n" (Enter), "\t" (Tab), "\b" (Backspace) and
 * "\x1b" (Escape). Not supported: "\r" (use "\n"; a CR LF pair would press Enter twice), other control
 * characters, and anything outside ASCII — a US keyboard has no key for them.
 */
export interface Keystroke {
  readonly usage: number;
  readonly shift: boolean;
}

/** [unshifted, shifted, key] for every key that types two printable characters. */
const SHIFT_PAIRS: readonly (readonly [string, string, KeyName])[] = [
  ["1", "!", "1"],
  ["2", "@", "2"],
  ["3", "#", "3"],
  ["4", "$", "4"],
  ["5", "%", "5"],
  ["6", "^", "6"],
  ["7", "&", "7"],
  ["8", "*", "8"],
  ["9", "(", "9"],
  ["0", ")", "0"],
  ["-", "_", "Minus"],
  ["=", "+", "Equal"],
  ["[", "{", "LeftBracket"],
  ["]", "}", "RightBracket"],
  ["\\", "|", "Backslash"],
  [";", ":", "Semicolon"],
  ["'", '"', "Quote"],
  ["`", "~", "Grave"],
  [",", "<", "Comma"],
  [".", ">", "Period"],
  ["/", "?", "Slash"],
];

/** Characters typed by one unshifted key. */
const SINGLE_KEYS: readonly (readonly [string, KeyName])[] = [
  [" ", "Space"],
  ["\n", "Enter"],
  ["\t", "Tab"],
  ["\b", "Backspace"],
  ["\x1b", "Escape"],
];

function buildTable(): ReadonlyMap<string, Keystroke> {
  const table = new Map<string, Keystroke>();
  for (const [plain, shifted, key] of SHIFT_PAIRS) {
    table.set(plain, { usage: KeyUsage[key], shift: false });
    table.set(shifted, { usage: KeyUsage[key], shift: true });
  }
  for (let i = 0; i < 26; i++) {
    const upper = String.fromCharCode(0x41 + i);
    const usage = KeyUsage[upper as KeyName];
    table.set(upper.toLowerCase(), { usage, shift: false });
    table.set(upper, { usage, shift: true });
  }
  for (const [char, key] of SINGLE_KEYS) table.set(char, { usage: KeyUsage[key], shift: false });
  return table;
}

const US_LAYOUT = buildTable();

/** The keystroke that types `char` on a US layout, or undefined when no key types it. */
export function usKeystroke(char: string): Keystroke | undefined {
  return US_LAYOUT.get(char);
}

/**
 * The keystrokes for a whole text, checked before anything is typed so that a bad character leaves
 * nothing half-typed. Throws a RangeError naming the first unsupported character.
 */
export function usKeystrokes(text: string): Keystroke[] {
  const strokes: Keystroke[] = [];
  let index = 0;
  for (const char of text) {
    const stroke = US_LAYOUT.get(char);
    if (stroke === undefined) {
      const code = char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
      throw new RangeError(
        `typeText: character U+${code} ${JSON.stringify(char)} at index ${index} has no key on the US layout; ` +
          'supported are printable ASCII, "\\n" (Enter), "\\t" (Tab), "\\b" (Backspace) and "\\x1b" (Escape)',
      );
    }
    strokes.push(stroke);
    index += char.length;
  }
  return strokes;
}
