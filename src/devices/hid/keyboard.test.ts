import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PacketStatus } from "../../usb/packet.ts";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import { HidProtocol, HidReportType } from "./hid-constants.ts";
import { KeyboardLed, type KeyboardLeds, UsbKeyboard } from "./keyboard.ts";
import { KeyUsage } from "./keyboard-usages.ts";
import { hidRequests as req } from "./testing/requests.ts";

const { Ack, Nak, Stall } = PacketStatus;
const SHIFT = 0x02; // LeftShift is modifier bit 1 (usage 0xE1)

function ready(options: ConstructorParameters<typeof UsbKeyboard>[0] = {}) {
  const device = new UsbKeyboard(options);
  const host = new PacketHost(device);
  host.enumerate();
  return { device, host };
}

const report = (modifiers: number, ...keys: number[]): number[] => {
  const bytes = [modifiers, 0, ...keys];
  while (bytes.length < 8) bytes.push(0);
  return bytes;
};

describe("UsbKeyboard input", () => {
  it("reports key down and key up with modifiers in byte 0 and keys in the slots", () => {
    const { device, host } = ready();
    device.keyDown("LeftShift");
    device.keyDown("A");
    device.keyUp("A");
    device.keyUp(KeyUsage.LeftShift);
    assert.deepEqual(host.drain(), [report(SHIFT), report(SHIFT, 0x04), report(SHIFT), report(0)]);
  });

  it("lists held keys in the order they went down and closes the gap when one is released", () => {
    const { device, host } = ready();
    device.keyDown("Z");
    device.keyDown("F1");
    device.keyDown(KeyUsage.Enter);
    device.keyUp("F1");
    assert.deepEqual(host.drain().at(-1), report(0, 0x1d, 0x28));
    assert.deepEqual(device.pressedKeys, [0x1d, 0x28]);
  });

  it("sends nothing for a key already in the state asked for", () => {
    const { device } = ready();
    device.keyDown("A");
    device.keyDown("A");
    device.keyUp("B");
    device.keyUp("RightGui");
    assert.equal(device.reportsQueued, 1);
  });

  it("fills all six slots with ErrorRollOver beyond six keys, modifiers still reported", () => {
    const { device, host } = ready();
    device.keyDown("LeftControl");
    for (const key of ["A", "B", "C", "D", "E", "F"] as const) device.keyDown(key);
    device.keyDown("G");
    const reports = host.drain();
    assert.deepEqual(reports.at(-2), report(0x01, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09));
    assert.deepEqual(reports.at(-1), report(0x01, 1, 1, 1, 1, 1, 1));
    device.keyUp("C");
    assert.deepEqual(host.drain(), [report(0x01, 0x04, 0x05, 0x07, 0x08, 0x09, 0x0a)]);
  });

  it("delivers a burst of 1,000 key events complete and in order", () => {
    const { device, host } = ready();
    const usages: number[] = [];
    for (let i = 0; i < 500; i++) usages.push(KeyUsage.A + (i % 26));
    // Half the burst arrives before the host polls at all; the rest interleaves with slow polling.
    for (let i = 0; i < 250; i++) device.press(usages[i]!);
    const received: number[][] = [];
    for (let i = 250; i < 500; i++) {
      device.press(usages[i]!);
      if (i % 3 === 0) received.push(host.poll().data);
    }
    received.push(...host.drain());
    assert.equal(received.length, 1000);
    const expected = usages.flatMap((u) => [report(0, u), report(0)]);
    assert.deepEqual(received, expected);
    assert.equal(device.reportsQueued, 1000);
    assert.equal(device.reportsSent, 1000);
    assert.equal(host.poll().status, Nak);
  });

  it("releaseAll clears keys and modifiers in one report", () => {
    const { device, host } = ready();
    device.keyDown("RightAlt");
    device.keyDown("Q");
    host.drain();
    device.releaseAll();
    device.releaseAll();
    assert.deepEqual(host.drain(), [report(0)]);
  });

  it("refuses unknown key names and usages that are not keys", () => {
    const { device } = ready();
    assert.throws(() => device.keyDown("Hyper" as "A"), /unknown key name "Hyper"/);
    assert.throws(() => device.keyDown(0x01), RangeError);
    assert.throws(() => device.keyDown(0xe8), RangeError);
    assert.throws(() => device.keyUp(0x104), RangeError);
    assert.throws(() => device.keyDown("toString" as "A"), RangeError);
    assert.equal(device.reportsQueued, 0);
  });
});

describe("UsbKeyboard.typeText (US layout)", () => {
  /** The keys that went down, each with the modifiers held at that moment. */
  function keyDowns(reports: readonly number[][]): [number, number][] {
    const downs: [number, number][] = [];
    let previous = new Set<number>();
    for (const r of reports) {
      const keys = new Set(r.slice(2).filter((u) => u !== 0));
      for (const u of keys) if (!previous.has(u)) downs.push([r[0]!, u]);
      previous = keys;
    }
    return downs;
  }

  it('types "Hello, world!\\n" with Shift exactly where the US layout needs it', () => {
    const { device, host } = ready();
    device.typeText("Hello, world!\n");
    const reports = host.drain();
    assert.deepEqual(keyDowns(reports), [
      [SHIFT, 0x0b], // H
      [0, 0x08], // e
      [0, 0x0f], // l
      [0, 0x0f], // l
      [0, 0x12], // o
      [0, 0x36], // ,
      [0, 0x2c], // space
      [0, 0x1a], // w
      [0, 0x12], // o
      [0, 0x15], // r
      [0, 0x0f], // l
      [0, 0x07], // d
      [SHIFT, 0x1e], // !
      [0, 0x28], // Enter
    ]);
    // Two shifted characters (Shift down, key down, key up, Shift up) and twelve plain ones.
    assert.equal(reports.length, 2 * 4 + 12 * 2);
    assert.deepEqual(reports.at(-1), report(0));
  });

  it("wraps a shifted character in its own Shift press, reports in order", () => {
    const { device, host } = ready();
    device.typeText("a?");
    assert.deepEqual(host.drain(), [
      report(0, 0x04),
      report(0),
      report(SHIFT),
      report(SHIFT, 0x38),
      report(SHIFT),
      report(0),
    ]);
  });

  it("covers printable ASCII and the supported control characters", () => {
    const { device, host } = ready();
    let text = "\t\b\x1b";
    for (let c = 0x20; c <= 0x7e; c++) text += String.fromCharCode(c);
    device.typeText(text);
    assert.equal(keyDowns(host.drain()).length, text.length);
  });

  it("throws a clear error for a character with no key, before typing anything", () => {
    const { device } = ready();
    assert.throws(() => device.typeText("café"), /U\+00E9 "é" at index 3 has no key on the US layout/);
    assert.throws(() => device.typeText("a\r\n"), /U\+000D/);
    assert.equal(device.reportsQueued, 0);
  });

  it("leaves a Shift the caller holds alone", () => {
    const { device, host } = ready();
    device.keyDown("LeftShift");
    device.typeText("A");
    device.keyUp("LeftShift");
    assert.deepEqual(host.drain(), [report(SHIFT), report(SHIFT, 0x04), report(SHIFT), report(0)]);
  });
});

describe("UsbKeyboard LEDs", () => {
  it("takes SET_REPORT(Output) on the control pipe, calls onLeds on change, answers GET_REPORT(Output)", () => {
    const seen: KeyboardLeds[] = [];
    const { device, host } = ready({ onLeds: (leds) => seen.push(leds) });
    const leds = KeyboardLed.NumLock | KeyboardLed.CapsLock;
    assert.equal(host.control(req.setReport(HidReportType.Output, 0, 1), [leds]).status, Ack);
    assert.equal(device.leds, leds);
    assert.deepEqual(device.ledState, {
      mask: leds,
      numLock: true,
      capsLock: true,
      scrollLock: false,
      compose: false,
      kana: false,
    });
    assert.deepEqual(host.control(req.getReport(HidReportType.Output, 0, 1)).data, [leds]);
    // The same value again is no change; padding bits are ignored.
    host.control(req.setReport(HidReportType.Output, 0, 1), [leds | 0xe0]);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.mask, leds);
  });

  it("stalls LED reports of the wrong length, type or ID", () => {
    const { device, host } = ready();
    assert.equal(host.control(req.setReport(HidReportType.Output, 0, 2), [1, 0]).status, Stall);
    assert.equal(host.control(req.setReport(HidReportType.Output, 0, 0)).status, Stall);
    assert.equal(host.control(req.setReport(HidReportType.Input, 0, 1), [1]).status, Stall);
    assert.equal(host.control(req.setReport(HidReportType.Output, 2, 1), [1]).status, Stall);
    assert.equal(device.leds, 0);
  });

  it("accepts LEDs on the interrupt OUT endpoint when asked to have one", () => {
    const { device, host } = ready({ ledEndpoint: true });
    assert.equal(host.out(2, [KeyboardLed.ScrollLock]), Ack);
    assert.equal(device.leds, KeyboardLed.ScrollLock);
    assert.equal(host.out(2, [1, 2]), Stall);
    // Without the option there is no OUT endpoint.
    const plain = ready();
    assert.equal(plain.host.out(2, [1]), Stall);
  });

  it("turns the LEDs off on bus reset and tells onLeds", () => {
    const seen: number[] = [];
    const { device, host } = ready({ onLeds: (leds) => seen.push(leds.mask) });
    host.control(req.setReport(HidReportType.Output, 0, 1), [KeyboardLed.Kana]);
    host.enumerate();
    assert.equal(device.leds, 0);
    assert.deepEqual(seen, [KeyboardLed.Kana, 0]);
  });

  it("speaks the same 8-byte report in boot protocol", () => {
    const { device, host } = ready();
    host.control(req.setProtocol(HidProtocol.Boot));
    device.keyDown("RightShift");
    device.keyDown("Space");
    assert.deepEqual(host.drain(), [report(0x20), report(0x20, 0x2c)]);
  });
});
