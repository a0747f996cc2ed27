/**
 * `uhci start --usbip`: the imported devices' part of the main job. They sit behind the job's hub on
 * its free ports; the report says where the guest saw each and which drivers it bound, and a device
 * with a sound card that plays gets the job's test signal through `aplay`.
 *
 * Why a shell: /init's `playback` item plays to the first USB sound card that plays (guest-image/init,
 * `usb_card`), which is the emulated headset's, and the bundled image takes no card to play to. Rather
 * than rebuild the image, the plan ends with a `shell` item and the host types a short script into the
 * guest's console that finds the card below the device's sysfs path and reports as /init does (its
 * `@@UHCI` lines), then `exit`s, so /init goes on to its `done`.
 */
import type { UsbipDeviceInfo } from "../../usbip/protocol.ts";
import type { UsbipDevice } from "../../usbip/usbip-device.ts";
import { type GuestUsbDevice, guestUsbDevices } from "../guest-report.ts";
import type { GuestEvent } from "../guest-vm/guest-serial.ts";
import type { GuestVm } from "../guest-vm/guest-vm.ts";

/** The hub ports (1-based) the main job leaves free for USB/IP devices: 6 and 7 of its 7. */
export const USBIP_HUB_PORTS = [6, 7] as const;

/** An imported device as the job plugged it in. */
export interface UsbipPlugged {
  readonly busid: string;
  readonly info: UsbipDeviceInfo;
  /** Hub port (1-based). */
  readonly hubPort: number;
  readonly device: UsbipDevice;
  /** Why its connection ended while the job ran; null while it has not. */
  lost: string | null;
}

/** What the guest did with the test signal on an imported device's sound card. */
export interface UsbipPlaybackReport {
  /** The guest's ALSA card number and its `usbid` (vvvv:pppp). */
  card: number;
  usbid: string;
  format: { sampleRate: number; channels: number; bits: 16 };
  /** Frames of the test signal aplay was given (after its leading silence). */
  framesSent: number;
  /** aplay's exit code; null when the guest never said it ended. */
  guestExitCode: number | null;
  guestXruns: number;
  guestMs: number;
  /** What aplay wrote to its standard error. */
  guestToolOutput: string[];
}

export interface UsbipDeviceReport {
  busid: string;
  /** vid:pid as the server exported it. */
  vidPid: string;
  hubPort: number;
  /** Its sysfs path in the guest (1-1.6), or null when the guest never listed it. */
  path: string | null;
  product: string;
  /** Every driver the guest bound to it (the device's "usb" and its interfaces'). */
  drivers: string[];
  /** The test signal played to it; null when the guest found no sound card that plays on it. */
  playback: UsbipPlaybackReport | null;
  /** Our client's count of the iso OUT stream (packets sent; dropped, failed, start_frame gaps). */
  isoOut: { packets: number; dropped: number; packetErrors: number; startFrameGaps: number };
  /** Why the connection ended while the job ran (the device was unplugged); null when it did not. */
  lost: string | null;
}

export interface UsbipPlaybackTarget {
  /** Sysfs path of the device in the guest (1-1.6). */
  path: string;
  sampleRate: number;
  channels: number;
  frames: number;
  /** Frames of silence before the signal (uhcitool sig's pad; /init's playback uses the same). */
  padFrames: number;
}

/** A sysfs device path (1-1.6): anything else is not typed into the guest's shell. */
const SYSFS_PATH = /^[0-9]+-[0-9]+(\.[0-9]+)*$/;

/**
 * The script typed into the guest's shell: for each target, the first card below the device that has
 * a playback PCM, its mixer to 100 % and unmuted (as /init's set_mixer: QEMU's usb-audio starts at
 * 240/255, not unity), uhcitool's test signal, `aplay -D hw:CARD,0`, then `usbip-playback-start` /
 * `-end` events and aplay's standard error as `log` lines (source `aplay-usbip`); a device without
 * such a card gives `usbip-playback-skip`. The event prefix is built from two strings so that the
 * console's echo of the typed text never reads as an event. Ends with `exit`: /init goes on.
 */
export function usbipPlaybackScript(targets: readonly UsbipPlaybackTarget[]): string {
  const lines = [
    'P="@@UHC""I "',
    "u() {",
    'n=""',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${c##*/} is the shell's, not a template's
    'for c in /sys/bus/usb/devices/$1/$1:*/sound/card*; do [ -e "/proc/asound/${c##*/}/pcm0p/info" ] && { n=${c##*/card}; break; }; done',
    '[ -n "$n" ] || { echo "$P{\\"event\\":\\"usbip-playback-skip\\",\\"path\\":\\"$1\\"}"; return 0; }',
    'amixer -c "$n" scontrols 2>/dev/null | sed -n "s/^Simple mixer control //p" | while IFS= read -r m; do m=$(eval "echo $m"); amixer -q -c "$n" sset "$m" 100% unmute >/dev/null 2>&1; done',
    '/bin/uhcitool sig "$2" "$3" "$4" "$5" > /tmp/usbip.wav',
    'id=""; read -r id < "/proc/asound/card$n/usbid"',
    'echo "$P{\\"event\\":\\"usbip-playback-start\\",\\"path\\":\\"$1\\",\\"card\\":$n,\\"usbid\\":\\"$id\\",\\"rate\\":$2,\\"channels\\":$3,\\"frames\\":$4}"',
    "s=$(/bin/uhcitool ms)",
    'aplay -q -D "hw:$n,0" /tmp/usbip.wav 2>/tmp/usbip.err; r=$?',
    'echo "$P{\\"event\\":\\"usbip-playback-end\\",\\"path\\":\\"$1\\",\\"rc\\":$r,\\"ms\\":$(( $(/bin/uhcitool ms) - s )),\\"xruns\\":$(grep -c underrun /tmp/usbip.err)}"',
    'tr -d \'\\000-\\011\\013-\\037\\177\' < /tmp/usbip.err | sed -e \'s/\\\\/\\\\\\\\/g\' -e \'s/"/\\\\"/g\' -e "s|^|$P{\\"event\\":\\"log\\",\\"source\\":\\"aplay-usbip\\",\\"path\\":\\"$1\\",\\"line\\":\\"|" -e \'s/$/"}/\'',
    "rm -f /tmp/usbip.wav /tmp/usbip.err",
    "}",
  ];
  for (const t of targets) {
    if (!SYSFS_PATH.test(t.path)) continue;
    const numbers = [t.sampleRate, t.channels, t.frames, t.padFrames];
    if (!numbers.every((v) => Number.isSafeInteger(v) && v >= 0)) continue;
    lines.push(`u ${t.path} ${numbers.join(" ")}`);
  }
  lines.push("exit");
  return `${lines.join("\n")}\n`;
}

/** Frames of silence /init puts before its playback signal (its PAD_MS default, 50 ms). */
const padFramesFor = (rate: number) => Math.floor((rate * 50) / 1000);

/**
 * What the script plays, from the guest's events so far: each device's path behind the hub the guest
 * bound (the device with an interface bound to `hub`, as the main job's hubReport finds it), the job's
 * format and length, and the pad /init used for the headset's playback (so the two signals are alike).
 */
export function usbipPlaybackTargets(
  events: readonly GuestEvent[],
  plugged: readonly UsbipPlugged[],
  options: { sampleRate: number; channels: number; seconds: number },
): UsbipPlaybackTarget[] {
  const hub = guestUsbDevices(events).find((d) => d.drivers.includes("hub"));
  if (hub === undefined) return [];
  const start = events.find((e) => e.event === "playback-start");
  const pad =
    typeof start?.["padFrames"] === "number" ? start["padFrames"] : padFramesFor(options.sampleRate);
  return plugged.map((p) => ({
    path: `${hub.path}.${p.hubPort}`,
    sampleRate: options.sampleRate,
    channels: options.channels,
    frames: Math.round(options.sampleRate * options.seconds),
    padFrames: pad,
  }));
}

/**
 * Waits for the plan's `shell` item, then types the script for every imported device. The shell's
 * prompt comes after its `shell` event; what is typed before it is kept by the console's line
 * discipline, the short wait only keeps the echo readable.
 */
export async function planUsbipPlayback(
  vm: GuestVm,
  plugged: readonly UsbipPlugged[],
  options: { sampleRate: number; channels: number; seconds: number; timeoutMs: number },
): Promise<void> {
  await vm.waitForEvent((e) => e.event === "shell", options.timeoutMs);
  const targets = usbipPlaybackTargets(vm.serial.events, plugged, options);
  await new Promise((resolve) => setTimeout(resolve, 500));
  vm.sendSerial(usbipPlaybackScript(targets));
}

const num = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : 0);
const hex4 = (value: number) => value.toString(16).padStart(4, "0");

/** Each imported device as the guest saw it; what went wrong goes into `problems`, one line each. */
export function usbipReport(
  events: readonly GuestEvent[],
  hubPath: string | null,
  devices: readonly GuestUsbDevice[],
  plugged: readonly UsbipPlugged[],
  problems: string[],
): UsbipDeviceReport[] {
  return plugged.map((p) => {
    const name = `usbip ${p.busid}`;
    const path = hubPath === null ? null : `${hubPath}.${p.hubPort}`;
    const seen = devices.find((d) => d.path === path);
    const drivers = seen?.drivers ?? [];
    if (p.lost !== null) problems.push(`${name}: unplugged while the job ran: ${p.lost}`);
    if (seen === undefined) problems.push(`${name}: the guest did not list it on hub port ${p.hubPort}`);
    else if (!drivers.some((d) => d !== "usb"))
      problems.push(`${name}: the guest bound no driver to its interfaces`);
    const mine = (e: GuestEvent) => path !== null && e["path"] === path;
    const begin = events.find((e) => e.event === "usbip-playback-start" && mine(e));
    const end = events.find((e) => e.event === "usbip-playback-end" && mine(e));
    const skipped = events.some((e) => e.event === "usbip-playback-skip" && mine(e));
    let playback: UsbipPlaybackReport | null = null;
    if (begin !== undefined) {
      const output = events
        .filter((e) => e.event === "log" && e["source"] === "aplay-usbip" && mine(e))
        .map((e) => (typeof e["line"] === "string" ? e["line"].trim() : ""))
        .filter((line) => line !== "");
      playback = {
        card: num(begin["card"]),
        usbid: typeof begin["usbid"] === "string" ? begin["usbid"] : "",
        format: { sampleRate: num(begin["rate"]), channels: num(begin["channels"]), bits: 16 },
        framesSent: num(begin["frames"]),
        guestExitCode: end === undefined ? null : num(end["rc"]),
        guestXruns: num(end?.["xruns"]),
        guestMs: num(end?.["ms"]),
        guestToolOutput: output,
      };
      const said = output.length > 0 ? `: ${output.join(" / ")}` : "";
      if (playback.guestExitCode === null) problems.push(`${name}: aplay never finished in the guest${said}`);
      else if (playback.guestExitCode !== 0)
        problems.push(`${name}: aplay exited with ${playback.guestExitCode}${said}`);
      if (playback.guestXruns > 0) problems.push(`${name}: the guest reported ${playback.guestXruns} xruns`);
      // /init's playback item takes the first USB card that plays; the hub's port order should give the
      // headset's the lower number. Should it ever not, say so rather than leave a headset that heard nothing.
      if (events.some((e) => e.event === "playback-start" && e["card"] === playback?.card))
        problems.push(`${name}: the headset's playback went to this device's card ${playback.card} too`);
    } else if (!skipped && seen !== undefined && p.lost === null) {
      problems.push(`${name}: the guest's shell never reported on it`);
    }
    const iso = p.device.stats.isoOut;
    return {
      busid: p.busid,
      vidPid: `${hex4(p.info.idVendor)}:${hex4(p.info.idProduct)}`,
      hubPort: p.hubPort,
      path: seen === undefined ? null : path,
      product: seen?.product ?? "",
      drivers,
      playback,
      isoOut: {
        packets: iso.packets,
        dropped: iso.dropped,
        packetErrors: iso.packetErrors,
        startFrameGaps: iso.startFrameGaps,
      },
      lost: p.lost,
    };
  });
}

/** The imported devices in the text report. */
export function usbipLines(reports: readonly UsbipDeviceReport[]): string[] {
  return reports.flatMap((r, i) => {
    const head = i === 0 ? "  usbip   " : "          ";
    const where =
      r.path === null
        ? "not listed by the guest"
        : `${r.path} ${r.product} (${r.drivers.join(", ") || "no driver"})`;
    const lines = [`${head}${r.busid} ${r.vidPid} on hub port ${r.hubPort}: ${where}`];
    const p = r.playback;
    if (p !== null) {
      const exit = p.guestExitCode === null ? "never finished" : `exit ${p.guestExitCode}`;
      lines.push(
        `            aplay to card ${p.card} (${p.usbid}): ${p.framesSent} frames at ${p.format.sampleRate} Hz, ${exit}, ${p.guestXruns} xruns, ${p.guestMs} ms`,
        `            client: ${r.isoOut.packets} iso OUT packets sent, ${r.isoOut.dropped} dropped, ${r.isoOut.packetErrors} failed, ${r.isoOut.startFrameGaps} start_frame gaps`,
        ...p.guestToolOutput.map((line) => `            guest: ${line}`),
      );
    }
    if (r.lost !== null) lines.push(`            unplugged: ${r.lost}`);
    return lines;
  });
}
