/**
 * A folder of the host ↔ a FAT stick image (`uhci stick pack` / `unpack`, `uhci shell --stick`): the
 * folder's regular files and folders go onto a fresh image; the image's files come back into a folder
 * when the guest is done with it. Everything read from an image is guest data: a name that could leave
 * the folder is refused (FatFs never returns one, but a damaged or hostile image is not trusted).
 *
 * The rules a user sees (README, "The `uhci` command"): a name FAT cannot hold, or two names FAT takes
 * for one (they differ only in case), is an error before anything is written; symbolic links are left
 * out and listed; unpacking never deletes or renames anything in the folder and never writes through
 * a link; modification times go both ways, to FAT's 2 seconds.
 */

import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  constants,
  type Dirent,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
} from "node:fs";
import { join } from "node:path";
import { UsageError } from "../args.ts";
import { writeFileWhole } from "../user-paths.ts";
import {
  CLUSTER_BYTES,
  createFatImage,
  dirEntriesFor,
  FatError,
  fatNameKey,
  fatNameProblem,
  MAX_DEPTH,
  MAX_ENTRIES,
  MAX_FOLDER_ENTRIES,
  needsFat32,
  readFatImage,
  type StickContents,
  type StickFile,
  stickBytesFor,
} from "./fat-image.ts";

const MIB = 1024 * 1024;
/** Memory holds the whole image (a memory-backed stick in the guest), so sizes stay well inside Node's buffers. */
export const MAX_STICK_MIB = 2048;

/** A file found in a folder, not yet read. */
export interface FolderEntry {
  path: string;
  size: number;
  mtimeMs: number;
}

/** What a folder holds, paths with `/`, without reading any file. */
export interface FolderScan {
  files: FolderEntry[];
  folders: string[];
  /** Entries that are neither regular files nor folders (symbolic links, sockets…), left out. */
  skipped: string[];
  /** Entries that could not be read (a folder without permission), with why. */
  unreadable: string[];
  /**
   * Entries whose names are not UTF-8 (Linux names are bytes; a name made in a Latin-1 locale), shown
   * with U+FFFD where a byte is not: FAT keeps names in UTF-16, so they cannot go onto a stick as they are.
   */
  notUtf8: string[];
  /** Bytes of all files. */
  bytes: number;
}

export interface FolderContents extends StickContents {
  /** Bytes of all files. */
  bytes: number;
  /** Entries that are neither regular files nor folders (links, sockets…), left out. */
  skipped: string[];
}

function reasonOf(error: unknown): string {
  if (error instanceof Error && "code" in error) {
    if (error.code === "EACCES" || error.code === "EPERM") return "permission denied";
    if (error.code === "ENOENT") return "it went away";
    if (error.code === "ENOSPC") return "the disk is full";
  }
  return error instanceof Error ? error.message : String(error);
}

/** A list for a one-line message: the first few, and how many more. */
function few(items: readonly string[], max = 5): string {
  const shown = items.slice(0, max).join(", ");
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/**
 * The folder `dir`'s files and folders below it, by name; symbolic links are not followed. `leaveOut`
 * (an absolute path) is skipped and listed: `uhci stick pack . stick.img` run inside the folder must
 * not pack the previous image into the next.
 */
export function scanFolder(dir: string, leaveOut?: string): FolderScan {
  const top = statSync(dir, { throwIfNoEntry: false });
  if (top === undefined) throw new UsageError(`no folder ${dir}`);
  if (!top.isDirectory()) throw new UsageError(`${dir} is not a folder`);
  const scan: FolderScan = { files: [], folders: [], skipped: [], unreadable: [], notUtf8: [], bytes: 0 };
  const walk = (at: string, prefix: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(at, { withFileTypes: true });
    } catch (error) {
      scan.unreadable.push(`${prefix === "" ? "." : prefix.slice(0, -1)} (${reasonOf(error)})`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const notUtf8 = entries.some((e) => e.name.includes("\uFFFD")) ? namesNotUtf8(at) : undefined;
    for (const entry of entries) {
      const full = join(at, entry.name);
      const path = prefix + entry.name;
      if (notUtf8?.has(entry.name)) {
        // Node gives such a name with U+FFFD for its bad bytes: opening it by that name would fail.
        scan.notUtf8.push(path);
      } else if (full === leaveOut) {
        scan.skipped.push(`${path} (the image being written)`);
      } else if (entry.isDirectory()) {
        scan.folders.push(path);
        walk(full, `${path}/`);
      } else if (entry.isFile()) {
        try {
          const stats = lstatSync(full);
          scan.files.push({ path, size: stats.size, mtimeMs: stats.mtimeMs });
          scan.bytes += stats.size;
        } catch (error) {
          scan.unreadable.push(`${path} (${reasonOf(error)})`);
        }
      } else {
        scan.skipped.push(path);
      }
    }
  };
  walk(dir, "");
  return scan;
}

/** The names in folder `at` that are not UTF-8, as Node decodes them (U+FFFD for each bad byte). */
function namesNotUtf8(at: string): Set<string> {
  const strict = new TextDecoder("utf-8", { fatal: true });
  const bad = new Set<string>();
  for (const raw of readdirSync(at, { encoding: "buffer" })) {
    try {
      strict.decode(raw);
    } catch {
      bad.add(raw.toString("utf8"));
    }
  }
  return bad;
}

/**
 * Every name in `scan` a FAT stick cannot hold as it is, and every pair FAT takes for one name (names
 * in one folder that differ only in case: on the stick the second would replace the first), each as
 * `'path' (why)`.
 */
export function fatNameProblems(scan: Pick<FolderScan, "files" | "folders" | "notUtf8">): string[] {
  const problems = scan.notUtf8.map((path) => `'${path}' (not UTF-8)`);
  const seen = new Map<string, string>();
  for (const path of [...scan.folders, ...scan.files.map((f) => f.path)]) {
    const slash = path.lastIndexOf("/");
    const name = path.slice(slash + 1);
    const problem = fatNameProblem(name);
    if (problem !== undefined) problems.push(`'${path}' (${problem})`);
    const key = `${path.slice(0, slash + 1)}${fatNameKey(name)}`;
    const other = seen.get(key);
    if (other !== undefined)
      problems.push(`'${other}' and '${path}' (one name on FAT: they differ only in case)`);
    else seen.set(key, path);
  }
  return problems;
}

/**
 * The regular files (read) and folders below `dir`, paths with `/`; symbolic links are not followed.
 * An entry that cannot be read is a {@link UsageError} naming it, not a stick without it.
 */
export function readFolder(dir: string): FolderContents {
  return readScanned(dir, scanFolder(dir));
}

function readScanned(dir: string, scan: FolderScan): FolderContents {
  if (scan.unreadable.length > 0) throw new UsageError(`cannot read in ${dir}: ${few(scan.unreadable)}`);
  const files: StickFile[] = [];
  const unreadable: string[] = [];
  for (const entry of scan.files) {
    try {
      files.push({ path: entry.path, data: readRegularFile(join(dir, entry.path)), mtimeMs: entry.mtimeMs });
    } catch (error) {
      unreadable.push(`${entry.path} (${reasonOf(error)})`);
    }
  }
  if (unreadable.length > 0) throw new UsageError(`cannot read in ${dir}: ${few(unreadable)}`);
  const bytes = files.reduce((sum, f) => sum + f.data.length, 0);
  return { files, folders: scan.folders, skipped: scan.skipped, bytes };
}

/**
 * A file found by {@link scanFolder}, read whole, if it is still a regular file: the scan saw its type,
 * but by now it may have been replaced by a symbolic link (never followed: O_NOFOLLOW) or a FIFO (never
 * waited on: O_NONBLOCK, and a FIFO is refused, not read, which would wait for a writer for ever).
 */
function readRegularFile(path: string): Uint8Array {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw new Error("no longer a regular file");
    return new Uint8Array(readFileSync(fd));
  } finally {
    closeSync(fd);
  }
}

/**
 * The stick size when the user gives none, for a folder's `files` and `folders`: what they take on the
 * stick (in whole 4 KiB clusters, with their folders' entries: {@link stickBytesFor}; a folder of many
 * small files takes far more than its bytes) plus room for what the guest writes (an eighth more plus
 * 16 MiB), at least 32 MiB, and 260 MiB when the top level needs FAT32 (its 4 KiB clusters start at
 * 257 MiB), in whole MiB; at most {@link MAX_STICK_MIB}, where the guest's room shrinks first.
 */
export function defaultStickMiB(
  files: readonly { path: string; size: number }[],
  folders: readonly string[],
): number {
  const needed = stickBytesFor(files, folders);
  const top = new Set([...folders, ...files.map((f) => f.path)].map((p) => p.split("/")[0] ?? ""));
  const mib = Math.max(needsFat32(top) ? 260 : 32, Math.ceil((needed + needed / 8 + 16 * MIB) / MIB));
  return needed <= MAX_STICK_MIB * MIB ? Math.min(mib, MAX_STICK_MIB) : mib;
}

/**
 * The folder (`""` for the top) holding more entries than a FAT folder can ({@link MAX_FOLDER_ENTRIES},
 * a long name taking several: {@link dirEntriesFor}), with its count, or undefined.
 */
function overfullFolder(
  scan: Pick<FolderScan, "files" | "folders">,
): { folder: string; names: number } | undefined {
  const entries = new Map<string, { entries: number; names: number }>();
  for (const path of [...scan.folders, ...scan.files.map((f) => f.path)]) {
    const slash = path.lastIndexOf("/");
    const parent = slash === -1 ? "" : path.slice(0, slash);
    const at = entries.get(parent) ?? { entries: 2, names: 0 };
    at.entries += dirEntriesFor(path.slice(slash + 1));
    at.names++;
    entries.set(parent, at);
  }
  for (const [folder, at] of entries) if (at.entries > MAX_FOLDER_ENTRIES) return { folder, names: at.names };
  return undefined;
}

/**
 * A fresh FAT image of `sizeMiB` MiB (default: {@link defaultStickMiB}) holding the folder `dir`.
 * Everything that would make the stick differ from the folder (an unreadable entry, a name FAT cannot
 * hold, two names FAT takes for one, files larger than the stick) is a {@link UsageError} raised
 * before a file is read whole or anything is written. `leaveOut`: see {@link scanFolder}.
 */
export async function packFolder(
  dir: string,
  sizeMiB?: number,
  leaveOut?: string,
): Promise<{ image: Uint8Array; contents: FolderContents }> {
  const scan = scanFolder(dir, leaveOut);
  if (scan.unreadable.length > 0) throw new UsageError(`cannot read in ${dir}: ${few(scan.unreadable)}`);
  const deepest = scan.folders.find((f) => f.split("/").length > MAX_DEPTH);
  if (deepest !== undefined)
    throw new UsageError(
      `folders nested deeper than ${MAX_DEPTH} levels in ${dir}: ${deepest.slice(0, 200)}…`,
    );
  const problems = fatNameProblems(scan);
  if (problems.length > 0)
    throw new UsageError(
      `${problems.length === 1 ? "a name" : `${problems.length} names`} a FAT stick cannot hold (rename first): ${few(problems, 3)}`,
    );
  // What a stick made here could not hold or read back, whatever its size.
  if (scan.files.length + scan.folders.length > MAX_ENTRIES)
    throw new UsageError(
      `${dir} holds ${scan.files.length} files and ${scan.folders.length} folders; a stick here holds at most ${MAX_ENTRIES} in all`,
    );
  const overfull = overfullFolder(scan);
  if (overfull !== undefined)
    throw new UsageError(
      `${overfull.folder === "" ? dir : `'${overfull.folder}'`} holds ${overfull.names} names, more than a FAT folder can (${MAX_FOLDER_ENTRIES} entries, a long name taking one per 13 characters and one more): put some into subfolders`,
    );
  const mib = sizeMiB ?? defaultStickMiB(scan.files, scan.folders);
  if (sizeMiB === undefined && mib > MAX_STICK_MIB)
    throw new UsageError(
      scan.bytes > MAX_STICK_MIB * MIB
        ? `${dir} holds ${(scan.bytes / MIB).toFixed(1)} MiB of files; a stick here holds at most ${MAX_STICK_MIB} MiB`
        : `${dir}'s ${scan.files.length} files take ${(stickBytesFor(scan.files, scan.folders) / MIB).toFixed(1)} MiB on a FAT stick (in ${CLUSTER_BYTES / 1024} KiB clusters); a stick here holds at most ${MAX_STICK_MIB} MiB`,
    );
  if (!Number.isInteger(mib) || mib < 1 || mib > MAX_STICK_MIB) {
    throw new UsageError(`a stick is 1–${MAX_STICK_MIB} MiB, not ${mib}`);
  }
  if (scan.bytes > mib * MIB) {
    throw new UsageError(`${dir} holds ${scan.bytes} bytes of files, more than a ${mib} MiB stick`);
  }
  const contents = readScanned(dir, scan);
  try {
    const image = await createFatImage(mib * MIB, contents);
    return { image, contents };
  } catch (error) {
    // The file system's own room (FATs, folders, whole clusters) is what a near-full stick lacks.
    if (error instanceof FatError && /is full/.test(error.message))
      throw new UsageError(
        `${dir}'s files and the file system do not fit on a ${mib} MiB stick (${error.message}): give it more MiB`,
      );
    throw error;
  }
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
  /** Stick files whose name matches a file or folder of the folder but for case: that one is used. */
  caseMatched: { stick: string; folder: string }[];
  /**
   * Stick files that could not be written (a read-only file, a full disk, a second stick name for a file
   * already written: two names the folder takes for one, which FatFs and the guest's vfat never make
   * but a hostile guest or a damaged file system can leave on a stick), with why; the rest are.
   */
  failed: string[];
  /** Files changed in the folder after it was packed, which the guest left as they were: the folder's kept. */
  newerInFolder: string[];
  folders: number;
}

/** A folder's file as it went onto a stick: to tell changes made in the folder since from the guest's. */
export interface PackedFile {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** Path in the folder → the file as packed. */
export type PackedFolder = ReadonlyMap<string, PackedFile>;

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

/** What `contents` (a {@link packFolder} result) held, for {@link unpackImage} at the session's end. */
export function packedFolder(contents: FolderContents): PackedFolder {
  const state = new Map<string, PackedFile>();
  for (const f of contents.files) {
    state.set(f.path, { size: f.data.length, mtimeMs: f.mtimeMs ?? Number.NaN, sha256: sha256(f.data) });
  }
  return state;
}

/** Where a file is written before it is renamed into place (short: a 255-byte name still fits beside it). */
const PARTIAL = `.uhci-unpack-${process.pid}.partial`;

/** The names of a stick path, refusing one that could leave the folder (a damaged or hostile image). */
function stickNames(path: string): string[] | undefined {
  const names = path.split("/");
  return names.some((n) => n === "" || n === "." || n === ".." || n.includes("\\") || n.includes("\0"))
    ? undefined
    : names;
}

/**
 * Writes the image's files into `dir` (made if missing): new and changed files are written (whole, then
 * renamed into place, with the stick's modification time), the same ones left alone; files of the folder
 * the stick does not hold are kept and listed (a deletion in the guest never deletes on the host).
 * Names are matched as FAT matches them, without case: a stick file `readme.txt` goes into the folder's
 * `README.txt`, never next to it. A path that could leave `dir` is a {@link UsageError} before anything
 * is written; a file that cannot be written is listed in `failed` and the others still are. With
 * `packed` (what the folder held when it was packed), a file changed in the folder since is never
 * replaced by the stick's.
 */
export async function unpackImage(
  image: Uint8Array,
  dir: string,
  packed?: PackedFolder,
): Promise<UnpackResult> {
  const contents = await readFatImage(image);
  const bad = [...contents.folders, ...contents.files.map((f) => f.path)].filter(
    (p) => stickNames(p) === undefined,
  );
  if (bad.length > 0) throw new UsageError(`the stick holds paths that would leave ${dir}: ${few(bad)}`);
  const before = statSync(dir, { throwIfNoEntry: false })?.isDirectory() ? scanFolder(dir) : undefined;
  mkdirSync(dir, { recursive: true });
  const result: UnpackResult = {
    written: [],
    unchanged: [],
    notOnStick: [],
    conflicts: [],
    caseMatched: [],
    failed: [],
    newerInFolder: [],
    folders: 0,
  };
  // The names in each folder of `dir` seen so far, to find a name as FAT would: exactly, else but for
  // case (by FAT's key, kept per folder: a folder of thousands of files is not scanned per file).
  const listed = new Map<string, { names: Set<string>; byKey: Map<string, string[]> }>();
  const folderNames = (at: string) => {
    let entry = listed.get(at);
    if (entry === undefined) {
      entry = { names: new Set(), byKey: new Map() };
      listed.set(at, entry);
      let names: string[] = [];
      try {
        names = readdirSync(at);
      } catch {
        // A folder made here, or one that cannot be listed: what is written into it is checked by lstat.
      }
      for (const name of names) addName(at, name);
    }
    return entry;
  };
  const addName = (at: string, name: string) => {
    const entry = folderNames(at);
    entry.names.add(name);
    const key = fatNameKey(name);
    const same = entry.byKey.get(key);
    if (same === undefined) entry.byKey.set(key, [name]);
    else same.push(name);
  };
  const hostName = (at: string, name: string): string => {
    const entry = folderNames(at);
    if (entry.names.has(name)) return name;
    const matches = entry.byKey.get(fatNameKey(name));
    return matches?.length === 1 && matches[0] !== undefined ? matches[0] : name;
  };
  /** The folder for stick folder `names` in `dir`, made where missing; undefined where something else is in the way. */
  const hostFolder = (names: readonly string[]): { at: string; path: string } | undefined => {
    let at = dir;
    const path: string[] = [];
    for (const name of names) {
      const found = hostName(at, name);
      const next = join(at, found);
      const stats = lstatSync(next, { throwIfNoEntry: false });
      if (stats === undefined) {
        mkdirSync(next);
        addName(at, found);
      } else if (!stats.isDirectory()) return undefined;
      at = next;
      path.push(found);
    }
    return { at, path: path.join("/") };
  };
  // The folder's files this unpack has dealt with, by path: a second stick file that lands on one of
  // them (`é.txt` then `É.txt`, from a hostile or damaged stick) must not replace the first one's bytes.
  const taken = new Set<string>();
  for (const folder of contents.folders) {
    try {
      if (hostFolder(stickNames(folder) ?? [])) result.folders++;
      else result.conflicts.push(`${folder}/`);
    } catch (error) {
      result.failed.push(`${folder}/ (${reasonOf(error)})`);
    }
  }
  for (const file of contents.files) {
    const names = stickNames(file.path) ?? [];
    const name = names.pop() ?? "";
    try {
      const parent = hostFolder(names);
      if (parent === undefined) {
        result.conflicts.push(file.path);
        continue;
      }
      const found = hostName(parent.at, name);
      const to = join(parent.at, found);
      const folderPath = parent.path === "" ? found : `${parent.path}/${found}`;
      if (taken.has(folderPath)) {
        result.failed.push(`${file.path} (the stick also holds ${folderPath}, one name for the folder)`);
        continue;
      }
      taken.add(folderPath);
      if (folderPath !== file.path) result.caseMatched.push({ stick: file.path, folder: folderPath });
      const existing = lstatSync(to, { throwIfNoEntry: false });
      if (existing !== undefined && !existing.isFile()) {
        result.conflicts.push(file.path);
        continue;
      }
      // With what the folder held when it was packed: did the user change this file in the folder
      // meanwhile (`shell --stick`: edited on the host while the guest ran), or make it?
      const was = packed?.get(folderPath);
      const changedInFolder =
        packed !== undefined &&
        existing !== undefined &&
        (was === undefined || existing.size !== was.size || existing.mtimeMs !== was.mtimeMs);
      if (
        existing !== undefined &&
        existing.size === file.data.length &&
        Buffer.from(readFileSync(to)).equals(file.data)
      ) {
        // Only the time changed (`touch` in the guest): the stick's time, to FAT's 2 s.
        if (
          !changedInFolder &&
          file.mtimeMs !== undefined &&
          Math.floor(existing.mtimeMs / 2000) * 2000 !== file.mtimeMs
        )
          utimesSync(to, new Date(), new Date(file.mtimeMs));
        result.unchanged.push(file.path);
        continue;
      }
      if (changedInFolder) {
        // The folder's newer file is never replaced by the stick's: kept when the guest left the file
        // as it was packed, and when both changed it too (then the guest's is listed as not written).
        if (was !== undefined && sha256(file.data) === was.sha256) result.newerInFolder.push(file.path);
        else
          result.failed.push(
            `${file.path} (${was === undefined ? "made" : "changed"} in the folder too while the guest ran; the folder's kept)`,
          );
        continue;
      }
      // A file the user made read-only is not replaced (cp would refuse it too).
      if (existing !== undefined && (existing.mode & 0o200) === 0) {
        result.failed.push(`${file.path} (read-only in the folder)`);
        continue;
      }
      // Whole, then renamed over: a full disk leaves the old file, and a hard link to a file outside
      // the folder is not written through. The partial file is made new ("wx"): one left at its name
      // (a symbolic link put there) is removed first, never written through.
      writeFileWhole(to, file.data, {
        partial: join(parent.at, PARTIAL),
        before: (partial) => {
          // The folder's file keeps its permissions (a script stays executable).
          if (existing !== undefined) chmodSync(partial, existing.mode & 0o7777);
          if (file.mtimeMs !== undefined) utimesSync(partial, new Date(), new Date(file.mtimeMs));
        },
      });
      if (existing === undefined) addName(parent.at, found);
      result.written.push(file.path);
    } catch (error) {
      result.failed.push(`${file.path} (${reasonOf(error)})`);
    }
  }
  // FAT names compare without case.
  const key = (path: string) => path.split("/").map(fatNameKey).join("/");
  const onStick = new Set(contents.files.map((f) => key(f.path)));
  for (const file of before?.files ?? []) {
    if (!onStick.has(key(file.path))) result.notOnStick.push(file.path);
  }
  return result;
}
