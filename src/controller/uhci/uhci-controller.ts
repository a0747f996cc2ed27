import type { Clock } from "../../machine/clock.ts";
import type { GuestMemory } from "../../machine/guest-memory.ts";
import type { IrqLine } from "../../machine/irq-line.ts";
import { type IoWidth, RegisterBlock } from "../../machine/register-block.ts";
import { type JsonValue, type SavedState, SnapshotError } from "../../machine/snapshot.ts";
import type { UsbDevice } from "../../usb/device.ts";
import { restoresInPlace, SnapshotMode } from "../../usb/device-snapshot.ts";
import { isHubDevice, MAX_USB_TIERS } from "../../usb/hub.ts";
import { UsbPacketPool } from "../../usb/packet.ts";
import type { UsbPort } from "../../usb/port.ts";
import { ASYNC_VALID_FRAMES, AsyncQueue } from "./async-queue.ts";
import { controllerStateJson, readControllerState } from "./controller-state.ts";
import { FrameClock, type HostStallPolicy, type HostStallStats } from "./frame-clock.ts";
import { FrameWalker, UsbIntCause, type WalkerHost } from "./frame-walker.ts";
import { UhciPciFunction } from "./pci-config.ts";
import { REG, UHCI_IO_SIZE, UsbCmd, UsbIntr, UsbSts, uhciRegisterSpecs } from "./registers.ts";
import { type PortRestore, ResetKind, RootHub } from "./root-hub.ts";

export { DEFAULT_HOST_STALL_POLICY, type HostStallPolicy, type HostStallStats } from "./frame-clock.ts";

export interface UhciOptions {
  memory: GuestMemory;
  irq: IrqLine;
  clock: Clock;
  /** Root hub ports (UHCI has 2). */
  ports?: number;
  /** Bytes moved per frame before the frame ends (QEMU and Bochs use 1280). */
  bandwidthBytesPerFrame?: number;
  /** Links followed per frame at most: bounds the work a hostile schedule can cause. */
  maxLinkVisitsPerFrame?: number;
  /** Overdue frames run per wake-up after a host stall; the rest follow at the next wake-up. */
  maxFramesPerWakeup?: number;
  /**
   * How the frame clock rejoins the clock after a host pause (default DEFAULT_HOST_STALL_POLICY: a lag
   * beyond 100 ms replays up to 512 frames at once and holds the rest; docs/architecture.md, "Host
   * stalls").
   */
  hostStall?: Partial<HostStallPolicy>;
}

/** See {@link UhciController.asyncCounters}. */
export interface AsyncCounters {
  /** Requests paired with a TD and not yet answered and written back. */
  readonly inFlight: number;
  /** Completions refused because their ticket was stale (see {@link UhciController.staleCompletions}). */
  readonly staleCompletions: number;
  /** Iso completions not written because the guest had rewritten or deactivated the TD meanwhile. */
  readonly isoDroppedRewritten: number;
  /**
   * Iso completions not written because the frame that asked no longer leads to the TD within a frame's
   * link budget (the guest retired it, perhaps to resubmit it in a later frame).
   */
  readonly isoDroppedUnlinked: number;
}

export const UHCI_DEFAULTS = {
  ports: 2,
  bandwidthBytesPerFrame: 1280,
  maxLinkVisitsPerFrame: 1024,
  maxFramesPerWakeup: 64,
} as const;

/**
 * Options for emulation speed rather than USB 1.1 timing, for a guest that does not need real bus timing
 * (a USB stick read as fast as the emulator allows: docs/benchmarks.md, section 6). 64 KiB per frame
 * instead of the 1280 bytes a full-speed frame carries, and a link budget of 8192 instead of 1024: Linux's
 * uhci-hcd links a bulk queue's TDs breadth-first, so with full-speed bandwidth reclamation every TD
 * executed costs a trip round the reclamation loop (~6 links), and the default budget ended a frame
 * after ~170 TDs — a 64 KiB read took 6 frames the guest waited through; here it takes one. The budget
 * still bounds what a hostile schedule costs per frame (8 × the default). Spread into the options:
 * `new UhciController({ memory, irq, clock, ...UHCI_EMULATION_SPEED })`.
 */
export const UHCI_EMULATION_SPEED = {
  bandwidthBytesPerFrame: 65536,
  maxLinkVisitsPerFrame: 8192,
} as const;

/**
 * An Intel UHCI host controller (UHCI Design Guide rev 1.1), built from injected parts: guest memory
 * for DMA, a level IRQ line and a clock. It exposes a 32-byte I/O register window and a PCI function
 * (configuration space with BAR4); an emulator adapter maps them. Nothing a guest writes makes it throw.
 */
export class UhciController {
  /**
   * The PCI function (vendor 8086, device 7020, class 0C0300): its configuration space, BAR4 and
   * USBLEGSUP. An emulator routes configuration cycles to it and maps {@link ioRead}/{@link ioWrite}
   * where its BAR says (docs/architecture.md, "Mapping the controller into another emulator").
   */
  readonly pci = new UhciPciFunction();
  readonly ioSize = UHCI_IO_SIZE;
  readonly registers: RegisterBlock;
  readonly rootHub: RootHub;
  readonly asyncs = new AsyncQueue();
  private readonly memory: GuestMemory;
  private readonly irq: IrqLine;
  private readonly frameClock: FrameClock;
  private readonly walker: FrameWalker;
  /** Packets handed to devices; the controller's stale completions are counted here. */
  private readonly packetPool = new UsbPacketPool();
  /** Which causes lie behind USBSTS.USBINT (IOC, short packet): cleared with it. */
  private usbIntCauses = 0;
  private irqLevel = false;

  constructor(options: UhciOptions) {
    this.memory = options.memory;
    this.irq = options.irq;
    const portCount = options.ports ?? UHCI_DEFAULTS.ports;
    if (!Number.isInteger(portCount) || portCount < 1 || portCount > 7) {
      throw new RangeError(`a UHCI root hub has 1 to 7 ports, not ${portCount}`);
    }
    this.registers = new RegisterBlock(uhciRegisterSpecs(portCount), UHCI_IO_SIZE, 0xff);
    this.rootHub = new RootHub(this.registers, portCount, {
      forgetDevice: (device) => this.forgetDevice(device, 2),
      resumeSignalled: () => this.resumeSignalled(),
    });
    const host: WalkerHost = {
      memory: this.memory,
      asyncs: this.asyncs,
      findDevice: (address) => this.rootHub.findDevice(address),
      devicesChanged: () => this.rootHub.devices.invalidate(),
      acquirePacket: () => this.packetPool.acquire(),
      releasePacket: (packet) => this.packetPool.release(packet),
      raiseStatus: (bits) => this.raiseStatus(bits),
      get singleStep() {
        return singleStep();
      },
    };
    const singleStep = (): boolean => (this.registers.get(REG.USBCMD) & UsbCmd.SWDBG) !== 0;
    const maxLinkVisitsPerFrame = options.maxLinkVisitsPerFrame ?? UHCI_DEFAULTS.maxLinkVisitsPerFrame;
    this.walker = new FrameWalker(host, {
      bandwidthBytesPerFrame: options.bandwidthBytesPerFrame ?? UHCI_DEFAULTS.bandwidthBytesPerFrame,
      maxLinkVisitsPerFrame,
    });
    this.asyncs.replayHoldLimit = maxLinkVisitsPerFrame * ASYNC_VALID_FRAMES;
    this.walker.onAsyncCompletion = () => this.deliverInterrupts();
    this.frameClock = new FrameClock(
      options.clock,
      () => this.runFrame(),
      options.maxFramesPerWakeup ?? UHCI_DEFAULTS.maxFramesPerWakeup,
      options.hostStall,
    );
    this.resetController(ResetKind.PowerOn);
  }

  // ---- Bus face -------------------------------------------------------------------------------

  /** A guest I/O read of 1, 2 or 4 bytes at `offset` inside the 32-byte window. */
  ioRead(offset: number, width: IoWidth): number {
    return this.registers.read(offset, width);
  }

  /** A guest I/O write; any value at any offset and width is accepted. */
  ioWrite(offset: number, width: IoWidth, value: number): void {
    this.registers.write(offset, width, value >>> 0, this.onRegisterWrite);
    this.updateIrq();
  }

  /** Plugs a device into root port `portIndex` (0-based). */
  attach(portIndex: number, device: UsbDevice): void {
    this.rootHub.attach(portIndex, device);
  }

  /** Unplugs the device on root port `portIndex`; its outstanding requests are cancelled. */
  detach(portIndex: number): UsbDevice | null {
    return this.rootHub.detach(portIndex);
  }

  get ports(): readonly UsbPort[] {
    return this.rootHub.ports;
  }

  /**
   * Hardware reset (power-on, PCI RST#): like GRESET, every register and port back to its power-on
   * state and the devices reset. The PCI configuration space ({@link pci}) has its own reset, since an
   * emulator's firmware programs it and its snapshots may carry it.
   */
  reset(): void {
    this.resetController(ResetKind.PowerOn);
  }

  // ---- Observability ----------------------------------------------------------------------------

  /** Links followed during the last frame. */
  get lastFrameLinkVisits(): number {
    return this.walker.linkVisits;
  }
  /** Bytes moved during the last frame. */
  get lastFrameBytes(): number {
    return this.walker.frameBytes;
  }
  /** Frames run since RS was last set. */
  get framesRun(): number {
    return this.frameClock.frames;
  }
  /** The host-pause policy in force (see {@link UhciOptions.hostStall}). */
  get hostStallPolicy(): HostStallPolicy {
    return this.frameClock.stallPolicy;
  }
  /**
   * For the owner of a virtual clock about to advance it to `nowMs`: whether the frames lag that by
   * more than the host-stall threshold (a host pause), in which case the policy applies as the clock
   * advances (FrameClock.notePause). The v86 adapter calls it at each timer hook.
   */
  notePause(nowMs: number): boolean {
    return this.frameClock.notePause(nowMs);
  }
  /** Host pauses the frame clock found, and the frames it replayed and held after them. */
  get hostStallStats(): HostStallStats {
    return this.frameClock.stallStats;
  }
  /** How many frames each clock wake-up ran (index = count; the last bucket is the cap). */
  get framesPerWakeup(): Uint32Array {
    return this.frameClock.framesPerWakeup;
  }
  /**
   * Completions devices attempted with a stale ticket — after the request was cancelled (the TD left
   * the schedule or was taken back, an unplug, a reset, Run/Stop cleared, a snapshot restored), or a
   * second completion of one request. None of them was written anywhere.
   */
  get staleCompletions(): number {
    return this.packetPool.staleCompletions;
  }
  /** Async (deferred) request counters: stale completions, and late iso answers dropped, by reason. */
  get asyncCounters(): AsyncCounters {
    const dropped = this.walker.isoDropped;
    return {
      inFlight: this.asyncs.size,
      staleCompletions: this.packetPool.staleCompletions,
      isoDroppedRewritten: dropped.rewritten,
      isoDroppedUnlinked: dropped.unlinked,
    };
  }

  // ---- Snapshots ----------------------------------------------------------------------------------

  /**
   * The controller's state and that of every device on its ports, as one JSON-serialisable object
   * (controller-state.ts describes the format): registers, the USBINT causes, the IRQ level, the frame
   * clock's position relative to the clock, the root ports, and each device's own saved state — or,
   * for a passthrough device, only that it was there. Call it between frames (any time the emulator
   * is not inside a controller call). Requests in flight to async devices are not saved (they cannot
   * be); see {@link restoreState}.
   */
  saveState(): SavedState {
    const ports: JsonValue[] = this.rootHub.ports.map((port) => {
      const device = port.device;
      const inPlace = device !== null && restoresInPlace(device);
      return {
        enabled: port.enabled,
        suspended: port.suspended,
        device:
          device === null
            ? null
            : {
                name: device.name,
                snapshotMode: inPlace ? SnapshotMode.InPlace : SnapshotMode.Reattach,
                state: inPlace ? device.saveState() : null,
              },
      };
    });
    const r = this.registers;
    return controllerStateJson(
      {
        usbcmd: r.get(REG.USBCMD),
        usbsts: r.get(REG.USBSTS),
        usbintr: r.get(REG.USBINTR),
        frnum: r.get(REG.FRNUM),
        frbaseadd: r.get(REG.FRBASEADD),
        sofmod: r.get(REG.SOFMOD),
        portsc: this.rootHub.ports.map((_, i) => r.get(REG.PORTSC1 + i)),
        // The walker collects causes only during a frame, and delivers them at its end.
        usbIntCauses: this.usbIntCauses,
        irqLevel: this.irqLevel,
        frameClock: this.frameClock.saveState(),
        globalSuspend: this.rootHub.globallySuspended,
      },
      ports,
      this.asyncs.size,
    );
  }

  /**
   * Validates a {@link saveState} state — the controller's part and the state of every device that
   * will be restored in place — and returns the function that applies it; throws {@link SnapshotError}
   * (wrong kind, unknown version, a bad field, a port count that differs) having changed nothing.
   *
   * Applying it, port by port:
   * - the device plugged in now restores in place when it is an emulated device of the saved kind;
   * - otherwise — a passthrough (async) device, another device than the saved one, or a device on a port
   *   that was empty — it is a surprise removal and re-attach: the device is reset and the port shows
   *   the disconnect and the new connect (CSC, and PEC if the port was enabled), so the guest
   *   re-enumerates it;
   * - a port whose saved device is gone shows a disconnect.
   * Every request in flight on this controller is cancelled first. The frame grid resumes with the
   * same phase relative to the clock's time now, and the IRQ line is driven to the saved level.
   */
  prepareRestore(state: unknown): () => void {
    const saved = readControllerState(state, this.rootHub.ports.length);
    const plans: PortRestore[] = [];
    const devices: (() => void)[] = [];
    saved.ports.forEach((savedPort, i) => {
      const device = this.rootHub.ports[i]!.device;
      const savedDevice = savedPort.device;
      let action: PortRestore["action"];
      if (device === null) {
        action = savedDevice === null ? "keep" : "removed";
      } else if (
        savedDevice?.kind != null &&
        restoresInPlace(device) &&
        device.stateKind === savedDevice.kind
      ) {
        try {
          devices.push(device.prepareRestore(savedDevice.state));
        } catch (error) {
          if (!(error instanceof SnapshotError)) throw error;
          throw new SnapshotError(`port ${i + 1} (${device.name}): ${error.message}`, { cause: error });
        }
        action = "keep";
      } else {
        action = "replug";
      }
      plans.push({
        portsc: saved.portsc[i]!,
        enabled: savedPort.enabled,
        suspended: savedPort.suspended,
        action,
      });
    });
    return () => {
      this.frameClock.stop();
      this.asyncs.cancelAll(null);
      const r = this.registers;
      r.set(REG.USBCMD, saved.usbcmd);
      r.set(REG.USBSTS, saved.usbsts);
      r.set(REG.USBINTR, saved.usbintr);
      r.set(REG.FRNUM, saved.frnum);
      r.set(REG.FRBASEADD, saved.frbaseadd);
      r.set(REG.SOFMOD, saved.sofmod);
      this.usbIntCauses = saved.usbIntCauses;
      this.walker.pendingInterrupts = 0;
      // Drive the line to the saved level once, whatever this controller drove before: a fresh machine's
      // line starts low, and an interrupt controller restored with the machine already has the saved
      // level, where a level-triggered line set again to its level changes nothing.
      this.irqLevel = saved.irqLevel;
      this.irq.set(saved.irqLevel);
      for (const apply of devices) apply();
      this.rootHub.restorePorts(saved.globalSuspend, plans);
      // Restored devices have their saved addresses and hubs their saved ports.
      this.rootHub.devices.invalidate();
      this.frameClock.restoreState(saved.frameClock);
      // A SOFMOD written shortly before the save whose first frame had not come yet: it comes next.
      this.frameClock.setPeriod(this.framePeriodMs());
      this.updateIrq();
    };
  }

  /** `prepareRestore(state)()`: restores everything, or (on a {@link SnapshotError}) nothing. */
  restoreState(state: unknown): void {
    this.prepareRestore(state)();
  }

  // ---- Registers ----------------------------------------------------------------------------------

  /**
   * Cancels the outstanding requests of a device that went away or was reset, and of every device
   * behind it when it is a hub (they went with it). Bounded by the tier limit, so a hub plugged into
   * its own port cannot make it loop.
   */
  private forgetDevice(device: UsbDevice, tier: number): void {
    this.asyncs.cancelAll(device);
    if (tier >= MAX_USB_TIERS || !isHubDevice(device)) return;
    for (const port of device.downstreamPorts) {
      const behind = port.device;
      if (behind !== null) this.forgetDevice(behind, tier + 1);
    }
  }

  private readonly onRegisterWrite = (register: number, before: number): void => {
    switch (register) {
      case REG.USBCMD:
        this.commandWritten(before);
        break;
      case REG.USBSTS:
        // UHCI 2.1.2: HCHalted reflects the controller, not the guest's write.
        this.setHaltedBit();
        if (!(this.registers.get(REG.USBSTS) & UsbSts.USBINT)) this.usbIntCauses = 0;
        break;
      case REG.FRNUM:
        // UHCI 2.1.4: FRNUM is written only while the controller is halted.
        if (!this.isHalted()) this.registers.set(REG.FRNUM, before);
        break;
      case REG.SOFMOD:
        // UHCI 2.1.6: "the SOF timing of the next frame will be adjusted" — from the frame after the one
        // in progress, on the same grid; not at the next Run/Stop edge.
        this.frameClock.setPeriod(this.framePeriodMs());
        break;
      default:
        if (register >= REG.PORTSC1 && register < REG.PORTSC1 + this.rootHub.ports.length) {
          this.rootHub.portWritten(register - REG.PORTSC1, before);
        }
    }
  };

  private commandWritten(before: number): void {
    const cmd = this.registers.get(REG.USBCMD);
    if (cmd & UsbCmd.GRESET) {
      // UHCI 2.1.1 GRESET: the controller sends reset on the bus (every device returns to its default
      // state) and resets all its logic, the root hub's registers included, while the bit is held. Other
      // bits written meanwhile reach a controller in reset: they do not stick (HCRESET would never clear,
      // RS would read 1 while halted).
      if (!(before & UsbCmd.GRESET)) this.resetController(ResetKind.Global);
      this.registers.set(REG.USBCMD, UsbCmd.GRESET);
      return;
    }
    if (cmd & UsbCmd.HCRESET) {
      // UHCI 2.1.1 HCRESET: the controller's logic is reset and the bit clears itself; no reset is sent
      // on the bus (devices keep their address and configuration). Linux's uhci-hcd uses it to take
      // over from the BIOS and relies on the virtual disconnect it causes (RootHub.reset).
      this.resetController(ResetKind.HostController);
      return;
    }
    const wasRunning = (before & UsbCmd.RS) !== 0 && this.frameClock.isRunning;
    if (cmd & UsbCmd.RS && !wasRunning) this.start();
    else if (!(cmd & UsbCmd.RS) && this.frameClock.isRunning) this.stop();

    // Global suspend applies only while halted (UHCI 2.1.1 EGSM); FGR drives resume to the ports.
    const suspended = (cmd & UsbCmd.EGSM) !== 0 && !(cmd & UsbCmd.FGR) && this.isHalted();
    this.rootHub.setGlobalSuspend(suspended);
  }

  private start(): void {
    const sts = this.registers.get(REG.USBSTS);
    this.registers.set(REG.USBSTS, sts & ~UsbSts.HCHALTED);
    this.frameClock.start(this.framePeriodMs());
  }

  /** UHCI 2.1.6: frame length = 11936 + SOFMOD bit times at 12 Mbit/s; 64 (the reset value) is 1 ms. */
  private framePeriodMs(): number {
    return (11936 + this.registers.get(REG.SOFMOD)) / 12000;
  }

  private stop(): void {
    this.frameClock.stop();
    // A stopped controller executes nothing, so what is in flight is taken back (QEMU does the same):
    // Linux frees the schedule's memory after stopping the controller to suspend the bus, and an answer
    // arriving later must not land in it.
    this.asyncs.cancelAll(null);
    const cmd = this.registers.get(REG.USBCMD);
    this.registers.set(REG.USBCMD, cmd & ~UsbCmd.RS);
    this.registers.set(REG.USBSTS, this.registers.get(REG.USBSTS) | UsbSts.HCHALTED);
  }

  private isHalted(): boolean {
    return (this.registers.get(REG.USBSTS) & UsbSts.HCHALTED) !== 0;
  }

  private setHaltedBit(): void {
    const sts = this.registers.get(REG.USBSTS);
    const halted = !this.frameClock.isRunning;
    this.registers.set(REG.USBSTS, halted ? sts | UsbSts.HCHALTED : sts & ~UsbSts.HCHALTED);
  }

  /**
   * Resets the controller's registers (UHCI 2.1.1–2.1.6) and lets the root hub reset the ports as
   * `kind` does to them (RootHub.reset): PORTSC belongs to the root hub, since HCRESET keeps some of it.
   */
  private resetController(kind: ResetKind): void {
    this.frameClock.stop();
    this.asyncs.cancelAll(null);
    const r = this.registers;
    for (let i = 0; i < REG.PORTSC1; i++) r.set(i, r.specs[i]!.reset);
    this.usbIntCauses = 0;
    this.walker.pendingInterrupts = 0;
    this.rootHub.reset(kind);
    this.updateIrq();
  }

  // ---- Frames -----------------------------------------------------------------------------------

  /** One frame (UHCI 3.4): walk the schedule, age async requests, advance FRNUM, raise interrupts. */
  private runFrame(): void {
    const frnum = this.registers.get(REG.FRNUM);
    const base = this.registers.get(REG.FRBASEADD);
    this.walker.walkFrame((base + (frnum & 0x3ff) * 4) >>> 0);
    this.asyncs.endFrame(!this.frameClock.hostTimePassed);
    if (this.walker.stepped) {
      // UHCI 2.1.1 SWDBG: after one transaction the controller clears RS and halts in this frame.
      this.stop();
    } else if (this.frameClock.isRunning) {
      this.registers.set(REG.FRNUM, (frnum + 1) & 0x7ff);
    }
    // UHCI 3.2.2 IOC: the interrupt comes at the end of the frame in which the TD completed.
    this.deliverInterrupts();
  }

  private deliverInterrupts(): void {
    const causes = this.walker.pendingInterrupts;
    if (causes !== 0) {
      this.walker.pendingInterrupts = 0;
      this.usbIntCauses |= causes;
      this.registers.set(REG.USBSTS, this.registers.get(REG.USBSTS) | UsbSts.USBINT);
    }
    this.updateIrq();
  }

  private raiseStatus(bits: number): void {
    this.registers.set(REG.USBSTS, this.registers.get(REG.USBSTS) | bits);
    if (bits & (UsbSts.HSE | UsbSts.HCPE)) this.stop();
    this.updateIrq();
  }

  private resumeSignalled(): void {
    const cmd = this.registers.get(REG.USBCMD);
    if (cmd & UsbCmd.EGSM) {
      // UHCI 2.1.2 RD: resume seen during global suspend; the controller drives global resume (FGR).
      this.registers.set(REG.USBCMD, cmd | UsbCmd.FGR);
      this.registers.set(REG.USBSTS, this.registers.get(REG.USBSTS) | UsbSts.RD);
      this.rootHub.setGlobalSuspend(false);
    }
    this.updateIrq();
  }

  /** UHCI 2.1.3: the line is high while an enabled cause is pending; HSE and HCPE are not maskable. */
  private updateIrq(): void {
    const sts = this.registers.get(REG.USBSTS);
    const intr = this.registers.get(REG.USBINTR);
    const level =
      (sts & UsbSts.USBINT) !== 0 &&
      (((this.usbIntCauses & UsbIntCause.IOC) !== 0 && (intr & UsbIntr.IOC) !== 0) ||
        ((this.usbIntCauses & UsbIntCause.SHORT_PACKET) !== 0 && (intr & UsbIntr.SHORT_PACKET) !== 0));
    const on =
      level ||
      ((sts & UsbSts.USBERRINT) !== 0 && (intr & UsbIntr.TIMEOUT_CRC) !== 0) ||
      ((sts & UsbSts.RD) !== 0 && (intr & UsbIntr.RESUME) !== 0) ||
      (sts & (UsbSts.HSE | UsbSts.HCPE)) !== 0;
    if (on !== this.irqLevel) {
      this.irqLevel = on;
      this.irq.set(on);
    }
  }
}
