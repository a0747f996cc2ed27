/**
 * The layer checker run by `npm run lint` (scripts/check-layers.ts): it passes on this repository and
 * catches each kind of violation docs/architecture.md rules out, in a scratch src/ tree.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkLayers, importsOf } from "../../scripts/check-layers.ts";

const scratch = mkdtempSync(join(tmpdir(), "uhci-layers-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let trees = 0;

/** A scratch src/ holding `files` (path → source), checked. */
function check(files: Record<string, string>): string[] {
  const src = join(scratch, `tree${trees++}`, "src");
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), source);
  }
  return checkLayers(src).map((v) => `${v.file} ${v.specifier}: ${v.message}`);
}

/** A minimal legal tree to add one file to. */
const base = {
  "index.ts": 'export * from "./controller/c.ts";\nexport * from "./devices/hid/d.ts";\n',
  "machine/m.ts": "export const m = 1;\n",
  "usb/u.ts": 'import { m } from "../machine/m.ts";\nexport const u = m;\n',
  "controller/c.ts": 'import { u } from "../usb/u.ts";\nexport const c = u;\n',
  "devices/hid/d.ts": 'import { u } from "../../usb/u.ts";\nexport const d = u;\n',
};

describe("layer checker (npm run lint)", () => {
  it("finds no violation in this repository's src/", () => {
    const src = fileURLToPath(new URL("../../src/", import.meta.url));
    assert.deepEqual(checkLayers(src), []);
  });

  it("accepts a tree that follows the layers", () => {
    assert.deepEqual(check(base), []);
  });

  it("catches a device importing the controller, however the path is spelled", () => {
    const found = check({
      ...base,
      "devices/hid/bad.ts": 'import { c } from "../../controller/c.ts";\nexport const x = c;\n',
      "devices/worse.ts": 'export { c } from "./hid/../../controller/c.ts";\n',
    });
    assert.equal(found.length, 2, found.join("\n"));
    assert.ok(found.every((v) => v.includes("devices must not import controller")));
  });

  it("catches upward imports: machine → usb, usb → devices, the software guest → controller", () => {
    const found = check({
      ...base,
      "machine/up.ts": 'import type { u } from "../usb/u.ts";\nexport type X = typeof u;\n',
      "usb/up.ts": 'import { d } from "../devices/hid/d.ts";\nexport const y = d;\n',
      "guest/g.ts": 'import { c } from "../controller/c.ts";\nexport const g = c;\n',
    });
    assert.deepEqual(found.map((v) => v.split(":")[1]?.trim().split(" (")[0]).sort(), [
      "guest must not import controller",
      "machine must not import usb",
      "usb must not import devices",
    ]);
  });

  it("catches a Node built-in in library code, with or without the node: prefix", () => {
    const found = check({
      ...base,
      "devices/hid/fs.ts": 'import { readFileSync } from "node:fs";\nexport const r = readFileSync;\n',
      "usb/path.ts": 'import { join } from "path";\nexport const j = join;\n',
      "node/ok.ts": 'import { readFileSync } from "node:fs";\nexport const ok = readFileSync;\n',
    });
    assert.deepEqual(found, [
      "devices/hid/fs.ts node:fs: devices must not import Node built-ins (only src/node and src/cli may)",
      "usb/path.ts path: usb must not import Node built-ins (only src/node and src/cli may)",
    ]);
  });

  it("names the import chain when a browser entry reaches a Node built-in", () => {
    const found = check({
      ...base,
      "devices/hid/d.ts": 'import { f } from "./helper.ts";\nexport const d = f;\n',
      "devices/hid/helper.ts": 'export const f = await import("node:fs");\n',
    });
    assert.ok(
      found.includes(
        "devices/hid/helper.ts node:fs: the browser entry src/index.ts reaches 'node:fs' at run time: " +
          "index.ts → devices/hid/d.ts → devices/hid/helper.ts",
      ),
      found.join("\n"),
    );
  });

  it("lets the adapter import v86's types but not v86 itself at run time", () => {
    const found = check({
      ...base,
      "adapters/v86/types.ts": 'import type { V86 } from "v86";\nexport type E = V86;\n',
      "adapters/v86/runtime.ts": 'import { V86 } from "v86";\nexport const E = V86;\n',
      "cli/boot.ts": 'import { V86 } from "v86";\nexport const B = V86;\n',
    });
    assert.deepEqual(found, [
      "adapters/v86/runtime.ts v86: adapters must not import the package 'v86' at run time (the library has no dependencies)",
    ]);
  });

  it("catches library code importing test code, and lets tests import anything", () => {
    const found = check({
      ...base,
      "devices/hid/testing/host.ts": 'import { c } from "../../../controller/c.ts";\nexport const h = c;\n',
      "devices/hid/d.test.ts":
        'import { c } from "../../controller/c.ts";\nimport "node:fs";\nexport const t = c;\n',
      "devices/hid/uses-host.ts": 'import { h } from "./testing/host.ts";\nexport const z = h;\n',
    });
    assert.equal(found.length, 1, found.join("\n"));
    assert.match(found[0] ?? "", /uses-host\.ts .*library code imports test code/);
  });

  it("catches an unknown top-level folder and the root entry importing the adapter", () => {
    const found = check({
      ...base,
      "index.ts": `${base["index.ts"]}export * from "./adapters/v86/a.ts";\n`,
      "adapters/v86/a.ts": "export const a = 1;\n",
      "misc/x.ts": "export const x = 1;\n",
    });
    assert.equal(found.length, 2, found.join("\n"));
    assert.ok(found.some((v) => v.includes("index.ts must not import adapters")));
    assert.ok(found.some((v) => v.includes("'misc' is not a layer")));
  });

  it("reads every kind of module reference, and which are erased", () => {
    const refs = importsOf(
      [
        'import type { A } from "./a.ts";',
        'import { type B } from "./b.ts";',
        'export type { C } from "./c.ts";',
        'export * from "./d.ts";',
        'type E = import("./e.ts").E;',
        'const f = await import("./f.ts");',
        'const g = require("g");',
        '// import { h } from "./h.ts";',
      ].join("\n"),
    );
    assert.deepEqual(refs, [
      { specifier: "./a.ts", typeOnly: true },
      { specifier: "./b.ts", typeOnly: false },
      { specifier: "./c.ts", typeOnly: true },
      { specifier: "./d.ts", typeOnly: false },
      { specifier: "./e.ts", typeOnly: true },
      { specifier: "./f.ts", typeOnly: false },
      { specifier: "g", typeOnly: false },
    ]);
  });
});
