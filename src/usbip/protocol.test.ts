/**
 * The USB/IP codec against byte layouts written out by hand from Linux
 * Documentation/usb/usbip_protocol.rst (all fields big-endian): OP_REQ_DEVLIST, OP_REP_DEVLIST,
 * OP_REQ_IMPORT, OP_REP_IMPORT, USBIP_CMD_SUBMIT, USBIP_RET_SUBMIT, USBIP_CMD_UNLINK, USBIP_RET_UNLINK.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeDevlistReply,
  decodeImportReply,
  encodeDevlistRequest,
  encodeImportRequest,
  writeIsoDescriptor,
  writeSubmitHeader,
  writeUnlink,
} from "./protocol.ts";
import { type SubmittedUrb, type UrbReply, UrbReplyDecoder } from "./urb-decoder.ts";

const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const u16 = (n: number) => [(n >>> 8) & 0xff, n & 0xff];
const str = (s: string, size: number) =>
  [...s].map((c) => c.charCodeAt(0)).concat(new Array(size - s.length).fill(0));

/** A device record (312 bytes): path[256], busid[32], busnum, devnum, speed, idVendor, idProduct, bcdDevice, 6 bytes. */
function record(busid: string, vid: number, pid: number, numInterfaces: number): number[] {
  return [
    ...str(`/sys/devices/pci0000:00/usb1/${busid}`, 256),
    ...str(busid, 32),
    ...u32(1), // busnum
    ...u32(3), // devnum
    ...u32(2), // speed: full
    ...u16(vid),
    ...u16(pid),
    ...u16(0x0100), // bcdDevice
    0x00,
    0x00,
    0x00, // class, subclass, protocol
    0x01, // bConfigurationValue
    0x01, // bNumConfigurations
    numInterfaces,
  ];
}

describe("USB/IP operations (usbip_protocol.rst, OP_REQ/OP_REP)", () => {
  it("OP_REQ_DEVLIST is version 0x0111, code 0x8005, status 0", () => {
    assert.deepEqual([...encodeDevlistRequest()], [0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0]);
  });

  it("OP_REQ_IMPORT carries the busid in a 32-byte NUL-padded field", () => {
    const bytes = encodeImportRequest("1-1.2");
    assert.ok(bytes instanceof Uint8Array);
    assert.deepEqual([...bytes], [0x01, 0x11, 0x80, 0x03, 0, 0, 0, 0, ...str("1-1.2", 32)]);
    assert.equal(
      typeof encodeImportRequest("x".repeat(32)),
      "string",
      "a busid that fills the field is refused",
    );
    assert.equal(typeof encodeImportRequest(""), "string");
  });

  it("OP_REP_DEVLIST: devices with their interface records, read in any number of chunks", () => {
    const bytes = Uint8Array.from([
      0x01,
      0x11,
      0x00,
      0x05,
      ...u32(0),
      ...u32(2),
      ...record("1-1", 0x046d, 0x0a44, 2),
      0x01,
      0x01,
      0x00,
      0x00,
      0x01,
      0x02,
      0x00,
      0x00,
      ...record("1-2", 0x0627, 0x0001, 0),
    ]);
    for (let cut = 0; cut < bytes.length; cut += 97) {
      assert.equal(decodeDevlistReply(bytes.subarray(0, cut)).kind, "more", `${cut} bytes are not enough`);
    }
    const r = decodeDevlistReply(bytes);
    assert.equal(r.kind, "ok");
    if (r.kind !== "ok") return;
    assert.equal(r.consumed, bytes.length);
    const [a, b] = r.value;
    assert.equal(a?.busid, "1-1");
    assert.equal(a?.path, "/sys/devices/pci0000:00/usb1/1-1");
    assert.deepEqual([a?.busnum, a?.devnum, a?.speed, a?.idVendor, a?.idProduct], [1, 3, 2, 0x046d, 0x0a44]);
    assert.deepEqual(a?.interfaces, [
      { cls: 1, subClass: 1, protocol: 0 },
      { cls: 1, subClass: 2, protocol: 0 },
    ]);
    assert.equal(b?.idVendor, 0x0627);
    assert.deepEqual(b?.interfaces, []);
  });

  it("OP_REP_DEVLIST refusals: another version, another code, an absurd count", () => {
    const bad = (bytes: number[]) => decodeDevlistReply(Uint8Array.from(bytes));
    assert.match(JSON.stringify(bad([0x01, 0x06, 0x00, 0x05, ...u32(0), ...u32(0)])), /version 0x106/);
    assert.match(
      JSON.stringify(bad([0x01, 0x11, 0x00, 0x03, ...u32(0), ...u32(0)])),
      /expected reply code 0x0005/,
    );
    assert.match(
      JSON.stringify(bad([0x01, 0x11, 0x00, 0x05, ...u32(0), ...u32(0xffffffff)])),
      /devices declared/,
    );
    assert.match(JSON.stringify(bad([0x01, 0x11, 0x00, 0x05, ...u32(1), ...u32(0)])), /status 1/);
  });

  it("OP_REP_IMPORT: the device record on status 0, a clear refusal otherwise", () => {
    const ok = decodeImportReply(
      Uint8Array.from([0x01, 0x11, 0x00, 0x03, ...u32(0), ...record("2-1", 1, 2, 0)]),
      "2-1",
    );
    assert.equal(ok.kind, "ok");
    if (ok.kind === "ok") assert.equal(ok.value.devnum, 3);
    const missing = decodeImportReply(Uint8Array.from([0x01, 0x11, 0x00, 0x03, ...u32(4)]), "9-9");
    assert.equal(missing.kind, "error");
    if (missing.kind === "error") assert.match(missing.error, /9-9: no device with that busid/);
    const other = decodeImportReply(
      Uint8Array.from([0x01, 0x11, 0x00, 0x03, ...u32(0), ...record("2-2", 1, 2, 0)]),
      "2-1",
    );
    assert.equal(other.kind, "error", "a record for another busid");
  });
});

describe("USB/IP URB phase (usbip_protocol.rst, USBIP_CMD_SUBMIT … USBIP_RET_UNLINK)", () => {
  it("CMD_SUBMIT: 48-byte header, then iso descriptors", () => {
    const out = new Uint8Array(48 + 16);
    const v = new DataView(out.buffer);
    writeSubmitHeader(
      v,
      0,
      {
        seqnum: 7,
        devid: 0x00010003,
        dirIn: true,
        endpoint: 0x81,
        transferFlags: 0x0202,
        transferBufferLength: 384,
        startFrame: 0,
        numberOfPackets: 2,
        interval: 1,
      },
      Uint8Array.of(0x80, 6, 0, 1, 0, 0, 18, 0),
    );
    writeIsoDescriptor(v, 48, 192, 192);
    assert.deepEqual(
      [...out],
      [
        ...u32(1),
        ...u32(7),
        ...u32(0x00010003),
        ...u32(1),
        ...u32(1), // command, seqnum, devid, direction, ep
        ...u32(0x0202),
        ...u32(384),
        ...u32(0),
        ...u32(2),
        ...u32(1), // flags, length, start_frame, packets, interval
        0x80,
        6,
        0,
        1,
        0,
        0,
        18,
        0, // setup
        ...u32(192),
        ...u32(192),
        ...u32(0),
        ...u32(0), // offset, length, actual_length, status
      ],
    );
  });

  it("CMD_UNLINK names the seqnum to unlink", () => {
    const out = new Uint8Array(48);
    writeUnlink(new DataView(out.buffer), 0, 9, 0x00010003, false, 2, 7);
    assert.deepEqual(
      [...out],
      [...u32(2), ...u32(9), ...u32(0x00010003), ...u32(0), ...u32(2), ...u32(7), ...new Array(24).fill(0)],
    );
  });

  function decoder(submitted: Record<number, SubmittedUrb>, unlinks: number[] = []) {
    const replies: { seqnum: number; status: number; data: number[]; actual: number[]; start: number }[] = [];
    const d = new UrbReplyDecoder(
      {
        submitted: (s) => submitted[s] ?? null,
        unlinkPending: (s) => unlinks.includes(s),
      },
      (r: UrbReply) => {
        replies.push({
          seqnum: r.seqnum,
          status: r.status,
          data: [...r.data.subarray(r.dataAt, r.dataAt + r.dataLength)],
          actual: [...r.isoActual.subarray(0, r.numberOfPackets)],
          start: r.startFrame,
        });
        delete submitted[r.seqnum];
      },
    );
    return { d, replies };
  }

  const retSubmit = (
    seqnum: number,
    status: number,
    actual: number,
    start: number,
    packets: number,
    rest: number[] = [],
  ) => [
    ...u32(3),
    ...u32(seqnum),
    ...u32(0),
    ...u32(0),
    ...u32(0),
    ...u32(status >>> 0),
    ...u32(actual),
    ...u32(start),
    ...u32(packets >>> 0),
    ...u32(0),
    ...new Array(8).fill(0),
    ...rest,
  ];

  it("RET_SUBMIT for a bulk IN, fed one byte at a time, is delivered once, whole", () => {
    const { d, replies } = decoder({ 5: { dirIn: true, bufferLength: 64, numberOfPackets: 0 } });
    const bytes = retSubmit(5, 0, 3, 0, 0, [0xaa, 0xbb, 0xcc]);
    for (const b of bytes) d.feed(Uint8Array.of(b));
    assert.equal(d.error, null);
    assert.deepEqual(replies, [{ seqnum: 5, status: 0, data: [0xaa, 0xbb, 0xcc], actual: [], start: 0 }]);
  });

  it("RET_SUBMIT for iso IN: packed data, then the descriptors; start_frame read", () => {
    const { d, replies } = decoder({ 6: { dirIn: true, bufferLength: 8, numberOfPackets: 2 } });
    const bytes = retSubmit(6, 0, 5, 0x3fe, 2, [
      1,
      2,
      3,
      4,
      5,
      ...u32(0),
      ...u32(4),
      ...u32(3),
      ...u32(0),
      ...u32(4),
      ...u32(4),
      ...u32(2),
      ...u32(0),
    ]);
    d.feed(Uint8Array.from(bytes));
    assert.equal(d.error, null);
    assert.deepEqual(replies, [
      { seqnum: 6, status: 0, data: [1, 2, 3, 4, 5], actual: [3, 2], start: 0x3fe },
    ]);
  });

  it("a failed transfer reporting more than its buffer (usbip-host after a STALL) is read past, its data not delivered", () => {
    const { d, replies } = decoder({
      1: { dirIn: true, bufferLength: 2, numberOfPackets: 0 },
      2: { dirIn: true, bufferLength: 4, numberOfPackets: 0 },
    });
    // -EPIPE (-32) with 3 bytes for a 2-byte buffer, then a good reply: the stream stays in step.
    const bytes = [...retSubmit(1, -32, 3, 0, 0, [7, 7, 7]), ...retSubmit(2, 0, 2, 0, 0, [5, 6])];
    d.feed(Uint8Array.from(bytes));
    assert.equal(d.error, null);
    assert.deepEqual(
      replies.map((r) => [r.seqnum, r.status, r.data]),
      [
        [1, -32, []],
        [2, 0, [5, 6]],
      ],
    );
  });

  it("refuses, with the reason: a seqnum nothing waits for, a length beyond the buffer, absurd packet counts, lengths that do not add up", () => {
    const cases: [Record<number, SubmittedUrb>, number[], RegExp][] = [
      [{}, retSubmit(1, 0, 0, 0, 0), /seqnum 1, which no request is waiting for/],
      [
        { 1: { dirIn: true, bufferLength: 8, numberOfPackets: 0 } },
        retSubmit(1, 0, 9, 0, 0),
        /actual_length 9 beyond the 8-byte buffer/,
      ],
      [
        { 1: { dirIn: true, bufferLength: 8, numberOfPackets: 2 } },
        retSubmit(1, 0, 0, 0, 0x7fffffff),
        /number_of_packets 2147483647/,
      ],
      [
        { 1: { dirIn: true, bufferLength: 8, numberOfPackets: 2 } },
        retSubmit(1, 0, 0, 0, -5),
        /number_of_packets -5/,
      ],
      [{ 1: { dirIn: false, bufferLength: 8, numberOfPackets: 0 } }, retSubmit(1, 0, 0, 0, 3), /non-iso/],
      [
        { 1: { dirIn: true, bufferLength: 8, numberOfPackets: 1 } },
        retSubmit(1, 0, 2, 0, 1, [9, 9, ...u32(0), ...u32(4), ...u32(1), ...u32(0)]),
        /iso packets hold 1 bytes, actual_length says 2/,
      ],
      [
        { 1: { dirIn: true, bufferLength: 8, numberOfPackets: 1 } },
        retSubmit(1, 0, 1, 0, 1, [9, ...u32(6), ...u32(4), ...u32(1), ...u32(0)]),
        /beyond the buffer/,
      ],
      [{}, [...u32(4), ...u32(77), ...new Array(40).fill(0)], /RET_UNLINK for seqnum 77/],
      [{}, [...u32(1), ...new Array(44).fill(0)], /unexpected command 1/],
    ];
    for (const [submitted, bytes, reason] of cases) {
      const { d, replies } = decoder(submitted);
      d.feed(Uint8Array.from(bytes));
      assert.match(d.error ?? "", reason);
      assert.equal(replies.length, 0);
      d.feed(Uint8Array.from(retSubmit(1, 0, 0, 0, 0)));
      assert.equal(replies.length, 0, "nothing is read after a refusal");
    }
  });

  it("RET_UNLINK answers a pending unlink", () => {
    const { d, replies } = decoder({}, [12]);
    d.feed(
      Uint8Array.from([
        ...u32(4),
        ...u32(12),
        ...u32(0),
        ...u32(0),
        ...u32(0),
        ...u32(-104 >>> 0),
        ...new Array(24).fill(0),
      ]),
    );
    assert.equal(d.error, null);
    assert.deepEqual(
      replies.map((r) => [r.seqnum, r.status]),
      [[12, -104]],
    );
  });
});
