/**
 * The USB/IP peer for `npm run test:usbip`: a small QEMU TCG virtual machine whose Debian kernel
 * exports QEMU's emulated USB devices with its own `usbip-host` and Debian's `usbipd` — a real server
 * none of this project's code is part of (issue 13, item 5). This module builds it when its cache is
 * missing or stale (`build.sh`, ~30 s), boots it on a free local port, waits for USBIP-READY and a
 * devlist that answers, parses the USBIP-DEV lines, drives QEMU's QMP socket (keys, pointer) and stops
 * QEMU with SIGTERM (QEMU then finalises the WAV header; SIGKILL would leave a header of length 0).
 *
 * Devices (QEMU 7.2 on a PIIX3 UHCI, full speed): `audio` usb-audio (iso OUT, 48 kHz stereo S16,
 * what it receives lands in `wavPath`), `kbd` usb-kbd, `tablet` usb-tablet, `mouse` usb-mouse,
 * `storage` usb-storage on an 8 MiB disk (sector 0 "USBIP-PEER TEST DISK, LBA 0", sector n "LBA n",
 * attached with snapshot=on). The UHCI root hub has 2 ports: with more devices QEMU adds a hub itself
 * (audio at 1-1, then 1-2.1, 1-2.2, …). `hs-storage`: a usb-storage on the same disk (read-only) on an
 * EHCI controller, so a high-speed device (bcdUSB 2.0, bulk wMaxPacketSize 512) at `2-1`; its QMP id
 * is {@link HS_STORAGE_ID}, so a test can unplug it (`device_del`) and plug it back ({@link UsbipPeer.replugHsStorage}).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export type PeerDevice = "audio" | "kbd" | "tablet" | "mouse" | "storage" | "hs-storage";

/** One USBIP-DEV line of the VM's /init: a device bound to usbip-host. */
export interface PeerDeviceLine {
  busid: string;
  idVendor: number;
  idProduct: number;
  /** Mb/s as sysfs says it (12 = full speed). */
  speed: string;
  interfaceClasses: number[];
  driver: string;
  product: string;
  bindRc: number;
}

export interface PeerStartOptions {
  devices?: readonly PeerDevice[];
  /** Seconds to wait for READY (boot to READY is 6–8 s on an idle 2-core machine under TCG). */
  timeoutS?: number;
  /** Console lines as they arrive (host seconds since QEMU started, the line). */
  onConsole?: (seconds: number, line: string) => void;
}

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** QMP id of the high-speed disk's usb-storage device. */
export const HS_STORAGE_ID = "hsstick0";
/** The high-speed disk's usb-storage, as `-device` and QMP `device_add` take it. */
const HS_STORAGE_DEVICE = {
  driver: "usb-storage",
  id: HS_STORAGE_ID,
  drive: "hsdisk",
  bus: "ehci.0",
  // Pinned to the EHCI's first port, so the replugged disk has the busid it had (2-1).
  port: "1",
} as const;

/** The build's cache folder: $WORK, else $XDG_CACHE_HOME or ~/.cache, + uhci-usbip-peer (as build.sh). */
export function peerWorkDir(): string {
  const work = process.env.WORK;
  if (work !== undefined && work !== "") return work;
  const cache = process.env.XDG_CACHE_HOME;
  return join(cache !== undefined && cache !== "" ? cache : join(homedir(), ".cache"), "uhci-usbip-peer");
}

/** The path of qemu-system-x86_64, or null when it is not installed. */
export function findQemu(): string | null {
  const result = spawnSync("sh", ["-c", "command -v qemu-system-x86_64"], { encoding: "utf8" });
  const path = result.stdout.trim();
  return result.status === 0 && path !== "" ? path : null;
}

/** The hash build.sh writes to out/.build-id: its inputs, so an edited recipe rebuilds. */
function buildId(): string {
  const hash = createHash("sha256");
  for (const file of ["build.sh", "init", "tools.mjs"]) hash.update(readFileSync(join(HERE, file)));
  return hash.digest("hex");
}

export interface PeerImages {
  kernel: string;
  initrd: string;
  disk: string;
}

/**
 * The VM's boot files, built first when missing or made by another version of the recipe. The build
 * downloads pinned Debian packages with apt-get (needs bookworm sources and network once); its output
 * is cached, so CI rebuilds only on a fresh machine.
 */
export function ensurePeerBuilt(log: (line: string) => void = () => {}): PeerImages {
  const out = join(peerWorkDir(), "out");
  const id = join(out, ".build-id");
  const fresh = (): boolean =>
    ["vmlinuz", "initrd.gz", "disk.img"].every((f) => existsSync(join(out, f))) &&
    existsSync(id) &&
    readFileSync(id, "utf8").trim() === buildId();
  if (!fresh()) {
    log(`building the USB/IP peer VM into ${out} (test/usbip/peer/build.sh)`);
    const result = spawnSync("bash", [join(HERE, "build.sh")], { encoding: "utf8", env: process.env });
    if (result.status !== 0 || !fresh()) {
      throw new Error(
        `test/usbip/peer/build.sh failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`,
      );
    }
  }
  const vmlinux = join(out, "vmlinux");
  return {
    // PVH boot of the uncompressed ELF saves ~3 s of TCG decompression; vmlinuz when xz was missing.
    kernel: existsSync(vmlinux) ? vmlinux : join(out, "vmlinuz"),
    initrd: join(out, "initrd.gz"),
    disk: join(out, "disk.img"),
  };
}

/** A TCP port free on 127.0.0.1 right now (QEMU's hostfwd then binds it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * OP_REQ_DEVLIST written out by hand (usbip_protocol.rst: version 0x0111, code 0x8005, status 0) and
 * the device count of the reply: the peer's own readiness probe, independent of the client under test.
 * QEMU's user-mode network accepts a connection before anything listens in the VM, so only an answer
 * proves usbipd is up. Null when there is no answer yet.
 */
export function devlistCount(port: number, timeoutMs = 3000): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const done = (value: number | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on("connect", () => socket.write(Buffer.from([0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0])));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => done(null));
    // usbipd closes after the reply; read all of it so it never writes into a closed socket.
    socket.on("end", () => {
      const reply = Buffer.concat(chunks);
      if (reply.length < 12 || reply.readUInt16BE(2) !== 0x0005 || reply.readUInt32BE(4) !== 0) done(null);
      else done(reply.readUInt32BE(8));
    });
  });
}

const DEV_LINE =
  /USBIP-DEV busid=(\S+) id=([0-9a-f]{4}):([0-9a-f]{4}) speed=(\S+) ifclass=\[([0-9a-f ]*)\] driver=(\S*) product="([^"]*)" bind_rc=(\d+)/;

/** Parses one console line into a device, or null when it is not a USBIP-DEV line. */
export function parseDeviceLine(line: string): PeerDeviceLine | null {
  const m = DEV_LINE.exec(line);
  if (m === null) return null;
  return {
    busid: m[1] ?? "",
    idVendor: Number.parseInt(m[2] ?? "", 16),
    idProduct: Number.parseInt(m[3] ?? "", 16),
    speed: m[4] ?? "",
    interfaceClasses: (m[5] ?? "")
      .split(" ")
      .filter((c) => c !== "")
      .map((c) => Number.parseInt(c, 16)),
    driver: m[6] ?? "",
    product: m[7] ?? "",
    bindRc: Number(m[8]),
  };
}

/** QEMU's QMP (JSON lines over a Unix socket), one command at a time. */
export class Qmp {
  private buffered = "";
  private waiting: ((reply: { return?: unknown; error?: { desc: string } }) => void) | null = null;
  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.buffered += chunk;
      for (let nl = this.buffered.indexOf("\n"); nl >= 0; nl = this.buffered.indexOf("\n")) {
        const line = this.buffered.slice(0, nl).trim();
        this.buffered = this.buffered.slice(nl + 1);
        if (line === "") continue;
        const message = JSON.parse(line) as { return?: unknown; error?: { desc: string }; event?: string };
        // Asynchronous events (and the greeting) are not replies.
        if (message.event !== undefined || !("return" in message || "error" in message)) continue;
        const waiter = this.waiting;
        this.waiting = null;
        waiter?.(message);
      }
    });
  }

  static async open(path: string): Promise<Qmp> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once("connect", () => resolve(s));
      s.once("error", reject);
    });
    const qmp = new Qmp(socket);
    await qmp.execute("qmp_capabilities");
    return qmp;
  }

  execute(command: string, args?: object): Promise<unknown> {
    if (this.waiting !== null) return Promise.reject(new Error("one QMP command at a time"));
    return new Promise((resolve, reject) => {
      this.waiting = (reply) => {
        if (reply.error !== undefined) reject(new Error(`QMP ${command}: ${reply.error.desc}`));
        else resolve(reply.return);
      };
      this.socket.write(
        `${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`,
      );
    });
  }

  /** Presses and releases keys together (QEMU qcodes: "a", "shift", "ret", …), as a user's chord. */
  sendKey(qcodes: readonly string[], holdMs = 50): Promise<unknown> {
    return this.execute("send-key", {
      keys: qcodes.map((data) => ({ type: "qcode", data })),
      "hold-time": holdMs,
    });
  }

  /** Unplugs a device from the VM (QEMU's device_del: a surprise removal for the VM's kernel). */
  deviceDel(id: string): Promise<unknown> {
    return this.execute("device_del", { id });
  }

  /** Plugs a device into the VM (QEMU's device_add). */
  deviceAdd(args: Readonly<Record<string, string>>): Promise<unknown> {
    return this.execute("device_add", args);
  }

  /** Moves an absolute pointer (the tablet) to x, y in QEMU's 0…0x7fff input range. */
  movePointer(x: number, y: number): Promise<unknown> {
    return this.execute("input-send-event", {
      events: [
        { type: "abs", data: { axis: "x", value: x } },
        { type: "abs", data: { axis: "y", value: y } },
      ],
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A booted peer VM. */
export class UsbipPeer {
  readonly devices: PeerDeviceLine[] = [];
  private readonly console: string[] = [];
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private qmpHandle: Qmp | null = null;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly runDir: string,
    readonly images: PeerImages,
    readonly bootSeconds: { ready: number },
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  /** Where QEMU's usb-audio writes what it received (a WAV whose header is final once QEMU stopped). */
  get wavPath(): string {
    return join(this.runDir, "audio.wav");
  }

  get qmpPath(): string {
    return join(this.runDir, "qmp.sock");
  }

  /** host:port for the client under test. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The console so far (kernel messages of usbip-host included after READY). */
  consoleText(): string {
    return this.console.join("\n");
  }

  device(busid: string): PeerDeviceLine {
    const found = this.devices.find((d) => d.busid === busid);
    if (found === undefined) throw new Error(`the peer exports no ${busid}: ${this.consoleText()}`);
    return found;
  }

  /**
   * Plugs the high-speed disk back after a `device_del`, and waits (up to `timeoutMs`) until the VM's
   * /init has bound it to usbip-host again (a USBIP-REBOUND line after this call). Returns its busid.
   */
  async replugHsStorage(timeoutMs = 30_000): Promise<string> {
    const seen = this.console.length;
    await (await this.qmp()).deviceAdd(HS_STORAGE_DEVICE);
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      for (const line of this.console.slice(seen)) {
        const m = /USBIP-REBOUND busid=(\S+) id=46f4:0001 \S+ bind_rc=0/.exec(line);
        if (m !== null) return m[1] ?? "";
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `the replugged disk was not bound to usbip-host in ${timeoutMs} ms: ${this.consoleText()}`,
    );
  }

  /** QMP, opened on first use. */
  async qmp(): Promise<Qmp> {
    this.qmpHandle ??= await Qmp.open(this.qmpPath);
    return this.qmpHandle;
  }

  static async start(options: PeerStartOptions = {}): Promise<UsbipPeer> {
    const qemu = findQemu();
    if (qemu === null)
      throw new Error(
        "qemu-system-x86_64 is missing: apt-get install -y --no-install-recommends qemu-system-x86",
      );
    const images = ensurePeerBuilt((line) => options.onConsole?.(0, line));
    const devices = options.devices ?? ["audio", "kbd", "tablet", "storage"];
    const port = await freePort();
    const runDir = mkdtempSync(join(tmpdir(), "uhci-usbip-peer-"));
    const wav = join(runDir, "audio.wav");
    const usb: string[] = [];
    for (const d of devices) {
      if (d === "audio") {
        // usb-audio plays 48 kHz S16 stereo; the WAV backend is pinned to exactly that so QEMU does not
        // resample (its default fixed settings are 44.1 kHz), and the file holds the samples as sent.
        usb.push(
          "-audiodev",
          `wav,id=snd0,path=${wav},out.mixing-engine=on,out.fixed-settings=on,out.frequency=48000,out.channels=2,out.format=s16`,
          "-device",
          "usb-audio,id=audio0,audiodev=snd0,bus=hc.0",
        );
      } else if (d === "hs-storage") {
        // A -blockdev node outlives a device_del (a -drive would be deleted with its device), so the
        // same disk can be plugged back. Read-only: both disks share the one file.
        usb.push(
          "-device",
          "usb-ehci,id=ehci",
          "-blockdev",
          `driver=file,node-name=hsfile,filename=${images.disk},read-only=on`,
          "-blockdev",
          "driver=raw,node-name=hsdisk,file=hsfile,read-only=on",
          "-device",
          Object.entries(HS_STORAGE_DEVICE)
            .map(([k, v]) => (k === "driver" ? v : `${k}=${v}`))
            .join(","),
        );
      } else if (d === "storage") {
        usb.push(
          "-drive",
          `if=none,id=stick,format=raw,snapshot=on,file=${images.disk}`,
          "-device",
          "usb-storage,id=stick0,drive=stick,bus=hc.0",
        );
      } else {
        const model = d === "kbd" ? "usb-kbd" : d === "tablet" ? "usb-tablet" : "usb-mouse";
        usb.push("-device", `${model},id=${d}0,bus=hc.0`);
      }
    }
    const args = [
      ...["-M", "pc", "-accel", "tcg", "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config"],
      ...["-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none"],
      ...["-qmp", `unix:${join(runDir, "qmp.sock")},server=on,wait=off`],
      ...["-kernel", images.kernel, "-initrd", images.initrd],
      // `ehci rebind`: /init loads the EHCI driver and binds devices plugged in later (the high-speed
      // disk and its replug); without the disk the VM runs as it did before it came.
      ...[
        "-append",
        `console=ttyS0 panic=-1 loglevel=4 ndev=${devices.length}${devices.includes("hs-storage") ? " ehci rebind" : ""}`,
      ],
      ...[
        "-netdev",
        `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:3240`,
        "-device",
        "virtio-net-pci,netdev=n0,romfile=",
      ],
      ...["-device", "piix3-usb-uhci,id=hc"],
      ...usb,
    ];
    writeFileSync(join(runDir, "command.txt"), `${qemu} ${args.join(" ")}\n`);
    const started = performance.now();
    const child = spawn(qemu, args, { stdio: ["ignore", "pipe", "pipe"] });
    const peer = new UsbipPeer(child, port, runDir, images, { ready: 0 });
    let partial = "";
    const onText = (text: string) => {
      partial += text.replaceAll("\r", "");
      for (let nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n")) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        const seconds = (performance.now() - started) / 1000;
        peer.console.push(`${seconds.toFixed(3)} ${line}`);
        options.onConsole?.(seconds, line);
        const device = parseDeviceLine(line);
        if (device !== null) peer.devices.push(device);
      }
    };
    child.stdout?.setEncoding("latin1").on("data", onText);
    child.stderr?.setEncoding("utf8").on("data", onText);

    const deadline = started + (options.timeoutS ?? 120) * 1000;
    let gone = false;
    void peer.exited.then(() => {
      gone = true;
    });
    for (;;) {
      const text = peer.consoleText();
      const failed = /USBIP-FAILED.*/.exec(text);
      if (gone || failed !== null || performance.now() > deadline) {
        await peer.stop();
        const why = gone
          ? "QEMU exited"
          : failed !== null
            ? failed[0]
            : `no READY in ${options.timeoutS ?? 120} s`;
        throw new Error(`the USB/IP peer did not start (${why}); console:\n${peer.consoleText()}`);
      }
      if (text.includes("USBIP-READY") && (await devlistCount(port)) !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    peer.bootSeconds.ready = (performance.now() - started) / 1000;
    return peer;
  }

  /**
   * Stops QEMU with SIGTERM and waits for it (QEMU finalises the WAV header on the way out); SIGKILL
   * only if it has not gone after 10 s. Returns QEMU's exit. Removes the run folder when `clean`.
   */
  async stop(clean = false): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.qmpHandle?.close();
    this.qmpHandle = null;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    const kill = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    const result = await this.exited;
    clearTimeout(kill);
    if (clean) rmSync(this.runDir, { recursive: true, force: true });
    return result;
  }
}

/** sha256 of a file, hex (for the disk check against the guest's sha256sum). */
export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** For humans: `node --import tsx test/usbip/peer/peer.ts [devices…]` boots the peer and keeps it up. */
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const wanted = process.argv.slice(2) as PeerDevice[];
  const peer = await UsbipPeer.start({
    ...(wanted.length > 0 ? { devices: wanted } : {}),
    onConsole: (s, line) => console.log(`vm ${s.toFixed(3)}| ${line}`),
  });
  console.log(
    `READY ${peer.address} boot_s=${peer.bootSeconds.ready.toFixed(2)} wav=${peer.wavPath} qmp=${peer.qmpPath}`,
  );
  const stop = () => {
    void peer.stop().then((r) => {
      console.log(`STOPPED (qemu exit ${r.code ?? r.signal})`);
      process.exit(0);
    });
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
/** QEMU's version line (recorded with test and bench results). */
export function qemuVersion(qemu: string): string {
  return execFileSync(qemu, ["--version"], { encoding: "utf8" }).split("\n")[0] ?? "";
}
