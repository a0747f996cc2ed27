/**
 * The UHCI PCI function's configuration space, checked byte by byte against a table written down again
 * here from the PCI Local Bus spec 3.0 (6.1–6.2: header, command, status, BARs) and Intel's PIIX3/PIIX4
 * USB function 2 (82371SB/82371AB datasheets: IDs 8086:7020, class 0C0300, SBRN, USBLEGSUP) — not
 * imported from the implementation, so a wrong mask fails here instead of agreeing with itself.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRandom } from "../../machine/seeded-random.ts";
import { UhciPciFunction } from "./pci-config.ts";
import { type PciIdentity, PIIX3_UHCI } from "./pci-identity.ts";

interface ByteSpec {
  reset: number;
  writable: number;
  w1c: number;
}

/** Every byte of the 256: reset value, bits a write replaces, bits a written 1 clears. */
function expectedBytes(): ByteSpec[] {
  const bytes: ByteSpec[] = Array.from({ length: 256 }, () => ({ reset: 0, writable: 0, w1c: 0 }));
  const put = (offset: number, reset: number[], writable: number[] = [], w1c: number[] = []) => {
    reset.forEach((value, i) => {
      bytes[offset + i] = { reset: value, writable: writable[i] ?? 0, w1c: w1c[i] ?? 0 };
    });
  };
  put(0x00, [0x86, 0x80, 0x20, 0x70]); // vendor 8086, device 7020 (PIIX3 USB)
  put(0x04, [0x00, 0x00], [0x05, 0x00]); // command: I/O space (bit 0), bus master (bit 2)
  put(0x06, [0x80, 0x02], [0x00, 0x00], [0x00, 0x38]); // status: FB2B, DEVSEL medium; aborts R/WC
  put(0x08, [0x01, 0x00, 0x03, 0x0c]); // revision 1, class 0C0300 (serial bus, USB, UHCI)
  put(0x0d, [0x00], [0xf0]); // latency timer: bits 7:4
  put(0x20, [0x01, 0x00, 0x00, 0x00], [0xe0, 0xff, 0xff, 0xff]); // BAR4: I/O, 32 bytes
  put(0x3c, [0x00, 0x04], [0xff, 0x00]); // interrupt line (R/W), pin INTD
  put(0x60, [0x10]); // SBRN: USB 1.0
  put(0xc0, [0x00, 0x20], [0xbf, 0x20], [0x00, 0x8f]); // USBLEGSUP: PIRQ enable; R/WC 15, 11:8
  return bytes;
}

const EXPECTED = expectedBytes();
const WIDTHS = [1, 2, 4] as const;

/** The value `width` bytes at `offset` should read, byte i being `f(spec of that byte)`. */
function assemble(offset: number, width: number, f: (spec: ByteSpec) => number): number {
  let value = 0;
  for (let b = 0; b < width; b++) value |= (f(EXPECTED[offset + b]!) & 0xff) << (8 * b);
  return value >>> 0;
}

const hex = (v: number) => `0x${v.toString(16)}`;

describe("UHCI PCI function: the configuration space at every offset and width", () => {
  it("reads its reset values (IDs, class, status, BAR4, pin, SBRN, USBLEGSUP; 0 elsewhere)", () => {
    const fn = new UhciPciFunction();
    for (const width of WIDTHS) {
      for (let offset = 0; offset < 256; offset += width) {
        assert.equal(
          fn.read(offset, width),
          assemble(offset, width, (s) => s.reset),
          `${width}@${hex(offset)}`,
        );
      }
    }
    // The same values as the named registers, for a reader of this test.
    assert.equal(fn.read32(0x00), 0x70208086);
    assert.equal(fn.read32(0x08), 0x0c030001);
    assert.equal(fn.read16(0x06), 0x0280);
    assert.equal(fn.read32(0x20), 0x00000001);
    assert.equal(fn.read8(0x3d), 4);
    assert.equal(fn.read8(0x60), 0x10);
    assert.equal(fn.read16(0xc0), 0x2000);
  });

  it("writing all ones keeps read-only bits, takes writable ones and clears write-1-to-clear ones", () => {
    for (const width of WIDTHS) {
      for (let offset = 0; offset < 256; offset += width) {
        const fn = new UhciPciFunction();
        fn.write(offset, width, 0xffffffff);
        const expected = assemble(offset, width, (s) => ((s.reset & ~s.writable) | s.writable) & ~s.w1c);
        assert.equal(fn.read(offset, width), expected, `${width}@${hex(offset)}`);
      }
    }
  });

  it("writing zeros clears writable bits and leaves write-1-to-clear and read-only bits", () => {
    for (const width of WIDTHS) {
      for (let offset = 0; offset < 256; offset += width) {
        const fn = new UhciPciFunction();
        // Every bit that can be 1 set first: writable ones by a write, R/WC ones as a restored snapshot.
        fn.write(offset, width, 0xffffffff);
        for (let b = 0; b < width; b++) fn.bytes[offset + b]! |= EXPECTED[offset + b]!.w1c;
        fn.write(offset, width, 0);
        const expected = assemble(offset, width, (s) => (s.reset & ~s.writable) | s.w1c);
        assert.equal(fn.read(offset, width), expected, `${width}@${hex(offset)}`);
      }
    }
  });

  it("unaligned and out-of-range accesses touch exactly the bytes they cover", () => {
    const fn = new UhciPciFunction();
    assert.equal(fn.read16(0x01), 0x2080); // device ID low byte, vendor ID high byte
    assert.equal(fn.read32(0x3b), 0x00040000); // 0x3B, line, pin, 0x3E
    assert.equal(fn.read32(0xfe), 0, "bytes past 0xFF read 0");
    fn.write32(0x3b, 0xffffffff);
    assert.equal(fn.read16(0x3c), 0x04ff, "the line took its byte; the pin is read-only");
    fn.write32(0xfe, 0xffffffff);
    fn.write16(-1, 0xffff);
    assert.equal(fn.read16(0x00), 0x8086);
  });
});

describe("UHCI PCI function: command and status (PCI 6.2.2, 6.2.3)", () => {
  it("only I/O space and bus master enable are writable; the getters follow them", () => {
    const fn = new UhciPciFunction();
    assert.equal(fn.ioSpaceEnabled, false, "both off at reset, until firmware enables them");
    assert.equal(fn.busMasterEnabled, false);
    fn.write16(0x04, 0xffff);
    assert.equal(fn.read16(0x04), 0x0005);
    assert.equal(fn.ioSpaceEnabled, true);
    assert.equal(fn.busMasterEnabled, true);
    fn.write8(0x04, 0x04);
    assert.equal(fn.ioSpaceEnabled, false);
    assert.equal(fn.busMasterEnabled, true);
  });

  it("a 32-bit write of the command dword write-1-clears the status abort bits and keeps the rest", () => {
    const fn = new UhciPciFunction();
    fn.bytes[0x07]! |= 0x38; // received master abort, received target abort, signaled target abort
    fn.write32(0x04, 0x10000005); // command 0x0005, status: 1 written to bit 12 only
    assert.equal(fn.read16(0x04), 0x0005);
    assert.equal(fn.read16(0x06), 0x2a80, "bit 12 cleared; bits 13 and 11 kept; FB2B and DEVSEL read-only");
    fn.write8(0x07, 0xff);
    assert.equal(fn.read16(0x06), 0x0280);
  });
});

describe("UHCI PCI function: BAR4 (PCI 6.2.5.1)", () => {
  it("sizing: all ones read back 0xFFFFFFE1, a 32-byte I/O BAR; the other BARs are absent", () => {
    const fn = new UhciPciFunction();
    for (let bar = 0; bar < 6; bar++) fn.write32(0x10 + 4 * bar, 0xffffffff);
    assert.equal(fn.read32(0x20), 0xffffffe1);
    for (const bar of [0, 1, 2, 3, 5]) assert.equal(fn.read32(0x10 + 4 * bar), 0, `BAR${bar}`);
  });

  it("the base follows writes (bits 4:1 read 0, bit 0 reads 1), at any width", () => {
    const fn = new UhciPciFunction();
    fn.write32(0x20, 0xc01f);
    assert.equal(fn.read32(0x20), 0xc001);
    assert.equal(fn.ioBase, 0xc000);
    fn.write8(0x21, 0xec);
    assert.equal(fn.ioBase, 0xec00);
    fn.write16(0x20, 0x1060);
    assert.equal(fn.ioBase, 0x1060);
    assert.equal(fn.read8(0x20), 0x61);
  });

  it("tells the emulator when the base moves, and only then", () => {
    const fn = new UhciPciFunction();
    const moves: [number, number, number][] = [];
    fn.onBarMoved = (bar, from, to) => moves.push([bar, from, to]);
    fn.write32(0x20, 0xec00);
    fn.write32(0x20, 0xec01); // the same base
    fn.write8(0x20, 0x1f); // bits below the size only
    fn.write16(0x04, 0x0005); // not the BAR
    // SeaBIOS sizes the BAR, then programs it.
    fn.write32(0x20, 0xffffffff);
    fn.write32(0x20, 0xc000);
    assert.deepEqual(moves, [
      [4, 0, 0xec00],
      [4, 0xec00, 0xffffffe0],
      [4, 0xffffffe0, 0xc000],
    ]);
  });

  it("a BAR of another size sizes as that size", () => {
    const identity: PciIdentity = { ...PIIX3_UHCI, ioBar: { index: 1, size: 64 } };
    const fn = new UhciPciFunction(identity);
    fn.write32(0x14, 0xffffffff);
    assert.equal(fn.read32(0x14), 0xffffffc1);
    assert.equal(fn.read32(0x20), 0, "BAR4 is absent then");
  });
});

describe("UHCI PCI function: USBLEGSUP (82371AB LEGSUP, config 0xC0)", () => {
  it("Linux's and SeaBIOS's hand-over: 0x8F00 clears status and PIRQ enable, then 0x2000 routes PIRQD", () => {
    const fn = new UhciPciFunction();
    fn.bytes[0xc1]! |= 0x8f; // SMI status left by a BIOS (a restored snapshot: the SMI traps are not modelled)
    assert.equal(fn.legacySupport, 0xaf00);
    fn.write16(0xc0, 0x8f00);
    assert.equal(fn.legacySupport, 0x0000);
    fn.write16(0xc0, 0x2000);
    assert.equal(fn.legacySupport, 0x2000);
  });

  it("status bits clear one by one, also by byte writes; a written 0 clears nothing", () => {
    const fn = new UhciPciFunction();
    fn.bytes[0xc1] = 0xaf;
    fn.write16(0xc0, 0x2000); // PIRQ enable kept, no 1 on a status bit
    assert.equal(fn.legacySupport, 0xaf00);
    fn.write8(0xc1, 0x20 | 0x80); // clears bit 15
    assert.equal(fn.legacySupport, 0x2f00);
    fn.write8(0xc1, 0x20 | 0x01 | 0x04); // clears bits 8 and 10
    assert.equal(fn.legacySupport, 0x2a00);
    fn.write32(0xc0, 0x00000a00); // clears 9 and 11, PIRQ enable written 0
    assert.equal(fn.legacySupport, 0x0000);
  });

  it("bits 14, 12 and 6 are read-only (Linux's USBLEGSUP_RO = 0x5040); the enables are read/write", () => {
    const fn = new UhciPciFunction();
    fn.bytes[0xc0] = 0x40;
    fn.bytes[0xc1] = 0x50;
    fn.write16(0xc0, 0x0000);
    assert.equal(fn.legacySupport, 0x5040, "a write cannot clear them");
    fn.write16(0xc0, 0xffff);
    assert.equal(fn.legacySupport, 0x5040 | 0x20bf, "nor set them; the enables and PIRQ enable follow");
    fn.bytes[0xc0] = 0;
    fn.bytes[0xc1] = 0;
    fn.write16(0xc0, 0x5040);
    assert.equal(fn.legacySupport, 0, "writing 1s to them sets nothing");
  });
});

describe("UHCI PCI function: reset, construction, hostile writes", () => {
  it("reset() restores every byte and reports the BAR moving back", () => {
    const fn = new UhciPciFunction();
    for (let offset = 0; offset < 256; offset += 4) fn.write32(offset, 0xffffffff);
    fn.write32(0x20, 0xc000);
    const moves: number[] = [];
    fn.onBarMoved = (_bar, _from, to) => moves.push(to);
    fn.reset();
    for (let offset = 0; offset < 256; offset++) {
      assert.equal(fn.read8(offset), EXPECTED[offset]!.reset, hex(offset));
    }
    assert.deepEqual(moves, [0]);
  });

  it("refuses identities that cannot be a configuration space", () => {
    const bad = (identity: Partial<PciIdentity>) => () => new UhciPciFunction({ ...PIIX3_UHCI, ...identity });
    assert.throws(bad({ ioBar: { index: 4, size: 48 } }), /power of 2/);
    assert.throws(bad({ ioBar: { index: 6, size: 32 } }), /no BAR 6/);
    const reg = { name: "X", width: 2 as const, reset: 0, writable: 0, writeOneToClear: 0 };
    assert.throws(bad({ registers: [{ ...reg, offset: 0x3c }] }), /header/);
    assert.throws(bad({ registers: [{ ...reg, offset: 0xff }] }), /overflows/);
    assert.throws(bad({ registers: [reg, reg].map((r) => ({ ...r, offset: 0x80 })) }), /overlaps/);
  });

  it("random writes of any width at any offset never throw and never change a read-only bit", () => {
    const rng = new SeededRandom(0x9c1);
    const fn = new UhciPciFunction();
    fn.onBarMoved = () => {};
    for (let i = 0; i < 20_000; i++) {
      const width = rng.pick(WIDTHS);
      const offset = rng.below(300) - 20;
      fn.write(offset, width, rng.u32());
      fn.read(offset, width);
    }
    for (let offset = 0; offset < 256; offset++) {
      const s = EXPECTED[offset]!;
      const readOnly = ~(s.writable | s.w1c) & 0xff;
      assert.equal(fn.read8(offset) & readOnly, s.reset & readOnly, hex(offset));
      assert.equal(fn.read8(offset) & s.w1c, 0, `${hex(offset)}: a write never sets a R/WC bit`);
    }
  });
});
