import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StreamDirection } from "../devices/audio/audio-model.ts";
import { UsbHeadset } from "../devices/audio/headset.ts";
import { AsSubtype, FORMAT_TYPE_I, writeSampleFrequency } from "../devices/audio/uac1.ts";
import { DescriptorType, EndpointType } from "../usb/constants.ts";
import type { ConfigurationModel } from "../usb/descriptors/model.ts";
import { parseConfiguration } from "../usb/descriptors/parse.ts";
import { PacketHost } from "../usb/testing/packet-host.ts";
import { streamingAlternate } from "./uac1-alternate.ts";

/** The configuration a host reads from a headset (capture and playback), parsed. */
function headsetConfiguration(): ConfigurationModel<number> {
  const host = new PacketHost(new UsbHeadset());
  host.enumerate();
  const parsed = parseConfiguration(host.configurationDescriptor());
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
  return parsed.value;
}

/** A one-interface configuration whose alternate 1 streams from `endpoint` in a Type I format. */
function oneFormat(endpoint: number, channels: number, rates: readonly number[], continuous = false) {
  const freqs = rates.flatMap((hz) => writeSampleFrequency(hz, [0, 0, 0]));
  const body = Uint8Array.of(
    AsSubtype.FormatType,
    FORMAT_TYPE_I,
    channels,
    2,
    16,
    continuous ? 0 : rates.length,
    ...freqs,
  );
  const config: ConfigurationModel<number> = {
    maxPowerMa: 100,
    interfaces: [
      {
        number: 3,
        alternates: [
          { interfaceClass: 1 },
          {
            setting: 1,
            interfaceClass: 1,
            extra: [{ type: DescriptorType.CsInterface, body }],
            endpoints: [
              { address: endpoint, type: EndpointType.Isochronous, maxPacketSize: 192, interval: 1 },
            ],
          },
        ],
      },
    ],
  };
  return config;
}

describe("streamingAlternate: picking an AudioStreaming alternate from descriptors (UAC1 4.5, Frmts 2.2.5)", () => {
  it("finds the headset's capture (IN) and playback (OUT) alternates by direction, channels and rate", () => {
    const config = headsetConfiguration();
    const capture = streamingAlternate(config, StreamDirection.Capture, 1, 48_000);
    assert.ok((capture.endpoint & 0x80) !== 0, "capture streams from an IN endpoint");
    const playback = streamingAlternate(config, StreamDirection.Playback, 2, 44_100);
    assert.equal(playback.endpoint & 0x80, 0, "playback streams to an OUT endpoint");
    assert.notEqual(playback.interfaceNumber, capture.interfaceNumber);
    assert.ok(capture.alternate > 0 && playback.alternate > 0, "alternate 0 has no endpoint (UAC1 4.5.1)");
  });

  it("refuses a rate, a channel count or a direction the device does not offer", () => {
    const config = oneFormat(0x81, 2, [44_100, 48_000]);
    assert.deepEqual(streamingAlternate(config, StreamDirection.Capture, 2, 48_000), {
      interfaceNumber: 3,
      alternate: 1,
      endpoint: 0x81,
    });
    assert.throws(() => streamingAlternate(config, StreamDirection.Capture, 2, 32_000), /32000 Hz/);
    assert.throws(() => streamingAlternate(config, StreamDirection.Capture, 1, 48_000), /1 16-bit channels/);
    assert.throws(() => streamingAlternate(config, StreamDirection.Playback, 2, 48_000), /playback/);
  });

  it("bSamFreqType 0 is a continuous range: tLowerSamFreq to tUpperSamFreq (Frmts table 2-2)", () => {
    const config = oneFormat(0x02, 1, [8000, 32_000], true);
    assert.equal(streamingAlternate(config, StreamDirection.Playback, 1, 22_050).endpoint, 0x02);
    assert.throws(() => streamingAlternate(config, StreamDirection.Playback, 1, 44_100));
  });

  it("a truncated rate list offers only the rates it holds whole", () => {
    const config = oneFormat(0x81, 2, [44_100, 48_000]);
    const format = config.interfaces[0]!.alternates[1]!.extra![0]!;
    const cut = { ...format, body: format.body.subarray(0, format.body.length - 1) };
    const truncated: ConfigurationModel<number> = {
      ...config,
      interfaces: [
        {
          ...config.interfaces[0]!,
          alternates: [
            config.interfaces[0]!.alternates[0]!,
            { ...config.interfaces[0]!.alternates[1]!, extra: [cut] },
          ],
        },
      ],
    };
    assert.equal(streamingAlternate(truncated, StreamDirection.Capture, 2, 44_100).alternate, 1);
    assert.throws(() => streamingAlternate(truncated, StreamDirection.Capture, 2, 48_000));
  });
});
