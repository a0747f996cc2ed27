import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DescriptorType, EndpointType } from "../../usb/constants.ts";
import type { ConfigurationModel, ExtraDescriptor } from "../../usb/descriptors/model.ts";
import { IsoSync } from "../../usb/descriptors/model.ts";
import { parseConfiguration, parseDeviceDescriptor } from "../../usb/descriptors/parse.ts";
import { SetupPacket } from "../../usb/setup-packet.ts";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import type { UsbAudioDevice } from "./audio-device.ts";
import { UsbHeadset } from "./headset.ts";
import { UsbMicrophone } from "./microphone.ts";
import { UsbSpeaker } from "./speaker.ts";
import { AcSubtype, AsSubtype, EP_GENERAL, TerminalType } from "./uac1.ts";

/** Reads the descriptors as a host would, over the control pipe, and parses them. */
function readConfig(device: UsbAudioDevice): { config: ConfigurationModel<number>; raw: Uint8Array } {
  const host = new PacketHost(device);
  host.enumerate();
  const raw = host.configurationDescriptor();
  const parsed = parseConfiguration(raw);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
  return { config: parsed.value, raw };
}

const u16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);
const u24 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);

interface Entity {
  readonly subtype: number;
  readonly id: number;
  readonly source: number;
  readonly terminalType: number;
  readonly body: Uint8Array;
}

/**
 * Walks the AudioControl interface the way a UAC1 host driver does: the header first, then units and
 * terminals by ID; checks each class-specific descriptor's length against its subtype's layout.
 */
function walkControl(extra: readonly ExtraDescriptor[]): {
  header: Uint8Array;
  entities: Map<number, Entity>;
} {
  const [header, ...rest] = extra;
  assert.ok(header !== undefined);
  assert.equal(header.type, DescriptorType.CsInterface);
  assert.equal(header.body[0], AcSubtype.Header);
  const inCollection = header.body[5]!;
  assert.equal(2 + header.body.length, 8 + inCollection, "header bLength = 8 + bInCollection (UAC1 4.3.2)");
  assert.equal(u16(header.body, 1), 0x0100, "bcdADC 1.0");
  const total = extra.reduce((sum, d) => sum + 2 + d.body.length, 0);
  assert.equal(u16(header.body, 3), total, "wTotalLength covers the header, units and terminals");
  const entities = new Map<number, Entity>();
  for (const d of rest) {
    assert.equal(d.type, DescriptorType.CsInterface);
    const b = d.body;
    const length = 2 + b.length;
    switch (b[0]) {
      case AcSubtype.InputTerminal:
        assert.equal(length, 12, "input terminal bLength (UAC1 4.3.2.1)");
        entities.set(b[1]!, { subtype: b[0], id: b[1]!, source: 0, terminalType: u16(b, 2), body: b });
        break;
      case AcSubtype.OutputTerminal:
        assert.equal(length, 9, "output terminal bLength (UAC1 4.3.2.2)");
        entities.set(b[1]!, { subtype: b[0], id: b[1]!, source: b[5]!, terminalType: u16(b, 2), body: b });
        break;
      case AcSubtype.FeatureUnit: {
        const controlSize = b[3]!;
        assert.equal(controlSize, 1);
        // bLength = 7 + (ch + 1) × n (UAC1 4.3.2.5).
        assert.equal((length - 7) % controlSize, 0);
        entities.set(b[1]!, { subtype: b[0], id: b[1]!, source: b[2]!, terminalType: 0, body: b });
        break;
      }
      default:
        assert.fail(`unexpected AC descriptor subtype ${b[0]}`);
    }
  }
  return { header: header.body, entities };
}

interface StreamPath {
  readonly interfaceNumber: number;
  readonly terminals: [number, number];
  readonly endpoint: number;
  readonly channels: number[];
  readonly rates: number[];
}

/** From an AS interface's terminal link, follow the chain through the feature unit to the far terminal. */
function walkStreams(
  config: ConfigurationModel<number>,
  entities: Map<number, Entity>,
  header: Uint8Array,
): StreamPath[] {
  const inCollection = header[5]!;
  const paths: StreamPath[] = [];
  for (let i = 0; i < inCollection; i++) {
    const number = header[6 + i]!;
    const iface = config.interfaces.find((f) => f.number === number);
    assert.ok(iface !== undefined, `baInterfaceNr ${number} exists`);
    const [zero, ...streaming] = iface.alternates;
    assert.equal(zero?.setting, 0);
    assert.equal(zero?.interfaceSubClass, 2);
    assert.deepEqual(zero?.endpoints, [], "alternate setting 0 has no endpoint (zero bandwidth)");
    const channels: number[] = [];
    let rates: number[] = [];
    let endpoint = -1;
    let terminals: [number, number] = [0, 0];
    for (const alt of streaming) {
      assert.equal(alt.interfaceClass, 1);
      assert.equal(alt.interfaceSubClass, 2);
      const [general, format] = alt.extra ?? [];
      assert.ok(general !== undefined && format !== undefined);
      assert.deepEqual(
        [general.type, general.body[0], 2 + general.body.length],
        [0x24, AsSubtype.General, 7],
      );
      assert.equal(u16(general.body, 3), 1, "wFormatTag PCM");
      const fb = format.body;
      assert.deepEqual([format.type, fb[0], fb[1]], [0x24, AsSubtype.FormatType, 1], "FORMAT_TYPE I");
      const count = fb[5]!;
      assert.equal(2 + fb.length, 8 + 3 * count, "format type I bLength = 8 + 3n");
      assert.deepEqual([fb[3], fb[4]], [2, 16], "2-byte subframes, 16 bits");
      channels.push(fb[2]!);
      rates = Array.from({ length: count }, (_, k) => u24(fb, 6 + 3 * k));
      const ep = alt.endpoints?.[0];
      assert.ok(ep !== undefined && alt.endpoints?.length === 1);
      assert.equal(ep.type, EndpointType.Isochronous);
      assert.deepEqual(ep.audio, { refresh: 0, synchAddress: 0 }, "9-byte audio endpoint (UAC1 4.6.1.1)");
      assert.equal(ep.interval, 1);
      assert.equal(ep.maxPacketSize, (48 + 1) * 2 * fb[2]!);
      const cs = ep.extra?.[0];
      assert.ok(cs !== undefined);
      assert.deepEqual(
        [cs.type, 2 + cs.body.length, cs.body[0], cs.body[1]],
        [DescriptorType.CsEndpoint, 7, EP_GENERAL, 0x01],
        "CS endpoint advertising the sampling frequency control (UAC1 4.6.1.2)",
      );
      endpoint = ep.address;
      // Follow the terminal link through the feature unit.
      const link = entities.get(general.body[1]!);
      assert.ok(link !== undefined, "bTerminalLink names a terminal");
      assert.equal(link.terminalType, TerminalType.UsbStreaming);
      if ((ep.address & 0x80) !== 0) {
        assert.equal(ep.sync, IsoSync.Synchronous, "capture: synchronous");
        assert.equal(link.subtype, AcSubtype.OutputTerminal);
        const fu = entities.get(link.source);
        assert.equal(fu?.subtype, AcSubtype.FeatureUnit);
        const it = entities.get(fu!.source);
        assert.equal(it?.subtype, AcSubtype.InputTerminal);
        terminals = [it!.terminalType, link.terminalType];
      } else {
        assert.equal(ep.sync, IsoSync.Adaptive, "playback: adaptive");
        assert.equal(link.subtype, AcSubtype.InputTerminal);
        const fu = [...entities.values()].find(
          (e) => e.subtype === AcSubtype.FeatureUnit && e.source === link.id,
        );
        assert.ok(fu !== undefined);
        const ot = [...entities.values()].find(
          (e) => e.subtype === AcSubtype.OutputTerminal && e.source === fu.id,
        );
        assert.ok(ot !== undefined);
        terminals = [link.terminalType, ot.terminalType];
      }
    }
    paths.push({ interfaceNumber: number, terminals, endpoint, channels, rates });
  }
  return paths;
}

const ALL_RATES = [8000, 16000, 22050, 32000, 44100, 48000];

describe("UAC1 descriptors", () => {
  it("microphone: AC header → microphone IT → FU → USB-streaming OT ← AS interface 1, IN 0x81", () => {
    const device = new UsbMicrophone();
    const host = new PacketHost(device);
    const dev = host.control(SetupPacket.of(0x80, 6, 0x0100, 0, 18));
    const parsed = parseDeviceDescriptor(Uint8Array.from(dev.data));
    assert.ok(parsed.ok);
    assert.deepEqual(
      [parsed.value.deviceClass, parsed.value.maxPacketSize0, parsed.value.usbVersion],
      [0, 64, 0x0110],
    );
    const { config } = readConfig(device);
    const control = config.interfaces[0]!.alternates[0]!;
    assert.deepEqual(
      [control.interfaceClass, control.interfaceSubClass, control.endpoints?.length],
      [1, 1, 0],
    );
    const { header, entities } = walkControl(control.extra ?? []);
    assert.equal(entities.size, 3);
    const fu = [...entities.values()].find((e) => e.subtype === AcSubtype.FeatureUnit)!;
    // Master: mute (bit 0) + volume (bit 1); each of the two channels: none.
    assert.deepEqual(Array.from(fu.body.subarray(4, 7)), [0x03, 0x00, 0x00]);
    const it = [...entities.values()].find((e) => e.subtype === AcSubtype.InputTerminal)!;
    assert.deepEqual([it.body[5], u16(it.body, 6)], [2, 0x0003], "stereo cluster, L + R");
    assert.deepEqual(walkStreams(config, entities, header), [
      {
        interfaceNumber: 1,
        terminals: [TerminalType.Microphone, TerminalType.UsbStreaming],
        endpoint: 0x81,
        channels: [2, 1],
        rates: ALL_RATES,
      },
    ]);
  });

  it("speaker: USB-streaming IT → FU → speaker OT, AS interface 1, OUT 0x01", () => {
    const { config } = readConfig(new UsbSpeaker());
    const { header, entities } = walkControl(config.interfaces[0]!.alternates[0]!.extra ?? []);
    assert.deepEqual(walkStreams(config, entities, header), [
      {
        interfaceNumber: 1,
        terminals: [TerminalType.UsbStreaming, TerminalType.Speaker],
        endpoint: 0x01,
        channels: [2, 1],
        rates: ALL_RATES,
      },
    ]);
  });

  it("headset: two paths with unique entity IDs, headphones OUT 0x01 and microphone IN 0x82", () => {
    const { config } = readConfig(new UsbHeadset());
    assert.equal(config.interfaces.length, 3);
    const { header, entities } = walkControl(config.interfaces[0]!.alternates[0]!.extra ?? []);
    assert.equal(entities.size, 6);
    assert.deepEqual(
      walkStreams(config, entities, header).map((p) => [p.interfaceNumber, p.endpoint, p.terminals]),
      [
        [1, 0x01, [TerminalType.UsbStreaming, TerminalType.Headphones]],
        [2, 0x82, [TerminalType.Microphone, TerminalType.UsbStreaming]],
      ],
    );
  });

  it("options shape the tree: rates, one mono setting, per-channel volume", () => {
    const device = new UsbMicrophone({ sampleRates: [48000, 16000], channels: [1], channelVolume: true });
    const { config } = readConfig(device);
    const { header, entities } = walkControl(config.interfaces[0]!.alternates[0]!.extra ?? []);
    const [path] = walkStreams(config, entities, header);
    assert.deepEqual([path?.channels, path?.rates], [[1], [16000, 48000]]);
    const fu = [...entities.values()].find((e) => e.subtype === AcSubtype.FeatureUnit)!;
    assert.deepEqual(
      Array.from(fu.body.subarray(4, 6)),
      [0x03, 0x02],
      "master mute+volume, channel 1 volume",
    );
    const it = [...entities.values()].find((e) => e.subtype === AcSubtype.InputTerminal)!;
    assert.deepEqual([it.body[5], u16(it.body, 6)], [1, 0], "mono cluster");
  });

  it("a mono microphone's configuration, byte for byte", () => {
    const { raw } = readConfig(new UsbMicrophone({ channels: [1] }));
    const hex = (s: string) =>
      s
        .split(/\s+/)
        .filter(Boolean)
        .map((b) => Number.parseInt(b, 16));
    assert.deepEqual(
      Array.from(raw),
      hex(`
        09 02 7c 00 02 01 00 80 32
        09 04 00 00 00 01 01 00 00
        09 24 01 00 01 27 00 01 01
        0c 24 02 01 01 02 00 01 00 00 00 00
        09 24 06 02 01 01 03 00 00
        09 24 03 03 01 01 00 02 00
        09 04 01 00 00 01 02 00 00
        09 04 01 01 01 01 02 00 00
        07 24 01 03 01 01 00
        1a 24 02 01 01 02 10 06 40 1f 00 80 3e 00 22 56 00 00 7d 00 44 ac 00 80 bb 00
        09 05 81 0d 62 00 01 00 00
        07 25 01 01 00 00 00`),
    );
  });

  it("refuses options a host could not use", () => {
    assert.throws(() => new UsbMicrophone({ sampleRates: [] }), RangeError);
    assert.throws(() => new UsbMicrophone({ sampleRates: [44100.5] }), RangeError);
    assert.throws(() => new UsbMicrophone({ channels: [3 as 2] }), RangeError);
    assert.throws(() => new UsbMicrophone({ channels: [2, 2] }), RangeError);
    assert.throws(() => new UsbMicrophone({ defaultSampleRate: 11025 }), RangeError);
    assert.throws(() => new UsbSpeaker({ volume: { minDb: 0, maxDb: -10, resolutionDb: 1 } }), RangeError);
    // 384 kHz stereo would need 1540-byte packets: more than an iso endpoint moves (USB 2.0 5.6.3).
    assert.throws(() => new UsbSpeaker({ sampleRates: [384000] }), RangeError);
  });
});
