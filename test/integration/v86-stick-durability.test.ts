/**
 * Nothing lost (issue 12 item 5), with Linux in v86 (usb-storage, sd_mod, vfat) on a stick whose medium
 * is an image file:
 * - the host process is SIGKILLed the moment the guest's `sync` returns: the image holds every synced
 *   write (the files' sha256 equal what the guest computed), the file the host put there reads back
 *   equal, and the file system checks clean: FatFs walks it and reads every file whole, its free
 *   cluster count matches what the files hold, and where dosfstools is installed (CI), `fsck.fat -n`
 *   finds nothing but the dirty bit a file system mounted at the kill carries;
 * - a write-protected stick (MODE SENSE WP) is mounted read-only by Linux;
 * - the stick is unplugged in the middle of the guest's writes: the guest sees the removal, the host
 *   process carries on, and every block whose write the stick acknowledged is in the image.
 * Needs only Node: the images are made and read by FatFs (src/cli/stick/fat-image.ts, as `uhci stick`
 * does); fsck.fat is an extra check where it is installed.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkFatImage } from "../../src/cli/stick/fat-image.ts";
import {
  BLOCK_SIZE,
  type BlockStore,
  type StoreCallback,
  StoreStatus,
} from "../../src/devices/storage/block-store.ts";
import { FileBlockStore } from "../../src/node/file-block-store.ts";
import { bootWithStick, clusterBytes, fsckFat, makeFatImage } from "./helpers/stick-guest.ts";

const dir = mkdtempSync(join(tmpdir(), "uhci-durable-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const child = fileURLToPath(new URL("./helpers/stick-guest.ts", import.meta.url));

interface Event {
  readonly event: string;
  readonly [key: string]: unknown;
}

describe("USB stick durability in v86", () => {
  it("SIGKILL right after the guest's sync: every synced write is in the image, and it checks clean", async (t) => {
    const image = join(dir, "kill.img");
    const hostBytes = randomBytes(300 * 1024);
    await makeFatImage(image, 16, { "HOST.BIN": hostBytes });
    const freeBefore = (await checkFatImage(readFileSync(image))).freeClusters;
    const plan = "mount,sha:HOST.BIN,write:a.bin:700,write:b.bin:33,sync,write:late.bin:4096";
    const events: Event[] = [];
    let stderr = "";
    const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
      const proc = spawn(process.execPath, ["--import", "tsx", child, image, plan, "--kill-after-sync"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let buffered = "";
      proc.stdout.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
          events.push(JSON.parse(buffered.slice(0, nl)) as Event);
          buffered = buffered.slice(nl + 1);
        }
      });
      proc.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const timer = setTimeout(() => proc.kill("SIGKILL"), 300_000);
      proc.on("error", reject);
      proc.on("exit", (_code, sig) => {
        clearTimeout(timer);
        resolve(sig);
      });
    });
    assert.equal(signal, "SIGKILL", `the host process was killed by the test's SIGKILL\n${stderr}`);
    assert.ok(
      events.some((e) => e.event === "sync"),
      `the guest synced\n${stderr}\n${JSON.stringify(events.slice(-5))}`,
    );
    const mount = events.find((e) => e.event === "mount");
    assert.equal(mount?.["ok"], true, JSON.stringify(mount));
    const sums = new Map(
      events.filter((e) => e.event === "file-sum").map((e) => [String(e["path"]), String(e["sha256"])]),
    );
    assert.equal(sums.get("HOST.BIN"), sha(hostBytes), "the guest read the host's file intact");
    // FatFs's check (the only one on a machine with just Node): every folder walked, every file read
    // whole through its cluster chain. The guest's vfat stores "a.bin" as a short name with the
    // lower-case flags, so names are compared without case.
    const found = await checkFatImage(readFileSync(image));
    const fileNamed = (name: string) => found.files.find((f) => f.path.toLowerCase() === name.toLowerCase());
    for (const name of ["a.bin", "b.bin"]) {
      const file = fileNamed(name);
      assert.ok(file !== undefined, `${name} is in the image`);
      assert.equal(sha(file.data), sums.get(name), `${name}: the image holds the synced bytes`);
    }
    assert.equal(fileNamed("b.bin")?.data.length, 33 * 1024);
    assert.deepEqual(fileNamed("HOST.BIN")?.data, new Uint8Array(hostBytes), "the host's file is intact");
    // Nothing else: no folder, no stray file; only late.bin, written after the sync and cut off by the
    // kill, may be unreadable (its directory entry and its FAT chain need not both have reached the disk).
    assert.deepEqual(found.folders, []);
    const names = [...found.files.map((f) => f.path), ...found.unreadable.map((u) => u.path)];
    assert.deepEqual(
      names
        .map((n) => n.toLowerCase())
        .filter((n) => !["host.bin", "a.bin", "b.bin", "late.bin"].includes(n)),
      [],
      JSON.stringify(names),
    );
    assert.deepEqual(
      found.unreadable.filter((u) => u.path.toLowerCase() !== "late.bin"),
      [],
      JSON.stringify(found.unreadable),
    );
    assert.ok((fileNamed("late.bin")?.data.length ?? 0) <= 4096 * 1024);
    // The free cluster count FatFs takes from the FAT: the clusters the synced files need are taken
    // (none of their chains was lost to the free list), and no more than late.bin's could also be (at
    // most its 4 MiB; plus one for a directory that grew): no chain leaked beyond what was in flight.
    const cluster = await clusterBytes(16);
    const need = (bytes: number) => Math.ceil(bytes / cluster);
    const taken = freeBefore - found.freeClusters;
    const synced = need(700 * 1024) + need(33 * 1024);
    t.diagnostic(
      `FatFs: ${found.files.length} files read whole (${found.unreadable.map((u) => `${u.path}: ${u.error}`).join("; ") || "none unreadable"}), ${found.freeClusters} clusters of ${cluster} bytes free, ${taken} taken by the guest (synced files need ${synced})`,
    );
    assert.ok(taken >= synced, `${taken} clusters taken, the synced files need ${synced}`);
    assert.ok(taken <= synced + need(4096 * 1024) + 1, `${taken} clusters taken for ${synced} + late.bin`);
    const fsck = fsckFat(image);
    if (fsck === null) {
      t.diagnostic("fsck.fat is not installed (dosfstools): the image was checked by FatFs alone (above)");
      return;
    }
    t.diagnostic(`fsck.fat -n (exit ${fsck.code}): ${fsck.output.trim().replace(/\n/g, " | ")}`);
    // A file system still mounted when its host died carries the dirty bit (Linux's vfat sets it at
    // mount): that, and a file being written after the sync, are all fsck may report.
    const findings = fsck.output
      .split("\n")
      .filter(
        (l) =>
          l.trim() !== "" &&
          !/^fsck\.fat|^\/|dirty bit|not properly unmounted|Leaving filesystem unchanged|^\s*Automatically removing|late\.bin|LATE\.BIN|free cluster|Free cluster|reclaim|Reclaimed|bytes? .*cluster|files?, \d+\/\d+ clusters/i.test(
            l,
          ),
      );
    assert.deepEqual(findings, [], fsck.output);
  });

  it("unplugged in the middle of the guest's writes: the guest sees the removal, the host lives, the acknowledged blocks are in the image", async (t) => {
    const image = join(dir, "unplug.img");
    await makeFatImage(image, 16);
    const file = FileBlockStore.open(image);
    // The last bytes the stick acknowledged for each block (what the guest was told is written).
    const acknowledged = new Map<number, string>();
    let writes = 0;
    let unplugged = false;
    const recording: BlockStore = {
      blockCount: file.blockCount,
      readOnly: false,
      read: (lba, blocks, into, done) => file.read(lba, blocks, into, done),
      write: (lba, blocks, from, done: StoreCallback) =>
        file.write(lba, blocks, from, (status) => {
          if (status === StoreStatus.Ok) {
            for (let i = 0; i < blocks; i++)
              acknowledged.set(lba + i, sha(from.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE)));
            writes++;
          }
          done(status);
        }),
      flush: (done) => file.flush(done),
    };
    const events: Event[] = [];
    const { vm } = await bootWithStick(recording, "mount,write:big.bin:6000,sync,umount,dmesg", (e) =>
      events.push(e),
    );
    try {
      // Unplug once the guest is well into writing big.bin.
      await vm.waitForEvent(
        (e) => e.event === "item-begin" && String(e["item"]).startsWith("write"),
        240_000,
      );
      // Normally 20 device writes come within seconds. One CI run saw fewer than 20 in 120 s after the
      // guest began writing (cause not found: open in issue 12); then the stick is pulled after 60 s
      // with what has come, said as a diagnostic, and at least one acknowledged write is required.
      const start = Date.now();
      while (writes < 20 && Date.now() - start < 60_000) await new Promise((r) => setTimeout(r, 20));
      if (writes < 20) {
        t.diagnostic(
          `only ${writes} device write(s) in 60 s of the guest writing; last events: ${JSON.stringify(events.slice(-8))}`,
        );
      }
      assert.ok(writes >= 1, "the guest was writing");
      const removed = vm.uhci?.controller.detach(0);
      unplugged = removed !== null && removed !== undefined;
      await vm.waitForEvent((e) => e.event === "done", 240_000);
      // The guest's kernel saw the device go (hub_port_connect: "USB disconnect"), and usb-storage let
      // the disk go with it; /init ran its plan to the end (the host process and the machine live on).
      const dmesg = events
        .filter((e) => e.event === "log" && e["source"] === "dmesg")
        .map((e) => String(e["line"]));
      assert.ok(
        dmesg.some((l) => /USB disconnect/.test(l)),
        dmesg.slice(-20).join("\n"),
      );
    } finally {
      await vm.stop();
    }
    assert.ok(unplugged);
    file.close();
    const bytes = readFileSync(image);
    let checked = 0;
    for (const [lba, digest] of acknowledged) {
      assert.equal(
        sha(bytes.subarray(lba * BLOCK_SIZE, (lba + 1) * BLOCK_SIZE)),
        digest,
        `block ${lba} holds what was acknowledged`,
      );
      checked++;
    }
    assert.ok(checked > 100, `${checked} acknowledged blocks checked`);
  });
  it("a write-protected stick (a read-only image file): Linux sees Write Protect, mounts it read-only, reads the host's file", async () => {
    const image = join(dir, "ro.img");
    const hostBytes = randomBytes(64 * 1024);
    await makeFatImage(image, 8, { "HOST.BIN": hostBytes });
    const before = readFileSync(image);
    const store = FileBlockStore.open(image, { readOnly: true });
    const events: Event[] = [];
    const { vm } = await bootWithStick(store, "mount,sha:HOST.BIN,dmesg", (e) => events.push(e));
    try {
      await vm.waitForEvent((e) => e.event === "done", 240_000);
    } finally {
      await vm.stop();
      store.close();
    }
    const mount = events.find((e) => e.event === "mount");
    assert.deepEqual([mount?.["ok"], mount?.["ro"]], [true, true], JSON.stringify(mount));
    const sum = events.find((e) => e.event === "file-sum");
    assert.equal(sum?.["sha256"], sha(hostBytes));
    const dmesg = events
      .filter((e) => e.event === "log" && e["source"] === "dmesg")
      .map((e) => String(e["line"]));
    assert.ok(
      dmesg.some((l) => /Write Protect is on/.test(l)),
      dmesg.slice(-20).join("\n"),
    );
    assert.deepEqual(readFileSync(image), before, "the image is untouched");
  });
});
