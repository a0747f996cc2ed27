import type { GuestMemory } from "../machine/guest-memory.ts";
import type { DmaAllocator } from "./dma-allocator.ts";
import type { Schedule } from "./schedule.ts";

/**
 * What endpoint queues and devices need from the driver core. Kept as an interface so the pieces
 * below the driver never import it (and so a later isochronous stream plugs in the same way).
 */
export interface DriverContext {
  readonly memory: GuestMemory;
  readonly dma: DmaAllocator;
  readonly schedule: Schedule;
  /** Milliseconds of machine time the driver has let pass since bring-up. */
  readonly elapsedMs: number;
  /** The controller's frame counter (FRNUM bits 10:0), for scheduling isochronous TDs ahead of it. */
  frameNumber(): number;
  /** Frames a synchronous transfer may take before it is cancelled with `timeout`. */
  readonly defaultTimeoutMs: number;
  /** Why the controller stopped, or null while it runs (or is deliberately suspended). */
  readonly haltReason: string | null;
  /**
   * Frees a DMA block once a frame boundary has passed: the controller may have fetched a pointer to
   * it during the current frame (uhci-hcd waits for the frame number to change for the same reason).
   */
  releaseAfterFrame(address: number): void;
  /** Lets time pass 1 ms at a time, servicing interrupts, until `done()` or `timeoutMs` ran out. */
  runUntil(done: () => boolean, timeoutMs: number): boolean;
  /** Registers something whose TDs are checked each time the interrupt is serviced. */
  addScanTarget(target: ScanTarget): void;
  removeScanTarget(target: ScanTarget): void;
  /** Records controller behaviour that contradicts the UHCI design guide. */
  noteAnomaly(message: string): void;
}

/** Something with TDs on the schedule: scanned after every interrupt, like uhci-hcd's scan of its QHs. */
export interface ScanTarget {
  /** Looks at the TDs and completes whatever finished. */
  scan(): void;
  /** The controller halted: complete everything outstanding with `controller-halted`. */
  controllerHalted(): void;
}
