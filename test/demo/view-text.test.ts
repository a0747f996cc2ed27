/** The demo page's texts (demo/view-text.ts): the USB tree's driver cell and the audio table's format. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { driverSummary, formatText } from "../../demo/view-text.ts";

describe("demo view texts", () => {
  it("names each bound driver once, with its interface count when it holds several", () => {
    // The headset: an audio control and two streaming interfaces, all snd-usb-audio.
    assert.equal(driverSummary("snd-usb-audio snd-usb-audio snd-usb-audio"), "snd-usb-audio ×3");
    assert.equal(driverSummary("usbhid"), "usbhid");
    // A composite device keeps its drivers in the order the guest listed them.
    assert.equal(driverSummary("usbhid snd-usb-audio usbhid"), "usbhid ×2, snd-usb-audio");
  });

  it("says (none) when the guest bound nothing", () => {
    assert.equal(driverSummary(""), "(none)");
    assert.equal(driverSummary("  "), "(none)");
  });

  it("writes a stream's rate in kHz and its channels by name", () => {
    assert.equal(formatText(48000, 1), "48 kHz mono");
    assert.equal(formatText(44100, 2), "44.1 kHz stereo");
    assert.equal(formatText(11025, 2), "11.025 kHz stereo");
    assert.equal(formatText(8000, 4), "8 kHz × 4");
  });
});
