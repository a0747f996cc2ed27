import { PciCommand, PciConfigOffset } from "../../controller/uhci/pci-config.ts";
import { UhciController, type UhciOptions } from "../../controller/uhci/uhci-controller.ts";
import { VirtualClock } from "../../machine/clock.ts";
import type { IrqLine } from "../../machine/irq-line.ts";
import type { PauseFreeTime, TimeLeash } from "../../machine/pause-free-time.ts";
import { V86GuestMemory } from "./v86-guest-memory.ts";
import {
  V86_TSC_STATE_ENTRY,
  V86_UHCI_STATE_ENTRY,
  type V86Cpu,
  type V86Internals,
  type V86PciBar,
  v86Events,
  v86Internals,
} from "./v86-shim.ts";
import { controllerStateIn, withControllerState } from "./v86-state.ts";

/** PCI 00:01.2 — function 2 of the PIIX3 ISA bridge device, where a PIIX3's USB function sits. */
export const UHCI_PCI_DEVFN = (1 << 3) | 2;
/**
 * The I/O BAR's initial port. v86 relocates a BAR only for ports ≥ 0x1000, and SeaBIOS moves it; 0xEC00
 * is free in v86's default machine.
 */
export const UHCI_INITIAL_IO_BASE = 0xec00;

/** Milliseconds of frames run per v86 timer hook at most while the lag is below a host pause (see the hook). */
export const DEFAULT_MAX_CATCH_UP_MS = 4;

/**
 * With pause-free time (`time`): milliseconds of frames run per v86 timer hook at most while the
 * controller's interrupt is still pending from an earlier hook — the guest has run a whole slice of
 * instructions (v86 calls the hook every 100,003) without serving it. The bundled Linux, reading and
 * writing a stick, keeps interrupts off for up to 5–7 such slices; at 4 ms per hook that was 20–28 ms of
 * bus before it saw a completion, past the 12 ms of playback snd-usb-audio still has queued when a URB
 * completes (3 URBs of 6 packets), so the URB it resubmits lands in frames already run, uhci-hcd retires
 * those packets with -EXDEV, and their audio is lost with no underrun (issue 12: 96 playback frames lost
 * beside four busy loops; 1488 with a 3 ms stall injected into every hook). The leash holds the guest's
 * clock to the bus meanwhile, so a guest slow to answer sees time pass more slowly, not the bus run away.
 * A guest that serves its interrupts in time keeps {@link DEFAULT_MAX_CATCH_UP_MS} (a step of 1 ms for
 * every busy slice made the same test miss its 240 s limit beside four busy loops).
 */
export const DEFAULT_IRQ_PENDING_CATCH_UP_MS = 1;

/**
 * With pause-free time (`time`): how far the guest's clock may run ahead of the bus — of USB's next timer,
 * normally the next frame — before it waits (ms). More than {@link DEFAULT_MAX_CATCH_UP_MS}, so a hook's
 * catch-up step never has to stop the guest, and well under the frame clock's 100 ms host-pause
 * threshold, so a slow host never looks like a pause; about half of what snd-usb-audio keeps queued
 * (10–18 frames of iso URBs), so the guest never schedules further ahead of the bus than a real one would.
 */
export const DEFAULT_TIME_LEAD_MS = 8;

export interface AttachUhciOptions extends Omit<UhciOptions, "memory" | "irq" | "clock"> {
  /**
   * Milliseconds of backlog run per v86 timer hook at most while USB time lags v86's by less than the
   * controller's host-stall threshold (`hostStall.thresholdMs`); beyond it USB time rejoins at once.
   * Default {@link DEFAULT_MAX_CATCH_UP_MS}.
   */
  maxCatchUpMsPerHook?: number;
  /** PCI devfn (default 00:01.2). */
  devfn?: number;
  /** Initial I/O BAR base (default 0xEC00); the BIOS may move it. */
  ioBase?: number;
  /**
   * The time v86 keeps the guest's clock with, in ms (default `performance.now()`): the adapter's frame
   * grid starts on it and rejoins it after a restore. When v86 was loaded with
   * {@link loadV86WithPauseFreeTime}, pass its `time` instead (`time.now` here works, without the leash).
   */
  now?: () => number;
  /**
   * The pause-free time v86 was loaded with ({@link loadV86WithPauseFreeTime}). The adapter keeps time by
   * it (as `now`) and holds it on a leash: the guest's clock never runs more than `timeLeadMs` past USB's
   * next timer, so on a slow host the guest waits for the bus instead of the bus replaying frames as
   * after a host pause (docs/architecture.md, "Host stalls"). Released while the emulator is stopped and
   * on detach.
   */
  time?: PauseFreeTime;
  /** With `time`: default {@link DEFAULT_TIME_LEAD_MS}. */
  timeLeadMs?: number;
  /**
   * With `time`: milliseconds of frames run per timer hook at most while the controller's interrupt is
   * pending at the hook (the guest has not served it). Default {@link DEFAULT_IRQ_PENDING_CATCH_UP_MS};
   * never more than `maxCatchUpMsPerHook`.
   */
  irqPendingCatchUpMsPerHook?: number;
}

export interface UhciOnV86 {
  controller: UhciController;
  /** The clock the controller runs on; the adapter advances it to v86's time in the timer hook. */
  clock: VirtualClock;
  /** The I/O port the BAR decodes now (after any BIOS relocation): controller.pci.ioBase in x86's 64 KiB. */
  currentIoBase(): number;
  /** Restores v86's timer hook and stops using the controller. */
  detach(): void;
}

/**
 * Attaches a UHCI controller to a v86 emulator. Call in the "emulator-ready" event (before the BIOS
 * runs) so the BIOS and the guest find it at PCI enumeration.
 *
 * From then on v86's `save_state` includes the controller and its devices, and `restore_state` (or the
 * `initial_state` option) restores them: attach the controller and plug the same devices into the same
 * ports before restoring (docs/snapshots.md).
 */
export function attachUhciToV86(emulator: unknown, options: AttachUhciOptions = {}): UhciOnV86 {
  const v86: V86Internals = v86Internals(emulator);
  const cpu = v86.cpu;
  const pci = cpu.devices.pci;
  const devfn = options.devfn ?? UHCI_PCI_DEVFN;
  const ioBase = options.ioBase ?? UHCI_INITIAL_IO_BASE;

  // The line's level, for the timer hook: an interrupt still pending there has waited a whole slice.
  let irqPending = false;
  const irq: IrqLine = {
    // Level-triggered through v86's PIRQ routing: raised while the controller requests service.
    set: (level) => {
      irqPending = level;
      if (level) pci.raise_irq(devfn);
      else pci.lower_irq(devfn);
    },
  };
  const now = options.time?.now ?? options.now ?? (() => performance.now());
  const clock = new VirtualClock(now());
  const controller = new UhciController({ ...options, memory: new V86GuestMemory(cpu), irq, clock });

  // The leash on pause-free time (`time`; see the timer hook below): time may run `leadMs` past USB's
  // next timer, and is free while none is armed. Held again at each hook, after a restore, and after a
  // write to USBCMD: the guest setting RS arms the frame clock between hooks, and its clock must not run
  // on unheld until the next hook (a slow host's hooks came 335 ms apart) — nor after HCRESET/GRESET.
  const leadMs = options.timeLeadMs ?? DEFAULT_TIME_LEAD_MS;
  const leash: TimeLeash | null = options.time?.leash() ?? null;
  const holdLeash = (due = clock.nextDueMs()) => {
    if (leash === null) return;
    if (due === undefined) leash.release();
    else leash.hold(Math.max(due, clock.now()) + leadMs);
  };

  // Port handlers: offset i is bound to its own closure, so the handlers stay right when v86 moves the
  // whole BAR's port entries after the BIOS reprograms it.
  const device = { name: "uhci" };
  for (let offset = 0; offset < controller.ioSize; offset++) {
    cpu.io.register_read(
      ioBase + offset,
      device,
      () => controller.ioRead(offset, 1),
      () => controller.ioRead(offset, 2),
      () => controller.ioRead(offset, 4) | 0,
    );
    // USBCMD (offsets 0–1; a 16- or 32-bit write at 0 covers it) starts and stops the frame clock.
    const command = offset < 2 && leash !== null;
    const writer = (size: 1 | 2 | 4) =>
      command
        ? (value: number) => {
            controller.ioWrite(offset, size, value);
            holdLeash();
          }
        : (value: number) => controller.ioWrite(offset, size, value);
    cpu.io.register_write(ioBase + offset, device, writer(1), writer(2), writer(4));
  }

  // The PCI function is the controller's (controller.pci): the adapter only connects it to v86's bus.
  // First what firmware would have left (v86 can move a BAR only to ports ≥ 0x1000, so it starts at
  // one; SeaBIOS relocates it): the BAR at `ioBase`, I/O decoding and bus mastering on.
  const config = controller.pci;
  const barIndex = config.identity.ioBar.index;
  config.write32(PciConfigOffset.BAR0 + 4 * barIndex, ioBase);
  config.write16(PciConfigOffset.COMMAND, PciCommand.IO_SPACE | PciCommand.BUS_MASTER);
  const bars: (V86PciBar | undefined)[] = [];
  const bar: V86PciBar = { size: config.identity.ioBar.size };
  bars[barIndex] = bar;
  pci.register_device({ pci_id: devfn, pci_space: Array.from(config.bytes), pci_bars: bars, name: "uhci" });
  // v86 answers configuration reads from its copy of the space and carries that copy in save_state and
  // restore_state: make its copy a view of the function's own bytes, so there is one space.
  pci.device_spaces[devfn] = new Int32Array(config.bytes.buffer, config.bytes.byteOffset, 64);
  // v86 has no configuration-write hook for a device (it stores writes verbatim), so configuration
  // cycles addressed to this function are routed to it; every other function's go to v86 as before.
  // A BAR the guest moves takes its I/O handlers along through v86's own mover (ports ≥ 0x1000 only).
  config.onBarMoved = (_index, from, to) => pci.set_io_bars(bar, from & 0xffff, to & 0xffff);
  const originalWrite8 = pci.pci_write8;
  const originalWrite16 = pci.pci_write16;
  const originalWrite32 = pci.pci_write32;
  const ours = (address: number): boolean => ((address >>> 8) & 0xffff) === devfn;
  pci.pci_write8 = function (address, value) {
    if (ours(address)) config.write8(address & 0xff, value);
    else originalWrite8.call(this, address, value);
  };
  pci.pci_write16 = function (address, value) {
    if (ours(address)) config.write16(address & 0xff, value);
    else originalWrite16.call(this, address, value);
  };
  pci.pci_write32 = function (address, value) {
    if (ours(address)) config.write32(address & 0xff, value);
    else originalWrite32.call(this, address, value);
  };

  // The frame clock runs from v86's periodic device hook, catching up to v86's time. It never asks to
  // be called back in under 1 ms: a smaller answer makes v86 busy-spin the host CPU.
  // v86 has no virtual clock: the guest's time follows performance.now() (or the pause-free time it was
  // loaded with). Two kinds of lag, told apart by the controller's host-stall threshold
  // (docs/architecture.md, "Host stalls"):
  // - a slow guest (host load; lag below the threshold): USB time advances at most `maxCatchUpMs` per
  //   call, with a slice of guest instructions between calls, so the guest refills its iso URBs between
  //   bursts (snd-usb-audio keeps ~10–18 frames queued and schedules into the past without
  //   URB_ISO_ASAP: frames run faster than it refills are lost samples);
  // - a host pause (SIGSTOP, a blocked event loop, a background tab; lag above the threshold): the
  //   guest's clock has jumped, so USB time rejoins it in this call (the frame clock replays up to 512
  //   overdue frames, the guest's queued TDs in them, and holds the rest) instead of lagging seconds
  //   behind. A capture the guest reads blocked across a pause longer than its PCM read timeout still
  //   ends with EIO: that timeout counts guest jiffies, which jump with v86's clock whatever USB does —
  //   unless v86 was loaded with pause-free time (loadV86WithPauseFreeTime), whose clock, and so
  //   `nowMs` here, does not jump at all (docs/architecture.md, "Host stalls").
  // With pause-free time (`time`) the first kind cannot grow into the second: the leash holds the
  // guest's clock at most `leadMs` past USB's next timer. Under load v86's hook came up to 335 ms apart
  // while the guest, reading the time inside its slices, ran on; the frame clock then took the lag for
  // a host pause and replayed the frames at once, and playback frames beyond snd-usb-audio's queue
  // carried nothing (issue 12: three streams while a stick was read and written).
  // Nothing due by `nowMs` (a stopped controller, or only a far timer): USB time goes all the way, as
  // nothing would run; and with no timer at all the leash is released, since there is no bus to wait
  // for (an idle guest in HLT sleeps as long as its own timers say; a leash would slow its clock).
  // Leashed, a hook that finds the controller's interrupt still pending (the guest ran a whole slice
  // without serving it: interrupts off) runs at most `irqPendingCatchUpMs` of frames, so the bus does not
  // run past what the guest has queued before it can answer (DEFAULT_IRQ_PENDING_CATCH_UP_MS: Linux
  // reading and writing a stick kept interrupts off for 20–28 ms of bus at 4 ms per hook). Not without
  // the leash: there the guest's clock runs on, and a smaller step would only let the lag grow into a
  // host pause.
  const maxCatchUpMs = options.maxCatchUpMsPerHook ?? DEFAULT_MAX_CATCH_UP_MS;
  const irqPendingCatchUpMs = Math.min(
    maxCatchUpMs,
    options.irqPendingCatchUpMsPerHook ?? DEFAULT_IRQ_PENDING_CATCH_UP_MS,
  );
  const originalTimers = cpu.run_hardware_timers;
  cpu.run_hardware_timers = function (acpiEnabled, nowMs) {
    const next = originalTimers.call(this, acpiEnabled, nowMs);
    const step = leash !== null && irqPending ? irqPendingCatchUpMs : maxCatchUpMs;
    clock.advanceTo(controller.notePause(nowMs) ? nowMs : Math.min(nowMs, clock.now() + step));
    const due = clock.nextDueMs();
    // Nothing due by nowMs: no frame would run on the way, so USB time goes all the way (no timer fires).
    if (due === undefined || due > nowMs) clock.jumpTo(nowMs);
    holdLeash(due);
    return due === undefined ? next : Math.min(next, Math.max(1, due - nowMs));
  };
  // A stopped (or dead: HLT with interrupts off) emulator runs no hook: its leash must not hold the
  // time the realm's other emulators keep. The next hook after a restart holds it again.
  const events = leash === null ? null : v86Events(emulator);
  const releaseLeash = () => leash?.release();
  events?.add_listener("emulator-stopped", releaseLeash);
  events?.add_listener("cpu-event-halt", releaseLeash);

  // Snapshots: the controller's state and its devices' ride along in v86's own save_state/restore_state
  // (v86-state.ts). v86 restores RAM, the PCI config space (re-mapping the BAR) and the interrupt
  // controllers; the controller is restored after them, so it resumes against the restored RAM.
  const originalGetState = cpu.get_state;
  const originalSetState = cpu.set_state;
  cpu.get_state = function () {
    const state = originalGetState.call(this);
    state[V86_UHCI_STATE_ENTRY] = withControllerState(
      state[V86_UHCI_STATE_ENTRY],
      devfn,
      controller.saveState(),
    );
    return state;
  };
  cpu.set_state = function (state) {
    // Validated before v86 changes anything: a refused state (another version…) fails the whole restore
    // with the machine untouched. A snapshot without this controller restarts it from power-on.
    const saved = controllerStateIn(state[V86_UHCI_STATE_ENTRY], devfn);
    const apply = saved === null ? () => controller.reset() : controller.prepareRestore(saved);
    originalSetState.call(this, state);
    // The guest's time stamp counter resumes from the save. Linux keeps time with it (tsc=reliable),
    // and v86 leaves it ahead: its set_state sets the counter first and then unpacks RAM and clears its
    // JIT cache (hundreds of ms for 128 MiB, the thread blocked, the counter running on), and its
    // set_tsc adds the offset the counter had, so a second restore into the same emulator jumps the
    // guest's clock forward by the time between the first one's save and restore. Measured in v86
    // without pause-free time: a restore of 0.9 s into the running emulator ended the arecord that was
    // recording at the save with EIO (its read timeout, 550 ms for the default buffer, counts jiffies;
    // docs/architecture.md, "Host stalls").
    const tsc = tscIn(state);
    if (tsc !== null) setGuestTsc(cpu, tsc);
    // v86 keeps time with performance.now() (its microtick), or the pause-free time it was loaded with
    // (`now`). The clock may lag it (an emulator created a while ago and not yet running): the restored
    // frame grid starts from now, not from a backlog.
    clock.jumpTo(now());
    apply();
    holdLeash();
  };

  return {
    controller,
    clock,
    currentIoBase: () => config.ioBase & 0xffff,
    detach: () => {
      cpu.get_state = originalGetState;
      cpu.set_state = originalSetState;
      cpu.run_hardware_timers = originalTimers;
      pci.pci_write8 = originalWrite8;
      pci.pci_write16 = originalWrite16;
      pci.pci_write32 = originalWrite32;
      config.onBarMoved = null;
      events?.remove_listener("emulator-stopped", releaseLeash);
      events?.remove_listener("cpu-event-halt", releaseLeash);
      leash?.dispose();
    },
  };
}

/** The saved time stamp counter in a v86 state array, or null when it has none of that shape. */
function tscIn(state: unknown[]): bigint | null {
  const entry = state[V86_TSC_STATE_ENTRY] as ArrayLike<unknown> | null | undefined;
  if (entry === null || typeof entry !== "object" || entry.length !== 2) return null;
  const low = entry[0];
  const high = entry[1];
  const word = (x: unknown): x is number =>
    typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
  return word(low) && word(high) ? (BigInt(high) << 32n) | BigInt(low) : null;
}

/**
 * Sets the guest's time stamp counter to `value` now, through v86's set_tsc, which moves it by its
 * argument plus the offset it had (v86-shim.ts): set_tsc(0) first makes the offset the counter's
 * reading T, and set_tsc(y) then leaves T + y, so y = value − T (mod 2⁶⁴: v86's u64 arithmetic wraps).
 * Read back: a v86 whose set_tsc sets the value as given (a later fix) is left at y; it then gets the
 * value itself. Once per restore, never on the frame path.
 */
function setGuestTsc(cpu: V86Cpu, value: bigint): void {
  const t = readGuestTsc(cpu);
  cpu.set_tsc(0, 0);
  const y = BigInt.asUintN(64, value - t);
  cpu.set_tsc(Number(y & 0xffffffffn), Number(y >> 32n));
  // Microseconds pass between the calls (10⁶ per ms): a second of difference is another set_tsc.
  const off = BigInt.asIntN(64, readGuestTsc(cpu) - value);
  if (off > TSC_CHECK_SLACK || off < -TSC_CHECK_SLACK) {
    cpu.set_tsc(Number(value & 0xffffffffn), Number(BigInt.asUintN(64, value) >> 32n));
  }
}

/** A second of v86's counter (10⁶ per ms). */
const TSC_CHECK_SLACK = 1_000_000_000n;

function readGuestTsc(cpu: V86Cpu): bigint {
  cpu.store_current_tsc();
  return (BigInt(cpu.current_tsc[1]! >>> 0) << 32n) | BigInt(cpu.current_tsc[0]! >>> 0);
}
