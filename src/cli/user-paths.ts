import { mkdirSync, rmSync, type Stats, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "./args.ts";

/**
 * Checks of the CLI's output paths, made before any work starts (a boot takes a minute, a stream can
 * take longer), so a path that cannot be written is a one-line usage error (exit 2) and never a failure
 * after the work, or a half-written file. Paths are file system paths, resolved against the working
 * directory: never URLs (a `#` or `%` in a folder name is just a character).
 */

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `stat` that says "nothing there" with undefined; other errors (EACCES, ENOTDIR, ELOOP) throw. */
function statOrNothing(path: string): Stats | undefined {
  return statSync(path, { throwIfNoEntry: false });
}

/**
 * Makes the folder `path` (and its missing parents) and proves a file can be written in it; returns its
 * absolute path. Folders are made one level at a time, not with `mkdirSync(…, { recursive: true })`:
 * on Node 20 that loops forever at 100 % CPU when the parent exists but refuses the new entry with
 * ENOENT (`/proc/forbidden`), where a single-level mkdir simply fails.
 */
export function prepareOutputDir(flag: string, path: string): string {
  const dir = resolve(path);
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
 * Checks that the file `path` can be written as the CLI writes its outputs (to `<path>.partial`, then
 * renamed over `path`): its folder exists, it is not a folder itself, and a `.partial` file can be made
 * there. The probe is removed, so a check that fails, or a run that fails later, leaves no `.partial`
 * file. Returns the absolute path.
 */
export function checkOutputFile(flag: string, path: string): string {
  const file = resolve(path);
  const partial = `${file}.partial`;
  try {
    if (statOrNothing(file)?.isDirectory()) throw new Error("it is a folder");
    const parent = statOrNothing(dirname(file));
    if (parent === undefined) throw new Error(`no folder ${dirname(file)}`);
    if (!parent.isDirectory()) throw new Error(`${dirname(file)} is not a folder`);
    if (statOrNothing(partial)?.isDirectory()) throw new Error(`${partial} is a folder`);
    writeFileSync(partial, "");
    rmSync(partial);
  } catch (error) {
    throw new UsageError(`${flag}: cannot write ${file}: ${reasonOf(error)}`);
  }
  return file;
}
