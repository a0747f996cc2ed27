import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRandom } from "../../machine/seeded-random.ts";
import { encodeConfiguration } from "./encode.ts";
import { parseConfiguration, parseDeviceDescriptor } from "./parse.ts";
import { parseLanguageIds, parseString } from "./strings.ts";

function hex(dump: string): Uint8Array {
  return Uint8Array.from(dump.trim().split(/\s+/), (byte) => Number.parseInt(byte, 16));
}

/** A HID keyboard configuration: config, interface, HID, endpoint (34 bytes). */
const KEYBOARD = hex(`09 02 22 00 01 01 00 a0 32
                      09 04 00 00 01 03 01 01 00
                      09 21 11 01 00 01 22 3f 00
                      07 05 81 03 08 00 0a`);

/** Asserts a parse failed with an error mentioning `fragment`. */
function assertError(result: { ok: boolean; error?: string }, fragment: string): void {
  assert.equal(result.ok, false);
  assert.match(result.error ?? "", new RegExp(fragment));
}

describe("parseConfiguration", () => {
  it("parses a real layout into a full model", () => {
    const result = parseConfiguration(KEYBOARD);
    assert.ok(result.ok);
    assert.deepEqual(result.value, {
      value: 1,
      name: 0,
      selfPowered: false,
      remoteWakeup: true,
      maxPowerMa: 100,
      extra: [],
      interfaces: [
        {
          number: 0,
          alternates: [
            {
              setting: 0,
              interfaceClass: 3,
              interfaceSubClass: 1,
              interfaceProtocol: 1,
              name: 0,
              extra: [{ type: 0x21, body: hex("11 01 00 01 22 3f 00") }],
              endpoints: [
                { address: 0x81, type: 3, sync: 0, usage: 0, maxPacketSize: 8, interval: 10, extra: [] },
              ],
            },
          ],
        },
      ],
    });
    assert.deepEqual(encodeConfiguration(result.value), KEYBOARD);
  });

  it("ignores bytes after wTotalLength and fields beyond a descriptor's defined length (USB 2.0 9.5)", () => {
    const longer = new Uint8Array(KEYBOARD.length + 5);
    longer.set(KEYBOARD);
    assert.ok(parseConfiguration(longer).ok);
    // An 8-byte endpoint descriptor: one byte the host does not know, ignored.
    const odd = hex(`09 02 1a 00 01 01 00 80 00  09 04 00 00 01 00 00 00 00  08 05 81 02 40 00 00 ee`);
    const result = parseConfiguration(odd);
    assert.ok(result.ok);
    assert.equal(result.value.interfaces[0]!.alternates[0]!.endpoints![0]!.audio, undefined);
  });

  it("reports every malformation as an error result", () => {
    assertError(parseConfiguration(new Uint8Array(0)), "truncated");
    assertError(parseConfiguration(KEYBOARD.subarray(0, 8)), "truncated");
    // wTotalLength lies: longer than the bytes given, or shorter than the header.
    assertError(parseConfiguration(KEYBOARD.subarray(0, 30)), "wTotalLength 34 exceeds the 30 bytes");
    const short = KEYBOARD.slice();
    short[2] = 5;
    assertError(parseConfiguration(short), "wTotalLength 5");
    // wTotalLength cutting a descriptor in half.
    const cut = KEYBOARD.slice();
    cut[2] = 30;
    assertError(parseConfiguration(cut), "runs past wTotalLength");
    // bLength 0 would make a naive walker loop forever.
    const zero = KEYBOARD.slice();
    zero[18] = 0;
    assertError(parseConfiguration(zero), "bLength 0");
    const one = KEYBOARD.slice();
    one[9] = 1;
    assertError(parseConfiguration(one), "bLength 1");
    // A descriptor that claims more than is left.
    const over = KEYBOARD.slice();
    over[27] = 9;
    assertError(parseConfiguration(over), "runs past");
    const wrongType = KEYBOARD.slice();
    wrongType[1] = 1;
    assertError(parseConfiguration(wrongType), "not a configuration descriptor");
    const shortHeader = KEYBOARD.slice();
    shortHeader[0] = 8;
    assertError(parseConfiguration(shortHeader), "bLength 8");
    const shortInterface = KEYBOARD.slice();
    shortInterface[9] = 8;
    assertError(parseConfiguration(shortInterface), "interface descriptor");
    const countsLie = KEYBOARD.slice();
    countsLie[13] = 2;
    assertError(parseConfiguration(countsLie), "bNumEndpoints 2 but 1");
    const interfacesLie = KEYBOARD.slice();
    interfacesLie[4] = 3;
    assertError(parseConfiguration(interfacesLie), "bNumInterfaces 3 but 1");
    assertError(
      parseConfiguration(hex("09 02 10 00 00 01 00 80 00 07 05 81 03 08 00 0a")),
      "precedes every interface",
    );
    assertError(
      parseConfiguration(hex("09 02 12 00 00 01 00 80 00 09 02 12 00 00 01 00 80 00")),
      "cannot appear inside",
    );
    assertError(
      parseConfiguration(
        hex("09 02 1b 00 01 01 00 80 00 09 04 00 00 00 00 00 00 00 09 04 00 00 00 00 00 00 00"),
      ),
      "appears twice",
    );
    assertError(parseConfiguration(hex("09 02 0a 00 00 01 00 80 00 00")), "stray byte");
  });

  it("never throws on random or mutated input", () => {
    // Seeded, so a failure reproduces.
    const random = new SeededRandom(0x2545f491);
    const next = (): number => random.u32();
    for (let round = 0; round < 5000; round++) {
      let bytes: Uint8Array;
      if (round % 2 === 0) {
        bytes = KEYBOARD.slice(0, next() % (KEYBOARD.length + 1));
        for (let flips = next() % 4; flips >= 0; flips--)
          bytes[next() % Math.max(1, bytes.length)] = next() & 0xff;
      } else {
        bytes = Uint8Array.from({ length: next() % 64 }, () => next() & 0xff);
        if (bytes.length > 1) bytes[1] = 2;
      }
      const config = parseConfiguration(bytes);
      assert.ok(config.ok || config.error.length > 0);
      const device = parseDeviceDescriptor(bytes);
      assert.ok(device.ok || device.error.length > 0);
      const text = parseString(bytes);
      assert.ok(text.ok || text.error.length > 0);
    }
  });
});

describe("parseDeviceDescriptor", () => {
  it("parses every field and rejects short or foreign descriptors", () => {
    const bytes = hex("12 01 10 01 09 00 00 40 6b 1d 01 00 19 04 03 02 01 01");
    assert.deepEqual(parseDeviceDescriptor(bytes), {
      ok: true,
      value: {
        usbVersion: 0x0110,
        deviceClass: 9,
        deviceSubClass: 0,
        deviceProtocol: 0,
        maxPacketSize0: 64,
        vendorId: 0x1d6b,
        productId: 0x0001,
        deviceVersion: 0x0419,
        manufacturer: 3,
        product: 2,
        serialNumber: 1,
        numConfigurations: 1,
      },
    });
    // The first 8 bytes are all a host reads before it knows bMaxPacketSize0.
    assertError(parseDeviceDescriptor(bytes.subarray(0, 8)), "truncated: 8 of 18");
    const small = bytes.slice();
    small[0] = 0;
    assertError(parseDeviceDescriptor(small), "bLength 0");
    const wrong = bytes.slice();
    wrong[1] = 2;
    assertError(parseDeviceDescriptor(wrong), "not a device descriptor");
  });
});

describe("string descriptors", () => {
  it("decodes UTF-16LE text and LANGIDs, and reports malformed ones", () => {
    assert.deepEqual(parseString(hex("0a 03 75 00 68 00 63 00 69 00")), { ok: true, value: "uhci" });
    assert.deepEqual(parseString(hex("0a 03 75 00 68 00 63 00 69 00 ff ff")), { ok: true, value: "uhci" });
    // An odd bLength leaves half a code unit, which is dropped.
    assert.deepEqual(parseString(hex("05 03 75 00 68")), { ok: true, value: "u" });
    assert.deepEqual(parseLanguageIds(hex("04 03 09 04")), { ok: true, value: [0x0409] });
    assertError(parseString(hex("03")), "truncated");
    assertError(parseString(hex("01 03")), "bLength 1");
    assertError(parseString(hex("0a 03 75 00")), "exceeds");
    assertError(parseString(hex("04 02 09 04")), "not a string");
  });
});
