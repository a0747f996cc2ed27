/**
 * The layer rules of docs/architecture.md, checked on every import under src/ (`npm run lint` runs
 * this after biome). Biome's `noRestrictedImports` matches import strings, not the files they resolve
 * to, so it cannot say "src/devices must not reach src/controller" for `../../controller/…` and
 * `../controller/…` alike; this resolves every relative import and checks the folder it lands in.
 *
 *   machine ← usb ← controller, devices ← guest ← streaming        adapters, node ← cli
 *
 * - Each folder imports only the folders listed for it in {@link ALLOWED} (its own included).
 * - Node built-ins (`node:fs`, `fs`…) only in src/node and src/cli; another package only in src/cli
 *   (src/adapters may `import type` from `v86`, which is erased from the JavaScript).
 * - Library code never imports test code (`*.test.ts`, `testing/` folders), which is not built or
 *   published. Test code itself may import anything.
 * - From each browser entry (`uhci`, `uhci/v86`, `uhci/guest`), nothing reachable at run time imports
 *   a Node built-in or another package.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** What each folder of src/ may import (relative imports, by the folder they resolve into). */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  machine: ["machine"],
  usb: ["usb", "machine"],
  controller: ["controller", "usb", "machine"],
  devices: ["devices", "usb", "machine"],
  guest: ["guest", "devices", "usb", "machine"],
  streaming: ["streaming", "guest", "controller", "devices", "usb", "machine"],
  adapters: ["adapters", "controller", "devices", "usb", "machine"],
  /** USB/IP client: the protocol, the session and the imported device; transports are interfaces. */
  usbip: ["usbip", "devices", "usb", "machine"],
  /** The `uhci/web` entry: WebAudio bridge and page helpers (browser only). */
  web: ["web", "devices", "usb", "machine"],
  node: ["node", "usbip", "devices", "usb", "machine"],
  cli: ["cli", "node", "usbip", "adapters", "streaming", "guest", "controller", "devices", "usb", "machine"],
  /** src/index.ts, the `uhci` entry. */
  "index.ts": ["controller", "devices", "usbip", "usb", "machine"],
};

/** Folders whose code may import Node built-ins. */
const NODE_LAYERS = new Set(["node", "cli"]);
/** Folders whose code may import other packages at run time. */
const PACKAGE_LAYERS = new Set(["cli"]);
/** Packages a folder may import types from (erased from the JavaScript). */
const TYPE_ONLY_PACKAGES: Readonly<Record<string, readonly string[]>> = { adapters: ["v86"] };
/** The entries that must run in a browser: src-relative paths. */
export const BROWSER_ENTRIES = ["index.ts", "adapters/v86/index.ts", "guest/index.ts", "web/index.ts"];

export interface ImportRef {
  readonly specifier: string;
  /** `import type` / `export type` / `import("…")` in a type: erased from the JavaScript. */
  readonly typeOnly: boolean;
}

export interface Violation {
  /** src-relative path of the importing file. */
  readonly file: string;
  readonly specifier: string;
  readonly message: string;
}

const BUILTINS = new Set(builtinModules);

export function isNodeBuiltin(specifier: string): boolean {
  return (
    specifier.startsWith("node:") || BUILTINS.has(specifier) || BUILTINS.has(specifier.split("/")[0] ?? "")
  );
}

/** Every module reference in a TypeScript source, found by TypeScript's parser. */
export function importsOf(source: string, fileName = "file.ts"): ImportRef[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const refs: ImportRef[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      // `import { type A } from` is not erased under verbatimModuleSyntax (it stays a side-effect import).
      refs.push({ specifier: node.moduleSpecifier.text, typeOnly: node.importClause?.isTypeOnly === true });
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      refs.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const literal = node.argument.literal;
      if (ts.isStringLiteral(literal)) refs.push({ specifier: literal.text, typeOnly: true });
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      refs.push({ specifier: node.moduleReference.expression.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node)) {
      const [first] = node.arguments;
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === "require";
      if ((isImport || isRequire) && first !== undefined && ts.isStringLiteralLike(first)) {
        refs.push({ specifier: first.text, typeOnly: false });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return refs;
}

/** `devices/hid/x.ts` → "devices"; `index.ts` → "index.ts". */
function layerOf(srcPath: string): string {
  const [first] = srcPath.split("/");
  return first ?? srcPath;
}

function isTestCode(srcPath: string): boolean {
  return srcPath.endsWith(".test.ts") || srcPath.split("/").includes("testing");
}

function sourceFiles(dir: string, base: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path, base));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts"))
      out.push(relative(base, path).split(sep).join("/"));
  }
  return out.sort();
}

/** Checks every file under `srcDir` (default: this repository's src/). */
export function checkLayers(srcDir: string): Violation[] {
  const files = sourceFiles(srcDir, srcDir);
  const imports = new Map<string, ImportRef[]>();
  for (const file of files) imports.set(file, importsOf(readFileSync(join(srcDir, file), "utf8"), file));
  const violations: Violation[] = [];
  const resolveRelative = (file: string, specifier: string): string =>
    relative(srcDir, resolve(srcDir, dirname(file), specifier))
      .split(sep)
      .join("/");

  for (const file of files) {
    if (isTestCode(file)) continue;
    const layer = layerOf(file);
    const allowed = ALLOWED[layer];
    const add = (specifier: string, message: string) => violations.push({ file, specifier, message });
    if (allowed === undefined) {
      add(
        "",
        `'${layer}' is not a layer of docs/architecture.md; add it to ALLOWED in scripts/check-layers.ts`,
      );
      continue;
    }
    for (const ref of imports.get(file) ?? []) {
      const { specifier } = ref;
      if (specifier.startsWith("./") || specifier.startsWith("../")) {
        const target = resolveRelative(file, specifier);
        if (target.startsWith("../")) add(specifier, "imports a file outside src/");
        else if (isTestCode(target))
          add(specifier, "library code imports test code (not built or published)");
        else if (!allowed.includes(layerOf(target))) {
          add(
            specifier,
            `${layer} must not import ${layerOf(target)} (it may import: ${allowed.join(", ")})`,
          );
        }
      } else if (isNodeBuiltin(specifier)) {
        if (!NODE_LAYERS.has(layer)) {
          add(specifier, `${layer} must not import Node built-ins (only src/node and src/cli may)`);
        }
      } else if (!PACKAGE_LAYERS.has(layer)) {
        const typesOk = ref.typeOnly && (TYPE_ONLY_PACKAGES[layer] ?? []).includes(specifier);
        if (!typesOk) {
          add(
            specifier,
            `${layer} must not import the package '${specifier}'${ref.typeOnly ? "" : " at run time"} (the library has no dependencies)`,
          );
        }
      }
    }
  }

  // What a browser bundle of each entry pulls in at run time.
  for (const entry of BROWSER_ENTRIES) {
    if (!imports.has(entry)) continue;
    const via = new Map<string, string | null>([[entry, null]]);
    const queue = [entry];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      for (const ref of imports.get(next) ?? []) {
        if (ref.typeOnly) continue;
        if (ref.specifier.startsWith("./") || ref.specifier.startsWith("../")) {
          const target = resolveRelative(next, ref.specifier);
          if (!via.has(target) && imports.has(target)) {
            via.set(target, next);
            queue.push(target);
          }
          continue;
        }
        const chain: string[] = [];
        for (let at: string | null | undefined = next; at != null; at = via.get(at)) chain.unshift(at);
        violations.push({
          file: next,
          specifier: ref.specifier,
          message: `the browser entry src/${entry} reaches '${ref.specifier}' at run time: ${chain.join(" → ")}`,
        });
      }
    }
  }
  return violations;
}

function main(): void {
  const srcDir = fileURLToPath(new URL("../src/", import.meta.url));
  const violations = checkLayers(srcDir);
  for (const v of violations) {
    console.error(`src/${v.file}${v.specifier === "" ? "" : ` → '${v.specifier}'`}: ${v.message}`);
  }
  if (violations.length > 0) {
    console.error(`layers: ${violations.length} violation(s) of docs/architecture.md's layer rules`);
    process.exit(1);
  }
  console.log("layers: every import under src/ follows docs/architecture.md's layer rules");
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
