import { createRequire } from "node:module";
import type { V86 } from "v86";
import { loadV86WithPauseFreeTime } from "../../adapters/v86/pause-free-v86.ts";
import { type AttachUhciOptions, attachUhciToV86, type UhciOnV86 } from "../../adapters/v86/uhci-v86.ts";
import { v86MainLoop } from "../../adapters/v86/v86-shim.ts";
import type { PauseFreeTime } from "../../machine/pause-free-time.ts";
import type { GuestImages } from "../../node/bundled-guest.ts";
import type { UsbDevice } from "../../usb/device.ts";
import { UsageError } from "../args.ts";
import { type GuestEvent, GuestSerialParser } from "./guest-serial.ts";

export interface GuestVmOptions {
  images: GuestImages;
  cmdline: string;
  /**
   * `kernel` (default): v86 loads the images' kernel and initrd itself, with `cmdline`. `firmware`: no
   * kernel, initrd or disk is given to v86, so SeaBIOS boots whatever it finds, e.g. a bootable USB
   * stick among `usb` through its own UHCI and mass-storage drivers (the stick's boot loader then
   * supplies the kernel and its command line; `cmdline` is unused).
   */
  boot?: "kernel" | "firmware";
  /** Guest RAM; the initrd is loaded at the 64 MiB mark, so at least 64 MiB + initrd. */
  memoryBytes?: number;
  /** Devices to plug into the root ports, by port index; null = no UHCI controller at all. */
  usb?: readonly (UsbDevice | null)[] | null;
  controllerOptions?: AttachUhciOptions;
  /** Called once the controller exists and `usb` is plugged in (USB/IP devices plug in here: they need its clock). */
  onUhci?: (handle: UhciOnV86) => void;
  /** Every protocol event, as it arrives. */
  onEvent?: (event: GuestEvent) => void;
  /** Every raw serial byte (for an interactive console). */
  onSerialByte?: (byte: number) => void;
  /**
   * Start from a snapshot made by {@link GuestVm.saveState} instead of booting: v86 restores the machine
   * and the adapter the controller (devices plugged into the same ports are restored in place; see
   * UhciController.restoreState). The images and the command line should be the ones it booted with.
   */
  initialState?: ArrayBuffer;
}

/** v86's constructor and its wasm file, loaded on the first boot, and the time its guests keep. */
interface V86Runtime {
  V86: typeof V86;
  wasmPath: string;
  /** Real time less the host's pauses: v86 was loaded with it (docs/architecture.md, "Host stalls"). */
  time: PauseFreeTime;
}

let runtime: Promise<V86Runtime> | undefined;

/**
 * Loads v86 when a machine is first booted, not when the CLI starts: v86 is an optional peer dependency
 * of the published package, so `uhci stream`, `help` and `version` work without it, and the commands
 * that boot Linux say what to install instead of failing at import time.
 */
function loadV86(): Promise<V86Runtime> {
  runtime ??= (async () => {
    try {
      const wasmPath = createRequire(import.meta.url).resolve("v86/build/v86.wasm");
      // The guest's clock excludes host pauses (a stopped process, a blocked event loop): v86 binds its
      // clock when evaluated, so it is loaded with the pause-free time (an arecord blocked in read()
      // across a 0.7 s pause otherwise ended with EIO: its timeout counts guest jiffies).
      const { module, time } = await loadV86WithPauseFreeTime(() => import("v86"));
      return { V86: module.V86, wasmPath, time };
    } catch (error) {
      runtime = undefined;
      const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
      throw new UsageError(
        `booting the guest needs the v86 package (an optional peer dependency): npm install v86 (${reason})`,
      );
    }
  })();
  return runtime;
}

/** Loads v86 now (the same clear error as a boot), for a job that prepares other things before booting. */
export async function requireV86(): Promise<void> {
  await loadV86();
}

/**
 * A v86 machine booting the guest with (optionally) a UHCI controller at 00:01.2, its serial console
 * parsed into protocol events.
 */
export class GuestVm {
  readonly serial: GuestSerialParser;
  readonly startedAt = performance.now();
  private readonly emulator: V86;
  /** The time this machine's guest keeps (shared by every machine of the process): pauses it took out. */
  readonly time: PauseFreeTime;
  private uhciHandle: UhciOnV86 | null = null;
  private readonly waiters = new Set<() => void>();
  private stopped = false;

  private constructor(options: GuestVmOptions, v86: V86Runtime) {
    this.time = v86.time;
    this.serial = new GuestSerialParser((event) => {
      options.onEvent?.(event);
      for (const wake of this.waiters) wake();
    });
    this.emulator = new v86.V86({
      wasm_path: v86.wasmPath,
      memory_size: options.memoryBytes ?? 128 * 1024 * 1024,
      vga_memory_size: 2 * 1024 * 1024,
      bios: { buffer: options.images.bios },
      vga_bios: { buffer: options.images.vgaBios },
      ...(options.boot === "firmware"
        ? {}
        : {
            bzimage: { buffer: options.images.kernel },
            initrd: { buffer: options.images.initrd },
            cmdline: options.cmdline,
          }),
      autostart: false,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
      ...(options.initialState === undefined ? {} : { initial_state: { buffer: options.initialState } }),
    });
    this.emulator.add_listener("emulator-ready", () => {
      if (options.usb === null || options.usb === undefined) return;
      // The pause-free time, leashed by the adapter: the guest's clock waits for the bus on a slow host.
      const handle = attachUhciToV86(this.emulator, { time: v86.time, ...options.controllerOptions });
      options.usb.forEach((device, port) => {
        if (device !== null) handle.controller.attach(port, device);
      });
      this.uhciHandle = handle;
      options.onUhci?.(handle);
    });
    this.emulator.add_listener("serial0-output-byte", (byte: number) => {
      options.onSerialByte?.(byte);
      this.serial.byte(byte);
    });
  }

  /** Creates the machine and starts it once v86 has loaded. */
  static async boot(options: GuestVmOptions): Promise<GuestVm> {
    const vm = new GuestVm(options, await loadV86());
    await new Promise<void>((resolve) => {
      vm.emulator.add_listener("emulator-loaded", () => {
        vm.emulator.run();
        resolve();
      });
    });
    return vm;
  }

  /** The controller attached to this machine, if any. */
  get uhci(): UhciOnV86 | null {
    return this.uhciHandle;
  }

  get secondsSinceStart(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** Resolves with the first event (already seen or future) that matches, or rejects after `timeoutMs`. */
  waitForEvent(match: (event: GuestEvent) => boolean, timeoutMs: number): Promise<GuestEvent> {
    return new Promise((resolve, reject) => {
      let seen = 0;
      const check = () => {
        const events = this.serial.events;
        for (; seen < events.length; seen++) {
          const event = events[seen]!;
          if (match(event)) {
            cleanup();
            resolve(event);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`the guest did not report in ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** A snapshot of the whole machine (v86's save_state), the controller and its devices included. */
  saveState(): Promise<ArrayBuffer> {
    return this.emulator.save_state();
  }

  /**
   * Puts this machine, while it runs, back to a snapshot made by {@link saveState} (v86's restore_state;
   * the adapter restores the controller and the devices plugged in now, docs/snapshots.md).
   */
  async restoreState(state: ArrayBuffer): Promise<void> {
    await this.emulator.restore_state(state);
  }

  /** Stops the CPU (a snapshot of a stopped machine is taken between instructions anyway). */
  async pause(): Promise<void> {
    await this.emulator.stop();
  }

  /**
   * Runs v86's main loop at most once per `intervalMs` of host time (a browser's background tab runs
   * timers once a second), or as v86 schedules it again with null. For the host-stall tools.
   */
  throttle(intervalMs: number | null): void {
    const loop = v86MainLoop(this.emulator);
    if (loop === null) throw new Error("this v86 build has no main loop to throttle");
    if (this.originalYield === null) this.originalYield = loop.yield;
    const original = this.originalYield;
    if (intervalMs === null) {
      loop.yield = original;
      // Run now rather than at the throttled timer still pending (its tick is then stale and ignored).
      setImmediate(() => loop.yield_callback(loop.tick_counter));
      return;
    }
    loop.yield = (_ms, tick) => {
      setTimeout(() => loop.yield_callback(tick), intervalMs);
    };
  }
  private originalYield: ((ms: number, tick: number) => void) | null = null;

  /** Types text into the guest's serial console. */
  sendSerial(text: string): void {
    this.emulator.serial0_send(text);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.uhciHandle?.detach();
    await this.emulator.destroy();
  }
}
