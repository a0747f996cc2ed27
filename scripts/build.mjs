#!/usr/bin/env node
// Builds the published JavaScript: a clean dist/, `tsc -p tsconfig.build.json`, then the two things
// tsc does not do on its own:
// 1. Declaration files keep the sources' `.ts` specifiers (`rewriteRelativeImportExtensions` rewrites
//    only the .js output: microsoft/TypeScript#61037), which a consumer's editor and some resolvers
//    cannot follow; every relative module specifier in dist/**/*.d.ts is rewritten to `.js` here.
// 2. dist/build-info.json records when the build started, written last: bin/uhci.mjs refuses to run a
//    missing or half-written build, or (in a checkout) one older than a source file.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("..", import.meta.url));

/** `./x.ts` → `./x.js` (and .mts/.cts/.tsx alike); anything else unchanged. */
export function jsSpecifier(specifier) {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return specifier;
  if (specifier.endsWith(".d.ts")) return specifier;
  return specifier.replace(/\.(m|c)?ts$/, ".$1js").replace(/\.tsx$/, ".js");
}

/**
 * Rewrites the relative module specifiers of one declaration file: import/export declarations,
 * `import("…")` types and `declare module "…"` names, found by TypeScript's parser (not a regex, so a
 * string in a doc comment is never touched).
 */
export function rewriteDeclaration(source, fileName = "file.d.ts") {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const edits = [];
  const visit = (node) => {
    let literal;
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      literal = node.moduleSpecifier;
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      literal = node.argument.literal;
    } else if (ts.isModuleDeclaration(node) && ts.isStringLiteral(node.name)) {
      literal = node.name;
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      literal = node.moduleReference.expression;
    }
    if (literal !== undefined && ts.isStringLiteral(literal)) {
      const next = jsSpecifier(literal.text);
      if (next !== literal.text)
        edits.push({ start: literal.getStart(file) + 1, end: literal.end - 1, text: next });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  let out = source;
  for (const edit of edits.sort((a, b) => b.start - a.start)) {
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  }
  return out;
}

function declarationFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...declarationFiles(path));
    else if (name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

function build() {
  const startedAt = Date.now();
  const dist = join(root, "dist");
  // A clean dist: a module deleted or moved in src/ must not live on in the package.
  rmSync(dist, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const result = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], {
    stdio: "inherit",
  });
  if (result.status !== 0) {
    console.error("build: tsc failed; dist/ is incomplete (no dist/build-info.json)");
    process.exit(result.status ?? 1);
  }
  let rewritten = 0;
  for (const path of declarationFiles(dist)) {
    const before = readFileSync(path, "utf8");
    const after = rewriteDeclaration(before, path);
    if (after !== before) {
      writeFileSync(path, after);
      rewritten++;
    }
  }
  const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  writeFileSync(join(dist, "build-info.json"), `${JSON.stringify({ version, startedAt }, null, 2)}\n`);
  // On stderr: `npm pack --json` runs this build (prepare) and its stdout must be the JSON alone.
  console.error(
    `build: dist/ in ${((Date.now() - startedAt) / 1000).toFixed(1)} s (${rewritten} declaration files re-pointed to .js)`,
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) build();
