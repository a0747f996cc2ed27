/**
 * The controller as a hostile or buggy guest drives it: a random memory image (a driver-shaped schedule,
 * a node soup or noise, bent by corruptions), then a random sequence of steps — frames, host stalls,
 * register writes of every width at every offset with garbage or meaningful values, register reads,
 * guest rewrites of TDs and frame list entries, device completions (also of cancelled requests),
 * attach, detach, port resets, remote wakeups and PCI resets. Devices are scripted fakes that answer at
 * random (NAK, STALL, babble, I/O errors, more data than asked, deferred) and real ones (HID, audio,
 * the async host device, an async wrapper).
 *
 * After every step:
 * - no exception escaped, and the controller kept its side of the device contract (CheckedDevice);
 * - every controller write landed where the schedule lets it write (ScheduleOracle), and a write
 *   refused for lying outside RAM ended in HSE;
 * - the IRQ line is the level UHCI 2.1.3 defines from USBSTS and USBINTR, and a TD retired with IOC
 *   left USBINT set with an IOC cause behind it;
 * - registers are consistent (reserved bits, HCRESET self-clearing, RS ⇔ ¬HCHalted, PORTSC ⇔ ports);
 * - a frame followed at most maxLinkVisitsPerFrame links; frames ran on the fixed grid from RS (none
 *   skipped, at most maxFramesPerWakeup per wake-up) and FRNUM counted exactly those that completed;
 * - FRNUM written while running was ignored;
 * - every request a device holds is still paired with a TD; after detach, a port reset, a controller
 *   reset or while halted a device holds none; a completion of a cancelled request writes nothing and
 *   raises nothing.
 */

import { UhciController } from "../../src/controller/uhci/uhci-controller.ts";
import { AsyncHostDevice } from "../../src/devices/async-host/async-host-device.ts";
import { AsyncIsoWrapper } from "../../src/devices/async-host/async-iso-wrapper.ts";
import { UsbMicrophone } from "../../src/devices/audio/microphone.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { IsoGadget } from "../../src/guest/testing/iso-gadget.ts";
import { RamGuestMemory } from "../../src/machine/guest-memory.ts";
import { LevelIrqLine } from "../../src/machine/irq-line.ts";
import type { UsbDevice } from "../../src/usb/device.ts";
import { PacketState, PacketStatus } from "../../src/usb/packet.ts";
import { FakeHostClock } from "../../test/iso/helpers/fake-host-clock.ts";
import { FakeDevice, type Reply } from "../../test/uhci/helpers/fake-device.ts";
import { type MemoryObserver, RecordingMemory } from "../../test/uhci/helpers/recording-memory.ts";
import { ScheduleOracle } from "../../test/uhci/helpers/schedule-oracle.ts";
import { Cmd, Ctrl, PID, Port, Reg, Sts } from "../../test/uhci/helpers/uhci-spec.ts";
import { CheckedDevice } from "../lib/checked-device.ts";
import { checkInterruptLine, checkRegisters } from "../lib/controller-invariants.ts";
import { FuzzRandom } from "../lib/random.ts";
import {
  buildImage,
  randomLink,
  type ScheduleImage,
  writeRandomQh,
  writeRandomTd,
} from "../lib/schedule-image.ts";
import { check, type FuzzTarget, type Trace } from "../lib/target.ts";

const hex = (v: number): string => `0x${(v >>> 0).toString(16)}`;

/** TD control bits the controller copies into every status it writes back (UHCI 3.2.2). */
const CTRL_KEPT = 0xe700_0000 | 0x0001_f800;
const CERR_MASK = 3 << Ctrl.CERR_SHIFT;

/**
 * Watches the controller's memory traffic for what registers cannot show: the oracle's verdict on every
 * write; each TD status word written (control bits kept, Active never set again, C_ERR only counting
 * down, ActLen never beyond MaxLen); and the events that may lie behind each USBINT cause.
 */
class StepObserver implements MemoryObserver {
  /** TDs retired with IOC in this step: USBINT with an IOC cause must follow. */
  iocRetired = 0;
  /** Since USBINT was last seen clear, something happened that may raise an IOC / short-packet cause. */
  iocPossible = false;
  shortPossible = false;
  /** The value the controller last read of each TD's control (+4) and token (+8) word. */
  private readonly seen = new Map<number, number>();

  constructor(
    readonly oracle: ScheduleOracle,
    private readonly ram: RamGuestMemory,
  ) {}

  onRead(address: number, length: number): void {
    this.oracle.onRead(address, length);
    const slot = address & 15;
    if (length !== 4 || (slot !== 4 && slot !== 8)) return;
    const value = this.ram.read32(address);
    this.seen.set(address, value);
    // UHCI 3.2.2: a TD fetched with Active clear and IOC set still raises IOC (Linux relies on it).
    if (slot === 4 && (value & Ctrl.IOC) !== 0 && (value & Ctrl.ACTIVE) === 0) this.iocPossible = true;
  }

  beforeWrite(address: number, length: number, value: number | null): void {
    this.oracle.beforeWrite(address, length, value);
    if (value === null || length !== 4 || (address & 15) !== 4) return;
    if (this.oracle.hasQh(address - 4)) {
      // A QH's element, or the status of a TD at an address also reached as a QH: the latter may raise
      // either cause, so both count as possible; nothing stricter can be said.
      this.iocPossible = true;
      this.shortPossible = true;
      return;
    }
    // A TD's control/status word.
    const ctrl = this.seen.get(address);
    const token = this.seen.get(address + 4);
    check(
      ctrl !== undefined && token !== undefined,
      () => `status written to ${hex(address)} before the TD was read`,
    );
    const what = (): string =>
      `TD ${hex(address - 4)}: status ${hex(value)} written over ${hex(ctrl)} (token ${hex(token)})`;
    check((value & CTRL_KEPT) === (ctrl & CTRL_KEPT), () => `${what()}: control bits changed`);
    check((value & Ctrl.ACTIVE) === 0 || (ctrl & Ctrl.ACTIVE) !== 0, () => `${what()}: made Active`);
    const cerr = (ctrl & CERR_MASK) >>> Ctrl.CERR_SHIFT;
    const cerrNow = (value & CERR_MASK) >>> Ctrl.CERR_SHIFT;
    check(cerrNow <= cerr, () => `${what()}: C_ERR went up`);
    // UHCI 3.2.2 C_ERR: a timeout on a non-iso TD counts down (a STALL to a SETUP, also reported as a
    // timeout, does not); reaching 0 retires the TD with Stalled. 0 means no limit.
    const stallToSetup = (value & Ctrl.STALLED) !== 0 && cerrNow === cerr;
    if ((ctrl & Ctrl.IOS) === 0 && (value & Ctrl.CRC_TIMEOUT) !== 0 && cerr > 0 && !stallToSetup) {
      check(cerrNow === cerr - 1, () => `${what()}: a timeout did not count C_ERR down`);
      if (cerrNow === 0) {
        check(
          (value & (Ctrl.ACTIVE | Ctrl.STALLED)) === Ctrl.STALLED,
          () => `${what()}: C_ERR ran out but not retired`,
        );
      }
    }
    const maxLenField = token >>> 21;
    if (maxLenField < 0x500 || maxLenField === 0x7ff) {
      const actLen = ((value & 0x7ff) + 1) & 0x7ff;
      check(actLen <= ((maxLenField + 1) & 0x7ff), () => `${what()}: ActLen beyond MaxLen`);
    }
    if ((value & Ctrl.ACTIVE) === 0) {
      if ((value & Ctrl.IOC) !== 0) {
        this.iocRetired++;
        this.iocPossible = true;
      }
      if ((value & Ctrl.SPD) !== 0 && (value & Ctrl.IOS) === 0) this.shortPossible = true;
    }
  }

  afterWrite(address: number, length: number): void {
    this.oracle.afterWrite(address, length);
  }
}

/** How a scripted device answers: at random, including babble and more data than was asked for. */
function randomReply(rng: FuzzRandom, pid: number, length: number): Reply {
  const roll = rng.below(100);
  if (roll < 15) return { kind: "nak" };
  if (roll < 20) return { kind: "stall" };
  if (roll < 23) return { kind: "babble" };
  if (roll < 28) return { kind: "io-error" };
  if (roll < 45) return { kind: "defer" };
  if (pid !== PID.IN) return { kind: "ack" };
  return { kind: "ack", data: randomData(rng, length) };
}

function randomData(rng: FuzzRandom, asked: number): Uint8Array {
  const roll = rng.below(10);
  const n = roll < 4 ? asked : roll < 9 ? rng.below(asked + 1) : Math.min(asked + 1 + rng.below(16), 1280);
  return new Uint8Array(n).fill(0xa0 + rng.below(16));
}

const STATUSES = [
  PacketStatus.Ack,
  PacketStatus.Ack,
  PacketStatus.Ack,
  PacketStatus.Nak,
  PacketStatus.Stall,
  PacketStatus.Babble,
  PacketStatus.IoError,
  PacketStatus.Crc,
  PacketStatus.BitStuff,
] as const;

class WalkerRun {
  readonly rng: FuzzRandom;
  readonly ram: RamGuestMemory;
  readonly memory: RecordingMemory;
  readonly irq = new LevelIrqLine();
  readonly clock = new FakeHostClock();
  readonly hc: UhciController;
  readonly oracle: ScheduleOracle;
  readonly observer: StepObserver;
  readonly image: ScheduleImage;
  readonly devices: CheckedDevice[] = [];
  readonly fakes = new Map<CheckedDevice, FakeDevice>();
  readonly linkLimit: number;
  readonly maxFramesPerWakeup: number;
  /** The grid of the current run (from the last RS edge). */
  /** The frame grid since RS: frame n is due at startMs + (n − startFrame) × periodMs ({@link frameDueMs}). */
  private startMs = 0;
  private startFrame = 0;
  private periodMs = 1;
  /** SOFMOD written while running: frames after `afterFrame` have the new length (UHCI 2.1.6). */
  private sofmodChange: { periodMs: number; afterFrame: number } | null = null;
  private frnumAtStart = 0;
  private framesAtWakeStart = 0;

  constructor(
    seed: number,
    private readonly trace: Trace,
  ) {
    const rng = new FuzzRandom(seed);
    this.rng = rng;
    this.ram = new RamGuestMemory(rng.pick([0x8000, 0x10000]));
    this.memory = new RecordingMemory(this.ram);
    this.linkLimit = rng.pick([16, 64, 256, 1024]);
    this.maxFramesPerWakeup = rng.pick([1, 8, 64]);
    this.hc = new UhciController({
      memory: this.memory,
      irq: this.irq,
      clock: this.clock,
      ports: rng.pick([1, 2, 2, 3, 3]),
      maxLinkVisitsPerFrame: this.linkLimit,
      bandwidthBytesPerFrame: rng.pick([64, 1280, 1280, 4096]),
      maxFramesPerWakeup: this.maxFramesPerWakeup,
      // Host stalls here last up to ~1 s: past the 100 ms pause threshold they are replayed, and with
      // room for every overdue frame none is held, so the grid oracle (every frame due has run) holds.
      // Holding is tested in src/controller/uhci/frame-clock.test.ts.
      hostStall: { maxReplayFrames: 2048 },
    });
    this.clock.afterWakeup = () => {
      const ran = this.hc.framesRun - this.framesAtWakeStart;
      check(ran <= this.maxFramesPerWakeup, () => `${ran} frames in one wake-up`);
      this.framesAtWakeStart = this.hc.framesRun;
    };
    this.makeDevices();
    // Plug devices in, in random order (most of them enabled, as a driver would after a port reset).
    const order = rng.shuffled(this.devices);
    this.hc.ports.forEach((_, port) => {
      const device = order.find((d) => !d.attached);
      if (device === undefined || !rng.chance(0.9)) return;
      this.hc.attach(port, device);
      if (rng.chance(0.9)) this.enablePort(port);
    });
    const frnum = rng.below(0x800);
    const addresses = this.devices.filter((d) => d.attached).map((d) => d.address);
    this.image = buildImage(rng, this.ram, frnum, addresses);
    this.oracle = new ScheduleOracle(this.ram);
    this.observer = new StepObserver(this.oracle, this.ram);
    this.log(
      `image ${this.image.kind}, hostility ${this.image.hostility}, ${this.image.nodes.length} nodes, ` +
        `frame list ${hex(this.image.frameList)}, RAM ${hex(this.ram.size)}, ${this.hc.ports.length} ports, ` +
        `link limit ${this.linkLimit}, devices ${this.devices.map((d) => d.name).join(", ")}`,
    );

    this.write(Reg.USBINTR, 2, rng.below(16));
    this.write(Reg.FRNUM, 2, frnum);
    this.write(Reg.FRBASEADD, 4, this.image.frameList);
    if (rng.chance(0.2)) this.write(Reg.SOFMOD, 1, rng.below(128));
    const cmd = (rng.chance(0.05) ? Cmd.SWDBG : 0) | (rng.chance(0.5) ? Cmd.CF | Cmd.MAXP : 0);
    this.write(Reg.USBCMD, 2, cmd);
    this.memory.observer = this.observer;
    this.step("start", () => this.write(Reg.USBCMD, 2, cmd | Cmd.RS));
  }

  private log(line: string): void {
    this.trace?.(line);
  }

  private makeDevices(): void {
    const rng = this.rng;
    for (const address of [1, 2]) {
      const fake = new FakeDevice({
        name: `fake@${address}`,
        address: rng.chance(0.9) ? address : rng.below(128),
      });
      fake.chooser = (packet) => randomReply(rng, packet.pid, packet.length);
      const checked = new CheckedDevice(fake);
      this.fakes.set(checked, fake);
      this.devices.push(checked);
    }
    const real = this.realDevice();
    if (real !== null) this.devices.push(new CheckedDevice(real));
  }

  /** One real device (at address 0 until the schedule's SET_ADDRESS reaches it), or none. */
  private realDevice(): UsbDevice | null {
    const rng = this.rng;
    switch (rng.below(8)) {
      case 0:
        return new UsbKeyboard();
      case 1:
        return new UsbMouse();
      case 2:
        return new UsbMicrophone();
      case 3:
        return new AsyncHostDevice({
          clock: this.clock,
          timing: {
            firstIsoDelayMs: rng.pick([0, 1, 10]),
            jitterMs: rng.below(3),
            nonIsoDelayMs: rng.pick([0, 1, 5]),
            seed: rng.u32(),
          },
          maxInFlight: rng.pick([2, 256]),
        });
      case 4:
        return new AsyncIsoWrapper(new UsbMicrophone(), {
          clock: this.clock,
          timing: { firstIsoDelayMs: 2 },
        });
      case 6:
        // An async device behind the async wrapper: the wrapper's own request waits on the device's.
        return new AsyncIsoWrapper(
          new AsyncHostDevice({
            clock: this.clock,
            timing: {
              firstIsoDelayMs: rng.pick([0, 1, 10]),
              nonIsoDelayMs: rng.pick([0, 1]),
              seed: rng.u32(),
            },
          }),
          { clock: this.clock, timing: { firstIsoDelayMs: rng.pick([0, 2]) } },
        );
      case 5: {
        const gadget = new IsoGadget();
        const every = 1 + rng.below(5);
        gadget.inDeferral = (seq) => (seq % every === 0 ? rng.below(4) : 0);
        gadget.inFailure = (seq) => (seq % 7 === 3 ? rng.pick(STATUSES) : null);
        gadget.inLength = (_seq, max) => (rng.chance(0.2) ? rng.below(max + 1) : max);
        return gadget;
      }
      default:
        return null;
    }
  }

  run(): void {
    const steps = this.rng.int(8, 48);
    for (let i = 0; i < steps; i++) this.randomStep(i);
  }

  private randomStep(index: number): void {
    const rng = this.rng;
    // Like a driver, the guest restarts a halted controller and recovers ports now and then, so that
    // garbage written over USBCMD or PORTSC does not leave the rest of the execution idle.
    const idlePorts = this.hc.ports.some((p) => p.device !== null && !p.active);
    const emptyPorts = this.hc.ports.some((p) => p.device === null);
    const action = rng.weighted([
      50,
      3,
      12,
      3,
      14,
      8,
      2,
      emptyPorts ? 8 : 2,
      5,
      this.running ? 2 : 12,
      0.5,
      1,
      idlePorts ? 10 : 2,
      1,
    ]);
    switch (action) {
      case 0:
        this.frameStep(index);
        return;
      case 1:
        this.stallStep(index);
        return;
      case 2:
        this.registerWriteStep(index);
        return;
      case 3: {
        const offset = rng.below(0x24);
        const width = rng.pick([1, 2, 4] as const);
        this.step(`read ${width} at ${hex(offset)}`, () => {
          const v = this.hc.ioRead(offset, width);
          check(
            Number.isInteger(v) && v >= 0 && v < 2 ** (8 * width),
            () => `read ${hex(v)} does not fit ${width} bytes`,
          );
        });
        return;
      }
      case 4:
        this.guestWriteStep(index);
        return;
      case 5:
        this.step(`${index}: devices complete`, () => this.completeSome());
        return;
      case 6:
        this.lateCompletionStep(index);
        return;
      case 7:
        this.plugStep(index);
        return;
      case 8: {
        const bits = rng.below(0x40);
        this.step(`${index}: clear USBSTS ${hex(bits)}`, () => this.write(Reg.USBSTS, 2, bits));
        return;
      }
      case 9: {
        const cmd = this.hc.ioRead(Reg.USBCMD, 2) & ~(Cmd.HCRESET | Cmd.GRESET);
        this.step(`${index}: RS again`, () => {
          if (rng.chance(0.5)) this.write(Reg.USBSTS, 2, 0x3f);
          this.write(Reg.USBCMD, 2, cmd | Cmd.RS);
        });
        return;
      }
      case 10:
        this.step(`${index}: PCI reset`, () => {
          this.hc.reset();
          this.checkNothingHeld("after a controller reset");
        });
        return;
      case 11:
        this.step(`${index}: device events`, () => this.deviceEvents());
        return;
      case 12:
        this.portStep(index);
        return;
      default: {
        // A driver's bring-up again, with the frame list re-programmed.
        this.step(`${index}: bring-up`, () => {
          this.write(Reg.USBCMD, 2, Cmd.HCRESET);
          this.checkNothingHeld("after HCRESET");
          this.write(Reg.FRBASEADD, 4, this.image.frameList);
          this.write(Reg.USBINTR, 2, 0xf);
          this.hc.ports.forEach((port, i) => {
            if (port.device !== null) this.enablePort(i);
          });
          this.write(Reg.USBCMD, 2, Cmd.RS | Cmd.CF | Cmd.MAXP);
        });
      }
    }
  }

  // ---- steps ----------------------------------------------------------------------------------------

  private get running(): boolean {
    return (this.hc.ioRead(Reg.USBSTS, 2) & Sts.HCHALTED) === 0;
  }

  /** Adds the frame list entries of the next `frames` frames as roots for the oracle. */
  private addRoots(frames: number): void {
    const base = this.hc.ioRead(Reg.FRBASEADD, 4);
    const frnum = this.hc.ioRead(Reg.FRNUM, 2);
    if (base + 0x1000 <= this.ram.size) this.oracle.watchFrameList(base);
    for (let i = 0; i < Math.min(frames, 1024); i++) {
      const entry = base + 4 * ((frnum + i) & 0x3ff);
      if (entry + 4 <= this.ram.size) this.oracle.addRoot(this.ram.read32(entry));
    }
  }

  private frameStep(index: number): void {
    if (!this.running) {
      // Halted: time passes anyway (device timers fire), no frame runs.
      this.step(`${index}: 1 ms while halted`, () => this.clock.runTo(this.clock.now() + 1), true);
      return;
    }
    // A driver keeps its queues busy: it submits completed transfers again between frames.
    if (this.image.resubmissions.length > 0 && this.rng.chance(0.5)) this.resubmit(index);
    const due = this.frameDueMs(this.hc.framesRun + 1);
    this.step(
      `${index}: frame ${this.hc.framesRun + 1} (FRNUM ${hex(this.hc.ioRead(Reg.FRNUM, 2))})`,
      () => {
        this.addRoots(1);
        this.clock.runTo(due);
        const visits = this.hc.lastFrameLinkVisits;
        check(
          visits <= this.linkLimit,
          () => `${visits} links followed in one frame, limit ${this.linkLimit}`,
        );
      },
      true,
    );
  }

  private stallStep(index: number): void {
    const ms = this.rng.pick([2, 5, 33, 64, 65, 200, 1000]) + this.rng.below(3);
    this.step(
      `${index}: host stall of ${ms} ms`,
      () => {
        this.addRoots(Math.ceil(ms / 0.99) + 2);
        this.clock.stall(ms);
        check(this.hc.lastFrameLinkVisits <= this.linkLimit, "link limit after a stall");
      },
      true,
    );
  }

  private registerWriteStep(index: number): void {
    const rng = this.rng;
    const offset = rng.chance(0.9) ? rng.below(0x20) : rng.below(0x40);
    const width = rng.pick([1, 2, 4] as const);
    const value = rng.chance(0.5) ? rng.garbage32() : this.meaningfulValue(offset);
    const before = this.hc.ioRead(Reg.USBCMD, 2);
    const frnum = this.hc.ioRead(Reg.FRNUM, 2);
    const wasRunning = this.running;
    this.step(`${index}: write${8 * width} ${hex(offset)} = ${hex(value)}`, () => {
      this.write(offset, width, value);
      const touchesCmd = offset <= 1;
      const commandByte = offset === 0 ? value & 0xff : 0;
      const reset =
        (commandByte & Cmd.HCRESET) !== 0 || ((commandByte & Cmd.GRESET) !== 0 && !(before & Cmd.GRESET));
      if (reset) this.checkNothingHeld("after HCRESET/GRESET");
      // UHCI 2.1.4: FRNUM is written only while halted.
      if (wasRunning && !touchesCmd) {
        const now = this.hc.ioRead(Reg.FRNUM, 2);
        check(
          now === frnum,
          () => `FRNUM changed from ${hex(frnum)} to ${hex(now)} by a write while running`,
        );
      }
    });
  }

  private meaningfulValue(offset: number): number {
    const rng = this.rng;
    switch (offset) {
      case Reg.USBCMD: {
        const cmd = this.hc.ioRead(Reg.USBCMD, 2);
        let v = rng.chance(0.7) ? Cmd.RS : 0;
        if (rng.chance(0.5)) v |= Cmd.CF | Cmd.MAXP;
        if (rng.chance(0.05)) v |= Cmd.EGSM;
        if (rng.chance(0.05)) v |= Cmd.FGR;
        if (rng.chance(0.05)) v |= Cmd.SWDBG;
        if (rng.chance(0.03)) v |= Cmd.HCRESET;
        if (rng.chance(0.03) || (cmd & Cmd.GRESET && rng.chance(0.5))) v |= Cmd.GRESET;
        return v;
      }
      case Reg.USBSTS:
        return rng.below(0x40);
      case Reg.USBINTR:
        return rng.below(0x10);
      case Reg.FRNUM:
        return rng.below(0x800);
      case Reg.FRBASEADD:
        return rng.chance(0.7) ? this.image.frameList : 0x1000 * rng.below(this.ram.size / 0x1000 + 4);
      case Reg.SOFMOD:
        return rng.below(0x100);
      case Reg.PORTSC1:
      case Reg.PORTSC1 + 2:
      case Reg.PORTSC1 + 4:
        return rng.pick([
          Port.PR,
          Port.PE,
          Port.PE | Port.CSC | Port.PEC,
          Port.SUSP,
          Port.RD,
          0,
          Port.CSC | Port.PEC,
        ]);
      default:
        return rng.garbage32();
    }
  }

  private guestWriteStep(index: number): void {
    const rng = this.rng;
    const image = this.image;
    const node = rng.pick(image.nodes);
    const at = node.address;
    if (at + 16 > this.ram.size) return;
    let what = "";
    let address = at;
    let length = 16;
    if (image.resubmissions.length > 0 && rng.chance(0.6)) {
      this.resubmit(index);
      return;
    }
    switch (rng.below(6)) {
      case 0:
        what = "rewrites a node";
        if (node.qh) writeRandomQh(rng, this.ram, image, at);
        else writeRandomTd(rng, this.ram, image, at);
        break;
      case 1:
        what = "toggles Active";
        address = at + 4;
        length = 4;
        this.ram.write32(address, (this.ram.read32(address) ^ Ctrl.ACTIVE) >>> 0);
        break;
      case 2:
        what = "moves a buffer";
        address = at + 12;
        length = 4;
        this.ram.write32(address, rng.chance(0.8) ? rng.below(this.ram.size - 1280) : rng.garbage32());
        break;
      case 3:
        what = "relinks";
        length = 4;
        this.ram.write32(at, randomLink(rng, image, at));
        break;
      case 4: {
        what = "rewrites a frame list entry";
        const entry = image.frameList + 4 * rng.below(1024);
        if (entry + 4 > this.ram.size) return;
        address = entry;
        length = 4;
        this.ram.write32(entry, randomLink(rng, image, image.frameList));
        break;
      }
      default:
        what = "re-arms a TD";
        address = at + 4;
        length = 4;
        this.ram.write32(address, ((this.ram.read32(address) & ~0x00ff_ffff) | Ctrl.ACTIVE | 0x7ff) >>> 0);
    }
    this.step(`${index}: guest ${what} at ${hex(address)}`, () => this.oracle.guestWrote(address, length));
  }

  /** The guest submits a transfer again, as a driver does when a URB completes (iso: a few frames ahead). */
  private resubmit(index: number): void {
    const rng = this.rng;
    const r = rng.pick(this.image.resubmissions);
    this.step(`${index}: guest resubmits ${r.isoTd === null ? "a queue" : "an iso TD"}`, () => {
      for (const [address, value] of r.words) {
        this.ram.write32(address, value);
        this.oracle.guestWrote(address, 4);
      }
      if (r.isoTd !== null) {
        const entry = this.image.frameList + 4 * ((this.hc.ioRead(Reg.FRNUM, 2) + 1 + rng.below(10)) & 0x3ff);
        if (entry + 4 <= this.ram.size) {
          // Keep what the entry led to behind the TD, as a driver inserts an iso TD in front of a frame.
          this.ram.write32(r.isoTd, this.ram.read32(entry));
          this.ram.write32(entry, r.isoTd);
          this.oracle.guestWrote(r.isoTd, 4);
          this.oracle.guestWrote(entry, 4);
        }
      }
    });
  }

  private completeSome(): void {
    const rng = this.rng;
    for (const [checked, fake] of this.fakes) {
      for (const packet of [...fake.inFlight]) {
        if (!rng.chance(0.5)) continue;
        const status = rng.pick(STATUSES);
        const accepted = fake.complete(status, randomData(rng, packet.length), packet);
        check(accepted, () => `${checked.name}: the host refused a completion of a request it still holds`);
      }
    }
  }

  /**
   * A backend that answers a request the host is done with: after cancelPacket (it ignored it), or a
   * second time. Its ticket is stale whatever became of the packet since (retired, pooled, or carrying
   * another request): the completion is refused and counted, and changes nothing.
   */
  private lateCompletionStep(index: number): void {
    const candidates = [...this.fakes.values()].flatMap((fake) =>
      [...fake.tickets]
        .filter(([packet, ticket]) => !packet.isPending(ticket))
        .map(([packet]) => [fake, packet] as const),
    );
    if (candidates.length === 0) return;
    const [fake, packet] = this.rng.pick(candidates);
    const again = packet.state === PacketState.Cancelled ? "late" : "stale or repeated";
    this.step(`${index}: ${again} completion of a request the host is done with`, () => {
      const writes = this.memory.writes;
      const sts = this.hc.ioRead(Reg.USBSTS, 2);
      const level = this.irq.level;
      const stale = this.hc.staleCompletions;
      const accepted = fake.complete(PacketStatus.Ack, new Uint8Array(8).fill(0x5a), packet);
      check(!accepted, "a completion with a stale ticket was accepted");
      check(this.hc.staleCompletions === stale + 1, "a stale completion was not counted");
      check(this.memory.writes === writes, "a stale completion wrote guest memory");
      check(
        this.hc.ioRead(Reg.USBSTS, 2) === sts && this.irq.level === level,
        "a stale completion raised status",
      );
    });
  }

  private plugStep(index: number): void {
    const rng = this.rng;
    const ports = this.hc.ports;
    const port = rng.below(ports.length);
    const present = ports[port]!.device;
    if (present !== null && rng.chance(0.5)) {
      this.step(`${index}: unplug port ${port + 1}`, () => {
        const wasEnabled = ports[port]!.enabled;
        const gone = this.hc.detach(port);
        check(gone === present, "detach returned another device");
        const device = this.devices.find((d) => d === gone);
        if (device !== undefined) {
          device.sweep();
          check(
            device.held.size === 0,
            () => `${device.name} still holds ${device.held.size} requests after unplug`,
          );
        }
        const portsc = this.hc.ioRead(Reg.PORTSC1 + 2 * port, 2);
        check(
          (portsc & (Port.CCS | Port.PE | Port.CSC)) === Port.CSC,
          () => `PORTSC ${hex(portsc)} after unplug`,
        );
        if (wasEnabled) check((portsc & Port.PEC) !== 0, "unplugging an enabled port sets PEC");
      });
      return;
    }
    const device = this.devices.find((d) => !d.attached);
    if (device === undefined || present !== null) return;
    this.step(`${index}: plug ${device.name} into port ${port + 1}`, () => {
      this.hc.attach(port, device);
      if (rng.chance(0.7)) this.enablePort(port);
    });
  }

  private portStep(index: number): void {
    const rng = this.rng;
    const port = rng.below(this.hc.ports.length);
    const reg = Reg.PORTSC1 + 2 * port;
    const choice = rng.chance(0.4) ? 0 : rng.below(5);
    this.step(`${index}: port ${port + 1} action ${choice}`, () => {
      switch (choice) {
        case 0: {
          this.write(reg, 2, Port.PR);
          const device = this.devices.find((d) => d === this.hc.ports[port]!.device);
          if (device !== undefined) {
            device.sweep();
            check(device.held.size === 0, "a port reset leaves requests with the device");
          }
          this.write(reg, 2, 0);
          if (rng.chance(0.7)) this.write(reg, 2, Port.PE);
          return;
        }
        case 1:
          this.write(reg, 2, Port.PE | Port.SUSP);
          return;
        case 2:
          this.write(reg, 2, Port.PE | Port.RD);
          this.write(reg, 2, Port.PE);
          return;
        case 3:
          this.write(reg, 2, 0);
          return;
        default:
          this.write(reg, 2, Port.CSC | Port.PEC | (this.hc.ioRead(reg, 2) & Port.PE));
      }
    });
  }

  private deviceEvents(): void {
    const rng = this.rng;
    for (const device of this.devices) {
      const inner = device.inner;
      if (inner instanceof FakeDevice) inner.upstream?.signalRemoteWakeup();
      else if (inner instanceof UsbKeyboard) {
        const usage = rng.chance(0.8) ? 4 + rng.below(0xdd - 4) : 0xe0 + rng.below(8);
        if (rng.chance(0.5)) inner.keyDown(usage);
        else inner.keyUp(usage);
      } else if (inner instanceof UsbMouse) inner.move(rng.below(300) - 150, rng.below(300) - 150);
    }
  }

  /**
   * Every register write of the harness goes through here: a single write is the only thing that can
   * start the controller (halted → running), and the grid it starts is remembered for the frame checks.
   */
  private write(offset: number, width: 1 | 2 | 4, value: number): void {
    const wasRunning = this.running;
    this.hc.ioWrite(offset, width, value);
    const periodMs = (11936 + this.hc.ioRead(Reg.SOFMOD, 1)) / 12000;
    if (!wasRunning && this.running) {
      this.startMs = this.clock.now();
      this.startFrame = 0;
      this.periodMs = periodMs;
      this.sofmodChange = null;
      this.frnumAtStart = this.hc.ioRead(Reg.FRNUM, 2);
      check(this.hc.framesRun === 0, "frames counted before the first one ran");
    } else if (wasRunning && this.running) {
      // UHCI 2.1.6: a SOFMOD write changes the length of the frames after the one in progress.
      const now = this.clock.now();
      const change = this.sofmodChange;
      if (change !== null && this.frameDueMs(change.afterFrame) <= now) {
        // The earlier change is in force: its grid continues from the end of its last old-length frame.
        this.startMs = this.frameDueMs(change.afterFrame);
        this.startFrame = change.afterFrame;
        this.periodMs = change.periodMs;
      }
      this.sofmodChange =
        periodMs === this.periodMs ? null : { periodMs, afterFrame: this.framesDue(now) + 1 };
    }
  }

  /** When frame n (counted from RS) is due. */
  private frameDueMs(n: number): number {
    const change = this.sofmodChange;
    if (change === null || n <= change.afterFrame) {
      return this.startMs + (n - this.startFrame) * this.periodMs;
    }
    const end = this.startMs + (change.afterFrame - this.startFrame) * this.periodMs;
    return end + (n - change.afterFrame) * change.periodMs;
  }

  /** How many frames are due at `now` (a small epsilon: a frame exactly due is due). */
  private framesDue(now: number): number {
    const change = this.sofmodChange;
    if (change !== null) {
      const end = this.frameDueMs(change.afterFrame);
      if (now >= end) return change.afterFrame + Math.floor((now - end) / change.periodMs + 1e-9);
    }
    return this.startFrame + Math.floor((now - this.startMs) / this.periodMs + 1e-9);
  }

  private enablePort(port: number): void {
    const reg = Reg.PORTSC1 + 2 * port;
    this.write(reg, 2, Port.PR);
    this.write(reg, 2, 0);
    this.write(reg, 2, Port.PE | Port.CSC | Port.PEC);
  }

  private packetCount(): number {
    let n = 0;
    for (const device of this.devices) n += device.packets;
    return n;
  }

  // ---- invariants after every step ------------------------------------------------------------------

  private checkNothingHeld(when: string): void {
    check(this.hc.asyncs.size === 0, () => `${this.hc.asyncs.size} requests still paired ${when}`);
    for (const device of this.devices) {
      device.sweep();
      check(device.held.size === 0, () => `${device.name} still holds ${device.held.size} requests ${when}`);
    }
  }

  /**
   * Runs one step and checks everything that must hold after it. `clockStep`: time passed in it (frames
   * may have run), so the frame grid is checked.
   */
  private step(label: string, body: () => void, clockStep = false): void {
    const wasRunning = this.running;
    const failedWrites = this.memory.failedWrites;
    const writes = this.memory.writes;
    const packets = this.trace === null ? 0 : this.packetCount();
    this.observer.iocRetired = 0;
    this.framesAtWakeStart = this.hc.framesRun;
    body();
    const hc = this.hc;
    const sts = hc.ioRead(Reg.USBSTS, 2);
    if (this.trace !== null) {
      this.log(
        `${label} → USBSTS ${hex(sts)}, FRNUM ${hex(hc.ioRead(Reg.FRNUM, 2))}, ${this.packetCount() - packets} packets, ` +
          `${this.memory.writes - writes} writes, ${hc.asyncs.size} in flight, IRQ ${this.irq.level ? "high" : "low"}`,
      );
    }
    const running = (sts & Sts.HCHALTED) === 0;

    check(
      this.oracle.violations.length === 0,
      () => `write outside the schedule: ${this.oracle.violations[0]}`,
    );
    if (this.memory.failedWrites > failedWrites) {
      check((sts & Sts.HSE) !== 0, () => `a DMA write outside RAM without HSE (USBSTS ${hex(sts)})`);
    }
    checkRegisters(hc);
    const causes = checkInterruptLine(hc, this.irq);
    const observer = this.observer;
    if (observer.iocRetired > 0) {
      check((sts & Sts.USBINT) !== 0, () => `a TD retired with IOC but USBINT is clear (USBSTS ${hex(sts)})`);
      check(causes === null || causes.ioc, "a TD retired with IOC but USBINT has no IOC cause");
    }
    if (causes !== null) {
      check(!causes.ioc || observer.iocPossible, "USBINT has an IOC cause but no IOC TD was met");
      check(
        !causes.shortPacket || observer.shortPossible,
        "USBINT has a short-packet cause but no SPD TD retired",
      );
    }
    if ((sts & Sts.USBINT) === 0) {
      observer.iocPossible = false;
      observer.shortPossible = false;
    }

    // The frame grid (seed point 4): every frame due since RS has run, FRNUM counted the completed ones.
    if (clockStep && wasRunning) {
      const frnum = hc.ioRead(Reg.FRNUM, 2);
      const ran = hc.framesRun;
      if (running) {
        const now = this.clock.now();
        const due = this.framesDue(now);
        const justDue = ran === due - 1 && this.frameDueMs(due) > now;
        check(ran === due || justDue, () => `${ran} frames ran but ${due} were due`);
        check(
          frnum === ((this.frnumAtStart + ran) & 0x7ff),
          () => `FRNUM ${hex(frnum)} after ${ran} frames from ${hex(this.frnumAtStart)}`,
        );
      } else {
        // Halted in this step: by the frame that failed (which does not count) or by a completion.
        const counted = (frnum - this.frnumAtStart) & 0x7ff;
        check(
          counted === (ran & 0x7ff) || counted === ((ran - 1) & 0x7ff),
          () => `FRNUM ${hex(frnum)} after ${ran} frames, halted`,
        );
      }
    }

    // A stopped controller executes nothing, so it has nothing in flight (a late answer would land in
    // memory the guest may have freed).
    if (!running) this.checkNothingHeld("while halted");
    // Requests in flight: each one a device holds is paired with a TD (or it could never be cancelled).
    for (const device of this.devices) {
      device.sweep();
      for (const packet of device.held) {
        check(
          hc.asyncs.findByPacket(packet) !== null,
          () => `${device.name} holds a request the controller forgot`,
        );
      }
      if (!device.attached)
        check(device.held.size === 0, () => `${device.name} unplugged but holds requests`);
      const inner = device.inner;
      if (inner instanceof AsyncHostDevice) {
        check(inner.stats.ignored === 0, "the controller dropped a request without cancelPacket");
      } else if (inner instanceof AsyncIsoWrapper) {
        check(inner.stats.ignored === 0, "the controller dropped a request without cancelPacket");
      }
    }
  }
}

export const frameWalkerTarget: FuzzTarget = {
  name: "frame-walker",
  summary:
    "random schedules, register writes of any width, stalls, attach/detach and async completions: " +
    "no exception, writes only where the schedule points, IRQ = enabled status, FRNUM exact, bounded work",
  run(seed, trace) {
    new WalkerRun(seed, trace).run();
  },
};
