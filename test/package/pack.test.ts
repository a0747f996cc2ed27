/**
 * The package as a user gets it (issue 9, item 1): `npm pack` (which builds dist/ through `prepare`),
 * installed from the tarball into a scratch project with npm offline; then each entry is imported and
 * used in Node, type-checked as a consumer would, bundled for a browser with esbuild, and the `uhci`
 * command run from the installed package.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { importsOf } from "../../scripts/check-layers.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "uhci-pack-"));
const app = join(scratch, "app");
const installed = join(app, "node_modules", "uhci");
let packedFiles: string[] = [];

after(() => rmSync(scratch, { recursive: true, force: true }));

// Without the test runner's marker (a nested node would report to this runner) or npm's own config
// from an enclosing `npm test`.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key !== "NODE_TEST_CONTEXT" && !key.startsWith("npm_")),
);

function run(command: string, args: readonly string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, env, encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}

function mustRun(command: string, args: readonly string[], cwd: string): string {
  const result = run(command, args, cwd);
  assert.equal(result.status, 0, `${command} ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

before(() => {
  // --json: the tarball's name and file list. prepare (the build) logs on stderr, so stdout is the
  // JSON alone, as tools that read `npm pack --json` expect.
  const out = mustRun("npm", ["pack", "--json", "--pack-destination", scratch], repo);
  const json: unknown = JSON.parse(out);
  assert.ok(Array.isArray(json) && json.length === 1);
  const pack = json[0] as { filename: string; files: { path: string }[] };
  packedFiles = pack.files.map((f) => f.path).sort();
  mkdirSync(app);
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module" }),
  );
  // Offline: the package must need nothing from a registry.
  mustRun(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", join(scratch, pack.filename)],
    app,
  );
});

describe("the published package (npm pack, installed offline in a scratch project)", () => {
  it("ships the compiled entries, the bin, the licences and the guest image — no sources, tests or test helpers", () => {
    for (const file of [
      "package.json",
      "README.md",
      "LICENSE",
      "bin/uhci.mjs",
      "dist/build-info.json",
      "dist/cli/main.js",
      "guest-image/dist/bzImage",
      "guest-image/dist/LICENSES.md",
      "guest-image/dist/licenses/GPL-2",
      "guest-image/dist/licenses/LGPL-2.1",
      "guest-image/dist/licenses/LGPL-3",
    ]) {
      assert.ok(packedFiles.includes(file), `${file} is in the package`);
    }
    for (const entry of ["", "adapters/v86/", "node/", "guest/", "web/"]) {
      assert.ok(packedFiles.includes(`dist/${entry}index.js`), `dist/${entry}index.js`);
      assert.ok(packedFiles.includes(`dist/${entry}index.d.ts`), `dist/${entry}index.d.ts`);
    }
    const unwanted = packedFiles.filter(
      (f) =>
        /\.test\.|(^|\/)testing\//.test(f) ||
        /^(src|test|fuzz|bench|scripts)\//.test(f) ||
        (f.endsWith(".ts") && !f.endsWith(".d.ts")),
    );
    assert.deepEqual(unwanted, []);
    // The GRUB floppy is a test fixture (v86-grub-stick), not the package's guest: neither it nor its notices.
    assert.deepEqual(
      packedFiles.filter((f) => /grub/i.test(f)),
      [],
    );
  });

  it("installs with no dependency at all (v86 and js-fatfs are optional peers)", () => {
    const modules = readdirSync(join(app, "node_modules")).filter((n) => !n.startsWith("."));
    assert.deepEqual(modules, ["uhci"]);
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as Record<
      string,
      unknown
    >;
    assert.equal(manifest["dependencies"], undefined);
    assert.deepEqual(manifest["peerDependenciesMeta"], {
      v86: { optional: true },
      "js-fatfs": { optional: true },
    });
    assert.equal(manifest["sideEffects"], false);
  });

  it("every declaration file uses .js specifiers, and the entries type-check for a browser and a Node consumer", () => {
    const bad: string[] = [];
    for (const path of filesUnder(join(installed, "dist")).filter((p) => p.endsWith(".d.ts"))) {
      for (const ref of importsOf(readFileSync(path, "utf8"), path)) {
        if (ref.specifier.startsWith(".") && !ref.specifier.endsWith(".js")) {
          bad.push(`${relative(installed, path)}: ${ref.specifier}`);
        }
      }
    }
    assert.deepEqual(bad, []);

    writeFileSync(
      join(app, "browser.ts"),
      [
        'import { LevelIrqLine, RamGuestMemory, UhciController, UsbKeyboard, VirtualClock } from "uhci";',
        'import { guestMachineFor, UhciGuestDriver } from "uhci/guest";',
        'import { attachUhciToV86, type UhciOnV86 } from "uhci/v86";',
        'import { type AudioBridgeStats, MicrophoneBridge, openMicrophone, SpeakerBridge } from "uhci/web";',
        "const memory = new RamGuestMemory(1 << 20);",
        "const irq = new LevelIrqLine();",
        "const clock = new VirtualClock();",
        "const controller: UhciController = new UhciController({ memory, irq, clock });",
        "controller.attach(0, new UsbKeyboard());",
        "const driver: UhciGuestDriver = UhciGuestDriver.start(guestMachineFor({ controller, memory, irq, clock }), {",
        "  dmaBase: 0x10000, dmaSize: 0x40000,",
        "});",
        "export const use: [UhciGuestDriver, typeof attachUhciToV86, UhciOnV86 | null] = [driver, attachUhciToV86, null];",
        // uhci/web takes the DOM's own AudioContext, MediaStream and AudioNode (structural types).
        "export async function web(context: AudioContext, tap: AnalyserNode): Promise<AudioBridgeStats> {",
        "  const { stream } = await openMicrophone({ deviceId: 'default' } satisfies MediaTrackConstraints);",
        "  const mic = await MicrophoneBridge.create(context, stream as MediaStream | null, { targetLatencyMs: 20 });",
        "  mic.setStream(await navigator.mediaDevices.getUserMedia({ audio: true }));",
        "  const speaker = await SpeakerBridge.create(context, { destination: context.createGain() });",
        "  speaker.output.connect(tap);",
        "  return mic.stats();",
        "}",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(app, "node.ts"),
      [
        'import { BUNDLED_GUEST_DIR, loadGuestImages, WavFileSink, WavFileSource } from "uhci/node";',
        "export const use = [BUNDLED_GUEST_DIR, loadGuestImages, WavFileSink, WavFileSource] as const;",
        "",
      ].join("\n"),
    );
    const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
    const consumer = (name: string, files: string[], extra: Record<string, unknown>) => {
      const compilerOptions = { noEmit: true, strict: true, module: "nodenext", target: "es2022", ...extra };
      writeFileSync(join(app, name), JSON.stringify({ compilerOptions, files }));
      mustRun(process.execPath, [tsc, "-p", name], app);
    };
    // A browser consumer: no Node types at all; skipLibCheck off, so the package's .d.ts files are checked.
    consumer("tsconfig.browser.json", ["browser.ts"], { lib: ["es2022", "dom"], types: [] });
    consumer("tsconfig.node.json", ["node.ts"], {
      typeRoots: [join(repo, "node_modules", "@types")],
      types: ["node"],
    });
  });

  it("imports and uses each entry in Node: uhci, uhci/guest, uhci/v86, uhci/node, uhci/web", () => {
    writeFileSync(
      join(app, "use.mjs"),
      `
import { LevelIrqLine, RamGuestMemory, UhciController, UsbKeyboard, VirtualClock } from "uhci";
import { guestMachineFor, UhciGuestDriver } from "uhci/guest";
import { UHCI_PCI_DEVFN, attachUhciToV86 } from "uhci/v86";
import { BUNDLED_GUEST_DIR, loadGuestImages, WavFileSink, WavFileSource } from "uhci/node";
import { audioWorkletSupport, openMicrophone } from "uhci/web";
import { join } from "node:path";

const memory = new RamGuestMemory(1 << 20);
const irq = new LevelIrqLine();
const clock = new VirtualClock();
const controller = new UhciController({ memory, irq, clock });
controller.attach(0, new UsbKeyboard());
const driver = UhciGuestDriver.start(guestMachineFor({ controller, memory, irq, clock }), {
  dmaBase: 0x10000, dmaSize: 0x40000,
});
const result = driver.enumerate(0);

let adapterError = "";
try { attachUhciToV86({}); } catch (error) { adapterError = error.message; }

const wav = join(process.argv[2], "tone.wav");
const sink = new WavFileSink(wav);
const format = { sampleRate: 8000, channels: 1 };
sink.start(format);
sink.write(Int16Array.of(1, -2, 3), 3, format);
sink.close();
const source = WavFileSource.fromFile(wav);
const back = new Int16Array(3);
source.read(back, 3, format);

const images = loadGuestImages();
const noMicrophone = await openMicrophone();
console.log(JSON.stringify({
  webAudio: audioWorkletSupport().ok,
  webMicReason: noMicrophone.reason,
  enumerated: result.ok ? result.device.info.descriptor.deviceClass !== undefined : result.error,
  devfn: UHCI_PCI_DEVFN,
  adapterError,
  samples: Array.from(back),
  guestDir: BUNDLED_GUEST_DIR,
  kernelBytes: images.kernel.byteLength,
}));
`,
    );
    const out = JSON.parse(mustRun(process.execPath, ["use.mjs", scratch], app)) as Record<string, unknown>;
    assert.equal(out["enumerated"], true, "the software guest enumerated the keyboard");
    assert.equal(out["devfn"], (1 << 3) | 2);
    assert.match(String(out["adapterError"]), /emulator\.v86\.cpu/);
    assert.deepEqual(out["samples"], [1, -2, 3]);
    assert.ok(String(out["guestDir"]).startsWith(join(installed, "guest-image", "dist")));
    assert.ok(Number(out["kernelBytes"]) > 1_000_000);
    // uhci/web loads anywhere and says why there is no WebAudio rather than throwing.
    assert.equal(out["webAudio"], false);
    assert.match(String(out["webMicReason"]), /getUserMedia/);
  });

  it("bundles uhci, uhci/v86, uhci/guest and uhci/web for a browser with no Node built-in and no v86 in the output", async () => {
    const builtins = builtinModules.filter((m) => !m.startsWith("_")).map((m) => m.replace(/[/]/g, "\\/"));
    const nodeImport = new RegExp(
      `(from\\s*|import\\s*\\(\\s*|require\\s*\\(\\s*|import\\s+)["'](node:[^"']+|${builtins.join("|")})(\\/[^"']*)?["']`,
    );
    for (const entry of ["uhci", "uhci/v86", "uhci/guest", "uhci/web"]) {
      const result = await build({
        stdin: { contents: `export * from "${entry}";`, resolveDir: app, loader: "js" },
        bundle: true,
        platform: "browser",
        format: "esm",
        write: false,
        metafile: true,
        logLevel: "silent",
        absWorkingDir: app,
      });
      const text = result.outputFiles[0]?.text ?? "";
      assert.ok(text.length > 10_000, `${entry}: a real bundle`);
      assert.doesNotMatch(text, nodeImport, `${entry}: no Node built-in`);
      assert.doesNotMatch(text, /["']v86["']/, `${entry}: no v86 import`);
      const inputs = Object.keys(result.metafile.inputs).filter((i) => i !== "<stdin>");
      assert.deepEqual(
        inputs.filter((i) => !i.startsWith("node_modules/uhci/dist/")),
        [],
        `${entry}: only the package's compiled files`,
      );
    }
    // sideEffects: false lets a bundler keep only what is used.
    const small = await build({
      stdin: { contents: 'export { RamGuestMemory } from "uhci";', resolveDir: app, loader: "js" },
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      logLevel: "silent",
      absWorkingDir: app,
    });
    const smallText = small.outputFiles[0]?.text ?? "";
    assert.match(smallText, /\bRamGuestMemory = class\b/);
    assert.doesNotMatch(smallText, /\b(UhciController|UsbHeadset|UsbKeyboard) = class\b/);
  });

  it("runs the uhci command from the installed package, from compiled JavaScript", () => {
    const bin = join(app, "node_modules", ".bin", "uhci");
    assert.equal(
      mustRun(bin, ["version"], app).trim(),
      JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version,
    );
    const stream = mustRun(bin, ["stream", "--seconds", "1", "--quiet", "--json"], app);
    assert.equal((JSON.parse(stream) as { ok?: boolean }).ok, true);
    // Booting Linux needs the optional peer v86, which is not installed here: one clear line, exit 2.
    const start = run(bin, ["shell", "--help"], app);
    assert.equal(start.status, 0);
    const boot = run(bin, ["start", "--quiet"], app);
    assert.equal(boot.status, 2, boot.stderr);
    assert.match(boot.stderr, /^uhci: booting the guest needs the v86 package .*npm install v86/);
    assert.equal(boot.stderr.trim().split("\n").length, 1);
  });
});
