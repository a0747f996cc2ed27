import type { GuestMemory } from "../machine/guest-memory.ts";
import type { UsbSpeed } from "../usb/constants.ts";
import { DmaAllocator } from "./dma-allocator.ts";
import type { DriverContext, ScanTarget } from "./driver-context.ts";
import {
  type EnumerationHost,
  type EnumerationOptions,
  type EnumerationResult,
  enumerateDevice,
} from "./enumeration.ts";
import { GuestDevice } from "./guest-device.ts";
import { GuestHub, type GuestHubResult } from "./guest-hub.ts";
import type { GuestMachine, IoWidth } from "./guest-machine.ts";
import {
  FRNUM_MASK,
  PortSc,
  SOFMOD_DEFAULT,
  UHCI_IO_WINDOW,
  UhciRegister,
  USBSTS_ALL,
  UsbCmd,
  UsbIntr,
  UsbSts,
} from "./registers.ts";
import { RootHub } from "./root-hub.ts";
import { Schedule } from "./schedule.ts";

export interface UhciGuestOptions {
  /** First byte of the guest RAM the driver may use for its frame list, QHs, TDs and buffers. */
  readonly dmaBase: number;
  /** Bytes in that region: the frame list takes 4 KiB (plus alignment), the rest is for transfers. */
  readonly dmaSize: number;
  /** Frames a synchronous transfer may take before it is cancelled (default 1000 = 1 s). */
  readonly timeoutMs?: number;
  /**
   * How finely time passes between looks at the IRQ line: each millisecond is split into this many
   * equal steps (1, 2, 4, 8 or 16; default 1). A real OS takes its interrupt within microseconds; with
   * devices that answer between frames (async isochronous completions), a guest that looks only once
   * per millisecond sees the next frame run first.
   */
  readonly interruptChecksPerMs?: number;
}

/** The controller could not be brought up (it never finished a reset, or never started running). */
export class UhciBringUpError extends Error {}

/** The state of the controller as the driver drives it. */
export const ControllerState = {
  Running: "running",
  /** Globally suspended (EGSM) by {@link UhciGuestDriver.suspend}. */
  Suspended: "suspended",
  /** Halted by an error (HSE, HCPE, or RS dropped unexpectedly); see {@link UhciGuestDriver.haltReason}. */
  Halted: "halted",
} as const;
export type ControllerState = (typeof ControllerState)[keyof typeof ControllerState];

export interface InterruptStats {
  /** Interrupts serviced (the line was high and USBSTS had a cause). */
  serviced: number;
  /** Times the line was high while USBSTS showed no cause. */
  spurious: number;
  /** Times the line stayed high after every USBSTS bit had been cleared. */
  stuck: number;
  /** Of the serviced: how many had USBINT, USBERRINT, RD set. */
  usbInt: number;
  errorInt: number;
  resumeDetect: number;
}

/** uhci-hcd holds GRESET for 50 ms and then waits 10 ms (UHCI 2.1.1 asks for at least 10 ms). */
const GLOBAL_RESET_MS = 50;
const GLOBAL_RESET_RECOVERY_MS = 10;
/** How long HCRESET may take to clear itself before the controller is declared dead. */
const HC_RESET_TIMEOUT_MS = 10;
/** uhci-hcd's port probe treats more than 7 ports as a misdetection and assumes 2. */
const MAX_PLAUSIBLE_PORTS = 7;
const FALLBACK_PORTS = 2;

/**
 * A software UHCI driver modelled on Linux uhci-hcd. It reaches the controller only through a
 * {@link GuestMachine}: the I/O window, guest RAM, the IRQ line and the passing of time. Everything is
 * synchronous: operations advance machine time 1 ms at a time, servicing the interrupt whenever the
 * line is high, until they finish or run out of frames.
 */
export class UhciGuestDriver {
  readonly memory: GuestMemory;
  readonly dma: DmaAllocator;
  readonly schedule: Schedule;
  readonly rootHub: RootHub;
  /** Root hub ports found by the PORTSC probe at bring-up. */
  readonly portCount: number;
  /** Controller behaviour that contradicted the UHCI design guide, each message once. */
  readonly anomalies: string[] = [];
  readonly interrupts: InterruptStats = {
    serviced: 0,
    spurious: 0,
    stuck: 0,
    usbInt: 0,
    errorInt: 0,
    resumeDetect: 0,
  };
  private readonly ctx: DriverContext;
  private readonly targets = new Set<ScanTarget>();
  private readonly devices = new Set<GuestDevice>();
  private readonly addressesInUse = new Set<number>();
  private deferredFrees: number[] = [];
  private elapsed = 0;
  private halt: string | null = null;
  private controllerState: ControllerState = ControllerState.Running;
  private resumeSeen = false;
  private readonly defaultTimeout: number;
  /** Milliseconds between looks at the IRQ line (see {@link UhciGuestOptions.interruptChecksPerMs}). */
  private readonly subStepMs: number;

  /** Resets and starts the controller (see the index.ts overview); throws {@link UhciBringUpError}. */
  static start(machine: GuestMachine, options: UhciGuestOptions): UhciGuestDriver {
    return new UhciGuestDriver(machine, options);
  }

  private constructor(
    private readonly machine: GuestMachine,
    options: UhciGuestOptions,
  ) {
    this.memory = machine.memory;
    this.defaultTimeout = options.timeoutMs ?? 1000;
    const checks = options.interruptChecksPerMs ?? 1;
    if (![1, 2, 4, 8, 16].includes(checks)) {
      throw new RangeError(`interruptChecksPerMs must be 1, 2, 4, 8 or 16, not ${checks}`);
    }
    // Powers of two keep the sub-steps exact in binary floating point, so frames stay on the grid.
    this.subStepMs = 1 / checks;
    this.dma = new DmaAllocator(machine.memory, options.dmaBase, options.dmaSize);
    this.schedule = new Schedule(machine.memory, this.dma);
    this.ctx = this.makeContext();
    this.resetController();
    this.portCount = this.probePorts();
    this.rootHub = new RootHub(
      {
        ioRead: (offset, width) => this.ioRead(offset, width),
        ioWrite: (offset, width, value) => this.ioWrite(offset, width, value),
        run: (ms) => this.run(ms),
      },
      this.portCount,
    );
    this.configureAndStart();
  }

  // ---- Time and interrupts ----------------------------------------------------------------------

  /** Milliseconds of machine time the driver has let pass. */
  get elapsedMs(): number {
    return this.elapsed;
  }

  get state(): ControllerState {
    return this.controllerState;
  }

  /** Why the controller halted, or null. */
  get haltReason(): string | null {
    return this.halt;
  }

  /** Lets `ms` milliseconds pass, servicing the interrupt line after each. */
  run(ms: number): void {
    if (this.machine.irqLevel()) this.serviceInterrupt();
    for (let i = 0; i < ms; i++) this.step();
  }

  /** Lets time pass 1 ms at a time until `done()` holds or `timeoutMs` passed; returns `done()`. */
  runUntil(done: () => boolean, timeoutMs: number): boolean {
    if (this.machine.irqLevel()) this.serviceInterrupt();
    for (let waited = 0; !done(); waited++) {
      if (waited >= timeoutMs) return false;
      this.step();
    }
    return true;
  }

  /**
   * The interrupt handler (uhci-hcd's uhci_irq): reads USBSTS, writes back what it saw to clear it,
   * records a halt on HSE/HCPE or an unexpected HCHalted, notes a resume, and scans every queue.
   * Returns the USBSTS bits handled (0 when the interrupt was not ours).
   */
  serviceInterrupt(): number {
    const status = this.ioRead(UhciRegister.UsbSts, 2) & USBSTS_ALL;
    if ((status & ~UsbSts.HcHalted) === 0) {
      // Not ours (a shared line would be someone else's); on a line of its own it is a controller bug.
      if (this.machine.irqLevel()) {
        this.interrupts.spurious++;
        this.noteAnomaly(`IRQ line high with no cause in USBSTS (0x${hex(status)})`);
      }
      return 0;
    }
    this.ioWrite(UhciRegister.UsbSts, 2, status);
    this.interrupts.serviced++;
    if (status & UsbSts.UsbInt) this.interrupts.usbInt++;
    if (status & UsbSts.UsbErrInt) this.interrupts.errorInt++;
    if (status & UsbSts.ResumeDetect) {
      this.interrupts.resumeDetect++;
      this.resumeSeen = true;
    }
    if (status & UsbSts.HostSystemError) this.halted("host system error (HSE)");
    else if (status & UsbSts.HcProcessError) this.halted("host controller process error (HCPE)");
    else if (status & UsbSts.HcHalted && this.controllerState === ControllerState.Running) {
      this.halted("the controller halted unexpectedly (HCHalted while running)");
    }
    for (const target of [...this.targets]) target.scan();
    if (this.machine.irqLevel()) {
      this.interrupts.stuck++;
      this.noteAnomaly(`IRQ line still high after USBSTS 0x${hex(status)} was written back`);
    }
    return status;
  }

  /** The frame counter (FRNUM bits 10:0, UHCI 2.1.4). */
  frameNumber(): number {
    return this.ioRead(UhciRegister.FrNum, 2) & FRNUM_MASK;
  }

  // ---- Devices ----------------------------------------------------------------------------------

  /**
   * Enumerates the device on root port `port` (0-based): debounce, reset, descriptors, address,
   * strings, configuration. Never throws for a device that misbehaves; see {@link EnumerationResult}.
   */
  enumerate(port: number, options?: EnumerationOptions): EnumerationResult {
    return enumerateDevice(this.enumerationHost(), port, options);
  }

  /**
   * Opens an enumerated, configured hub for its hub driver ({@link GuestHub}): checks its class and
   * reads its hub descriptor. Its ports are then powered, watched and enumerated through the result.
   */
  openHub(device: GuestDevice): GuestHubResult {
    return GuestHub.open(device, this.enumerationHost());
  }

  private enumerationHost(): EnumerationHost {
    return {
      rootHub: this.rootHub,
      run: (ms) => this.run(ms),
      openDevice: (p, speed, address, maxPacket0) =>
        this.openDevice({ port: p, speed, address, maxPacketSize0: maxPacket0 }),
      allocateAddress: () => this.allocateAddress(),
      freeAddress: (address) => this.addressesInUse.delete(address),
    };
  }

  /**
   * A device handle without enumeration, for tests that walk the steps themselves. The port must
   * already be reset and enabled; `address` (default 0) is reserved until the device is released.
   */
  openDevice(options: {
    readonly port: number;
    readonly speed: UsbSpeed;
    readonly address?: number;
    readonly maxPacketSize0?: number;
  }): GuestDevice {
    const address = options.address ?? 0;
    if (address !== 0) {
      if (this.addressesInUse.has(address)) throw new Error(`bus address ${address} is in use`);
      this.addressesInUse.add(address);
    }
    const device = new GuestDevice(
      {
        ctx: this.ctx,
        released: (d) => {
          this.devices.delete(d);
          if (d.address !== 0) this.addressesInUse.delete(d.address);
        },
      },
      options.port,
      options.speed,
      address,
      options.maxPacketSize0 ?? 8,
    );
    this.devices.add(device);
    return device;
  }

  /** Devices opened and not released. */
  get openDevices(): readonly GuestDevice[] {
    return [...this.devices];
  }

  // ---- Global suspend and resume ------------------------------------------------------------------

  /**
   * Global suspend as uhci-hcd does it: only the resume interrupt stays enabled (if remote wakeup is
   * wanted), then USBCMD = EGSM | CF with RS clear; the controller halts and the bus goes idle
   * (UHCI 2.1.1). Transfers in flight simply wait.
   */
  suspend(options: { readonly remoteWakeup?: boolean } = {}): void {
    this.expectState(ControllerState.Running, "suspend");
    this.ioWrite(UhciRegister.UsbIntr, 2, (options.remoteWakeup ?? true) ? UsbIntr.Resume : 0);
    this.controllerState = ControllerState.Suspended;
    this.resumeSeen = false;
    this.ioWrite(UhciRegister.UsbCmd, 2, UsbCmd.EnterGlobalSuspend | UsbCmd.ConfigureFlag);
    // RS clears at the end of the current frame; give it one.
    this.run(1);
    if (!(this.ioRead(UhciRegister.UsbSts, 2) & UsbSts.HcHalted)) {
      this.noteAnomaly("HCHalted not set one frame after RS was cleared for global suspend");
    }
  }

  /**
   * Global resume (uhci-hcd's wakeup_rh): FGR for 20 ms (USB 2.0 7.1.7.7), FGR cleared so the
   * controller ends resume with EOP, then run again with all interrupts enabled.
   */
  resume(): void {
    this.expectState(ControllerState.Suspended, "resume");
    const egsm = this.ioRead(UhciRegister.UsbCmd, 2) & UsbCmd.EnterGlobalSuspend;
    this.ioWrite(UhciRegister.UsbCmd, 2, UsbCmd.ForceGlobalResume | UsbCmd.ConfigureFlag | egsm);
    this.run(20);
    this.ioWrite(UhciRegister.UsbCmd, 2, UsbCmd.ConfigureFlag);
    if (this.ioRead(UhciRegister.UsbCmd, 2) & UsbCmd.ForceGlobalResume) {
      this.noteAnomaly("FGR still set after the driver ended global resume");
    }
    this.startController();
    this.resumeSeen = false;
    this.run(1);
    if (this.ioRead(UhciRegister.UsbSts, 2) & UsbSts.HcHalted && this.halt === null) {
      this.halted("the controller did not run again after global resume");
    }
  }

  /**
   * While globally suspended, waits for a device's remote wakeup (USBSTS.RD: by interrupt, or by
   * polling when the resume interrupt is off), then resumes the bus. True when a wakeup came.
   */
  waitForRemoteWakeup(timeoutMs: number): boolean {
    this.expectState(ControllerState.Suspended, "wait for remote wakeup");
    const seen = this.runUntil(() => {
      if (this.resumeSeen) return true;
      const status = this.ioRead(UhciRegister.UsbSts, 2);
      if (!(status & UsbSts.ResumeDetect)) return false;
      this.ioWrite(UhciRegister.UsbSts, 2, UsbSts.ResumeDetect);
      return true;
    }, timeoutMs);
    if (seen) this.resume();
    return seen;
  }

  /** Stops the controller: releases every device and clears RS. */
  shutdown(): void {
    for (const device of [...this.devices]) device.release();
    this.ioWrite(UhciRegister.UsbIntr, 2, 0);
    this.ioWrite(UhciRegister.UsbCmd, 2, 0);
    this.controllerState = ControllerState.Halted;
    this.halt ??= "shut down";
    this.run(1);
  }

  // ---- Bring-up -----------------------------------------------------------------------------------

  /** GRESET pulse, then HCRESET until it clears (UHCI 2.1.1), interrupts off (uhci-hcd's reset). */
  private resetController(): void {
    this.ioWrite(UhciRegister.UsbCmd, 2, UsbCmd.GlobalReset);
    this.idle(GLOBAL_RESET_MS);
    this.ioWrite(UhciRegister.UsbCmd, 2, 0);
    this.idle(GLOBAL_RESET_RECOVERY_MS);
    this.ioWrite(UhciRegister.UsbCmd, 2, UsbCmd.HcReset);
    for (let waited = 0; this.ioRead(UhciRegister.UsbCmd, 2) & UsbCmd.HcReset; waited++) {
      if (waited >= HC_RESET_TIMEOUT_MS) throw new UhciBringUpError(`HCRESET still set after ${waited} ms`);
      this.idle(1);
    }
    this.ioWrite(UhciRegister.UsbIntr, 2, 0);
    this.ioWrite(UhciRegister.UsbCmd, 2, 0);
  }

  /**
   * Counts ports as uhci-hcd does: PORTSC registers from 0x10 on while bit 7 reads 1 and the value is
   * not 0xFFFF (UHCI 2.1.7; an absent port reads 0xFF7F on QEMU and Bochs).
   */
  private probePorts(): number {
    let count = 0;
    while (count < (UHCI_IO_WINDOW - UhciRegister.PortSc1) / 2) {
      const value = this.ioRead(UhciRegister.PortSc1 + 2 * count, 2) & 0xffff;
      if (!(value & PortSc.AlwaysOne) || value === 0xffff) break;
      count++;
    }
    if (count > MAX_PLAUSIBLE_PORTS) {
      this.noteAnomaly(`${count} ports probed; assuming ${FALLBACK_PORTS}`);
      count = FALLBACK_PORTS;
    }
    return count;
  }

  /** SOFMOD, FRBASEADD, FRNUM (uhci-hcd's configure_hc), then run (start_rh). */
  private configureAndStart(): void {
    this.ioWrite(UhciRegister.SofMod, 1, SOFMOD_DEFAULT);
    this.ioWrite(UhciRegister.FrBaseAdd, 4, this.schedule.frameListAddress);
    this.ioWrite(UhciRegister.FrNum, 2, 0);
    this.startController();
    this.run(1);
    if (this.ioRead(UhciRegister.UsbSts, 2) & UsbSts.HcHalted) {
      throw new UhciBringUpError(
        `the controller is still halted 1 ms after RS was set (${this.halt ?? "no cause"})`,
      );
    }
    const frame = this.frameNumber();
    if (frame !== 1) this.noteAnomaly(`FRNUM is ${frame} one frame after starting from 0`);
  }

  /** RS | CF | MAXP, then the four interrupt enables (UHCI 2.1.1, 2.1.3; uhci-hcd's start_rh). */
  private startController(): void {
    this.ioWrite(UhciRegister.UsbCmd, 2, UsbCmd.RunStop | UsbCmd.ConfigureFlag | UsbCmd.MaxPacket64);
    this.ioWrite(
      UhciRegister.UsbIntr,
      2,
      UsbIntr.TimeoutCrc | UsbIntr.Resume | UsbIntr.InterruptOnComplete | UsbIntr.ShortPacket,
    );
    this.controllerState = ControllerState.Running;
  }

  // ---- Internals ----------------------------------------------------------------------------------

  private step(): void {
    const releasable = this.deferredFrees;
    this.deferredFrees = [];
    for (let t = 0; t < 1; t += this.subStepMs) {
      this.machine.advance(this.subStepMs);
      if (this.subStepMs < 1 && this.machine.irqLevel()) this.serviceInterrupt();
    }
    this.elapsed++;
    for (const address of releasable) this.dma.release(address);
    if (this.machine.irqLevel()) this.serviceInterrupt();
  }

  /** Time passing while the controller is reset or halted: nothing to service. */
  private idle(ms: number): void {
    this.machine.advance(ms);
    this.elapsed += ms;
  }

  private halted(reason: string): void {
    if (this.halt !== null) return;
    this.halt = reason;
    this.controllerState = ControllerState.Halted;
    for (const target of [...this.targets]) target.controllerHalted();
  }

  private expectState(state: ControllerState, action: string): void {
    if (this.controllerState !== state) {
      throw new Error(`cannot ${action}: the controller is ${this.controllerState}, not ${state}`);
    }
  }

  private allocateAddress(): number | null {
    for (let address = 1; address <= 127; address++) {
      if (!this.addressesInUse.has(address)) {
        this.addressesInUse.add(address);
        return address;
      }
    }
    return null;
  }

  private noteAnomaly(message: string): void {
    if (!this.anomalies.includes(message)) this.anomalies.push(message);
  }

  private ioRead(offset: number, width: IoWidth): number {
    return this.machine.io.read(offset, width) >>> 0;
  }

  private ioWrite(offset: number, width: IoWidth, value: number): void {
    this.machine.io.write(offset, width, value >>> 0);
  }

  private makeContext(): DriverContext {
    const driver = this;
    return {
      memory: this.memory,
      dma: this.dma,
      schedule: this.schedule,
      get elapsedMs() {
        return driver.elapsed;
      },
      get defaultTimeoutMs() {
        return driver.defaultTimeout;
      },
      get haltReason() {
        return driver.halt;
      },
      releaseAfterFrame: (address) => {
        this.deferredFrees.push(address);
      },
      frameNumber: () => this.frameNumber(),
      runUntil: (done, timeoutMs) => this.runUntil(done, timeoutMs),
      addScanTarget: (target) => {
        this.targets.add(target);
      },
      removeScanTarget: (target) => {
        this.targets.delete(target);
      },
      noteAnomaly: (message) => this.noteAnomaly(message),
    };
  }
}

function hex(value: number): string {
  return value.toString(16);
}
