import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PacketStatus } from "../usb/packet.ts";
import { encodeSetupPacket } from "./control-request.ts";
import { decodeSamplingFrequency, getSamplingFrequency, setSamplingFrequency } from "./iso-audio-requests.ts";
import { type IsoPacket, IsoPacketStatus } from "./iso-packet.ts";
import { IsoPreset, type IsoQueueShape } from "./iso-presets.ts";
import { IsoLateStart, type IsoStreamOptions, IsoStreamState } from "./iso-stream.ts";
import { type IsoUrbCompletion, IsoUrbStatus } from "./iso-urb.ts";
import { FRAME_LIST_ENTRIES } from "./schedule.ts";
import { decodeLengthField, linkToTd, TdLayout, TdStatus, TdToken } from "./schedule-encoding.ts";
import { bootGuest } from "./testing/boot.ts";
import { IsoGadget, IsoGadgetEndpoint, isoGadgetPayloadOk, isoGadgetSequence } from "./testing/iso-gadget.ts";
import { TransferStatus } from "./transfer-result.ts";

/** Ten seconds of frames. */
const TEN_SECONDS = 10_000;

/** A gadget enumerated, with its streaming alternate selected. */
function streaming(gadget = new IsoGadget()) {
  const rig = bootGuest([gadget]);
  const result = rig.driver.enumerate(0);
  assert.ok(result.ok, result.ok ? "" : `${result.stage}: ${result.error}`);
  const device = result.device;
  assert.equal(device.setInterface(0, 1).status, TransferStatus.Ok);
  return { ...rig, schedule: rig.driver.schedule, gadget, device };
}

/** What an IN stream delivered, checked as it arrives. */
function inRecorder() {
  const sequences: number[] = [];
  const frames: number[] = [];
  const lengths: number[] = [];
  let badPayloads = 0;
  const onData = (data: Uint8Array, frame: number): void => {
    sequences.push(isoGadgetSequence(data));
    frames.push(frame);
    lengths.push(data.length);
    if (!isoGadgetPayloadOk(data)) badPayloads++;
  };
  return {
    sequences,
    frames,
    lengths,
    onData,
    get badPayloads() {
      return badPayloads;
    },
  };
}

/** Indexes where consecutive values do not step by exactly one. */
function gaps(values: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < values.length; i++) if (values[i] !== values[i - 1]! + 1) out.push(i);
  return out;
}

function controlStatusOf(memory: { read32(a: number): number }, td: number): number {
  return memory.read32(td + TdLayout.ControlStatus) >>> 0;
}

describe("IsoStream: isochronous streaming as uhci-hcd schedules it", () => {
  const shapes: [string, IsoQueueShape][] = [
    ["the seed's 4×5", IsoPreset.Seed],
    ["Linux playback 3×6", IsoPreset.LinuxPlayback],
    ["Linux capture 12×1", IsoPreset.LinuxCapture],
  ];
  for (const [name, shape] of shapes) {
    it(`streams 10 s of IN data complete and in order at ${name}`, () => {
      const { driver, gadget, device } = streaming();
      const rec = inRecorder();
      const stream = device.openIsoStream(IsoGadgetEndpoint.In, { ...shape, onData: rec.onData });
      const firstFrame = stream.scheduled()[0]!.startFrame;
      driver.run(TEN_SECONDS);
      assert.ok(stream.drain(100));

      const s = stream.stats;
      assert.equal(s.packetsMissed, 0);
      assert.equal(s.packetsError, 0);
      assert.equal(s.lateRestarts, 0);
      assert.equal(s.urbsCompleted, s.urbsSubmitted);
      assert.equal(s.packetsOk, s.urbsCompleted * shape.packetsPerUrb);
      assert.ok(s.packetsOk >= TEN_SECONDS - 10, `${s.packetsOk} packets`);
      // Every packet the device sent arrived, once, in order, one per frame without a gap.
      assert.equal(rec.sequences.length, gadget.inSequence);
      assert.equal(rec.sequences[0], 0);
      assert.deepEqual(gaps(rec.sequences), []);
      assert.deepEqual(gaps(rec.frames), []);
      assert.equal(rec.frames[0], firstFrame);
      assert.equal(rec.badPayloads, 0);
      assert.equal(s.bytes, s.packetsOk * 192);
      // The driver saw every URB at the first frame boundary after its last TD ran.
      assert.equal(s.lagFramesMax, 0);
      assert.deepEqual(driver.anomalies, []);
    });
  }

  it("streams 10 s of OUT data to the device complete and in order", () => {
    const { driver, gadget, device } = streaming();
    let byte = 0;
    const stream = device.openIsoStream(IsoGadgetEndpoint.Out, {
      ...IsoPreset.LinuxPlayback,
      fill: (buffer) => {
        for (let i = 0; i < buffer.length; i++) buffer[i] = byte++ & 0xff;
      },
    });
    driver.run(TEN_SECONDS);
    assert.ok(stream.drain(100));
    const s = stream.stats;
    assert.equal(s.packetsMissed + s.packetsError + s.lateRestarts, 0);
    assert.equal(gadget.outPackets.length, s.packetsOk);
    assert.ok(s.packetsOk >= TEN_SECONDS - 10);
    let expected = 0;
    for (const packet of gadget.outPackets) {
      assert.equal(packet.length, 192);
      for (const value of packet) assert.equal(value, expected++ & 0xff);
    }
    assert.equal(s.bytes, expected);
  });

  it("passes the 44.1 kHz 44/45 packet pattern through in both directions", () => {
    // 16-bit stereo: 4 bytes a sample; nine packets of 44 samples, then one of 45 (every 10 ms).
    const sizeOf = (index: number): number => (index % 10 === 9 ? 45 : 44) * 4;
    const out = streaming(new IsoGadget({ inMaxPacket: 180, outMaxPacket: 180 }));
    let byte = 0;
    const outStream = out.device.openIsoStream(IsoGadgetEndpoint.Out, {
      ...IsoPreset.LinuxPlayback,
      packetSize: sizeOf,
      fill: (buffer) => {
        for (let i = 0; i < buffer.length; i++) buffer[i] = byte++ & 0xff;
      },
    });
    out.driver.run(1000);
    assert.ok(outStream.drain(100));
    assert.deepEqual(
      out.gadget.outPackets.map((p) => p.length),
      out.gadget.outPackets.map((_, i) => sizeOf(i)),
    );
    let expected = 0;
    for (const packet of out.gadget.outPackets)
      for (const value of packet) assert.equal(value, expected++ & 0xff);

    // IN: the host asks for wMaxPacketSize every frame; the device sends 44 or 45 samples.
    const inRig = streaming(new IsoGadget({ inMaxPacket: 180, outMaxPacket: 180 }));
    inRig.gadget.inLength = (seq) => sizeOf(seq);
    const rec = inRecorder();
    const inStream = inRig.device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.LinuxCapture,
      onData: rec.onData,
    });
    inRig.driver.run(1000);
    assert.ok(inStream.drain(100));
    assert.deepEqual(
      rec.lengths,
      rec.lengths.map((_, i) => sizeOf(i)),
    );
    assert.equal(rec.badPayloads, 0);
    assert.equal(inStream.stats.packetsShort, rec.lengths.filter((n) => n === 176).length);
    assert.equal(inStream.stats.packetsMissed, 0);
  });

  it("schedules the first packet 10 frames out and continues each URB where the last ended", () => {
    const { driver, device, schedule, memory } = streaming();
    const starts: number[] = [];
    const before = driver.frameNumber();
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.Seed,
      onUrbSubmit: (urb) => starts.push(urb.startFrame),
    });
    const first = starts[0]!;
    assert.equal(first & 0x7ff, (before + 10) & 0x7ff);
    assert.equal(stream.currentFrame() + 10, first);
    // Nothing of ours before frame +10; the first TD leads frame +10.
    assert.deepEqual(schedule.isoTds(first - 1), []);
    const firstTd = stream.scheduled()[0]!.tdAddresses[0]!;
    assert.deepEqual(schedule.isoTds(first), [firstTd]);
    assert.equal(
      memory.read32(schedule.frameListAddress + (first % FRAME_LIST_ENTRIES) * 4) >>> 0,
      linkToTd(firstTd),
    );
    assert.equal(memory.read32(firstTd + TdLayout.Link) >>> 0, schedule.skeletonLink(first));

    driver.run(500);
    // Every URB starts exactly 5 frames after the one before: no gap, no overlap.
    assert.ok(starts.length > 90);
    for (let i = 1; i < starts.length; i++) assert.equal(starts[i], starts[i - 1]! + 5);
    // Never more than the queue (plus the start delay) ahead of the controller.
    assert.ok(stream.nextFrame! - stream.currentFrame() <= 4 * 5 + 1);
  });

  it("writes isochronous TDs with IOC on each URB's last TD only", () => {
    const { driver, device, schedule, memory } = streaming();
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, { ...IsoPreset.LinuxPlayback });
    driver.run(37);
    const now = stream.currentFrame();
    const urbs = stream.scheduled();
    assert.equal(urbs.length, 3);
    for (const urb of urbs) {
      urb.tdAddresses.forEach((td, i) => {
        const status = controlStatusOf(memory, td);
        const last = i === urb.tdAddresses.length - 1;
        assert.equal((status & TdStatus.InterruptOnComplete) !== 0, last, `TD ${i} IOC`);
        assert.ok(status & TdStatus.Isochronous);
        // Active until its frame has run (the oldest URB may be part way through).
        assert.equal((status & TdStatus.Active) !== 0, urb.startFrame + i >= now);
        assert.equal(status & (TdStatus.ErrorCountMask | TdStatus.ShortPacketDetect | TdStatus.LowSpeed), 0);
        const token = memory.read32(td + TdLayout.Token) >>> 0;
        assert.equal(token & 0xff, 0x69);
        assert.equal((token >>> TdToken.DeviceAddressShift) & 0x7f, device.address);
        assert.equal((token >>> TdToken.EndpointShift) & 0xf, 1);
        assert.equal(decodeLengthField(token >>> TdToken.MaxLengthShift), 192);
        // One TD per frame, in the frame the URB's start says.
        assert.deepEqual(schedule.isoTds(urb.startFrame + i), [td]);
      });
    }
  });

  it("counts one late restart, and misses nothing, when the guest stalls 30 frames (URB_ISO_ASAP)", () => {
    const { driver, clock, gadget, device } = streaming();
    const rec = inRecorder();
    const completions: { lag: number; status: string }[] = [];
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.Seed,
      onData: rec.onData,
      onUrbComplete: (urb: IsoUrbCompletion) => completions.push({ lag: urb.lagFrames, status: urb.status }),
    });
    driver.run(200);
    // Frames run, the IRQ line goes high, but the guest does not service it for 30 frames.
    clock.advance(30);
    driver.run(200);
    assert.ok(stream.drain(100));

    const s = stream.stats;
    // 20 frames were queued: all four URBs ran out during the stall. The first one given back could not
    // continue after the fourth (that frame had passed) and restarted at the next frame; the other
    // three continued after it.
    assert.equal(s.lateRestarts, 1);
    assert.equal(s.packetsMissed, 0);
    assert.equal(s.packetsError, 0);
    assert.equal(rec.sequences.length, gadget.inSequence);
    assert.deepEqual(gaps(rec.sequences), []);
    assert.equal(gaps(rec.frames).length, 1, "one gap in frames: the restart");
    assert.ok(s.lagFramesMax >= 10, `lag ${s.lagFramesMax}`);
    assert.ok(completions.every((c) => c.status === IsoUrbStatus.Ok));
    assert.equal(stream.state, IsoStreamState.Running);
  });

  it("reports packets of frames already gone as missed (-EXDEV) when a stalled stream keeps its slots", () => {
    const { driver, clock, gadget, device } = streaming();
    const rec = inRecorder();
    const missed: number[] = [];
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.Seed,
      lateStart: IsoLateStart.KeepSlot,
      onData: rec.onData,
      onPacket: (p: IsoPacket) => {
        if (p.status === IsoPacketStatus.Missed) {
          assert.equal(p.actualLength, 0);
          missed.push(p.frame);
        }
      },
    });
    driver.run(200);
    clock.advance(30);
    driver.run(200);
    assert.ok(stream.drain(100));
    const s = stream.stats;
    // Two URBs were resubmitted entirely into frames that had passed: ten TDs never ran.
    assert.equal(s.packetsMissed, 10);
    assert.equal(missed.length, 10);
    assert.deepEqual(gaps(missed), [], "ten consecutive frames");
    assert.equal(s.lateRestarts, 0);
    assert.equal(s.packetsOk + s.packetsMissed, s.urbsCompleted * 5);
    // What the device did send still arrived complete and in order.
    assert.equal(rec.sequences.length, gadget.inSequence);
    assert.deepEqual(gaps(rec.sequences), []);
  });

  it("maps TD error bits per packet and keeps streaming", () => {
    const { driver, gadget, device } = streaming();
    const failures: Record<number, PacketStatus> = {
      7: PacketStatus.IoError,
      21: PacketStatus.Stall,
      33: PacketStatus.Babble,
      57: PacketStatus.Nak,
    };
    gadget.inFailure = (seq) => failures[seq] ?? null;
    const statuses = new Map<number, string>();
    const rec = inRecorder();
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.Seed,
      onData: rec.onData,
      onPacket: (p) => {
        if (p.status !== IsoPacketStatus.Ok) statuses.set(p.index, p.status);
      },
    });
    driver.run(100);
    assert.ok(stream.drain(100));
    assert.deepEqual(
      statuses,
      new Map([
        [7, IsoPacketStatus.CrcTimeout],
        [21, IsoPacketStatus.Stall],
        [33, IsoPacketStatus.Babble],
        [57, IsoPacketStatus.CrcTimeout], // no handshake on isochronous: a NAK is a time-out (UHCI 3.2.2)
      ]),
    );
    const s = stream.stats;
    assert.equal(s.packetsError, 4);
    assert.deepEqual(s.errors, { crcTimeout: 2, bitstuff: 0, babble: 1, dataBuffer: 0, stall: 1 });
    assert.equal(s.packetsMissed, 0);
    assert.equal(rec.sequences.length, gadget.inSequence - 4);
    assert.equal(stream.state, IsoStreamState.Running);
  });

  it("takes a URB's last packet answered a frame late (async device) as OK, one frame later", () => {
    // The seed's point 3: the controller completes an async iso TD inside the device's completion and
    // raises IOC then, so the guest sees the URB at the next frame boundary instead of missing it.
    const { driver, gadget, device } = streaming();
    gadget.inDeferral = (seq) => (seq % 5 === 4 ? 1 : 0);
    const rec = inRecorder();
    const lags: number[] = [];
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.Seed,
      onData: rec.onData,
      onUrbComplete: (urb) => lags.push(urb.lagFrames),
    });
    driver.run(300);
    // (No drain: the device answers a held packet only when asked for the next one.)
    assert.equal(stream.stats.packetsMissed, 0);
    assert.equal(rec.sequences[0], 0);
    assert.deepEqual(gaps(rec.sequences), []);
    assert.ok(rec.sequences.length >= gadget.inSequence - 4 * 5);
    assert.ok(lags.length > 50);
    assert.ok(lags.every((lag) => lag === 1));
    assert.equal(stream.stats.lagFramesMax, 1);
  });

  it("never lets a late async answer land in the TD after it was missed and resubmitted", () => {
    const { driver, gadget, device } = streaming();
    // Packet 2 of every 20 is answered three frames late: after the guest has seen its frame pass
    // (missed) and resubmitted its URB, with the same TD and buffer, 20 frames further on.
    gadget.inDeferral = (seq) => (seq % 20 === 2 ? 3 : 0);
    const rec = inRecorder();
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, { ...IsoPreset.Seed, onData: rec.onData });
    driver.run(200);
    assert.ok(stream.stats.packetsMissed > 0);
    for (let i = 1; i < rec.sequences.length; i++) {
      assert.ok(
        rec.sequences[i]! > rec.sequences[i - 1]!,
        `packet ${rec.sequences[i]} after ${rec.sequences[i - 1]}`,
      );
    }
  });

  it("exposes submission and completion frames, times and addresses for latency measurement", () => {
    const { driver, device } = streaming();
    let clockValue = 0;
    const seen: { last: number; seenAtFrame: number; seenAt: number; submittedAt: number; lastTd: number }[] =
      [];
    const submitted = new Map<number, readonly number[]>();
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.Seed,
      now: () => clockValue,
      onUrbSubmit: (urb) => submitted.set(urb.sequence, [...urb.tdAddresses]),
      onUrbComplete: (urb) =>
        seen.push({
          last: urb.lastFrame,
          seenAtFrame: urb.seenAtFrame,
          seenAt: urb.seenAt,
          submittedAt: urb.submittedAt,
          lastTd: urb.lastTdAddress,
        }),
    });
    for (let i = 0; i < 50; i++) {
      clockValue = i * 1000;
      driver.run(1);
    }
    assert.ok(seen.length >= 5);
    for (const [i, c] of seen.entries()) {
      assert.equal(c.seenAtFrame, c.last + 1);
      assert.equal(c.lastTd, submitted.get(i)!.at(-1));
      assert.ok(c.seenAt > c.submittedAt || i < 4);
    }
    stream.close();
  });

  it("close() unlinks every TD at once and frees the DMA after a frame boundary", () => {
    const { driver, device, schedule, memory } = streaming();
    driver.run(1); // let the enumeration's last blocks go
    const inUse = driver.dma.bytesInUse;
    const completions: string[] = [];
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.Seed,
      onUrbComplete: (urb) => completions.push(urb.status),
    });
    driver.run(33);
    const urbs = stream.scheduled();
    assert.equal(urbs.length, 4);
    stream.close();
    assert.equal(stream.state, IsoStreamState.Closed);
    assert.equal(stream.error, "cancelled");
    assert.equal(completions.filter((s) => s === IsoUrbStatus.Cancelled).length, 4);
    assert.equal(stream.stats.urbsCancelled, 4);
    for (const urb of urbs) {
      for (let i = 0; i < 5; i++) assert.deepEqual(schedule.isoTds(urb.startFrame + i), []);
      // Nothing left pointing at our TDs.
      const entry =
        memory.read32(schedule.frameListAddress + (urb.startFrame % FRAME_LIST_ENTRIES) * 4) >>> 0;
      assert.equal(entry, schedule.skeletonLink(urb.startFrame));
    }
    // Still allocated during this frame (the controller may hold a link); freed after the boundary.
    assert.ok(driver.dma.bytesInUse > inUse);
    driver.run(1);
    assert.equal(driver.dma.bytesInUse, inUse);
    // The endpoint can be streamed again.
    const again = device.openIsoStream(IsoGadgetEndpoint.In, { ...IsoPreset.Seed });
    driver.run(50);
    assert.ok(again.stats.packetsOk > 0);
    assert.equal(again.stats.packetsMissed, 0);
  });

  it("drains losslessly, then starts afresh 10 frames out", () => {
    const { driver, gadget, device } = streaming();
    const rec = inRecorder();
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.LinuxCapture,
      onData: rec.onData,
    });
    driver.run(100);
    assert.ok(stream.drain(100));
    assert.equal(stream.inFlight, 0);
    assert.equal(rec.sequences.length, gadget.inSequence);
    const now = stream.currentFrame();
    stream.start();
    assert.equal(stream.scheduled()[0]!.startFrame, now + 10);
    driver.run(100);
    assert.deepEqual(gaps(rec.sequences), []);
    assert.equal(rec.sequences.length, gadget.inSequence);
    assert.equal(stream.stats.lateRestarts, 0);
  });

  it("survives a controller halt by reporting it", () => {
    const { driver, device, memory, schedule } = streaming();
    const halts: string[] = [];
    const statuses: string[] = [];
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.Seed,
      onHalt: (reason) => halts.push(reason),
      onUrbComplete: (urb) => statuses.push(urb.status),
    });
    driver.run(40);
    // Corrupt the PID of a TD the controller will reach: a process error (UHCI 3.2.3) halts it.
    const urbs = stream.scheduled();
    const victim = urbs.at(-1)!.tdAddresses[0]!;
    const token = memory.read32(victim + TdLayout.Token) >>> 0;
    memory.write32(victim + TdLayout.Token, (token & ~0xff) >>> 0);
    driver.run(30);
    assert.equal(stream.state, IsoStreamState.Halted);
    assert.equal(stream.stats.halts, 1);
    assert.deepEqual(halts, [driver.haltReason]);
    assert.match(stream.error ?? "", /HCPE/);
    assert.equal(stream.stats.urbsCancelled, 4);
    assert.equal(statuses.filter((s) => s === IsoUrbStatus.ControllerHalted).length, 4);
    for (const urb of urbs)
      for (let i = 0; i < 5; i++) assert.deepEqual(schedule.isoTds(urb.startFrame + i), []);
    driver.run(5);
    stream.close();
    assert.equal(stream.state, IsoStreamState.Closed);
  });

  it("is closed by SET_INTERFACE, SET_CONFIGURATION and device release", () => {
    const { device } = streaming();
    const a = device.openIsoStream(IsoGadgetEndpoint.In);
    const b = device.openIsoStream(IsoGadgetEndpoint.Out);
    assert.equal(device.setInterface(0, 0).status, TransferStatus.Ok);
    assert.equal(a.state, IsoStreamState.Closed);
    assert.equal(b.state, IsoStreamState.Closed);
    // Alternate 0 has no isochronous endpoints.
    assert.throws(() => device.openIsoStream(IsoGadgetEndpoint.In), /not part of the current configuration/);
    assert.equal(device.setInterface(0, 1).status, TransferStatus.Ok);
    const c = device.openIsoStream(IsoGadgetEndpoint.In);
    assert.equal(device.setConfiguration(1).status, TransferStatus.Ok);
    assert.equal(c.state, IsoStreamState.Closed);
    assert.equal(device.setInterface(0, 1).status, TransferStatus.Ok);
    const d = device.openIsoStream(IsoGadgetEndpoint.In);
    device.release();
    assert.equal(d.state, IsoStreamState.Closed);
  });

  it("refuses misuse: a second stream, too deep a queue, a bad packet size, a non-iso endpoint", () => {
    const { driver, device } = streaming();
    const bad =
      (options: IsoStreamOptions): (() => void) =>
      () =>
        device.openIsoStream(IsoGadgetEndpoint.Out, options);
    assert.throws(bad({ urbs: 100, packetsPerUrb: 11 }), /frame list/);
    assert.throws(bad({ urbs: 0 }), /urbs/);
    driver.run(1);
    const inUse = driver.dma.bytesInUse;
    assert.throws(bad({ packetSize: () => 193 }), /packet size 193/);
    driver.run(1);
    assert.equal(driver.dma.bytesInUse, inUse, "nothing left allocated");
    device.openIsoStream(IsoGadgetEndpoint.Out).close(); // nor registered on the endpoint
    const stream = device.openIsoStream(IsoGadgetEndpoint.In);
    assert.throws(() => device.openIsoStream(IsoGadgetEndpoint.In), /already has an open stream/);
    stream.close();
    assert.throws(() => device.bulkIn(IsoGadgetEndpoint.In, 8), /not bulk/);
  });

  it("honours bInterval: a period of 2^(bInterval − 1) frames", () => {
    const { driver, device } = streaming(new IsoGadget({ interval: 2 }));
    const rec = inRecorder();
    const stream = device.openIsoStream(IsoGadgetEndpoint.In, { ...IsoPreset.Seed, onData: rec.onData });
    assert.equal(stream.periodFrames, 2);
    driver.run(200);
    assert.ok(stream.drain(100));
    for (let i = 1; i < rec.frames.length; i++) assert.equal(rec.frames[i], rec.frames[i - 1]! + 2);
    assert.deepEqual(gaps(rec.sequences), []);
    assert.equal(stream.stats.packetsMissed, 0);
  });

  it("makes the UAC sampling frequency requests one call each", () => {
    const { device, gadget } = streaming();
    const set = setSamplingFrequency(IsoGadgetEndpoint.Out, 44_100);
    assert.deepEqual([...encodeSetupPacket(set)], [0x22, 0x01, 0x00, 0x01, 0x02, 0x00, 0x03, 0x00]);
    assert.deepEqual([...(set.data ?? [])], [0x44, 0xac, 0x00]);
    assert.equal(device.control(set).status, TransferStatus.Ok);
    assert.equal(gadget.samplingFrequency.get(IsoGadgetEndpoint.Out), 44_100);
    assert.equal(
      device.control(setSamplingFrequency(IsoGadgetEndpoint.In, 48_000)).status,
      TransferStatus.Ok,
    );
    const get = device.control(getSamplingFrequency(IsoGadgetEndpoint.In));
    assert.equal(get.status, TransferStatus.Ok);
    assert.equal(decodeSamplingFrequency(get.data), 48_000);
    assert.equal(encodeSetupPacket(getSamplingFrequency(0x81))[0], 0xa2);
    assert.throws(() => setSamplingFrequency(1, 1 << 24), RangeError);
  });
});
