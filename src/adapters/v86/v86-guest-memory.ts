import {
  copyBytes,
  SHORT_COPY_BYTES,
  WordViewCache,
  type WordViews,
  wordViews,
} from "../../machine/byte-copy.ts";
import { type GuestMemory, inRam } from "../../machine/guest-memory.ts";
import type { V86Cpu } from "./v86-shim.ts";

/**
 * v86 guest RAM as the controller's DMA target. Every access is checked against the RAM size (v86's
 * release build does not bound-check its blob helpers). The wasm memory can grow during boot, which
 * detaches typed-array views, so the views are re-made when they have been detached. Range copies
 * allocate nothing (machine/byte-copy.ts: the frame walker copies on every transaction).
 */
export class V86GuestMemory implements GuestMemory {
  private bytes: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  private ram: WordViews = wordViews(this.bytes);
  private readonly packetViews = new WordViewCache();

  constructor(private readonly cpu: V86Cpu) {
    this.size = cpu.memory_size[0] ?? 0;
    this.refresh();
  }

  /** Bytes of guest RAM; fixed once v86 has created its memory. */
  readonly size: number;

  private refresh(): void {
    const size = this.size;
    if (this.bytes.length === size) return;
    this.bytes = new Uint8Array(this.cpu.wasm_memory.buffer, this.cpu.mem8.byteOffset, size);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, size);
    this.ram = wordViews(this.bytes);
  }

  read32(address: number): number {
    // -1 is DMA_FAULT, written as a literal: V8 does not fold a module's constant into optimised code,
    // so a result that may be it stays boxed, and every word of 2^31 or more read was a 16-byte heap
    // number (a TD token with MaxLen 0x7FF: one per frame on an idle Linux schedule).
    if (!inRam(this.size, address, 4)) return -1;
    this.refresh();
    return this.view.getUint32(address, true);
  }

  write32(address: number, value: number): boolean {
    if (!inRam(this.size, address, 4)) return false;
    this.refresh();
    this.view.setUint32(address, value >>> 0, true);
    this.cpu.jit_dirty_cache(address, address + 4);
    return true;
  }

  read(address: number, into: Uint8Array, length: number): boolean {
    if (length > into.length || !inRam(this.size, address, length)) return false;
    this.refresh();
    if (length < SHORT_COPY_BYTES) {
      const bytes = this.bytes;
      for (let i = 0; i < length; i++) into[i] = bytes[address + i]!;
    } else {
      copyBytes(this.ram, address, this.packetViews.of(into), 0, length);
    }
    return true;
  }

  write(address: number, from: Uint8Array, length: number): boolean {
    if (length > from.length || !inRam(this.size, address, length)) return false;
    this.refresh();
    if (length < SHORT_COPY_BYTES) {
      const bytes = this.bytes;
      for (let i = 0; i < length; i++) bytes[address + i] = from[i]!;
    } else {
      copyBytes(this.packetViews.of(from), 0, this.ram, address, length);
    }
    this.cpu.jit_dirty_cache(address, address + length);
    return true;
  }
}
