#!/usr/bin/env node
// The `uhci` command runs the compiled CLI in dist/, and never stale code: with no finished build
// (dist/build-info.json is written last by scripts/build.mjs), or, in a checkout (src/ present), a
// build that started before the newest source file changed, it says so on one line and exits with 2.
// There is no TypeScript fallback: the published package has no tsx. In a checkout, `npm start` runs
// the sources themselves.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const main = join(root, "dist", "cli", "main.js");

function fail(message) {
  process.stderr.write(`uhci: ${message}\n`);
  process.exit(2);
}

/** The newest source that goes into dist/ (tests and testing/ helpers are not built). */
function newestSource(dir) {
  let newest = { path: "", mtimeMs: 0 };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === "testing") continue;
      const inner = newestSource(path);
      if (inner.mtimeMs > newest.mtimeMs) newest = inner;
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) {
      const { mtimeMs } = statSync(path);
      if (mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
    }
  }
  return newest;
}

let startedAt;
try {
  startedAt = JSON.parse(readFileSync(join(root, "dist", "build-info.json"), "utf8")).startedAt;
} catch {
  startedAt = undefined;
}
if (typeof startedAt !== "number" || !existsSync(main)) {
  fail("no finished build in dist/; run `npm run build` (or `npm start` to run the sources)");
}
const src = join(root, "src");
if (existsSync(src)) {
  const newest = newestSource(src);
  if (newest.mtimeMs > startedAt) {
    fail(
      `dist/ is older than ${newest.path.slice(root.length)}; run \`npm run build\` (or \`npm start\` to run the sources)`,
    );
  }
}
await import(pathToFileURL(main).href);
