import { openState, type SavedState } from "../../machine/snapshot.ts";
import type { HidDeviceOptions } from "./device-model.ts";
import { HidInterfaceProtocol, HidSubclass } from "./hid-constants.ts";
import { HidDevice } from "./hid-device.ts";
import {
  FIRST_KEY_USAGE,
  FIRST_MODIFIER_USAGE,
  isModifierUsage,
  type KeyName,
  KeyUsage,
  keyUsageOf,
  LAST_KEY_USAGE,
  USAGE_ERROR_ROLL_OVER,
} from "./keyboard-usages.ts";
import {
  KEYBOARD_KEY_SLOTS,
  KEYBOARD_OUTPUT_REPORT_LENGTH,
  KEYBOARD_REPORT_DESCRIPTOR,
  KEYBOARD_REPORT_LENGTH,
} from "./report-descriptors.ts";
import { usKeystrokes } from "./us-layout.ts";

/** The kind and version of a keyboard's saved state ({@link UsbKeyboard.saveState}). */
export const USB_KEYBOARD_STATE = "usb-keyboard";
export const USB_KEYBOARD_STATE_VERSION = 1;

/** Bits of the LED output report: LED usages 1–5 in bits 0–4 (HID 1.11 Appendix B.1). */
export const KeyboardLed = {
  NumLock: 0x01,
  CapsLock: 0x02,
  ScrollLock: 0x04,
  Compose: 0x08,
  Kana: 0x10,
} as const;

const LED_MASK = 0x1f;

/** The LEDs the host has lit. */
export interface KeyboardLeds {
  /** All five as {@link KeyboardLed} bits. */
  readonly mask: number;
  readonly numLock: boolean;
  readonly capsLock: boolean;
  readonly scrollLock: boolean;
  readonly compose: boolean;
  readonly kana: boolean;
}

export function keyboardLeds(mask: number): KeyboardLeds {
  return {
    mask: mask & LED_MASK,
    numLock: (mask & KeyboardLed.NumLock) !== 0,
    capsLock: (mask & KeyboardLed.CapsLock) !== 0,
    scrollLock: (mask & KeyboardLed.ScrollLock) !== 0,
    compose: (mask & KeyboardLed.Compose) !== 0,
    kana: (mask & KeyboardLed.Kana) !== 0,
  };
}

export interface UsbKeyboardOptions extends HidDeviceOptions {
  /**
   * Also give the keyboard an interrupt OUT endpoint (0x02) for the LED report. Hosts then may send LEDs
   * there instead of by SET_REPORT on the control pipe; both work either way. Default false, like most
   * boot keyboards.
   */
  readonly ledEndpoint?: boolean;
  /** Called whenever the host changes the LEDs (a bus reset turns them off). */
  readonly onLeds?: (leds: KeyboardLeds) => void;
}

/** A key given by its {@link KeyUsage} name or its usage number (HID Usage Tables §10). */
export type Key = KeyName | number;

/**
 * A boot keyboard (subclass 1, protocol 1; HID 1.11 Appendix B.1): 8-byte input report of modifier bits,
 * a reserved byte and six key slots, the same in boot and report protocol; a 1-byte LED output report.
 *
 * Every key change is one report, in order. Keys already in the state asked for (a second keyDown of a
 * held key, a keyUp of a released one) change nothing and send nothing. With more than six keys held,
 * all six slots read ErrorRollOver while modifiers still report (HID 1.11 Appendix C). Idle starts at
 * 500 ms as HID 1.11 7.2.4 recommends for keyboards (stored, see {@link HidDevice}).
 */
export class UsbKeyboard extends HidDevice {
  /** Called whenever the host changes the LEDs. */
  onLeds: ((leds: KeyboardLeds) => void) | null;

  private ledMask = 0;
  private modifierMask = 0;
  /** Non-modifier keys held, in the order they went down. */
  private readonly held: number[] = [];
  private readonly outputState = new Uint8Array(KEYBOARD_OUTPUT_REPORT_LENGTH);

  constructor(options: UsbKeyboardOptions = {}) {
    super(
      {
        defaultName: "usb-keyboard",
        defaultProduct: "USB Keyboard",
        defaultProductId: 0x0001,
        subclass: HidSubclass.Boot,
        protocol: HidInterfaceProtocol.Keyboard,
        reportDescriptor: KEYBOARD_REPORT_DESCRIPTOR,
        inputReportLength: KEYBOARD_REPORT_LENGTH,
        bootReportLength: KEYBOARD_REPORT_LENGTH,
        outputReportLength: KEYBOARD_OUTPUT_REPORT_LENGTH,
        ...(options.ledEndpoint === true ? { outEndpointLength: KEYBOARD_OUTPUT_REPORT_LENGTH } : {}),
        // 125 × 4 ms = 500 ms (HID 1.11 7.2.4).
        defaultIdle: 125,
      },
      options,
    );
    this.onLeds = options.onLeds ?? null;
  }

  /** The LEDs as {@link KeyboardLed} bits. */
  get leds(): number {
    return this.ledMask;
  }

  get ledState(): KeyboardLeds {
    return keyboardLeds(this.ledMask);
  }

  /** Modifier keys held: bit n is usage 0xE0 + n (LeftControl … RightGui). */
  get modifiers(): number {
    return this.modifierMask;
  }

  /** Usages of the non-modifier keys held, oldest first. */
  get pressedKeys(): readonly number[] {
    return [...this.held];
  }

  /** Presses a key; one report unless it was already down. Throws for an unknown name or usage. */
  keyDown(key: Key): void {
    const usage = keyUsageOf(key);
    if (isModifierUsage(usage)) {
      this.setModifiers(this.modifierMask | modifierBit(usage));
    } else if (!this.held.includes(usage)) {
      this.held.push(usage);
      this.update();
    }
  }

  /** Releases a key; one report unless it was already up. */
  keyUp(key: Key): void {
    const usage = keyUsageOf(key);
    if (isModifierUsage(usage)) {
      this.setModifiers(this.modifierMask & ~modifierBit(usage));
      return;
    }
    const index = this.held.indexOf(usage);
    if (index < 0) return;
    this.held.splice(index, 1);
    this.update();
  }

  /** Presses and releases a key: two reports. */
  press(key: Key): void {
    this.keyDown(key);
    this.keyUp(key);
  }

  /** Releases every key and modifier in one report (for example when the emulator loses focus). */
  releaseAll(): void {
    if (this.held.length === 0 && this.modifierMask === 0) return;
    this.held.length = 0;
    this.modifierMask = 0;
    this.update();
  }

  /**
   * Types text as a US keyboard would: each character is a key press, wrapped in LeftShift down/up when
   * the character needs Shift (and LeftShift is not already held). Supported: printable ASCII, "\n"
   * (Enter), "\t" (Tab), "\b" (Backspace), "\x1b" (Escape); see us-layout.ts. The whole text is checked
   * first: an unsupported character throws a RangeError and nothing is typed.
   *
   * Keys the caller already holds stay in the reports (a held Shift makes letters upper-case).
   */
  typeText(text: string): void {
    const shift = KeyUsage.LeftShift;
    for (const stroke of usKeystrokes(text)) {
      const addShift = stroke.shift && (this.modifierMask & modifierBit(shift)) === 0;
      if (addShift) this.keyDown(shift);
      this.press(stroke.usage);
      if (addShift) this.keyUp(shift);
    }
  }

  // ---- snapshots ---------------------------------------------------------------------------------

  override get stateKind(): string {
    return USB_KEYBOARD_STATE;
  }

  /** The HID state plus the LEDs the host set and the keys held. */
  override saveState(): SavedState {
    return {
      kind: USB_KEYBOARD_STATE,
      version: USB_KEYBOARD_STATE_VERSION,
      hid: super.saveState(),
      leds: this.ledMask,
      modifiers: this.modifierMask,
      /** Usages of the non-modifier keys held, oldest first. */
      held: [...this.held],
    };
  }

  /** Restores the state; {@link onLeds} hears of the LEDs if they differ from the current ones. */
  override prepareRestore(state: unknown): () => void {
    const r = openState(state, USB_KEYBOARD_STATE, USB_KEYBOARD_STATE_VERSION);
    const applyHid = super.prepareRestore(r.raw("hid"));
    const leds = r.int("leds", 0, LED_MASK);
    const modifiers = r.int("modifiers", 0, 0xff);
    const held = r.ints("held", FIRST_KEY_USAGE, LAST_KEY_USAGE, 256);
    if (new Set(held).size !== held.length) throw r.error("held", "lists a key twice");
    return () => {
      applyHid();
      this.modifierMask = modifiers;
      this.held.length = 0;
      this.held.push(...held);
      this.setLeds(leds);
    };
  }

  // ---- HidDevice hooks ---------------------------------------------------------------------------

  protected override receiveOutputReport(report: Uint8Array): boolean {
    // Bits 5–7 are padding (HID 1.11 Appendix B.1); ignore whatever the host put there.
    this.setLeds(report[0]! & LED_MASK);
    return true;
  }

  protected override currentOutputReport(): Uint8Array {
    this.outputState[0] = this.ledMask;
    return this.outputState;
  }

  /** A reset device has its LEDs off until the host sets them again. Keys physically held stay held. */
  protected override onHidReset(): void {
    this.setLeds(0);
  }

  // ---- internals ---------------------------------------------------------------------------------

  private setLeds(mask: number): void {
    if (mask === this.ledMask) return;
    this.ledMask = mask;
    this.onLeds?.(keyboardLeds(mask));
  }

  private setModifiers(mask: number): void {
    if (mask === this.modifierMask) return;
    this.modifierMask = mask;
    this.update();
  }

  /** Rebuilds the input report from the held keys and queues it. */
  private update(): void {
    const report = this.inputState;
    report[0] = this.modifierMask;
    report[1] = 0;
    const rollOver = this.held.length > KEYBOARD_KEY_SLOTS;
    for (let slot = 0; slot < KEYBOARD_KEY_SLOTS; slot++) {
      report[2 + slot] = rollOver ? USAGE_ERROR_ROLL_OVER : (this.held[slot] ?? 0);
    }
    this.queueReport(report);
  }
}

function modifierBit(usage: number): number {
  return 1 << (usage - FIRST_MODIFIER_USAGE);
}
