#!/usr/bin/env node
// Compiles the Deno in-kernel helper (deno/nbhook.ts) to dist/deno/nbhook.js, types stripped.
// Deno refuses TypeScript under node_modules (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING), which
// is where an installed nbhook lives, so an installed package has its kernels import the
// JavaScript (src/kernel/in-kernel-helpers.ts); a checkout imports the TypeScript source. Part of
// `npm run build`.
import { transform } from "esbuild";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const source = path.join(root, "deno", "nbhook.ts");
const out = path.join(root, "dist", "deno", "nbhook.js");
const result = await transform(await readFile(source, "utf8"), {
  loader: "ts",
  format: "esm",
  target: "es2022",
  sourcefile: "deno/nbhook.ts",
  logLevel: "warning",
});
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, `// Built from deno/nbhook.ts by scripts/build-deno-helper.mjs.\n${result.code}`);
