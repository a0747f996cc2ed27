import { mkdirSync, renameSync, rmSync, type Stats, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "./args.ts";

/**
 * The paths users give the CLI, and checks of its output paths made before any work starts (a boot
 * takes a minute, a stream can take longer), so a path that cannot be written is a one-line usage error
 * (exit 2) and never a failure after the work, or a half-written file. Paths are file system paths,
 * never URLs (a `#` or `%` in a folder name is just a character).
 */

/**
 * `path` as the user meant it: absolute, a relative one taken from the folder the user ran the command
 * in. That is the working directory, except under `npm start`: npm runs the script in the package's
 * root and leaves the caller's folder in INIT_CWD (npm's documented script environment), so
 * `cd guest-image && npm start -- --guest-dir dist` means guest-image/dist, not the package's dist/.
 * INIT_CWD is trusted only in the process npm started for `start` in the package root: a child process
 * inherits npm's variables with a working directory of its own.
 */
export function userPath(path: string): string {
  const env = process.env;
  const underNpmStart =
    env.npm_lifecycle_event === "start" &&
    env.INIT_CWD !== undefined &&
    env.npm_package_json !== undefined &&
    resolve(dirname(env.npm_package_json)) === resolve(process.cwd());
  return resolve(underNpmStart ? (env.INIT_CWD ?? "") : process.cwd(), path);
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `stat` that says "nothing there" with undefined; other errors (EACCES, ENOTDIR, ELOOP) throw. */
function statOrNothing(path: string): Stats | undefined {
  return statSync(path, { throwIfNoEntry: false });
}

/**
 * Makes the folder `path` ({@link userPath}; and its missing parents) and proves a file can be written in it; returns its
 * absolute path. Folders are made one level at a time, not with `mkdirSync(…, { recursive: true })`:
 * on Node 20 that loops forever at 100 % CPU when the parent exists but refuses the new entry with
 * ENOENT (`/proc/forbidden`), where a single-level mkdir simply fails.
 */
export function prepareOutputDir(flag: string, path: string): string {
  const dir = userPath(path);
  try {
    const missing: string[] = [];
    let at = dir;
    let stats = statOrNothing(at);
    while (stats === undefined) {
      missing.push(at);
      const parent = dirname(at);
      if (parent === at) break;
      at = parent;
      stats = statOrNothing(at);
    }
    if (stats !== undefined && !stats.isDirectory()) throw new Error(`${at} is not a folder`);
    for (let i = missing.length - 1; i >= 0; i--) mkdirSync(missing[i]!);
    const probe = resolve(dir, ".uhci-write-test");
    writeFileSync(probe, "");
    rmSync(probe);
  } catch (error) {
    throw new UsageError(`${flag}: cannot write to ${dir}: ${reasonOf(error)}`);
  }
  return dir;
}

/**
 * Checks that the file `path` ({@link userPath}) can be written as the CLI writes its outputs (to `<path>.partial`, then
 * renamed over `path`): its folder exists, it is not a folder, device, pipe or socket itself, and a `.partial` file can be made
 * there. The probe is removed, so a check that fails, or a run that fails later, leaves no `.partial`
 * file. Returns the absolute path.
 */
export function checkOutputFile(flag: string, path: string): string {
  const file = userPath(path);
  const partial = `${file}.partial`;
  try {
    const existing = statOrNothing(file);
    if (existing?.isDirectory()) throw new Error("it is a folder");
    // The output is renamed over `path`: a device, pipe or socket there would be replaced by a plain
    // file, not written to (as root, `--wav-out /dev/full` replaced the device node).
    if (existing !== undefined && !existing.isFile()) throw new Error("it is not a regular file");
    const parent = statOrNothing(dirname(file));
    if (parent === undefined) throw new Error(`no folder ${dirname(file)}`);
    if (!parent.isDirectory()) throw new Error(`${dirname(file)} is not a folder`);
    if (statOrNothing(partial)?.isDirectory()) throw new Error(`${partial} is a folder`);
    // Whatever sits at the probe's name (ours: the run writes there next) goes first, and the probe is
    // made exclusively, so a symbolic link left there never has its target emptied.
    rmSync(partial, { force: true });
    writeFileSync(partial, "", { flag: "wx" });
    rmSync(partial);
  } catch (error) {
    throw new UsageError(`${flag}: cannot write ${file}: ${reasonOf(error)}`);
  }
  return file;
}

/**
 * Writes `data` to `path` whole or not at all, as every output of the CLI is written: into `partial`
 * (default `<path>.partial`), made new — whatever sits at that name (a symbolic link put there) is
 * removed first, never written through — then renamed over `path` (so a hard link to a file elsewhere
 * is not written through either). A write cut short (a full disk) leaves `path` as it was and no
 * partial file, and throws. `before` runs on the partial file before the rename (permissions, times).
 */
export function writeFileWhole(
  path: string,
  data: Uint8Array | string,
  options: { partial?: string; before?: (partial: string) => void } = {},
): void {
  const partial = options.partial ?? `${path}.partial`;
  try {
    rmSync(partial, { force: true });
    writeFileSync(partial, data, { flag: "wx" });
    options.before?.(partial);
    renameSync(partial, path);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
}
