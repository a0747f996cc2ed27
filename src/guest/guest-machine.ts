import type { GuestMemory } from "../machine/guest-memory.ts";

/** An I/O access width in bytes. */
export type IoWidth = 1 | 2 | 4;

/**
 * Everything the guest driver touches, and nothing more: what a CPU running a UHCI driver can reach.
 * Any UHCI implementation (ours, or one inside another emulator) can be driven through it.
 */
export interface GuestMachine {
  /** The controller's 32-byte I/O register window (UHCI 2.1), addressed from 0. */
  readonly io: {
    read(offset: number, width: IoWidth): number;
    write(offset: number, width: IoWidth, value: number): void;
  };
  /** Guest physical RAM, shared with the controller's DMA. */
  readonly memory: GuestMemory;
  /** The controller's interrupt line (level-triggered, UHCI 2.1.2). */
  irqLevel(): boolean;
  /** Lets `ms` milliseconds of machine time pass: a running controller executes that many frames. */
  advance(ms: number): void;
}
