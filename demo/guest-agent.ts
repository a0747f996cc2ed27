import type { GuestEvent } from "../src/cli/guest-vm/guest-serial.ts";

/**
 * The page talks to the guest on its second serial port (ttyS1), so the console on ttyS0 stays the
 * user's: a small loop started once in the guest's shell reads one command per line from ttyS1 and
 * runs it, its output going back to ttyS1 as `@@UHCI {json}` lines (guest-image/README.md's protocol)
 * and base64 blobs. Everything the page asks of the guest (the USB tree from sysfs, recording, playing,
 * the loopback, input events) goes through here.
 */

/**
 * The serial console's size in the page (xterm.js) and, through the bootstrap's `stty`, in the guest.
 * 80 columns: at 100 the console was wider than the screen above it and pushed the USB tree and the
 * buttons below the fold of a 1680-pixel window (tried headed).
 */
export const CONSOLE_COLS = 80;
export const CONSOLE_ROWS = 24;

/**
 * Typed once into the guest's shell on ttyS0: the console's size (a serial tty has none, so the shell
 * wrapped its line editing at 80 columns in a 100-column terminal, tried headed; told, it follows any size), the command loop in
 * the background, which first makes ttyS1 raw while it holds it open (no echo of our commands, no CR
 * added; set from outside with `stty -F` it did not stick) and says `agent-up`, and a login shell on the
 * VGA console's tty1, so what is typed on the USB keyboard into the screen runs there (the guest's
 * console is ttyS0: nothing else reads tty1).
 */
export const AGENT_BOOTSTRAP =
  `stty cols ${CONSOLE_COLS} rows ${CONSOLE_ROWS}; ` +
  '(stty raw -echo; echo \'@@UHCI {"event":"agent-up"}\'; while read -r l; do eval "$l"; done) ' +
  "</dev/ttyS1 >/dev/ttyS1 2>&1 & (setsid sh -c 'exec cttyhack sh -l </dev/tty1 >/dev/tty1 2>&1' &); clear\n";

/** Shell functions the loop defines first (one line each; busybox ash). */
export const AGENT_FUNCTIONS = [
  "P=@@UHCI",
  // ev NAME [,"more":json] — one protocol line.
  'ev(){ echo "$P {\\"event\\":\\"$1\\"$2}"; }',
  // card p|c — the first USB sound card with a playback (p) or capture (c) PCM.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
  "card(){ for c in /proc/asound/card[0-9]*; do [ -e $c/usbid ] && [ -e $c/pcm0$1/info ] && { echo ${c#/proc/asound/card}; return 0; }; done; return 1; }",
  // mix CARD — every control to 100 % (0 dB on our devices), unmuted, capture on: what the test guest's
  // /init does before it records or plays, so the samples arrive unscaled.
  'mix(){ amixer -c $1 scontrols 2>/dev/null | sed -n "s/^Simple mixer control //p" | while IFS= read -r c; do n=$(eval "echo $c"); amixer -q -c $1 sset "$n" 100% unmute cap >/dev/null 2>&1; done; }',
  // tree — each USB device in sysfs: path (bus-port), product, speed, address and the drivers bound
  // to its interfaces; then tree-end.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
  'tree(){ for d in /sys/bus/usb/devices/[0-9]*-*; do [ -e "$d/idVendor" ] || continue; n=${d##*/}; pr=; sp=; dn=0; read -r pr <$d/product; read -r sp <$d/speed; read -r dn <$d/devnum; dr=; for i in $d/$n:*; do [ -e $i/driver ] && { x=$(readlink $i/driver); dr="$dr ${x##*/}"; }; done; ev tree ",\\"path\\":\\"$n\\",\\"product\\":\\"$pr\\",\\"speed\\":\\"$sp\\",\\"devnum\\":${dn:-0},\\"drivers\\":\\"${dr# }\\""; done 2>/dev/null; ev tree-end; }',
  // rec RATE CHANNELS FRAMES NAME — records from the USB capture PCM, then sends the raw S16_LE as a blob.
  'rec(){ c=$(card c) || { ev error ",\\"message\\":\\"no USB capture card\\""; return; }; mix $c; arecord -q -D hw:$c,0 -t raw -f S16_LE -r $1 -c $2 -s $3 /tmp/rec.raw 2>/tmp/rec.err; r=$?; cat /tmp/rec.err; ev blob-begin ",\\"name\\":\\"$4\\",\\"rc\\":$r"; base64 /tmp/rec.raw; ev blob-end ",\\"name\\":\\"$4\\""; rm -f /tmp/rec.raw; }',
  // play RATE CHANNELS FRAMES PAD — plays the frame-counter test signal (uhcitool sig) on the USB PCM.
  'play(){ c=$(card p) || { ev error ",\\"message\\":\\"no USB playback card\\""; return; }; mix $c; uhcitool sig $1 $2 $3 $4 >/tmp/play.wav; ev play-start ",\\"frames\\":$3"; aplay -q -D hw:$c,0 /tmp/play.wav 2>/tmp/play.err; ev play-end ",\\"rc\\":$?"; rm -f /tmp/play.wav; }',
  // loop PERIOD BUFFER START_US [MAX_DELAY] — arecord | aplay on the headset (plughw: the microphone is mono, the
  // headphones stereo) with small periods: the page's microphone heard through the guest. aplay starts
  // playing once START_US of audio is queued (--start-delay), and as both tools run on the same USB
  // frame clock its buffer then stays about that full: the rest of BUFFER is headroom, not latency.
  // arecord reads each period as it completes, so its buffer is headroom only; it is 0.5 s because a
  // read or write that sleeps longer than 1.1 × the buffer time fails with EIO (a host stall of v86
  // moves the guest's jiffies past it: docs/architecture.md, "Host stalls"). aplay's small buffer can
  // still get that EIO (seen after a stall with 384 frames), so the pair is restarted until unloop.
  // The same clock means the queue never shrinks either: after an underrun aplay recovers by itself,
  // and what arecord captured meanwhile then sits in aplay's buffer for good (the guest's round trip
  // went from 15 to 27–35 ms that way; bench/experiments/loopback-guest.ts measures it in USB
  // frames). Given MAX_DELAY (frames), a watchdog reads the playback PCM's delay (/proc/asound, shell
  // built-ins only) every 0.5 s and restarts the pair when it is over MAX_DELAY twice in a row: a
  // restart starts again from START_US (about 14 ms of delay with snd-usb-audio's queued URBs), at the
  // cost of a gap. The page does not pass it: in the browser, where the guest underran every few
  // seconds on a loaded host, the restarts cost more than they saved (docs/benchmarks.md, section 5).
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
  'loop(){ killall aplay arecord >/dev/null 2>&1; c=$(card c) || return; mix $c; touch /tmp/loop.on; (s=/proc/asound/card$c/pcm0p/sub0/status; m=${4:-0}; while [ -e /tmp/loop.on ]; do arecord -q -D plughw:$c,0 -t raw -f S16_LE -r 48000 -c 1 --period-size=$1 --buffer-size=24000 | aplay -q -D plughw:$c,0 -t raw -f S16_LE -r 48000 -c 1 --period-size=$1 --buffer-size=$2 --start-delay=$3 & n=0; while [ $m -gt 0 ] && [ -e /tmp/loop.on ] && kill -0 $! 2>/dev/null; do sleep 0.5; d=0; while read -r k x v; do [ "$k" = delay ] && d=$v; done <$s; [ $d -gt $m ] && n=$((n+1)) || n=0; [ $n -ge 2 ] && { echo "loop: playback delay $d frames, restarted" >&2; killall aplay arecord; n=0; }; done; wait; done) >/dev/null 2>/tmp/loop.err & ev loop-on; }',
  // unloop — stops it, and passes on what arecord and aplay said.
  "unloop(){ rm -f /tmp/loop.on; killall aplay arecord >/dev/null 2>&1; cat /tmp/loop.err 2>/dev/null; ev loop-off; }",
  // pcmdelay — the ALSA delay (frames queued between the application and the wire) of the USB
  // capture and playback PCMs that are running, from /proc/asound: where the loopback's ms sit in the guest.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
  'pcmdelay(){ for f in /proc/asound/card[0-9]*/pcm0[cp]/sub0/status; do d=$(sed -n "s/^delay *: *//p" $f); a=$(sed -n "s/^avail *: *//p" $f); [ -n "$d" ] && { x=${f%/sub0/status}; ev pcm-delay ",\\"pcm\\":\\"${x##*/}\\",\\"delay\\":$d,\\"avail\\":${a:-0}"; }; done; }',
  // inputs MS — the USB input event nodes and their names, then every input_event for MS ms (background).
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
  'inputs(){ ns=; for e in /sys/class/input/event*; do read -r ph <$e/device/phys; case "$ph" in usb-*) read -r nm <$e/device/name; ns="$ns ${e##*/}"; ev input-device ",\\"node\\":\\"${e##*/}\\",\\"name\\":\\"$nm\\"";; esac; done; uhcitool evdev $1 $ns & }',
  "ev agent",
];

/**
 * Lines from ttyS1: protocol events (blobs kept as their base64 text; the page has no Buffer) and
 * anything else (error messages of a command) as plain lines. Never throws on what the guest sends.
 */
export class AgentChannel {
  readonly events: GuestEvent[] = [];
  readonly blobs = new Map<string, string>();
  readonly lines: string[] = [];
  private line: number[] = [];
  private blob: { name: string; parts: string[] } | null = null;
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });

  constructor(private readonly onEvent: (event: GuestEvent) => void) {}

  byte(value: number): void {
    if (value === 0x0d) return;
    if (value !== 0x0a) {
      // A line longer than any the agent prints is cut, not grown without bound.
      if (this.line.length < 1 << 16) this.line.push(value & 0xff);
      return;
    }
    const text = this.decoder.decode(Uint8Array.from(this.line));
    this.line = [];
    if (!text.startsWith("@@UHCI ")) {
      if (this.blob !== null) this.blob.parts.push(text.trim());
      else {
        if (this.lines.length >= 200) this.lines.shift();
        this.lines.push(text);
      }
      return;
    }
    let event: GuestEvent;
    try {
      const parsed: unknown = JSON.parse(text.slice(7));
      event =
        typeof parsed === "object" && parsed !== null && typeof (parsed as GuestEvent).event === "string"
          ? (parsed as GuestEvent)
          : { event: "malformed", line: text.slice(0, 200) };
    } catch {
      event = { event: "malformed", line: text.slice(0, 200) };
    }
    if (event.event === "blob-begin" && typeof event["name"] === "string") {
      this.blob = { name: event["name"], parts: [] };
    } else if (event.event === "blob-end" && this.blob !== null) {
      this.blobs.set(this.blob.name, this.blob.parts.join(""));
      this.blob = null;
    }
    // The tree is re-read every few seconds for as long as the page is open: it is shown, not logged.
    if (event.event !== "tree" && event.event !== "tree-end") this.events.push(event);
    this.onEvent(event);
  }
}
