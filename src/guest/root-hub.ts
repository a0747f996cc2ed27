import { UsbSpeed as Speed, type UsbSpeed } from "../usb/constants.ts";
import type { IoWidth } from "./guest-machine.ts";
import { PORTSC_WRITE_CLEAR, PORTSC_WRITE_ZERO, PortSc, UhciRegister } from "./registers.ts";

/**
 * The root hub as a driver sees it: the PORTSC registers (UHCI 2.1.7) and the timing the USB
 * specification demands around them. UHCI raises no interrupt for port changes, so, like uhci-hcd,
 * the driver polls.
 *
 * PORTSC mixes read/write bits with write-1-to-clear change bits, so every write starts from a fresh
 * read with the change bits masked out (or set only when clearing them is the point) — the same
 * discipline as uhci-hcd's CLR_RH_PORTSTAT/SET_RH_PORTSTAT.
 */

/** Delays from the USB 2.0 specification, in ms. */
export const PortTiming = {
  /** USB 2.0 7.1.7.3 TATTDB: a connect must be stable this long before the port is reset. */
  DebounceMs: 100,
  /** USB 2.0 7.1.7.5 TDRSTR: a root port drives reset for at least 50 ms. */
  ResetMs: 50,
  /** USB 2.0 7.1.7.3 TRSTRCY: the device may ignore traffic this long after reset. */
  ResetRecoveryMs: 10,
  /** USB 2.0 7.1.7.7 TDRSMDN: the host drives resume for at least 20 ms. */
  ResumeMs: 20,
  /** USB 2.0 7.1.7.7 TRSMRCY: the device may ignore traffic this long after resume. */
  ResumeRecoveryMs: 10,
} as const;

export interface PortStatus {
  /** The PORTSC value as read. */
  readonly raw: number;
  readonly connected: boolean;
  readonly connectChanged: boolean;
  readonly enabled: boolean;
  readonly enableChanged: boolean;
  readonly lowSpeed: boolean;
  readonly suspended: boolean;
  /** Resume signalling is seen on (remote wakeup) or driven onto the port. */
  readonly resumeDetected: boolean;
  readonly resetting: boolean;
  readonly dPlus: boolean;
  readonly dMinus: boolean;
}

export interface PortResetResult {
  /** The port came out of reset enabled, with a device on it. */
  readonly enabled: boolean;
  readonly speed: UsbSpeed | null;
  readonly status: PortStatus;
}

/** What the root hub needs from the driver: register access and the passing of time. */
export interface RootHubHost {
  ioRead(offset: number, width: IoWidth): number;
  ioWrite(offset: number, width: IoWidth, value: number): void;
  /** Lets `ms` pass while the controller keeps running (interrupts serviced). */
  run(ms: number): void;
}

export function decodePortStatus(raw: number): PortStatus {
  return {
    raw,
    connected: (raw & PortSc.CurrentConnect) !== 0,
    connectChanged: (raw & PortSc.ConnectChange) !== 0,
    enabled: (raw & PortSc.Enable) !== 0,
    enableChanged: (raw & PortSc.EnableChange) !== 0,
    lowSpeed: (raw & PortSc.LowSpeed) !== 0,
    suspended: (raw & PortSc.Suspend) !== 0,
    resumeDetected: (raw & PortSc.ResumeDetect) !== 0,
    resetting: (raw & PortSc.Reset) !== 0,
    dPlus: (raw & PortSc.LineDPlus) !== 0,
    dMinus: (raw & PortSc.LineDMinus) !== 0,
  };
}

/**
 * The value to write to set `bits` (R/W bits) while leaving every other R/W bit as read and clearing
 * no change bit by accident (UHCI 2.1.7).
 */
export function portValueToSet(current: number, bits: number): number {
  return (current | bits) & ~(PORTSC_WRITE_CLEAR | PORTSC_WRITE_ZERO) & 0xffff;
}

/**
 * The value to write to clear `bits`: R/W bits among them are written as 0, change bits among them as 1
 * (which clears them); all other change bits are written as 0 so they survive (UHCI 2.1.7).
 */
export function portValueToClear(current: number, bits: number): number {
  return (
    ((current & ~(PORTSC_WRITE_CLEAR | PORTSC_WRITE_ZERO) & ~bits) | (bits & PORTSC_WRITE_CLEAR)) & 0xffff
  );
}

export class RootHub {
  constructor(
    private readonly host: RootHubHost,
    /** Ports found at bring-up by probing PORTSC (bit 7 reads 1 on a real port). */
    readonly portCount: number,
  ) {}

  status(port: number): PortStatus {
    return decodePortStatus(this.read(port));
  }

  /** Every port's status, index = port. */
  statuses(): PortStatus[] {
    return Array.from({ length: this.portCount }, (_, port) => this.status(port));
  }

  /** Acknowledges connect and enable changes (write 1 to CSC/PEC). */
  clearChanges(port: number, bits: number = PortSc.ConnectChange | PortSc.EnableChange): void {
    this.clearBits(port, bits & PORTSC_WRITE_CLEAR);
  }

  /** Polls the port each millisecond until a device is connected; true when one is. */
  waitForConnect(port: number, timeoutMs: number): boolean {
    for (let waited = 0; ; waited++) {
      if (this.status(port).connected) return true;
      if (waited >= timeoutMs) return false;
      this.host.run(1);
    }
  }

  /**
   * Resets the port and enables it, as uhci-hcd does: PR for 50 ms, PR cleared, the connect and enable
   * changes the reset caused cleared, PE set; then the reset recovery time passes (USB 2.0 7.1.7.5).
   */
  reset(port: number): PortResetResult {
    this.setBits(port, PortSc.Reset);
    this.host.run(PortTiming.ResetMs);
    this.clearBits(port, PortSc.Reset);
    this.clearBits(port, PortSc.ConnectChange | PortSc.EnableChange);
    this.setBits(port, PortSc.Enable);
    this.host.run(PortTiming.ResetRecoveryMs);
    const status = this.status(port);
    const enabled = status.connected && status.enabled;
    return { enabled, speed: enabled ? (status.lowSpeed ? Speed.Low : Speed.Full) : null, status };
  }

  /** Disables the port (clears PE). */
  disable(port: number): void {
    this.clearBits(port, PortSc.Enable);
  }

  /** Selectively suspends the port (sets SUSP, UHCI 2.1.7); the device suspends after 3 ms idle. */
  suspend(port: number): void {
    this.setBits(port, PortSc.Suspend);
  }

  /**
   * Resumes a suspended port: drives resume (RD) for 20 ms, then ends it by clearing SUSP and RD, then
   * waits the resume recovery time (USB 2.0 7.1.7.7). A port that refuses RD (disabled) just leaves
   * suspend. Returns false when the port was not suspended.
   */
  resume(port: number): boolean {
    if (!this.status(port).suspended) return false;
    if (!this.status(port).resumeDetected) this.setBits(port, PortSc.ResumeDetect);
    if (this.status(port).resumeDetected) this.host.run(PortTiming.ResumeMs);
    this.finishResume(port);
    return true;
  }

  /**
   * Waits for a device on a suspended port to signal remote wakeup (the controller sets RD, UHCI 2.1.7),
   * then lets the resume run its 20 ms and ends it, as uhci-hcd's port polling does. True on wakeup.
   */
  waitForRemoteWakeup(port: number, timeoutMs: number): boolean {
    for (let waited = 0; ; waited++) {
      const status = this.status(port);
      if (status.suspended && status.resumeDetected) break;
      if (waited >= timeoutMs) return false;
      this.host.run(1);
    }
    this.host.run(PortTiming.ResumeMs);
    this.finishResume(port);
    return true;
  }

  private finishResume(port: number): void {
    this.clearBits(port, PortSc.Suspend | PortSc.ResumeDetect);
    // The controller drops RD once it has sent the end-of-resume EOP; give it a frame.
    if (this.status(port).resumeDetected) this.host.run(1);
    this.host.run(PortTiming.ResumeRecoveryMs);
  }

  private read(port: number): number {
    this.checkPort(port);
    return this.host.ioRead(UhciRegister.PortSc1 + 2 * port, 2) & 0xffff;
  }

  private setBits(port: number, bits: number): void {
    this.host.ioWrite(UhciRegister.PortSc1 + 2 * port, 2, portValueToSet(this.read(port), bits));
  }

  private clearBits(port: number, bits: number): void {
    this.host.ioWrite(UhciRegister.PortSc1 + 2 * port, 2, portValueToClear(this.read(port), bits));
  }

  private checkPort(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= this.portCount) {
      throw new RangeError(`port ${port} does not exist (the root hub has ${this.portCount})`);
    }
  }
}
