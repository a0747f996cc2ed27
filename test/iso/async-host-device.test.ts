/**
 * The async host device seen from the guest: it enumerates through the schedule like any device, and
 * answers data requests later, timed like a real host (first iso request of a stream ~10 frames out,
 * the rest one per frame), honouring cancellation.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AsyncHostDevice } from "../../src/devices/async-host/async-host-device.ts";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { AsyncHostEndpoint, AsyncHostInterface } from "../../src/devices/async-host/default-model.ts";
import { EndpointType } from "../../src/usb/constants.ts";
import { parseConfiguration, parseDeviceDescriptor } from "../../src/usb/descriptors/parse.ts";
import { qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "../uhci/helpers/schedule.ts";
import { Intr, PID, Reg, Sts } from "../uhci/helpers/uhci-spec.ts";
import {
  advanceTo,
  asyncSetup,
  DEVICE_ADDRESS,
  ISO_IN_EP,
  ISO_OUT_EP,
  PACKET,
  placeInFrame,
  writeIsoTd,
} from "./helpers/async-setup.ts";
import { controlTransfer, enumerate, useControlSchedule } from "./helpers/control.ts";
import { IsoLayout, IsoRig, isoBuf, isoTd } from "./helpers/iso-rig.ts";

/** Iso IN TDs in the `count` frames from `ahead` on; returns when each is asked. */
function isoInRun(s: { rig: IsoRig }, count: number, ahead = 1, first = 0): number[] {
  const asked: number[] = [];
  for (let k = 0; k < count; k++) {
    writeIsoTd(s.rig, isoTd(first + k), { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(first + k) });
    asked.push(placeInFrame(s.rig, isoTd(first + k), ahead + k));
  }
  return asked;
}

/** Records when each completion came. */
function completionTimes(s: ReturnType<typeof asyncSetup>): number[] {
  const times: number[] = [];
  s.dev.onCompleted = () => times.push(s.rig.clock.now());
  return times;
}

describe("AsyncHostDevice: enumeration through the schedule", () => {
  it("serves its descriptors and takes SET_ADDRESS, SET_CONFIGURATION and SET_INTERFACE", () => {
    const rig = new IsoRig();
    const dev = new AsyncHostDevice({ clock: rig.clock });
    rig.plug(0, dev);
    useControlSchedule(rig);
    rig.start();
    const { device, configuration } = enumerate(rig, 9, [[AsyncHostInterface.Iso, 1]]);
    const parsedDevice = parseDeviceDescriptor(device);
    assert.ok(parsedDevice.ok);
    assert.equal(parsedDevice.value.vendorId, 0x1209);
    const parsed = parseConfiguration(configuration);
    assert.ok(parsed.ok);
    const streaming = parsed.value.interfaces[0]!.alternates[1]!;
    assert.deepEqual(
      streaming.endpoints?.map((e) => [e.address, e.type, e.maxPacketSize]),
      [
        [AsyncHostEndpoint.IsoIn, EndpointType.Isochronous, PACKET],
        [AsyncHostEndpoint.IsoOut, EndpointType.Isochronous, PACKET],
      ],
    );
    assert.equal(dev.address, 9);
    assert.equal(dev.configuration, 1);
    assert.equal(dev.alternateSettingOf(AsyncHostInterface.Iso), 1);
    // GET_INTERFACE through the pipe too.
    const alt = controlTransfer(rig, 9, { requestType: 0x81, request: 10, value: 0, index: 0, length: 1 });
    assert.deepEqual([...alt], [1]);
  });
});

describe("AsyncHostDevice: timing like a real host", () => {
  it("the first iso request completes 10 frames out, later ones one frame apart", () => {
    const s = asyncSetup();
    const times = completionTimes(s);
    const asked = isoInRun(s, 5);
    advanceTo(s.rig, asked[4]! + 20);
    assert.deepEqual(
      times,
      asked.map((_, k) => asked[0]! + 10 + k),
    );
    assert.equal(s.dev.streamStarts, 1);
  });

  it("a stream that pauses longer than its lookahead restarts and pays the 10-frame delay again", () => {
    const s = asyncSetup();
    const times = completionTimes(s);
    const first = isoInRun(s, 2, 1, 0);
    const later = isoInRun(s, 2, 40, 2);
    advanceTo(s.rig, later[1]! + 20);
    assert.equal(s.dev.streamStarts, 2);
    assert.deepEqual(times, [first[0]! + 10, first[0]! + 11, later[0]! + 10, later[0]! + 11]);
  });

  it("jitter is seeded, bounded, and never reorders an endpoint's completions", () => {
    const run = (seed: number) => {
      const s = asyncSetup({ jitterMs: 3, seed });
      const times = completionTimes(s);
      const asked = isoInRun(s, 30);
      advanceTo(s.rig, asked[29]! + 20);
      // Every buffer still holds the packet of its own TD: completions came in request order.
      for (let k = 0; k < 30; k++) assert.equal(CounterSource.check(s.rig.ram.bytes, isoBuf(k), PACKET), k);
      return { times, asked };
    };
    const a = run(11);
    assert.deepEqual(run(11).times, a.times, "same seed, same run");
    assert.notDeepEqual(run(12).times, a.times);
    for (let k = 0; k < 30; k++) {
      const slot = a.asked[0]! + 10 + k;
      assert.ok(a.times[k]! >= slot, "never before its host frame");
      assert.ok(
        a.times[k]! <= slot + 3 || a.times[k] === a.times[k - 1],
        "at most jitterMs late, or held by its predecessor",
      );
      if (k > 0) assert.ok(a.times[k]! >= a.times[k - 1]!);
    }
  });

  it("IN and OUT streams are independent and each keeps its order", () => {
    const s = asyncSetup({ jitterMs: 2, seed: 3 });
    for (let k = 0; k < 8; k++) {
      const out = isoTd(100 + k);
      s.rig.fill(isoBuf(100 + k), PACKET, k);
      writeIsoTd(s.rig, out, { pid: PID.OUT, endpoint: ISO_OUT_EP, buffer: isoBuf(100 + k) });
      writeIsoTd(s.rig, isoTd(k), { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(k) });
      writeTd(s.rig.ram, isoTd(k), {
        link: tdLink(out),
        pid: PID.IN,
        devAddr: DEVICE_ADDRESS,
        endpoint: ISO_IN_EP,
        maxLen: PACKET,
        buffer: isoBuf(k),
        ios: true,
      });
      placeInFrame(s.rig, isoTd(k), 1 + k);
    }
    s.rig.advance(30);
    assert.equal(s.dev.stats.completed, 16);
    assert.deepEqual(
      s.sink.packets.map((p) => p[0]),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
    for (let k = 0; k < 8; k++) assert.equal(CounterSource.check(s.rig.ram.bytes, isoBuf(k), PACKET), k);
  });
});

describe("AsyncHostDevice: cancellation and endpoint changes", () => {
  it("a cancelled request never completes and never reaches the source; the others do", () => {
    // TD 1 of 3 is taken back by the guest (Active cleared, then met again: the controller cancels).
    const s = asyncSetup();
    s.rig.fillFrameList(TERM);
    const asked = isoInRun(s, 3);
    advanceTo(s.rig, asked[2]!);
    const td1 = isoTd(1);
    s.rig.ram.write32(td1 + 4, s.rig.ram.read32(td1 + 4) & ~(1 << 23));
    placeInFrame(s.rig, td1, 0);
    s.rig.advance(1);
    assert.equal(s.dev.stats.cancelled, 1);
    advanceTo(s.rig, asked[2]! + 20);
    assert.equal(s.dev.stats.completed, 2);
    assert.equal(s.source.next, 2, "the source produced only the two packets the host received");
    assert.equal(CounterSource.check(s.rig.ram.bytes, isoBuf(0), PACKET), 0);
    assert.equal(CounterSource.check(s.rig.ram.bytes, isoBuf(2), PACKET), 1);
  });

  it("SET_INTERFACE back to the zero-bandwidth alternate fails what was in flight (an iso time-out in each TD)", () => {
    const s = asyncSetup({}, Intr.TIMEOUT_CRC);
    const asked = isoInRun(s, 2);
    advanceTo(s.rig, asked[1]!);
    assert.equal(s.dev.inFlight, 2);
    // The iso TDs stay in their frames; every frame then goes on to the control queue.
    for (const k of [0, 1]) s.rig.ram.write32(isoTd(k), qhLink(IsoLayout.CONTROL));
    for (let i = 0; i < 1024; i++) {
      const entry = IsoLayout.FRAME_LIST + 4 * i;
      if (s.rig.ram.read32(entry) === TERM) s.rig.ram.write32(entry, qhLink(IsoLayout.CONTROL));
    }
    controlTransfer(s.rig, DEVICE_ADDRESS, { requestType: 0x01, request: 11, value: 0, index: 0 });
    s.rig.advance(1);
    assert.equal(s.dev.stats.aborted, 2);
    for (const k of [0, 1]) {
      const td = readTd(s.rig.ram, isoTd(k));
      assert.equal(td.active, false);
      assert.equal(td.crcTimeout, true, "UHCI 3.2.2: an iso transaction without an answer is a time-out");
    }
    assert.equal(s.rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
    assert.equal(s.source.next, 0);
  });

  it("more requests than maxInFlight: the extra ones fail at once (a host out of URBs), none is lost silently", () => {
    const rig = new IsoRig();
    const dev = new AsyncHostDevice({
      clock: rig.clock,
      maxInFlight: 4,
      sources: { 1: new CounterSource(PACKET) },
    });
    rig.plug(0, dev);
    useControlSchedule(rig);
    rig.start();
    enumerate(rig, DEVICE_ADDRESS, [[AsyncHostInterface.Iso, 1]]);
    rig.fillFrameList(TERM);
    isoInRun({ rig }, 6);
    rig.advance(7);
    assert.equal(dev.stats.rejected, 2);
    assert.equal(readTd(rig.ram, isoTd(4)).crcTimeout, true);
    assert.equal(readTd(rig.ram, isoTd(5)).active, false);
    rig.advance(20);
    assert.equal(dev.stats.completed, 4);
    assert.equal(dev.stats.maxInFlight, 4);
  });
});

describe("AsyncHostDevice: bulk requests", () => {
  it("a bulk IN is deferred and written back when the walk next meets its TD", () => {
    // frame list[*] -> QH bulk -> T
    //                   \-> (element) TD (IN 64, ep 3) -> T
    const s = asyncSetup({ nonIsoDelayMs: 2.5 });
    const bulkSource = new CounterSource(64);
    s.dev.setSource(3, bulkSource);
    const qh = isoTd(200);
    const td = isoTd(201);
    writeQh(s.rig.ram, qh, TERM, tdLink(td));
    writeTd(s.rig.ram, td, {
      pid: PID.IN,
      devAddr: DEVICE_ADDRESS,
      endpoint: 3,
      maxLen: 64,
      buffer: isoBuf(200),
    });
    s.rig.fillFrameList(qhLink(qh));
    s.rig.advance(1);
    assert.equal(s.dev.stats.requests, 1);
    s.rig.advance(2);
    assert.equal(readTd(s.rig.ram, td).active, true, "answer due at +2.5 ms, not yet");
    s.rig.advance(1);
    assert.equal(s.dev.stats.completed, 1);
    const view = readTd(s.rig.ram, td);
    assert.equal(view.active, false);
    assert.equal(view.actLen, 64);
    assert.equal(CounterSource.check(s.rig.ram.bytes, isoBuf(200), 64), 0);
    assert.equal(s.rig.ram.read32(qh + 4), TERM, "the queue advanced");
    assert.equal(s.rig.read16(Reg.USBSTS) & Sts.USBERRINT, 0);
  });
});
