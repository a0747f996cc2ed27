/**
 * A folder of the host ↔ a FAT stick image (`uhci stick pack` / `unpack`, `uhci shell --stick`): the
 * folder's regular files and folders go onto a fresh image; the image's files come back into a folder
 * when the guest is done with it. Everything read from an image is guest data: a name that could leave
 * the folder is refused (FatFs never returns one, but a damaged or hostile image is not trusted).
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { UsageError } from "../args.ts";
import { createFatImage, readFatImage, type StickContents, type StickFile } from "./fat-image.ts";

const MIB = 1024 * 1024;
/** Memory holds the whole image (a memory-backed stick in the guest), so sizes stay well inside Node's buffers. */
export const MAX_STICK_MIB = 2048;

export interface FolderContents extends StickContents {
  /** Bytes of all files. */
  bytes: number;
  /** Entries that are neither regular files nor folders (links, sockets…), left out. */
  skipped: string[];
}

/** The regular files and folders below `dir`, paths with `/`. Symbolic links are not followed. */
export function readFolder(dir: string): FolderContents {
  const files: StickFile[] = [];
  const folders: string[] = [];
  const skipped: string[] = [];
  let bytes = 0;
  let top: ReturnType<typeof statSync>;
  try {
    top = statSync(dir);
  } catch (error) {
    throw new UsageError(
      `cannot read folder ${dir}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (!top.isDirectory()) throw new UsageError(`${dir} is not a folder`);
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = join(at, entry.name);
      const path = relative(dir, full).split(sep).join("/");
      if (entry.isDirectory()) {
        folders.push(path);
        walk(full);
      } else if (entry.isFile()) {
        const data = new Uint8Array(readFileSync(full));
        bytes += data.length;
        files.push({ path, data });
      } else {
        skipped.push(path);
      }
    }
  };
  walk(dir);
  return { files, folders, skipped, bytes };
}

/**
 * The stick size for `bytes` of files when the user gives none: room for the files, the file system
 * and what the guest writes (an eighth more plus 16 MiB), at least 32 MiB, in whole MiB.
 */
export function defaultStickMiB(bytes: number): number {
  return Math.max(32, Math.ceil((bytes + bytes / 8 + 16 * MIB) / MIB));
}

/** A fresh FAT image of `sizeMiB` MiB (default: {@link defaultStickMiB}) holding the folder `dir`. */
export async function packFolder(
  dir: string,
  sizeMiB?: number,
): Promise<{ image: Uint8Array; contents: FolderContents }> {
  const contents = readFolder(dir);
  const mib = sizeMiB ?? defaultStickMiB(contents.bytes);
  if (!Number.isInteger(mib) || mib < 1 || mib > MAX_STICK_MIB) {
    throw new UsageError(`a stick is 1–${MAX_STICK_MIB} MiB, not ${mib}`);
  }
  if (contents.bytes > mib * MIB) {
    throw new UsageError(`${dir} holds ${contents.bytes} bytes of files, more than a ${mib} MiB stick`);
  }
  const image = await createFatImage(mib * MIB, contents);
  return { image, contents };
}

export interface UnpackResult {
  /** Files written (new or changed). */
  written: string[];
  /** Files already there with the same bytes. */
  unchanged: string[];
  /** Files in the folder that are not on the stick (the guest deleted or renamed them): kept, listed. */
  notOnStick: string[];
  /**
   * Stick files not written because the folder holds something else at their path or on the way to it
   * (a folder, a symbolic link: writing through a link could land outside the folder).
   */
  conflicts: string[];
  folders: number;
}

/**
 * Writes the image's files into `dir` (made if missing): new and changed files are written, the same
 * ones left alone; files of the folder the stick does not hold are kept and listed (a deletion in the
 * guest never deletes on the host).
 */
export async function unpackImage(image: Uint8Array, dir: string): Promise<UnpackResult> {
  const contents = await readFatImage(image);
  const before = statSync(dir, { throwIfNoEntry: false })?.isDirectory() ? readFolder(dir) : undefined;
  mkdirSync(dir, { recursive: true });
  const result: UnpackResult = { written: [], unchanged: [], notOnStick: [], conflicts: [], folders: 0 };
  const target = (path: string): string => {
    const names = path.split("/");
    if (names.some((n) => n === "" || n === "." || n === ".." || n.includes("\\")))
      throw new UsageError(`the stick holds a path that would leave ${dir}: '${path}'`);
    return join(dir, ...names);
  };
  // Each folder on the way must be a real folder of ours (made here or already one), never a link.
  const realFolder = (path: string): boolean => {
    const names = path.split("/");
    for (let i = 1; i <= names.length; i++) {
      const at = join(dir, ...names.slice(0, i));
      const found = lstatSync(at, { throwIfNoEntry: false });
      if (found === undefined) mkdirSync(at);
      else if (!found.isDirectory()) return false;
    }
    return true;
  };
  for (const folder of contents.folders) {
    target(folder);
    if (realFolder(folder)) result.folders++;
    else result.conflicts.push(`${folder}/`);
  }
  for (const file of contents.files) {
    const to = target(file.path);
    const parent = file.path.split("/").slice(0, -1).join("/");
    const existing = lstatSync(to, { throwIfNoEntry: false });
    if ((parent !== "" && !realFolder(parent)) || (existing !== undefined && !existing.isFile())) {
      result.conflicts.push(file.path);
      continue;
    }
    if (existing?.isFile() && Buffer.from(readFileSync(to)).equals(file.data)) {
      result.unchanged.push(file.path);
      continue;
    }
    writeFileSync(to, file.data);
    result.written.push(file.path);
  }
  const onStick = new Set(contents.files.map((f) => f.path.toLowerCase()));
  for (const file of before?.files ?? []) {
    // FAT names compare without case.
    if (!onStick.has(file.path.toLowerCase())) result.notOnStick.push(file.path);
  }
  return result;
}
