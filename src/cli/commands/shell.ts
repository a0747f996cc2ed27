import { constants } from "node:os";
import { MemoryBlockStore } from "../../devices/storage/block-store.ts";
import { UsbMassStorage } from "../../devices/storage/mass-storage.ts";
import { BUNDLED_GUEST_CMDLINE } from "../../node/bundled-guest.ts";
import { flagHelp, parseFlags, UsageError } from "../args.ts";
import { parseDeviceMix } from "../device-mix.ts";
import { loadImagesFor } from "../guest-images.ts";
import { EVENT_PREFIX } from "../guest-vm/guest-serial.ts";
import { GuestVm } from "../guest-vm/guest-vm.ts";
import { Progress } from "../progress.ts";
import { MAX_STICK_MIB, packedFolder, packFolder } from "../stick/stick-folder.ts";
import { extractUsbipSpecs, importAll, plugUsbip, USBIP_OPTION_HELP } from "../usbip-option.ts";
import { prepareOutputDir, userPath } from "../user-paths.ts";
import { bringStickBack, describeSkipped } from "./stick.ts";

export const SHELL_FLAGS = {
  devices: {
    kind: "string",
    help: "devices on root ports 1 and 2: headset, microphone, speaker, keyboard, mouse, tablet, none, or a 7-port hub with devices behind it (hub:headset+keyboard+tablet)",
    default: "headset,keyboard",
  },
  "guest-dir": { kind: "string", help: "folder with bios.bin, bzImage, initramfs (default: bundled)" },
  stick: {
    kind: "string",
    help: "a USB stick holding this folder's files (FAT); when the shell ends, the guest's changes are written back into the folder (new and changed files; nothing is deleted)",
  },
  "stick-size": {
    kind: "number",
    help: "--stick's size in MiB (default: what the files take + 1/8 + 16 MiB, at least 32)",
    min: 1,
    max: MAX_STICK_MIB,
    integer: true,
  },
  quiet: { kind: "boolean", help: "no progress on stderr while the guest boots" },
} as const;

export const SHELL_HELP = `uhci shell — boot the Linux guest in v86 with the emulated UHCI controller, a USB headset and a
keyboard (or the devices you choose), and attach its serial console to this terminal. Try
\`ls /sys/bus/usb/devices\`, \`cat /proc/bus/input/devices\` or \`arecord -l\`. Leave with \`exit\` (the guest halts) or Ctrl-] (at once);
piped input runs in the guest's shell, and its end is typed as \`exit\`.

With --stick DIR the guest also has a USB stick holding DIR's files, on the root port after the
others: \`mkdir -p /mnt/stick && mount /dev/sda1 /mnt/stick\`, work there, then \`umount /mnt/stick\`
(or just \`exit\`: the guest syncs before it halts). When the shell ends, new and changed files go
back into DIR; nothing there is deleted (names, links, times: \`uhci stick --help\`). Leaving with
Ctrl-] drops what the guest had not yet synced.

${flagHelp(SHELL_FLAGS)}
${USBIP_OPTION_HELP}`;

const CTRL_RIGHT_BRACKET = 0x1d;

/**
 * What Linux prints when /init's `poweroff -f` has halted the guest (kernel/reboot.c: "reboot: System
 * halted" in v86, "reboot: Power down" where power-off works), after the sync before it returned.
 */
const HALT_LINE = "reboot: ";
/** How long a guest with a stick may take from `done` to its halt: its final sync of unsynced writes. */
const HALT_WAIT_MS = 120_000;

/** Sees `text` go by in a byte stream, one byte at a time (ASCII), allocating nothing per byte. */
class LineWatch {
  private matched = 0;

  constructor(private readonly text: string) {}

  seen(byte: number): boolean {
    if (byte === this.text.charCodeAt(this.matched)) this.matched++;
    else this.matched = byte === this.text.charCodeAt(0) ? 1 : 0;
    if (this.matched < this.text.length) return false;
    this.matched = 0;
    return true;
  }
}

/**
 * Hides protocol lines (`@@UHCI …`) from a raw console stream without line-buffering the rest: bytes at
 * the start of a line are held only while they could still be the prefix.
 */
class ConsoleFilter {
  private held: number[] = [];
  private suppressing = false;
  private atLineStart = true;

  constructor(private readonly out: (bytes: Uint8Array) => void) {}

  byte(value: number): void {
    if (this.suppressing) {
      if (value === 0x0a) {
        this.suppressing = false;
        this.atLineStart = true;
      }
      return;
    }
    if (this.atLineStart) {
      this.held.push(value);
      const prefixMatches = this.held.every((b, i) => EVENT_PREFIX.charCodeAt(i) === b);
      if (prefixMatches && this.held.length === EVENT_PREFIX.length) {
        this.held = [];
        this.suppressing = true;
      } else if (!prefixMatches) {
        this.out(Uint8Array.from(this.held));
        this.atLineStart = value === 0x0a;
        this.held = [];
      }
      return;
    }
    this.out(Uint8Array.of(value));
    if (value === 0x0a) this.atLineStart = true;
  }
}

/**
 * What ends the shell: the guest's shell exits (`exit`, Ctrl-D at its prompt; the guest reports `done`
 * and halts), Ctrl-] (leave at once, the guest is dropped), or the end of our standard input, which is
 * typed to the guest as `exit` once what came before it has been sent, as `sh < script` ends at the end
 * of its script. With --stick, the end waits for the guest to halt after `done` (its last sync), the
 * one timer armed here bounding that wait and cleared when the shell ends; the emulator stopping is
 * what lets the process exit.
 */
export async function runShell(argv: readonly string[]): Promise<number> {
  const { rest, specs } = extractUsbipSpecs(argv);
  const flags = parseFlags(rest, SHELL_FLAGS);
  const usb = parseDeviceMix(flags.devices ?? "headset,keyboard");
  // --stick: the folder packed onto a FAT image in memory, on the root port after --devices'.
  const stickDir = flags.stick === undefined ? undefined : userPath(flags.stick);
  const packed = stickDir === undefined ? undefined : await packFolder(stickDir, flags["stick-size"]);
  const stick = packed === undefined ? undefined : new MemoryBlockStore(packed.image);
  // What DIR held, so that a file the user changes there while the guest runs is not replaced at the end.
  const packedAs = packed === undefined ? undefined : packedFolder(packed.contents);
  if (stickDir !== undefined) prepareOutputDir("--stick", stickDir);
  if (packed !== undefined && packed.contents.skipped.length > 0)
    process.stderr.write(`uhci: --stick ${describeSkipped(packed.contents.skipped)}\n`);
  if (stick !== undefined) usb.push(new UsbMassStorage({ store: stick }));
  // USB/IP devices take the root ports after --devices' (a UHCI root hub has up to 7; uhci-hcd counts them).
  if (usb.length + specs.length > 7)
    throw new UsageError(
      `--devices, --stick and --usbip: at most 7 devices, got ${usb.length + specs.length}`,
    );
  const imported = await importAll(specs);
  const images = loadImagesFor(flags["guest-dir"]);
  const progress = new Progress(process.stderr, flags.quiet);
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  const filter = new ConsoleFilter((bytes) => process.stdout.write(bytes));
  let vm: GuestVm | undefined;
  let attached = false;
  let inputEnded = false;
  let lastSent = 0x0a;
  let over = false;
  let halting = false;
  let haltTimer: ReturnType<typeof setTimeout> | undefined;
  const halt = new LineWatch(HALT_LINE);
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = () => {
      clearTimeout(haltTimer);
      over = true;
      resolve();
    };
  });
  // What is typed (or piped) before the guest's shell runs waits until it does, or the boot would eat it.
  const pending: string[] = [];
  const send = (text: string) => {
    if (text.length === 0 || over) return;
    vm?.sendSerial(text);
    lastSent = text.charCodeAt(text.length - 1);
  };
  const flush = () => {
    for (const text of pending.splice(0)) send(text);
    // A last line without its newline still runs, then the shell exits.
    if (inputEnded) send(lastSent === 0x0a ? "exit\n" : "\nexit\n");
  };
  const onData = (chunk: Buffer) => {
    // Ctrl-] is the way out of a raw terminal (Ctrl-C goes to the guest); piped, it works the same.
    const quitAt = chunk.indexOf(CTRL_RIGHT_BRACKET);
    const text = chunk.toString("latin1", 0, quitAt === -1 ? chunk.length : quitAt);
    if (attached) send(text);
    else pending.push(text);
    if (quitAt !== -1) finish();
  };
  const onEnd = () => {
    inputEnded = true;
    if (attached) flush();
  };
  // A signal (the terminal closed: SIGHUP; `kill`: SIGTERM; Ctrl-C with piped input: SIGINT) ends the
  // shell as Ctrl-] does, so the `finally` below still runs: with --stick, what the guest synced is
  // brought back into DIR (it lives only in memory; the default action lost it all). A second signal
  // of the kind, once this handler is gone, ends the process as before.
  const onSignal = (signal: NodeJS.Signals) => {
    if (!attached) {
      // Still booting: nothing of the guest's to keep, and the boot would not end soon; die as before.
      for (const other of signals) process.off(other, onSignal);
      if (raw) stdin.setRawMode(false);
      process.kill(process.pid, signal);
      return;
    }
    if (stick !== undefined && stickDir !== undefined)
      process.stderr.write(
        `\nuhci: ${signal}: leaving the shell; what the guest synced goes back into ${stickDir}\n`,
      );
    endedBy = signal;
    finish();
  };
  let endedBy: NodeJS.Signals | undefined;
  const signals: NodeJS.Signals[] = ["SIGHUP", "SIGTERM", "SIGINT"];
  for (const signal of signals) process.once(signal, onSignal);
  if (raw) stdin.setRawMode(true);
  stdin.on("data", onData);
  stdin.on("end", onEnd);
  try {
    progress.update("booting Linux in v86 (about 10 s on a quiet machine, longer under load)…");
    vm = await GuestVm.boot({
      images,
      cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.plan=wait,shell`,
      usb,
      ...(usb.length + specs.length <= 2 ? {} : { controllerOptions: { ports: usb.length + specs.length } }),
      onUhci: (handle) =>
        plugUsbip(handle, imported, usb.length, (busid, why) =>
          process.stderr.write(`\nuhci: USB/IP device ${busid} unplugged: ${why}\n`),
        ),
      onEvent: (event) => {
        if (event.event === "modules") progress.update("modules loaded; enumerating USB…");
        if (event.event === "shell") {
          progress.done();
          attached = true;
          // Let the shell print its prompt before the queued input arrives.
          setTimeout(flush, 500);
        }
        if (event.event === "done") {
          // /init reports `done` before its last `sync` and poweroff: with a stick, what the guest
          // wrote but did not sync is still in its page cache then (a file written just before `exit`
          // was missing from DIR). So wait for the kernel's halt line, as long as the sync takes;
          // Ctrl-] still leaves at once, and a guest that never halts is given up after a while.
          if (stick === undefined) finish();
          else {
            halting = true;
            haltTimer = setTimeout(() => {
              process.stderr.write(
                `\nuhci: --stick: the guest did not halt within ${HALT_WAIT_MS / 1000} s; what it had not synced is not on the stick\n`,
              );
              finish();
            }, HALT_WAIT_MS);
          }
        }
      },
      onSerialByte: (byte) => {
        if (attached) filter.byte(byte);
        if (halting && halt.seen(byte)) finish();
      },
    });
    await finished;
    // As a shell killed by the signal would exit (128 + its number), DIR brought back all the same.
    return endedBy === undefined ? 0 : 128 + (constants.signals[endedBy] ?? 0);
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    stdin.off("data", onData);
    stdin.off("end", onEnd);
    if (raw) stdin.setRawMode(false);
    // Destroyed, not paused: a paused pipe or terminal still holds the event loop open.
    stdin.destroy();
    progress.done();
    await vm?.stop();
    // The USB/IP connections would keep the process alive after the guest is gone.
    for (const connection of imported) connection.close();
    if (attached) process.stdout.write("\n");
    // The guest's changes back into the folder, whatever ended the shell (the image holds what the
    // guest wrote back to the stick: a sync, an unmount, or the sync /init makes before it halts).
    if (stick !== undefined && stickDir !== undefined)
      process.stderr.write(`uhci: --stick ${await bringStickBack(stick.bytes, stickDir, packedAs)}\n`);
  }
}
