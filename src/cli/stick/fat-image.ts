/**
 * FAT stick images for `uhci stick` and the main job's file round trip (issue 12, item 4): a folder's
 * files put onto a fresh FAT image, and an image's files read back. The file system is made and read by
 * ChaN's FatFs (the `js-fatfs` package: FatFs compiled to wasm), never by code of ours: the guest's vfat
 * driver, SeaBIOS and Windows all have to agree with it, and FatFs is what countless real devices use.
 * `js-fatfs` is an optional peer dependency (a development one in a checkout), loaded only here, so
 * the published package keeps no run-time dependencies; without it the command says what to install.
 */
import { UsageError } from "../args.ts";

type FatFsModule = typeof import("js-fatfs");
type FatFs = import("js-fatfs").FatFs;

let loaded: Promise<FatFsModule> | undefined;

function loadFatFs(): Promise<FatFsModule> {
  loaded ??= import("js-fatfs").catch((error: unknown) => {
    loaded = undefined;
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new UsageError(`FAT stick images need the js-fatfs package: npm install js-fatfs (${reason})`);
  });
  return loaded;
}

export const SECTOR = 512;
/** The most root directory entries FatFs gives a FAT12/16 volume (f_mkfs's n_root). */
const MAX_ROOT_ENTRIES = 32768;

/** A file on (or for) a stick: a path with `/` between folders, relative to the file system's root. */
export interface StickFile {
  path: string;
  data: Uint8Array;
  /**
   * Last modification, ms since the epoch. FAT keeps it to 2 s, as a date and time without a zone:
   * we store and read UTC, as the bundled Linux guest does (v86's RTC runs in UTC and the guest sets no
   * time zone, so its vfat driver writes UTC). Written: the time FatFs's clock says when left out.
   */
  mtimeMs?: number;
}

/** What was on an image: its files, and its folders (empty ones included). */
export interface StickContents {
  files: StickFile[];
  folders: string[];
}

/** FatFs's result codes by number, for messages (FatFs manual, "Return codes"). */
const RESULTS = [
  "ok",
  "disk error",
  "internal error",
  "not ready",
  "no such file",
  "no such path",
  "invalid name",
  "access denied (or the disk is full)",
  "exists",
  "invalid object",
  "write protected",
  "invalid drive",
  "not enabled",
  "no FAT file system",
  "mkfs aborted",
  "timeout",
  "locked",
  "not enough memory",
  "too many open files",
  "invalid parameter",
];

class FatError extends Error {}

function check(result: number, what: string): void {
  if (result !== 0) throw new FatError(`${what}: ${RESULTS[result] ?? `FatFs error ${result}`}`);
}

/** Sector I/O over an image in memory: FatFs's disk layer (diskio.h), drive 0. */
function diskOver(mod: FatFsModule, image: Uint8Array): import("js-fatfs").DiskIO {
  const sectors = Math.floor(image.length / SECTOR);
  return {
    initialize: () => 0,
    status: () => 0,
    read: (ff, _drive, buff, sector, count) => {
      if (sector < 0 || sector + count > sectors) return mod.RES_PARERR;
      ff.HEAPU8.set(image.subarray(sector * SECTOR, (sector + count) * SECTOR), buff);
      return mod.RES_OK;
    },
    write: (ff, _drive, buff, sector, count) => {
      if (sector < 0 || sector + count > sectors) return mod.RES_PARERR;
      image.set(ff.HEAPU8.subarray(buff, buff + count * SECTOR), sector * SECTOR);
      return mod.RES_OK;
    },
    ioctl: (ff, _drive, cmd, buff) => {
      if (cmd === mod.CTRL_SYNC) return mod.RES_OK;
      if (cmd === mod.GET_SECTOR_COUNT) {
        ff.setValue(buff, sectors, "i32");
        return mod.RES_OK;
      }
      if (cmd === mod.GET_SECTOR_SIZE) {
        ff.setValue(buff, SECTOR, "i16");
        return mod.RES_OK;
      }
      if (cmd === mod.GET_BLOCK_SIZE) {
        ff.setValue(buff, 1, "i32");
        return mod.RES_OK;
      }
      return mod.RES_PARERR;
    },
  };
}

/** Bytes moved through FatFs's heap per f_read / f_write. */
const CHUNK = 64 * 1024;

interface Session {
  mod: FatFsModule;
  ff: FatFs;
  chunk: number;
  fil: number;
  count: number;
  /** The image's size: what no file on it can exceed. */
  imageBytes: number;
}

async function open(image: Uint8Array): Promise<Session> {
  const mod = await loadFatFs();
  const ff = await mod.default({ diskio: diskOver(mod, image) });
  return {
    mod,
    ff,
    chunk: ff.malloc(CHUNK),
    fil: ff.malloc(mod.sizeof_FIL),
    count: ff.malloc(4),
    imageBytes: image.length,
  };
}

function mount(s: Session): void {
  const fs = s.ff.malloc(s.mod.sizeof_FATFS);
  check(s.ff.f_mount(fs, "", 1), "mounting the image");
}

/** DOS device names: Windows opens the device, not the file, whatever the extension (`aux.txt`). */
const RESERVED = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\.|$)/i;

/**
 * Why `name` cannot be a file or folder name on a FAT stick as given, or undefined when it can. FAT's
 * long names (Microsoft FAT specification, "Long File Name Implementation") forbid `" * / : < > ? \ |` and
 * control characters; FatFs, Windows and Linux's vfat drop trailing dots and spaces (so `notes.` would
 * come back as `notes`); Windows cannot open a DOS device name; a long name has at most 255 UTF-16
 * units. A name that would change on the way is refused, never stored changed.
 */
export function fatNameProblem(name: string): string | undefined {
  if (name === "" || name === "." || name === "..") return "not a file name";
  for (const c of name) {
    const code = c.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) return "a control character";
    if ('"*/:<>?\\|'.includes(c)) return `'${c}'`;
  }
  if (/[. ]$/.test(name)) return "a trailing dot or space";
  if (RESERVED.test(name)) return "a DOS device name";
  if (name.length > 255) return "longer than 255 characters";
  return undefined;
}

/**
 * What FAT compares names by: without case (FatFs upper-cases both sides, ff_wtoupper, as Windows
 * does), so `Readme.txt` and `README.TXT` are one file on a stick. A character whose upper case is
 * longer (`ß` → `SS`) is kept, as FatFs's one-to-one table keeps it.
 */
export function fatNameKey(name: string): string {
  let key = "";
  for (const c of name) {
    const upper = c.toUpperCase();
    key += upper.length === c.length ? upper : c;
  }
  return key;
}

/** Splits a stick path into its names, refusing what no FAT name can be (and would escape a folder). */
function namesOf(path: string): string[] {
  const names = path.split("/").filter((n) => n !== "");
  for (const n of names) {
    const problem = fatNameProblem(n);
    if (problem !== undefined) throw new FatError(`'${path}': '${n}' cannot be a FAT name (${problem})`);
  }
  if (names.length === 0) throw new FatError(`'${path}' names no file`);
  return names;
}

/** FAT dates start in 1980 and end in 2107 (7 bits of years). */
const FAT_EPOCH_MS = Date.UTC(1980, 0, 1);
const FAT_END_MS = Date.UTC(2107, 11, 31, 23, 59, 58);

/**
 * Runs `fn` (synchronous FatFs calls) with FatFs's clock reading `utcMs`. js-fatfs is built without
 * f_utime (FF_USE_CHMOD 0), and its get_fattime() takes the host's local time of Date.now(): so a
 * file's time can only be given as the clock while FatFs stamps the entry (f_open creates, f_close
 * writes the modified time). The clock is shifted so that local time shows `utcMs`'s UTC fields, the
 * zone-less form the guest reads (see {@link StickFile.mtimeMs}). Nothing else runs in between: the
 * calls are synchronous, and the clock is put back before returning.
 */
function withFatClock<T>(utcMs: number, fn: () => T): T {
  const at = Math.min(Math.max(utcMs, FAT_EPOCH_MS), FAT_END_MS);
  // Local fields equal at's UTC fields at at + offset; the offset taken at that instant (DST).
  const shifted = at + new Date(at + new Date(at).getTimezoneOffset() * 60_000).getTimezoneOffset() * 60_000;
  const realNow = Date.now;
  Date.now = () => shifted;
  try {
    return fn();
  } finally {
    Date.now = realNow;
  }
}

/** A FAT directory entry's date and time (FAT specification, "Date and Time Formats") as UTC ms, or undefined. */
function fatTimeToMs(date: number, time: number): number | undefined {
  const year = 1980 + (date >> 9);
  const month = (date >> 5) & 15;
  const day = date & 31;
  const hours = time >> 11;
  const minutes = (time >> 5) & 63;
  const seconds = (time & 31) * 2;
  // A field out of range (a zeroed entry, a damaged image) is no time at all.
  if (month < 1 || month > 12 || day < 1 || day > 31 || hours > 23 || minutes > 59 || seconds > 59)
    return undefined;
  return Date.UTC(year, month - 1, day, hours, minutes, seconds);
}

/** Characters an 8.3 name holds besides letters and digits (FAT specification, "DIR_Name"). */
const SHORT_NAME = /^[A-Za-z0-9!#$%&'()@^_`{}~-]{1,8}(\.[A-Za-z0-9!#$%&'()@^_`{}~-]{1,3})?$/;

/**
 * Whether `name` is stored as an 8.3 entry alone, without long-name entries: FatFs keeps a name in its
 * 8.3 entry when it fits 8 + 3 characters of the short-name set, ASCII, each part all upper or all
 * lower case (the lower case kept in the entry's NT flags, as Windows does). Others get long-name
 * entries and a generated short alias (`LONGNA~1.TXT`).
 */
export function isShortName(name: string): boolean {
  if (!SHORT_NAME.test(name)) return false;
  return name.split(".").every((part) => part === part.toUpperCase() || part === part.toLowerCase());
}

/**
 * Directory entries `name` takes (FAT specification, "Long File Name Implementation"): one 8.3 entry,
 * and, unless {@link isShortName}, one long-name entry per 13 UTF-16 units.
 */
export function dirEntriesFor(name: string): number {
  return isShortName(name) ? 1 : 1 + Math.ceil(name.length / 13);
}

function rootEntriesFor(names: Iterable<string>): number {
  let entries = 0;
  for (const name of names) entries += dirEntriesFor(name);
  return entries;
}

/**
 * Whether a stick with `names` at its top level must be FAT32: a FAT12/16 root directory is made with
 * a fixed number of entries (FatFs's default 512, which 600 short names or 40 long ones filled), here
 * twice what the top level needs, so the guest can add as many again; past what FAT16 can give
 * (32768), FAT32, whose root grows like any folder.
 */
export function needsFat32(names: Iterable<string>): boolean {
  return rootEntriesFor(names) * 2 > MAX_ROOT_ENTRIES;
}

/**
 * Bytes per cluster of the sticks made here from 17 MiB up: 4 KiB (as mkfs.fat and Windows give FAT16
 * and small FAT32 volumes), so what files take on a stick can be reckoned before it is made
 * ({@link stickBytesFor}). FatFs's own choice grows to 32 KiB at 1–2 GiB, where a folder of many small
 * files (a source tree) took eight times its bytes. Below 17 MiB a FAT12/16 volume of 4 KiB clusters is
 * not possible (FatFs aborts), so FatFs picks there (512 B – 2 KiB); a FAT32 volume needs 65525
 * clusters, 4 KiB ones from 257 MiB.
 */
export const CLUSTER_BYTES = 4096;
const MIB = 1024 * 1024;

function clusterFor(sizeBytes: number, fat32: boolean): number {
  return sizeBytes >= (fat32 ? 257 : 17) * MIB ? CLUSTER_BYTES : 0;
}

/**
 * Bytes a stick of {@link CLUSTER_BYTES} clusters gives `files` (sizes in bytes) and the folders
 * holding them: each file in whole clusters, each folder's entries (its `.` and `..`, an 8.3 entry per
 * name and long-name entries, {@link dirEntriesFor}) in whole clusters, and the two FATs.
 */
export function stickBytesFor(
  files: readonly { path: string; size: number }[],
  folders: readonly string[],
): number {
  const round = (bytes: number) => Math.ceil(bytes / CLUSTER_BYTES) * CLUSTER_BYTES;
  const entries = new Map<string, number>();
  const count = (path: string) => {
    const slash = path.lastIndexOf("/");
    const parent = slash === -1 ? "" : path.slice(0, slash);
    entries.set(parent, (entries.get(parent) ?? 2) + dirEntriesFor(path.slice(slash + 1)));
  };
  let bytes = 0;
  for (const f of files) {
    bytes += round(f.size);
    count(f.path);
  }
  for (const folder of folders) {
    count(folder);
    if (!entries.has(folder)) entries.set(folder, 2);
  }
  for (const n of entries.values()) bytes += round(n * 32);
  // Two FATs of 4 bytes (FAT32; FAT16 takes 2) per cluster.
  return bytes + (bytes / CLUSTER_BYTES) * 8;
}

/** The most entries FatFs lets a folder grow to (MAX_DIR: 2 MiB of 32-byte entries), `.` and `..` included. */
export const MAX_FOLDER_ENTRIES = 65536;

/**
 * A fresh FAT image of `sizeBytes` (a whole number of 512-byte sectors) holding `files` and `folders`:
 * an MBR with one partition, as a stick from a shop has (the guest mounts /dev/sda1); FAT12, FAT16 or
 * FAT32 as FatFs picks for the size, long file names kept.
 */
export async function createFatImage(
  sizeBytes: number,
  contents: { files: readonly StickFile[]; folders?: readonly string[] },
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 1024 * 1024 || sizeBytes % SECTOR !== 0) {
    throw new UsageError(
      `a stick image is at least 1 MiB and a whole number of 512-byte blocks, not ${sizeBytes} bytes`,
    );
  }
  const top = new Set<string>();
  for (const p of [...(contents.folders ?? []), ...contents.files.map((f) => f.path)]) {
    top.add(namesOf(p)[0] ?? "");
  }
  // The root directory's entries: see needsFat32.
  const rootNeeds = rootEntriesFor(top);
  const fat32Only = needsFat32(top);
  const nRoot = fat32Only ? 0 : Math.max(512, Math.ceil((rootNeeds * 2) / 16) * 16);
  const image = new Uint8Array(sizeBytes);
  const s = await open(image);
  const { mod, ff } = s;
  const work = ff.malloc(mod.FF_MAX_SS * 8);
  const fmt = fat32Only ? mod.FM_FAT32 : mod.FM_ANY;
  const mkfs = (auSize: number) =>
    ff.f_mkfs("", { fmt, n_fat: 2, align: 0, n_root: nRoot, au_size: auSize }, work, mod.FF_MAX_SS * 8);
  const au = clusterFor(sizeBytes, fat32Only);
  let formatted = mkfs(au);
  // A size just past a FAT type's end (256–257 MiB: too many 4 KiB clusters for FAT16, too few for
  // FAT32) has no volume of that cluster size: FatFs picks one then.
  if (formatted === mod.FR_MKFS_ABORTED && au !== 0) formatted = mkfs(0);
  if (formatted === mod.FR_MKFS_ABORTED && fat32Only)
    throw new FatError(
      `${top.size} files and folders at the top level need a FAT32 stick, and ${sizeBytes / (1024 * 1024)} MiB is too small for one: give it more room or fewer top-level entries`,
    );
  check(formatted, "formatting the image");
  ff.free(work);
  mount(s);
  // Every folder (those given and those holding files), then, level by level, each folder's names that
  // are 8.3 names themselves before the long ones: FatFs gives a long name the first free alias
  // (`ABCDEFGHIJ.TXT` → `ABCDEF~1.TXT`) and would then refuse a file really named `ABCDEF~1.TXT` as
  // one it already holds; made first, the real name takes `~1` and the alias moves on to `~2`.
  const folders = new Set<string>();
  const addFolders = (names: readonly string[]) => {
    for (let i = 1; i <= names.length; i++) folders.add(names.slice(0, i).join("/"));
  };
  for (const folder of contents.folders ?? []) addFolders(namesOf(folder));
  const items: { names: string[]; file?: StickFile }[] = [];
  for (const file of contents.files) {
    const names = namesOf(file.path);
    addFolders(names.slice(0, -1));
    items.push({ names, file });
  }
  for (const folder of folders) items.push({ names: folder.split("/") });
  const rank = (names: readonly string[]) => names.length * 2 + (isShortName(names.at(-1) ?? "") ? 0 : 1);
  items.sort((a, b) => rank(a.names) - rank(b.names));
  for (const { names, file } of items) {
    const path = names.join("/");
    if (file === undefined) {
      const made = ff.f_mkdir(path);
      if (made !== mod.FR_EXIST) check(made, `making folder '${path}'`);
      continue;
    }
    const write = () => {
      // CREATE_NEW: a second name FAT takes for the same one (`A.txt`, `a.txt`) fails, never replaces.
      const opened = ff.f_open(s.fil, path, mod.FA_WRITE | mod.FA_CREATE_NEW);
      if (opened === mod.FR_EXIST)
        throw new FatError(`'${path}': the stick already holds it under another case`);
      if (opened === mod.FR_DENIED) throw new FatError(`creating '${path}': the stick is full`);
      check(opened, `creating '${path}'`);
      for (let at = 0; at < file.data.length; at += CHUNK) {
        const piece = file.data.subarray(at, at + CHUNK);
        ff.HEAPU8.set(piece, s.chunk);
        check(ff.f_write(s.fil, s.chunk, piece.length, s.count), `writing '${path}'`);
        if (ff.getValue(s.count, "i32") !== piece.length) {
          ff.f_close(s.fil);
          throw new FatError(`writing '${path}': the stick is full`);
        }
      }
      check(ff.f_close(s.fil), `closing '${path}'`);
    };
    if (file.mtimeMs === undefined) write();
    else withFatClock(file.mtimeMs, write);
  }
  check(ff.f_unmount(""), "unmounting the image");
  return image;
}

/** Every file and folder on a FAT image (its first partition, or the whole image without one). */
export async function readFatImage(image: Uint8Array): Promise<StickContents> {
  const s = await open(image);
  mount(s);
  return walk(s, null);
}

/**
 * What FatFs finds on an image a guest may have left half-written (the stick durability tests' check
 * where dosfstools' fsck.fat is missing): every folder walked, every file read whole through its
 * cluster chain (FatFs fails a chain that ends early or runs through a free cluster), and the free
 * cluster count FatFs takes from the FAT itself. A file that cannot be read whole is listed in
 * `unreadable`, not thrown, so one file cut off by a crash does not hide the state of the others.
 */
export interface FatImageCheck extends StickContents {
  unreadable: { path: string; error: string }[];
  freeClusters: number;
}

export async function checkFatImage(image: Uint8Array): Promise<FatImageCheck> {
  const s = await open(image);
  mount(s);
  const unreadable: FatImageCheck["unreadable"] = [];
  const contents = walk(s, (path, error) => unreadable.push({ path, error: error.message }));
  const ptr = s.ff.malloc(4);
  const fatfs = s.ff.malloc(4);
  check(s.ff.f_getfree("", ptr, fatfs), "counting free clusters");
  const freeClusters = s.ff.getValue(ptr, "i32") >>> 0;
  return { ...contents, unreadable, freeClusters };
}

/**
 * Folder depth read at most: a damaged image can make a folder its own descendant. Deeper than any
 * real folder tree (Linux's 4096-byte paths hold about 2000 one-letter levels, real trees a few dozen;
 * 70 levels were refused at 64), and `uhci stick pack` refuses a folder deeper than this, so what it
 * packs always reads back.
 */
export const MAX_DEPTH = 256;
/** Files and folders read at most (`uhci stick pack` refuses more, so what it packs always reads back). */
export const MAX_ENTRIES = 100_000;

/**
 * Walks the mounted image; with `onUnreadable`, a file that fails to read is reported and left out.
 * The image is the guest's: a file larger than the image, more file bytes in all than twice the image
 * (cross-linked cluster chains), folders nested beyond {@link MAX_DEPTH} (a loop) or more than
 * {@link MAX_ENTRIES} entries are a {@link FatError}, never an allocation the host cannot make.
 */
function walk(s: Session, onUnreadable: ((path: string, error: FatError) => void) | null): StickContents {
  const { mod, ff } = s;
  const imageBytes = s.imageBytes;
  let entries = 0;
  let total = 0;
  const dir = ff.malloc(mod.sizeof_DIR);
  const info = ff.malloc(mod.sizeof_FILINFO);
  const files: StickFile[] = [];
  const folders: string[] = [];
  const readWhole = (full: string): Uint8Array => {
    check(ff.f_open(s.fil, full, mod.FA_READ), `opening '${full}'`);
    try {
      const size = ff.f_size(s.fil);
      total += size;
      if (size > imageBytes || total > 2 * imageBytes)
        throw new FatError(`'${full}' claims ${size} bytes, more than the stick holds (a damaged image?)`);
      const data = new Uint8Array(size);
      for (let at = 0; at < size; ) {
        check(ff.f_read(s.fil, s.chunk, Math.min(CHUNK, size - at), s.count), `reading '${full}'`);
        const got = ff.getValue(s.count, "i32");
        // f_read gives less than asked only at the end of the file: short of its size is a broken file.
        if (got <= 0) throw new FatError(`reading '${full}': ${at} of its ${size} bytes`);
        data.set(ff.HEAPU8.subarray(s.chunk, s.chunk + got), at);
        at += got;
      }
      return data;
    } finally {
      ff.f_close(s.fil);
    }
  };
  const walkFolder = (path: string, depth: number) => {
    if (depth > MAX_DEPTH)
      throw new FatError(`'${path}': folders nested deeper than ${MAX_DEPTH} (a damaged image?)`);
    const subfolders: string[] = [];
    const names: { full: string; mtimeMs: number | undefined }[] = [];
    check(ff.f_opendir(dir, path), `reading folder '${path || "/"}'`);
    for (;;) {
      check(ff.f_readdir(dir, info), `reading folder '${path || "/"}'`);
      const name = ff.FILINFO_fname(info);
      if (name === "") break;
      const full = path === "" ? name : `${path}/${name}`;
      if (++entries > MAX_ENTRIES)
        throw new FatError(`more than ${MAX_ENTRIES} files and folders (a damaged image?)`);
      if (ff.FILINFO_fattrib(info) & mod.AM_DIR) subfolders.push(full);
      else names.push({ full, mtimeMs: fatTimeToMs(ff.FILINFO_fdate(info), ff.FILINFO_ftime(info)) });
    }
    ff.f_closedir(dir);
    for (const { full, mtimeMs } of names) {
      const file = (): StickFile => ({
        path: full,
        data: readWhole(full),
        ...(mtimeMs === undefined ? {} : { mtimeMs }),
      });
      if (onUnreadable === null) {
        files.push(file());
        continue;
      }
      try {
        files.push(file());
      } catch (error) {
        if (!(error instanceof FatError)) throw error;
        onUnreadable(full, error);
      }
    }
    for (const sub of subfolders) {
      folders.push(sub);
      walkFolder(sub, depth + 1);
    }
  };
  walkFolder("", 0);
  return { files, folders };
}

export { FatError };
