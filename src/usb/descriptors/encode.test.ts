import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EndpointType } from "../constants.ts";
import {
  DescriptorModelError,
  encodeConfiguration,
  encodeDescriptors,
  encodeDeviceDescriptor,
} from "./encode.ts";
import { hidDescriptor } from "./hid.ts";
import { type DeviceModel, EndpointDirection, IsoSync } from "./model.ts";
import { parseConfiguration, parseDeviceDescriptor } from "./parse.ts";
import { parseLanguageIds, parseString } from "./strings.ts";

/** Bytes from a hex dump ("12 01 10 01 …"). */
function hex(dump: string): Uint8Array {
  return Uint8Array.from(dump.trim().split(/\s+/), (byte) => Number.parseInt(byte, 16));
}

/** The boot keyboard report descriptor of HID 1.11 Appendix B.1 / E.6 (63 bytes). */
const BOOT_KEYBOARD_REPORT = hex(`
  05 01 09 06 a1 01 05 07 19 e0 29 e7 15 00 25 01 75 01 95 08 81 02 95 01 75 08 81 01
  95 05 75 01 05 08 19 01 29 05 91 02 95 01 75 03 91 01 95 06 75 08 15 00 25 65 05 07
  19 00 29 65 81 00 c0`);

describe("descriptor encoder against real byte dumps", () => {
  it("encodes the Linux USB 1.1 root hub (1d6b:0001) as lsusb shows it", () => {
    // String indexes run backwards on this device (3, 2, 1): the numeric model keeps them as they are.
    const device = encodeDeviceDescriptor(
      {
        usbVersion: 0x0110,
        deviceClass: 9,
        maxPacketSize0: 64,
        vendorId: 0x1d6b,
        productId: 0x0001,
        deviceVersion: 0x0419,
        manufacturer: 3,
        product: 2,
        serialNumber: 1,
      },
      1,
    );
    assert.deepEqual(device, hex("12 01 10 01 09 00 00 40 6b 1d 01 00 19 04 03 02 01 01"));

    const config = encodeConfiguration({
      selfPowered: true,
      remoteWakeup: true,
      maxPowerMa: 0,
      interfaces: [
        {
          alternates: [
            {
              interfaceClass: 9,
              endpoints: [
                {
                  address: EndpointDirection.In | 1,
                  type: EndpointType.Interrupt,
                  maxPacketSize: 2,
                  interval: 255,
                },
              ],
            },
          ],
        },
      ],
    });
    assert.deepEqual(
      config,
      hex(`09 02 19 00 01 01 00 e0 00
           09 04 00 00 01 09 00 00 00
           07 05 81 03 02 00 ff`),
    );
  });

  it("encodes the boot keyboard layout of HID 1.11 Appendix E (IDs and string indexes are ours)", () => {
    const device = encodeDeviceDescriptor(
      {
        maxPacketSize0: 8,
        vendorId: 0x1234,
        productId: 0x5678,
        deviceVersion: 0x0100,
        manufacturer: 1,
        product: 2,
      },
      1,
    );
    assert.deepEqual(device, hex("12 01 10 01 00 00 00 08 34 12 78 56 00 01 01 02 00 01"));

    const config = encodeConfiguration({
      remoteWakeup: true,
      maxPowerMa: 100,
      interfaces: [
        {
          alternates: [
            {
              interfaceClass: 3,
              interfaceSubClass: 1,
              interfaceProtocol: 1,
              extra: [hidDescriptor({ reportDescriptor: BOOT_KEYBOARD_REPORT })],
              endpoints: [{ address: 0x81, type: EndpointType.Interrupt, maxPacketSize: 8, interval: 10 }],
            },
          ],
        },
      ],
    });
    assert.deepEqual(
      config,
      hex(`09 02 22 00 01 01 00 a0 32
           09 04 00 00 01 03 01 01 00
           09 21 11 01 00 01 22 3f 00
           07 05 81 03 08 00 0a`),
    );
  });
});

/** A UAC1-shaped speaker: class-specific descriptors, alternate settings, a 9-byte iso endpoint. */
const SPEAKER: DeviceModel = {
  maxPacketSize0: 64,
  vendorId: 0x46f4,
  productId: 0x0002,
  manufacturer: "uhci",
  product: "Test Speaker",
  configurations: [
    {
      name: "uhci", // the same text as the manufacturer: one string index for both
      maxPowerMa: 100,
      interfaces: [
        {
          alternates: [
            {
              interfaceClass: 1,
              interfaceSubClass: 1,
              extra: [{ type: 0x24, body: hex("01 00 01 09 00 01 01") }],
            },
          ],
        },
        {
          alternates: [
            { interfaceClass: 1, interfaceSubClass: 2 },
            {
              interfaceClass: 1,
              interfaceSubClass: 2,
              name: "Playback",
              extra: [{ type: 0x24, body: hex("01 01 01 01 00") }],
              endpoints: [
                {
                  address: 0x01,
                  type: EndpointType.Isochronous,
                  sync: IsoSync.Adaptive,
                  maxPacketSize: 192,
                  interval: 1,
                  audio: { refresh: 0, synchAddress: 0 },
                  extra: [{ type: 0x25, body: hex("01 00 00 00 00") }],
                },
              ],
            },
          ],
        },
      ],
    },
  ],
};

const SPEAKER_CONFIG = hex(`
  09 02 44 00 02 01 01 80 32
  09 04 00 00 00 01 01 00 00
  09 24 01 00 01 09 00 01 01
  09 04 01 00 00 01 02 00 00
  09 04 01 01 01 01 02 00 03
  07 24 01 01 01 01 00
  09 05 01 09 c0 00 01 00 00
  07 25 01 00 00 00 00`);

describe("encodeDescriptors", () => {
  it("computes every length and count and assigns string indexes", () => {
    const encoded = encodeDescriptors(SPEAKER);
    assert.deepEqual(encoded.configurations[0], SPEAKER_CONFIG);
    assert.deepEqual(encoded.device, hex("12 01 10 01 00 00 00 40 f4 46 02 00 00 01 01 02 00 01"));
    assert.equal(encoded.strings.length, 4);
    assert.deepEqual(parseLanguageIds(encoded.strings[0]!), { ok: true, value: [0x0409] });
    assert.deepEqual(
      encoded.strings.slice(1).map((s) => parseString(s)),
      ["uhci", "Test Speaker", "Playback"].map((value) => ({ ok: true, value })),
    );
    assert.deepEqual(
      encoded.strings[2],
      hex("1a 03 54 00 65 00 73 00 74 00 20 00 53 00 70 00 65 00 61 00 6b 00 65 00 72 00"),
    );
  });

  it("round-trips: parse(encode(model)) gives the indexed model, and encoding that gives the same bytes", () => {
    const encoded = encodeDescriptors(SPEAKER);
    const device = parseDeviceDescriptor(encoded.device);
    assert.ok(device.ok);
    assert.equal(device.value.numConfigurations, 1);
    assert.equal(device.value.manufacturer, 1);
    assert.equal(device.value.product, 2);
    assert.equal(device.value.serialNumber, 0);
    assert.deepEqual(encodeDeviceDescriptor(device.value, device.value.numConfigurations), encoded.device);

    const config = parseConfiguration(encoded.configurations[0]!);
    assert.ok(config.ok, config.ok ? "" : config.error);
    const c = config.value;
    assert.equal(c.value, 1);
    assert.equal(c.name, 1);
    assert.equal(c.maxPowerMa, 100);
    assert.equal(c.interfaces.length, 2);
    const playback = c.interfaces[1]!.alternates[1]!;
    assert.equal(playback.setting, 1);
    assert.equal(playback.name, 3);
    assert.deepEqual(playback.extra, [{ type: 0x24, body: hex("01 01 01 01 00") }]);
    const ep = playback.endpoints![0]!;
    assert.equal(ep.type, EndpointType.Isochronous);
    assert.equal(ep.sync, IsoSync.Adaptive);
    assert.equal(ep.maxPacketSize, 192);
    assert.deepEqual(ep.audio, { refresh: 0, synchAddress: 0 });
    assert.deepEqual(ep.extra, [{ type: 0x25, body: hex("01 00 00 00 00") }]);
    assert.deepEqual(encodeConfiguration(c), encoded.configurations[0]);
    assert.deepEqual(c.interfaces[1]!.alternates[0]!.endpoints, []);
  });

  it("rejects models a host could not use, when the device is built", () => {
    const base = SPEAKER.configurations[0]!;
    const bad = (change: Partial<DeviceModel>): DeviceModel => ({ ...SPEAKER, ...change });
    assert.throws(() => encodeDescriptors(bad({ maxPacketSize0: 12 })), DescriptorModelError);
    assert.throws(() => encodeDescriptors(bad({ vendorId: 0x10000 })), DescriptorModelError);
    assert.throws(() => encodeDescriptors(bad({ configurations: [] })), DescriptorModelError);
    assert.throws(
      () => encodeDescriptors(bad({ configurations: [base, { ...base, value: 1 }] })),
      DescriptorModelError,
    );
    assert.throws(
      () => encodeDescriptors(bad({ configurations: [{ ...base, value: 0 }] })),
      DescriptorModelError,
    );
    assert.throws(() => encodeDescriptors(bad({ product: "x".repeat(127) })), RangeError);
    const withInterfaces = (interfaces: DeviceModel["configurations"][number]["interfaces"]): DeviceModel =>
      bad({ configurations: [{ maxPowerMa: 0, interfaces }] });
    const ep = (address: number) => ({ address, type: EndpointType.Bulk, maxPacketSize: 64, interval: 0 });
    // Endpoint 0 is the control pipe, not a descriptor; 0x10 is no endpoint number.
    assert.throws(() =>
      encodeDescriptors(withInterfaces([{ alternates: [{ interfaceClass: 0, endpoints: [ep(0x80)] }] }])),
    );
    assert.throws(() =>
      encodeDescriptors(withInterfaces([{ alternates: [{ interfaceClass: 0, endpoints: [ep(0x10)] }] }])),
    );
    // Two interfaces active at once cannot share an endpoint.
    assert.throws(() =>
      encodeDescriptors(
        withInterfaces([
          { alternates: [{ interfaceClass: 0, endpoints: [ep(0x81)] }] },
          { alternates: [{ interfaceClass: 0, endpoints: [ep(0x81)] }] },
        ]),
      ),
    );
    assert.throws(() => encodeDescriptors(withInterfaces([{ alternates: [] }])));
    assert.throws(() =>
      encodeDescriptors(withInterfaces([{ alternates: [{ interfaceClass: 0, setting: 1 }] }])),
    );
    // An extra descriptor cannot pose as part of the standard tree, nor overflow bLength.
    assert.throws(() =>
      encodeDescriptors(
        withInterfaces([
          { alternates: [{ interfaceClass: 0, extra: [{ type: 4, body: new Uint8Array(7) }] }] },
        ]),
      ),
    );
    assert.throws(() =>
      encodeDescriptors(
        withInterfaces([
          { alternates: [{ interfaceClass: 0, extra: [{ type: 0x24, body: new Uint8Array(254) }] }] },
        ]),
      ),
    );
  });

  it("shares one index between equal strings and leaves absent strings at 0", () => {
    const encoded = encodeDescriptors({
      maxPacketSize0: 8,
      vendorId: 1,
      productId: 2,
      product: "same",
      serialNumber: "same",
      configurations: [{ maxPowerMa: 2, interfaces: [] }],
      languages: [0x0409, 0x0407],
    });
    assert.deepEqual(Array.from(encoded.device.subarray(14, 17)), [0, 1, 1]);
    assert.deepEqual(parseLanguageIds(encoded.strings[0]!), { ok: true, value: [0x0409, 0x0407] });
    assert.equal(encoded.strings.length, 2);
  });
});
