import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { flagHelp, parseFlags, UsageError } from "../args.ts";
import { FatError, readFatImage } from "../stick/fat-image.ts";
import {
  MAX_STICK_MIB,
  type PackedFolder,
  packFolder,
  type UnpackResult,
  unpackImage,
} from "../stick/stick-folder.ts";
import { checkOutputFile, prepareOutputDir, userPath, writeFileWhole } from "../user-paths.ts";

export const STICK_FLAGS = {
  size: {
    kind: "number",
    help: "pack: the stick's size in MiB (default: what the files take + 1/8 + 16 MiB, at least 32)",
    min: 1,
    max: MAX_STICK_MIB,
    integer: true,
  },
} as const;

export const STICK_HELP = `uhci stick — USB stick images: a folder's files onto a FAT stick, and back

usage: uhci stick pack DIR IMG [--size MIB]   a fresh FAT image IMG holding DIR's files and folders
       uhci stick unpack IMG DIR              IMG's files into DIR (made if missing)
       uhci stick ls IMG                      the files on IMG, with their sizes

The image is a whole disk as a shop's stick is: an MBR with one FAT partition (FAT12/16/32 by size,
long file names), made and read by FatFs (the js-fatfs package).

Pack refuses, listing them, names FAT cannot hold (" * : < > ? \\ | or a control character, a
trailing dot or space, DOS device names such as CON or aux.txt), names that are not UTF-8, and names
in one folder that differ only in case (one name on FAT); symbolic links, FIFOs and sockets are left
out and listed. Names are kept as they are (not normalized); hidden files are packed.
Unpack writes new and changed files (permissions kept), leaves the same ones alone, and never
deletes or renames: files of DIR that the stick no longer holds are listed and kept; a stick name
that differs from DIR's only in case goes into DIR's file; read-only files, and a second stick name
for a file already written (é.txt and É.txt on a damaged stick), are not written (exit 1).
Modification times go both ways, to 2 s, as UTC (the guest's clock). For a stick the guest uses while it runs, see \`uhci shell --stick DIR\`.

In the guest (Linux):  mkdir -p /mnt/stick && mount /dev/sda1 /mnt/stick   … then sync; umount /mnt/stick

options:
${flagHelp(STICK_FLAGS)}`;

/** A stick's sector: an image shorter than one holds no file system. */
const SECTOR_BYTES = 512;

function readImage(path: string): Uint8Array {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat?.isDirectory()) throw new UsageError(`${path} is a folder, not a stick image`);
  // A device such as /dev/zero, or a pipe with no writer, would be read forever.
  if (stat !== undefined && !stat.isFile())
    throw new UsageError(`${path} is not a regular file (a device, pipe or socket), not a stick image`);
  let image: Uint8Array;
  try {
    image = new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (image.length < SECTOR_BYTES)
    throw new UsageError(
      `${path} is not a stick image: ${image.length} bytes, less than one ${SECTOR_BYTES}-byte sector`,
    );
  return image;
}

/** What packing left out: FAT has no symbolic links (and no sockets or devices). */
export function describeSkipped(skipped: readonly string[]): string {
  return `left out, not regular files or folders (symbolic links are not followed): ${skipped.join(", ")}`;
}

/** One line per kind of outcome of an unpack, for the terminal. */
export function describeUnpack(result: UnpackResult, dir: string): string {
  const lines = [
    `${dir}: ${result.written.length} file(s) written, ${result.unchanged.length} unchanged, ${result.folders} folder(s)`,
  ];
  if (result.notOnStick.length > 0) lines.push(`  not on the stick (kept): ${result.notOnStick.join(", ")}`);
  if (result.caseMatched.length > 0)
    lines.push(
      `  written into the folder's name, which differs only in case (FAT's names have none): ${result.caseMatched.map((m) => `${m.stick} → ${m.folder}`).join(", ")}`,
    );
  if (result.newerInFolder.length > 0)
    lines.push(
      `  changed in the folder after packing, the guest's left as it was (kept): ${result.newerInFolder.join(", ")}`,
    );
  if (result.conflicts.length > 0)
    lines.push(`  not written (the folder holds something else there): ${result.conflicts.join(", ")}`);
  if (result.failed.length > 0) lines.push(`  NOT WRITTEN: ${result.failed.join(", ")}`);
  return lines.join("\n");
}

/**
 * `uhci shell --stick DIR` at its end: the guest's stick back into DIR, described for stderr. The
 * guest's work is only in memory then, so when it cannot be unpacked (a guest that reformatted the
 * stick, a damaged file system, a name that would leave DIR), or some of its files could not be written
 * (NOT WRITTEN: a file changed on both sides, a read-only one, two stick names for one file), the whole
 * image is kept in DIR as a file that `uhci stick ls`, `unpack`, `mount` or fsck can read, rather than lost.
 */
export async function bringStickBack(image: Uint8Array, dir: string, packed?: PackedFolder): Promise<string> {
  try {
    const result = await unpackImage(image, dir, packed);
    const said = describeUnpack(result, dir);
    return result.failed.length === 0
      ? said
      : `${said}\n  so that nothing is lost, ${saveImageInto(image, dir)}`;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return `could not bring the stick's files back (${why}); ${saveImageInto(image, dir)}`;
  }
}

/** Writes `image` into `dir` under a name not yet taken; says where, or why not. */
function saveImageInto(image: Uint8Array, dir: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  for (let n = 0; n < 100; n++) {
    const path = join(dir, `uhci-stick-${stamp}${n === 0 ? "" : `-${n}`}.img`);
    try {
      writeFileSync(path, image, { flag: "wx" });
      return `the whole stick is saved as ${path}`;
    } catch (error) {
      if (!(error instanceof Error && "code" in error && error.code === "EEXIST")) {
        // Made here ("wx") and cut short (a full disk): no half image left looking like the stick.
        rmSync(path, { force: true });
        return `its image could not be saved in ${dir} either: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
  }
  return `its image could not be saved in ${dir} either`;
}

export async function runStick(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const positional: string[] = [];
  const flagArgs: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (!a.startsWith("-")) positional.push(a);
    else {
      flagArgs.push(a);
      // A flag's separate value (`--size 64`) belongs to it.
      if (a === "--size" && i + 1 < rest.length) flagArgs.push(rest[++i]!);
    }
  }
  const flags = parseFlags(flagArgs, STICK_FLAGS);
  try {
    return await run(sub, positional, flags.size);
  } catch (error) {
    // A file that is no FAT image, or a full one: a message, not a stack trace.
    if (error instanceof FatError) {
      process.stderr.write(`uhci stick: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

async function run(
  sub: string | undefined,
  positional: readonly string[],
  size: number | undefined,
): Promise<number> {
  if (sub === "pack") {
    const [dir, img] = positional;
    if (dir === undefined || img === undefined || positional.length > 2)
      throw new UsageError("usage: uhci stick pack DIR IMG [--size MIB]");
    const out = checkOutputFile("IMG", img);
    // A file the user made read-only is not replaced (the rename below would replace it regardless).
    const existing = statSync(out, { throwIfNoEntry: false });
    if (existing !== undefined && (existing.mode & 0o200) === 0)
      throw new UsageError(`IMG: ${out} is read-only; not replaced`);
    const { image, contents } = await packFolder(userPath(dir), size, out);
    // A write that fails half-way (a full disk) leaves IMG as it was.
    try {
      writeFileWhole(out, image);
    } catch (error) {
      throw new UsageError(
        `IMG: cannot write ${out}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    process.stdout.write(
      `${out}: ${image.length / (1024 * 1024)} MiB stick, ${contents.files.length} file(s) (${contents.bytes} bytes), ${contents.folders.length} folder(s)\n`,
    );
    if (contents.skipped.length > 0)
      process.stderr.write(`uhci stick: ${describeSkipped(contents.skipped)}\n`);
    return 0;
  }
  if (sub === "unpack") {
    const [img, dir] = positional;
    if (img === undefined || dir === undefined || positional.length > 2)
      throw new UsageError("usage: uhci stick unpack IMG DIR");
    const image = readImage(userPath(img));
    const to = prepareOutputDir("DIR", dir);
    const result = await unpackImage(image, to);
    process.stdout.write(`${describeUnpack(result, to)}\n`);
    return result.failed.length > 0 ? 1 : 0;
  }
  if (sub === "ls") {
    const [img] = positional;
    if (img === undefined || positional.length > 1) throw new UsageError("usage: uhci stick ls IMG");
    const contents = await readFatImage(readImage(userPath(img)));
    const lines = [
      ...contents.folders.map((folder) => `${folder}/\n`),
      ...contents.files.map((file) => `${file.path}\t${file.data.length}\n`),
    ];
    process.stdout.write(lines.join(""));
    return 0;
  }
  throw new UsageError(
    sub === undefined
      ? "usage: uhci stick pack|unpack|ls …"
      : `unknown stick command '${sub}'; pack, unpack or ls`,
  );
}
