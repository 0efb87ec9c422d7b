#!/usr/bin/env node
// Builds the dashboard (src/dashboard/, Preact) into dist/dashboard/: one script and one style
// sheet with content hashes in their names, and the page that loads them. Part of `npm run build`.
// esbuild rather than Vite: one bundling call is all it needs (no dev server, no plugins), and it
// also type-strips the TSX; type checking is `npm run typecheck`'s (tsconfig.dashboard.json).
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const source = path.join(root, "src", "dashboard");
const out = path.join(root, "dist", "dashboard");

await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, "assets"), { recursive: true });
const result = await build({
  entryPoints: [path.join(source, "main.tsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022", "chrome110", "firefox110", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: path.join(out, "assets"),
  entryNames: "[name]-[hash]",
  metafile: true,
  legalComments: "none",
  plugins: [withoutZodLocales()],
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((file) => path.resolve(root, file));
const script = outputs.find((file) => file.endsWith(".js"));
const style = outputs.find((file) => file.endsWith(".css"));
if (!script || !style)
  throw new Error(`the dashboard build made no script or style sheet: ${outputs.join(", ")}`);

const template = await readFile(path.join(source, "index.html"), "utf8");
const page = template
  .replace("%SCRIPT%", `/assets/${path.basename(script)}`)
  .replace("%STYLE%", `/assets/${path.basename(style)}`);
await writeFile(path.join(out, "index.html"), page);

const sizes = [];
for (const file of [script, style, path.join(out, "index.html")]) {
  const bytes = await readFile(file);
  sizes.push(`${path.basename(file)} ${kib(bytes.length)} (${kib(gzipSync(bytes).length)} gzipped)`);
}
console.log(`dashboard: ${sizes.join(", ")}`);

// zod's classic entry re-exports every locale's messages (about 200 KiB minified, half the
// bundle); the SDK uses zod's English default, which is imported on its own, so the namespace of
// the others is replaced with an empty module.
function withoutZodLocales() {
  return {
    name: "without-zod-locales",
    setup(b) {
      b.onResolve({ filter: /locales\/index\.js$/ }, (args) =>
        args.importer.includes(`${path.sep}zod${path.sep}`)
          ? { path: "zod-locales", namespace: "empty" }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: "empty" }, () => ({ contents: "export {};", loader: "js" }));
    },
  };
}

function kib(n) {
  return `${(n / 1024).toFixed(1)} KiB`;
}
