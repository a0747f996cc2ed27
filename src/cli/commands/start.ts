import { join } from "node:path";
import { encodeWav } from "../../devices/audio/wav.ts";
import { flagHelp, parseFlags, UsageError } from "../args.ts";
import { loadImagesFor } from "../guest-images.ts";
import { expectedKeyEvents } from "../input-check.ts";
import { formatMainReport, type MainJobReport, runMainJob } from "../jobs/main-job.ts";
import { USBIP_HUB_PORTS } from "../jobs/usbip-playback.ts";
import { Progress } from "../progress.ts";
import { extractUsbipSpecs, importAll } from "../usbip-option.ts";
import { prepareOutputDir, writeFileWhole } from "../user-paths.ts";

export const START_FLAGS = {
  json: { kind: "boolean", help: "print the report as JSON on stdout" },
  rate: {
    kind: "string",
    help: "sample rate in Hz: 8000, 16000, 22050, 32000, 44100 or 48000",
    default: "48000",
    choices: ["8000", "16000", "22050", "32000", "44100", "48000"],
  },
  channels: { kind: "number", help: "1 (mono) or 2 (stereo)", default: 2, min: 1, max: 2, integer: true },
  seconds: {
    kind: "number",
    help: "seconds recorded and played",
    default: 3,
    min: 1,
    max: 60,
    integer: true,
  },
  text: { kind: "string", help: "text to type through the emulated keyboard", default: "Hello from uhci!\n" },
  out: { kind: "string", help: "folder for capture.wav, playback.wav and report.json", default: "uhci-out" },
  timeout: {
    kind: "number",
    help: "seconds to wait for each step of the guest",
    default: 180,
    min: 10,
    integer: true,
  },
  "guest-dir": { kind: "string", help: "folder with bios.bin, bzImage, initramfs (default: bundled)" },
  quiet: { kind: "boolean", help: "no progress on stderr" },
} as const;

export const START_HELP = `uhci start — boot a Linux guest in v86 with the emulated UHCI controller and a USB hub
on root port 1, with a USB headset (microphone and headphones), a USB keyboard, a tablet, a second
microphone and a USB stick behind it; the report lists each device with the driver the guest bound.
The guest records from the headset's microphone with arecord and plays a test signal to
its headphones with aplay; the host types on the keyboard. Both audio streams are compared frame by
frame (written as WAV files to the output folder) and the keystrokes event by event. The guest also
mounts the stick, reads the file the host put there (sha256), copies it and writes one of its own;
the host checks both in the stick's image.

With --usbip the guest also gets a device from a USB/IP server, behind the hub on port 6 (and 7 for a
second one); the report lists it with the drivers the guest bound, and when the guest finds a sound
card on it that plays, aplay plays it the same test signal (the device must take --rate and
--channels: QEMU's usb-audio takes only 48 kHz stereo, the default) and the report gives aplay's
exit code and xruns (what the device made of the signal is seen on the server's side).

${flagHelp(START_FLAGS)}
  --usbip HOST[:PORT]/BUSID  a device from a USB/IP server behind the hub (at most ${USBIP_HUB_PORTS.length};
                             \`uhci usbip list HOST\` shows the busids; PORT defaults to 3240)`;

export async function runStart(argv: readonly string[]): Promise<number> {
  const { rest, specs } = extractUsbipSpecs(argv);
  const flags = parseFlags(rest, START_FLAGS);
  if (specs.length > USBIP_HUB_PORTS.length)
    throw new UsageError(
      `--usbip: at most ${USBIP_HUB_PORTS.length} devices (the hub's free ports ${USBIP_HUB_PORTS.join(" and ")}), got ${specs.length}`,
    );
  const text = flags.text ?? "";
  try {
    expectedKeyEvents(text);
  } catch (error) {
    throw new UsageError(`--text: ${error instanceof Error ? error.message : String(error)}`);
  }
  const images = loadImagesFor(flags["guest-dir"]);
  // Fail before a minute of booting if the report could not be written.
  const outDir = prepareOutputDir("--out", flags.out ?? "uhci-out");
  // A refused server or an unknown busid fails here, before a minute of booting (exit 1).
  const usbip = await importAll(specs);
  const progress = new Progress(process.stderr, flags.quiet);
  try {
    const report = await runMainJob({
      usbip,
      images,
      text,
      sampleRate: Number(flags.rate),
      channels: flags.channels === 1 ? 1 : 2,
      seconds: flags.seconds ?? 3,
      timeoutMs: (flags.timeout ?? 180) * 1000,
      onProgress: (message) => progress.update(message),
    });
    progress.done();
    const files = writeOutputs(outDir, report);
    const printable = { ...report, capture: strip(report.capture), playback: strip(report.playback), files };
    process.stdout.write(
      flags.json
        ? `${JSON.stringify(printable, null, 2)}\n`
        : `${formatMainReport(report)}  files   ${files.join(", ")}\n`,
    );
    return report.ok ? 0 : 1;
  } finally {
    progress.done();
    // The connections would keep the process alive after the guest is gone.
    for (const connection of usbip) connection.close();
  }
}

function strip<T extends { samples: Int16Array }>(direction: T | null): Omit<T, "samples"> | null {
  if (direction === null) return null;
  const { samples: _samples, ...rest } = direction;
  return rest;
}

/** Writes each file under a temporary name first, so an interrupted run leaves no half-written file. */
function writeOutputs(dir: string, report: MainJobReport): string[] {
  const files: string[] = [];
  const put = (name: string, bytes: Uint8Array | string) => {
    const path = join(dir, name);
    writeFileWhole(path, bytes);
    files.push(path);
  };
  if (report.capture !== null) put("capture.wav", encodeWav(report.capture.samples, report.capture.format));
  if (report.playback !== null)
    put("playback.wav", encodeWav(report.playback.samples, report.playback.format));
  put(
    "report.json",
    `${JSON.stringify({ ...report, capture: strip(report.capture), playback: strip(report.playback) }, null, 2)}\n`,
  );
  return files;
}
