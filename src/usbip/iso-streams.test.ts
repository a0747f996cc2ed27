/**
 * Isochronous streaming through a USB/IP round trip (issue 13 item 2), under the software guest, which
 * schedules like uhci-hcd and counts a TD still Active after its frame as missed (-EXDEV). The server
 * is 6 ms away (3 ms each way), so a TD waiting for its own URB would always be missed; the client
 * streams ahead instead: IN URBs in flight with a ring, OUT packets batched into URBs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IsoPreset } from "../guest/iso-presets.ts";
import { bootGuest } from "../guest/testing/boot.ts";
import {
  IsoGadget,
  IsoGadgetEndpoint,
  isoGadgetPayloadOk,
  isoGadgetSequence,
} from "../guest/testing/iso-gadget.ts";
import { TransferStatus } from "../guest/transfer-result.ts";
import { UsbipAttachment } from "./attachment.ts";
import { FakeUsbipServer } from "./testing/fake-server.ts";

const SECONDS = 10_000;

async function streaming(latencyMs: number) {
  const boot = bootGuest([]);
  const gadget = new IsoGadget();
  const server = new FakeUsbipServer(boot.clock, [{ busid: "4-1", device: gadget }]);
  const attachment = new UsbipAttachment({
    connect: server.connect,
    busid: "4-1",
    clock: boot.clock,
    plug: (d) => boot.controller.attach(0, d),
    unplug: () => boot.controller.detach(0),
  });
  const device = await attachment.connect();
  server.latencyMs = latencyMs;
  const result = boot.driver.enumerate(0);
  assert.ok(result.ok, result.ok ? "" : result.error);
  assert.equal(result.device.setInterface(0, 1).status, TransferStatus.Ok);
  return { ...boot, gadget, server, device, guest: result.device };
}

function gaps(values: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < values.length; i++) if (values[i] !== values[i - 1]! + 1) out.push(i);
  return out;
}

describe("USB/IP iso streaming ahead of the guest", () => {
  it("IN: 10 s at 6 ms round trip — after the start, every packet arrives in its frame, in order, bit for bit", async () => {
    const r = await streaming(6);
    const sequences: number[] = [];
    let bad = 0;
    const stream = r.guest.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.LinuxCapture,
      onData: (data) => {
        if (data.length === 0) return; // priming: the device had nothing yet
        sequences.push(isoGadgetSequence(data));
        if (!isoGadgetPayloadOk(data)) bad++;
      },
    });
    r.driver.run(SECONDS);
    stream.close?.();
    const s = stream.stats;
    const iso = r.device.stats.isoIn;
    assert.equal(bad, 0, "payloads bit for bit");
    assert.equal(s.packetsMissed, 0, "no TD was still Active after its frame");
    // The start costs a round trip, the first URB's 8 frames and the 12-packet prefill: empty packets.
    assert.ok(iso.priming > 0 && iso.priming <= 30, `primed ${iso.priming} frames`);
    assert.equal(s.packetsShort, iso.priming, "the only short packets are the priming ones");
    assert.deepEqual(gaps(sequences), [], "from the first data on, every packet in order");
    assert.equal(sequences[0], iso.trimmed, "only what came beyond the prefill at the start was skipped");
    assert.ok(iso.trimmed < 8);
    assert.ok(iso.fromRing >= SECONDS - 40, `answered from the ring: ${iso.fromRing}`);
    assert.equal(iso.underruns, 0);
    assert.equal(iso.startFrameGaps, 0, "the server's queue never ran dry (start_frame contiguous)");
    assert.equal(iso.overruns, 0);
  });

  it("OUT: 10 s at 6 ms round trip — every packet reaches the device, in order, batched 8 per URB", async () => {
    const r = await streaming(6);
    let byte = 0;
    const stream = r.guest.openIsoStream(IsoGadgetEndpoint.Out, {
      ...IsoPreset.LinuxPlayback,
      fill: (buffer) => {
        for (let i = 0; i < buffer.length; i++) buffer[i] = byte++ & 0xff;
      },
    });
    r.driver.run(SECONDS);
    assert.ok(stream.drain(100));
    r.driver.run(40); // the last batch is flushed and reaches the server
    const s = stream.stats;
    const iso = r.device.stats.isoOut;
    assert.equal(s.packetsMissed + s.packetsError, 0);
    assert.equal(iso.dropped, 0);
    assert.equal(r.gadget.outPackets.length, s.packetsOk, "every packet the guest sent arrived");
    let expected = 0;
    for (const packet of r.gadget.outPackets)
      for (const value of packet) assert.equal(value, expected++ & 0xff);
    assert.equal(s.bytes, expected);
    const isoSubmits = r.server.submits.filter((x) => x.packets > 0);
    assert.ok(
      isoSubmits.slice(0, -1).every((x) => x.packets === 8),
      "8 packets per URB (the last may be short)",
    );
    assert.ok(
      isoSubmits.every((x) => (x.flags & 0x0002) !== 0),
      "URB_ISO_ASAP",
    );
    assert.equal(iso.startFrameGaps, 0, "start_frame contiguous: the device never ran dry");
    // The stream's first 3 URBs (24 frames) were held and reach the server together, so its queue
    // starts that deep; after them, one URB per 8 frames.
    const [first, second, third, fourth] = isoSubmits.map((x) => x.at);
    assert.ok(first !== undefined && fourth !== undefined);
    assert.equal(second, first, "held URBs go out together");
    assert.equal(third, first, "held URBs go out together");
    assert.ok(fourth - first >= 7, `then as each fills (${fourth - first} ms later)`);
  });

  it("IN: a stream the guest stops asking from stops asking the server; SET_INTERFACE 0 unlinks what is out", async () => {
    const r = await streaming(6);
    const stream = r.guest.openIsoStream(IsoGadgetEndpoint.In, { ...IsoPreset.LinuxCapture });
    r.driver.run(200);
    stream.close?.();
    assert.equal(r.guest.setInterface(0, 0).status, TransferStatus.Ok);
    const unlinked = r.server.unlinks.length;
    assert.ok(unlinked > 0, "the URBs out were unlinked");
    const submitted = r.server.submits.length;
    r.driver.run(200);
    assert.equal(r.server.submits.length, submitted, "no more URBs once the stream stopped");
  });
});

describe("USB/IP iso IN underrun", () => {
  it("a 40 ms network stall: counted, the stream primes again at the prefill's depth, order kept, nothing throws", async () => {
    const r = await streaming(6);
    const sequences: number[] = [];
    const stream = r.guest.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.LinuxCapture,
      onData: (data) => {
        if (data.length > 0) sequences.push(isoGadgetSequence(data));
      },
    });
    r.driver.run(1000);
    const trimmedAtStart = r.device.stats.isoIn.trimmed;
    // The server's replies take 40 ms longer for a while: the ring (12 packets ahead) runs dry.
    r.server.latencyMs = 86;
    r.driver.run(300);
    r.server.latencyMs = 6;
    r.driver.run(2000);
    const iso = r.device.stats.isoIn;
    stream.close?.();
    assert.ok(iso.underruns >= 1, `underruns ${iso.underruns}`);
    assert.equal(stream.stats.packetsError, 0);
    // Packets only ever go forward; what is skipped is counted: the backlog trimmed back to the prefill.
    let skipped = 0;
    for (let i = 1; i < sequences.length; i++) {
      assert.ok(sequences[i]! > sequences[i - 1]!, `in order at ${i}`);
      skipped += sequences[i]! - sequences[i - 1]! - 1;
    }
    assert.equal(
      skipped,
      iso.trimmed - trimmedAtStart + iso.overruns,
      "every packet not delivered is counted",
    );
    assert.ok(iso.trimmed > trimmedAtStart && iso.trimmed < 100, `trimmed ${iso.trimmed}`);
    assert.ok(stream.stats.packetsMissed <= 60, `missed ${stream.stats.packetsMissed}: only in the stall`);
    assert.ok(iso.fromRing > 3000 - 200, `answered from the ring: ${iso.fromRing}`);
  });
});

describe("USB/IP iso OUT and SET_INTERFACE", () => {
  it("the stream's tail reaches the device before SET_INTERFACE 0 (which would cut it off at the server)", async () => {
    /** Records how many OUT packets had arrived when the alternate setting changed. */
    class RecordingGadget extends IsoGadget {
      arrivedAtChange: number[] = [];
      protected override onInterfaceChanged(_interface: number, alternate: number): void {
        if (alternate === 0) this.arrivedAtChange.push(this.outPackets.length);
      }
    }
    const boot = bootGuest([]);
    const gadget = new RecordingGadget();
    const server = new FakeUsbipServer(boot.clock, [{ busid: "4-2", device: gadget }]);
    const attachment = new UsbipAttachment({
      connect: server.connect,
      busid: "4-2",
      clock: boot.clock,
      plug: (d) => boot.controller.attach(0, d),
      unplug: () => boot.controller.detach(0),
    });
    const device = await attachment.connect();
    server.latencyMs = 20;
    const result = boot.driver.enumerate(0);
    assert.ok(result.ok);
    assert.equal(result.device.setInterface(0, 1).status, TransferStatus.Ok);
    const stream = result.device.openIsoStream(IsoGadgetEndpoint.Out, { ...IsoPreset.LinuxPlayback });
    boot.driver.run(503);
    assert.ok(stream.drain(100));
    const sent = stream.stats.packetsOk;
    // At once, as Linux's snd-usb-audio does after its URBs are done: some packets are still batched
    // or on their way (20 ms round trip).
    assert.ok(device.stats.isoOut.packets < sent || gadget.outPackets.length < sent, "data still on its way");
    assert.equal(result.device.setInterface(0, 0, { timeoutMs: 500 }).status, TransferStatus.Ok);
    assert.deepEqual(
      gadget.arrivedAtChange,
      [sent],
      "every packet arrived before the alternate setting changed",
    );
    assert.equal(device.stats.isoOut.dropped, 0);
  });
});
