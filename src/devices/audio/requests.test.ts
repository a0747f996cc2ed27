import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PacketStatus } from "../../usb/packet.ts";
import { SetupPacket } from "../../usb/setup-packet.ts";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import { UsbHeadset } from "./headset.ts";
import { UsbMicrophone } from "./microphone.ts";
import { RequestOutcome } from "./request-log.ts";
import { UsbSpeaker } from "./speaker.ts";
import { rateBytes, audioRequests as req, signed16, volumeBytes } from "./testing/requests.ts";
import { AudioRequest, FeatureControl } from "./uac1.ts";

const { Ack, Stall } = PacketStatus;
const { GetCur, GetMin, GetMax, GetRes, SetCur, SetRes, SetMin } = AudioRequest;

/** The microphone's feature unit is entity 2; its endpoint 0x81. */
const FU = 2;
const EP = 0x81;

function ready() {
  const device = new UsbMicrophone();
  const host = new PacketHost(device);
  host.enumerate();
  return { device, host };
}

describe("sampling frequency control (UAC1 5.2.3.2.3.1)", () => {
  it("GET_CUR reads the default (the highest rate); SET_CUR then GET_CUR round-trips every offered rate", () => {
    const { device, host } = ready();
    assert.deepEqual(host.control(req.samplingFrequency(GetCur, EP)).data, rateBytes(48000));
    for (const rate of [8000, 16000, 22050, 32000, 44100, 48000]) {
      assert.equal(host.control(req.samplingFrequency(SetCur, EP), rateBytes(rate)).status, Ack);
      const read = host.control(req.samplingFrequency(GetCur, EP));
      assert.deepEqual([read.status, read.data], [Ack, rateBytes(rate)]);
      assert.equal(device.capture.sampleRate, rate);
    }
  });

  it("STALLs a rate that is not offered, a short value, MIN/MAX/RES and pitch, changing nothing", () => {
    const { device, host } = ready();
    host.control(req.samplingFrequency(SetCur, EP), rateBytes(44100));
    assert.equal(host.control(req.samplingFrequency(SetCur, EP), rateBytes(11025)).status, Stall);
    assert.equal(host.control(req.samplingFrequency(SetCur, EP), rateBytes(96000)).status, Stall);
    const short = SetupPacket.of(0x22, SetCur, 0x0100, EP, 2);
    assert.equal(host.control(short, [0x80, 0xbb]).status, Stall);
    assert.equal(host.control(req.samplingFrequency(GetMin, EP)).status, Stall);
    assert.equal(host.control(req.samplingFrequency(GetMax, EP)).status, Stall);
    assert.equal(host.control(req.samplingFrequency(GetRes, EP)).status, Stall);
    const pitch = SetupPacket.of(0x22, SetCur, 0x0200, EP, 1);
    assert.equal(host.control(pitch, [1]).status, Stall);
    // Another endpoint, and the right endpoint with the OUT direction bit.
    assert.equal(host.control(req.samplingFrequency(SetCur, 0x01), rateBytes(8000)).status, Stall);
    assert.equal(device.capture.sampleRate, 44100);
  });

  it("survives SET_INTERFACE (Linux sets the rate after selecting the setting) but not a bus reset", () => {
    const { device, host } = ready();
    assert.equal(host.setInterface(1, 1), Ack);
    host.control(req.samplingFrequency(SetCur, EP), rateBytes(22050));
    assert.deepEqual(device.capture.format, { sampleRate: 22050, channels: 2 });
    host.setInterface(1, 0);
    host.setInterface(1, 2);
    assert.deepEqual(device.capture.format, { sampleRate: 22050, channels: 1 });
    host.enumerate();
    assert.equal(device.capture.sampleRate, 48000);
    assert.equal(device.capture.format, null);
  });
});

describe("feature unit (UAC1 5.2.2.4)", () => {
  it("answers volume GET_CUR/MIN/MAX/RES in 1/256 dB: 0 dB, −60 dB, 0 dB, 1 dB", () => {
    const { host } = ready();
    const read = (request: number) => {
      const t = host.control(req.getVolume(request, FU));
      assert.equal(t.status, Ack);
      assert.equal(t.data.length, 2);
      return signed16(t.data);
    };
    assert.deepEqual([read(GetCur), read(GetMin), read(GetMax), read(GetRes)], [0, -60 * 256, 0, 256]);
  });

  it("SET_CUR volume stores the exact value (Linux's resolution probe reads back cur − res), clamps outside the range", () => {
    const { device, host } = ready();
    assert.equal(host.control(req.setVolume(FU), volumeBytes(-256)).status, Ack);
    assert.equal(signed16(host.control(req.getVolume(GetCur, FU)).data), -256);
    assert.equal(host.control(req.setVolume(FU), volumeBytes(-1234)).status, Ack);
    assert.equal(signed16(host.control(req.getVolume(GetCur, FU)).data), -1234, "not quantised to res");
    host.control(req.setVolume(FU), volumeBytes(0x0600));
    assert.equal(signed16(host.control(req.getVolume(GetCur, FU)).data), 0, "+6 dB clamps to max");
    host.control(req.setVolume(FU), volumeBytes(-100 * 256));
    assert.equal(signed16(host.control(req.getVolume(GetCur, FU)).data), -60 * 256, "−100 dB clamps to min");
    host.control(req.setVolume(FU), volumeBytes(0x8000));
    assert.equal(signed16(host.control(req.getVolume(GetCur, FU)).data), -0x8000, "−∞ is kept");
    assert.equal(device.capture.featureUnit.state.volumeDb, Number.NEGATIVE_INFINITY);
  });

  it("mute GET_CUR / SET_CUR; mute has no MIN/MAX/RES", () => {
    const { device, host } = ready();
    assert.deepEqual(host.control(req.getMute(FU)).data, [0]);
    assert.equal(host.control(req.setMute(FU), [1]).status, Ack);
    assert.deepEqual(host.control(req.getMute(FU)).data, [1]);
    assert.equal(device.capture.featureUnit.state.muted, true);
    const getMin = req.feature(GetMin, FeatureControl.Mute, 0, FU, 1);
    assert.equal(host.control(getMin).status, Stall);
    assert.equal(host.control(req.setMute(FU), [0]).status, Ack);
    assert.equal(device.capture.featureUnit.state.muted, false);
  });

  it("STALLs each of Linux's ten SET_RES cleanly: the resolution and the level stay as they were", () => {
    const { device, host } = ready();
    host.control(req.setVolume(FU), volumeBytes(-3 * 256));
    const before = device.requests.stalled;
    for (let i = 0; i < 10; i++) {
      assert.equal(host.control(req.setVolume(FU, 0, SetRes), volumeBytes(128)).status, Stall);
    }
    assert.equal(device.requests.stalled - before, 10);
    assert.equal(signed16(host.control(req.getVolume(GetRes, FU)).data), 256);
    assert.equal(signed16(host.control(req.getVolume(GetCur, FU)).data), -3 * 256);
    assert.equal(host.control(req.setVolume(FU, 0, SetMin), volumeBytes(-256)).status, Stall);
    assert.equal(signed16(host.control(req.getVolume(GetMin, FU)).data), -60 * 256);
    // The pipe is usable straight after a stall.
    assert.equal(host.control(req.getMute(FU)).status, Ack);
    const log = device.requests.counts.get("SET_RES");
    assert.deepEqual(log, { total: 10, stalled: 10 });
  });

  it("STALLs controls the unit lacks, channels without controls, wrong sizes and directions, other entities", () => {
    const { device, host } = ready();
    assert.equal(host.control(req.feature(GetCur, FeatureControl.Bass, 0, FU, 1)).status, Stall);
    assert.equal(host.control(req.feature(GetCur, FeatureControl.AutomaticGain, 0, FU, 1)).status, Stall);
    assert.equal(
      host.control(req.getVolume(GetCur, FU, 1)).status,
      Stall,
      "no per-channel volume by default",
    );
    assert.equal(host.control(req.getMute(FU, 2)).status, Stall);
    assert.equal(host.control(req.getVolume(GetCur, FU, 3)).status, Stall, "no channel 3");
    const longVolume = req.feature(SetCur, FeatureControl.Volume, 0, FU, 3);
    assert.equal(host.control(longVolume, [0, 0, 0]).status, Stall);
    // GET_CUR code sent host-to-device.
    assert.equal(host.control(SetupPacket.of(0x21, GetCur, 0x0200, FU << 8, 2), [0, 0]).status, Stall);
    for (const entity of [0, 1, 3, 9]) {
      assert.equal(host.control(req.getVolume(GetCur, entity)).status, Stall, `entity ${entity}`);
    }
    // The right unit through the streaming interface.
    assert.equal(host.control(req.feature(GetCur, FeatureControl.Volume, 0, FU, 2, 1)).status, Stall);
    assert.equal(
      host.control(SetupPacket.of(0xa3, GetCur, 0x0200, FU << 8, 2)).status,
      Stall,
      "recipient other",
    );
    assert.equal(host.control(SetupPacket.of(0xc1, 1, 0, 0, 1)).status, Stall, "vendor request");
    assert.deepEqual(device.capture.featureUnit.state, { muted: false, volumeDb: 0, channelVolumeDb: [] });
  });

  it("per-channel volume: GET/SET on each channel, and CN 0xFF reads every channel that has the control", () => {
    const device = new UsbSpeaker({ channelVolume: true });
    const host = new PacketHost(device);
    host.enumerate();
    assert.equal(host.control(req.setVolume(FU, 2), volumeBytes(-10 * 256)).status, Ack);
    assert.equal(signed16(host.control(req.getVolume(GetCur, FU, 2)).data), -10 * 256);
    assert.equal(signed16(host.control(req.getVolume(GetMax, FU, 1)).data), 0);
    const all = host.control(req.feature(GetCur, FeatureControl.Volume, 0xff, FU, 6));
    assert.deepEqual(
      [all.status, signed16(all.data, 0), signed16(all.data, 2), signed16(all.data, 4)],
      [Ack, 0, 0, -10 * 256],
    );
    assert.equal(
      host.control(req.feature(SetCur, FeatureControl.Volume, 0xff, FU, 6), [0, 0xfe, 0, 0xff, 0, 0xfd])
        .status,
      Ack,
    );
    assert.deepEqual(device.playback.featureUnit.state, {
      muted: false,
      volumeDb: -2,
      channelVolumeDb: [-1, -3],
    });
  });

  it("the headset's two units are separate (entities 2 and 5)", () => {
    const device = new UsbHeadset();
    const host = new PacketHost(device);
    host.enumerate();
    host.control(req.setMute(5), [1]);
    host.control(req.setVolume(2), volumeBytes(-512));
    assert.deepEqual(device.capture.featureUnit.state.muted, true);
    assert.deepEqual(device.playback.featureUnit.state, { muted: false, volumeDb: -2, channelVolumeDb: [] });
    assert.equal(host.control(req.samplingFrequency(SetCur, 0x82), rateBytes(16000)).status, Ack);
    assert.equal(host.control(req.samplingFrequency(SetCur, 0x01), rateBytes(44100)).status, Ack);
    assert.deepEqual([device.capture.sampleRate, device.playback.sampleRate], [16000, 44100]);
  });
});

describe("request handling around the class requests", () => {
  it("STALLs class requests before the device is configured", () => {
    const device = new UsbMicrophone();
    const host = new PacketHost(device);
    device.reset();
    assert.equal(host.control(req.getVolume(GetCur, FU)).status, Stall);
  });

  it("logs every request with its outcome and a readable line", () => {
    const { device, host } = ready();
    host.control(req.getVolume(GetMax, FU));
    host.control(req.setVolume(FU, 0, SetRes), volumeBytes(128));
    host.control(req.samplingFrequency(SetCur, EP), rateBytes(44100));
    const [max, res, rate] = device.requests.entries;
    assert.deepEqual([max?.outcome, max?.data], [RequestOutcome.Data, [0, 0]]);
    assert.equal(max?.text, "GET_MAX volume ch0 → entity 2 (interface 0): data");
    assert.equal(res?.text, "SET_RES volume ch0 → entity 2 (interface 0): stall");
    assert.equal(rate?.text, "SET_CUR sampling-frequency → endpoint 0x81: ack");
    assert.deepEqual(rate?.data, rateBytes(44100));
    assert.deepEqual(
      [device.stats.classRequests, device.stats.stalledRequests, device.requests.total],
      [3, 1, 3],
    );
  });
});
