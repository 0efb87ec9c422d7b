/**
 * The package as a user gets it: `npm pack` of a clean copy of the checkout (the files git would
 * clone; `prepack` builds dist/ there), then the tarball installed into empty folders, the SDK
 * imported by name, and the installed `nbhook` run: --version, kernels, run on the example, and
 * serve + add + call.
 *
 * How the tarball is installed, and why: `npm install --ignore-scripts --prefer-offline <tgz>`.
 * The dependency tree is resolved from the tarball's package.json and fetched from npm's cache
 * (filled by `npm ci`), the registry only for what is missing. Install scripts are skipped because
 * better-sqlite3's would try a prebuilt download from GitHub (it never works here) and then compile
 * SQLite (about a minute on two cores); zeromq carries its prebuilt binaries in its npm package and
 * deno's postinstall only copies its platform package's binary (nbhook finds that binary itself).
 * So the full install runs exactly as installed, except better-sqlite3's compiled module, which is
 * copied from this checkout's node_modules (the same version, built by `npm ci` on this machine) —
 * what `npm rebuild better-sqlite3` would have produced. Before that copy, the install is also the
 * test of a missing native module's message. A second install with `--omit=optional` has no Deno:
 * Python notebooks still run, and a TypeScript one says what is missing.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook } from "../support/notebooks.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};

// Everything (the copy, the tarball, the installs, every nbhook's HOME) is under this folder, which
// the guard removes afterwards and checks no process mentions.
const WORK = guardKernelLeaks();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; fails the test when it takes over `timeoutMs`. */
function exec(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 120_000,
): Result {
  const result = spawnSync(command, args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function npm(args: string[], cwd: string): Result {
  const result = exec("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], cwd);
  if (result.code !== 0) throw new Error(`npm ${args.join(" ")} failed (${result.code}):\n${result.stderr}`);
  return result;
}

/** The installed `nbhook` of an app folder, with its own HOME and nbhook home. */
function nbhookIn(app: string) {
  const home = path.join(app, "home");
  mkdirSync(home, { recursive: true });
  const bin = path.join(app, "node_modules", ".bin", "nbhook");
  const env: Record<string, string> = {};
  // An empty variable counts as unset: none of the test process's NBHOOK_* reaches these.
  for (const name of Object.keys(process.env)) if (name.startsWith("NBHOOK_")) env[name] = "";
  Object.assign(env, { HOME: home, NBHOOK_HOME: path.join(home, ".nbhook"), NODE_OPTIONS: "" });
  return {
    bin,
    env,
    run: (args: string[], timeoutMs = 60_000) => exec(bin, args, app, env, timeoutMs),
  };
}

let tarball: string;
let packedFiles: string[];
const TS_NOTEBOOK = JSON.stringify(
  makeNotebook(["const x: number = 6 * 7;\nconsole.log(`x=${x}`);"], "deno"),
);

function install(name: string, extra: string[]): string {
  const app = path.join(WORK, name);
  mkdirSync(app);
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: `app-${name}`, private: true }));
  npm(["install", "--ignore-scripts", "--prefer-offline", ...extra, tarball], app);
  // The example, copied out of the package, so a run's output is written beside it.
  cpSync(path.join(app, "node_modules", "nbhook", "examples", "hello.ipynb"), path.join(app, "hello.ipynb"));
  writeFileSync(path.join(app, "typed.ipynb"), TS_NOTEBOOK);
  return app;
}

beforeAll(() => {
  // A clean checkout: the files git tracks (and new ones it does not ignore), no dist/.
  const checkout = path.join(WORK, "checkout");
  const listed = exec("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT);
  if (listed.code !== 0) throw new Error(`git ls-files failed in ${ROOT}: ${listed.stderr}`);
  for (const file of listed.stdout.split("\0").filter(Boolean)) {
    if (!existsSync(path.join(ROOT, file))) continue; // deleted, not yet committed
    mkdirSync(path.dirname(path.join(checkout, file)), { recursive: true });
    cpSync(path.join(ROOT, file), path.join(checkout, file));
  }
  // The build tools (tsc, esbuild) of this checkout's install.
  symlinkSync(path.join(ROOT, "node_modules"), path.join(checkout, "node_modules"));
  // stdout: prepack's build output, then npm's JSON.
  const output = npm(["pack", "--json", "--pack-destination", WORK], checkout).stdout;
  const packed = JSON.parse(output.slice(output.search(/^\[$/m))) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = path.join(WORK, packed[0]!.filename);
  packedFiles = packed[0]!.files.map((f) => f.path);
}, 180_000);

describe("the tarball", () => {
  it("holds the built CLI, SDK and helpers, and no tests", () => {
    for (const file of [
      "package.json",
      "README.md",
      "dist/cli/bin.js",
      "dist/cli/main.js",
      "dist/client/index.js",
      "dist/client/index.d.ts",
      "dist/client/browser.js",
      "dist/client/browser.d.ts",
      "dist/dashboard/index.html",
      "python/nbhook/__init__.py",
      "python/naas/__init__.py",
      "deno/nbhook.ts",
      "dist/deno/nbhook.js",
      "examples/hello.ipynb",
    ]) {
      expect(packedFiles, file).toContain(file);
    }
    const tests = packedFiles.filter((f) =>
      /\.test\.|\.conformance\.|(^|\/)(tests?|fixtures|__pycache__)\//.test(f),
    );
    expect(tests).toEqual([]);
    expect(packedFiles.filter((f) => f.startsWith("src/dashboard/") || f.startsWith("test/"))).toEqual([]);
  });

  it("has no dangling source map: every source a map names is in the package", () => {
    const extracted = path.join(WORK, "extracted");
    mkdirSync(extracted);
    expect(exec("tar", ["xzf", tarball, "-C", extracted], WORK).code).toBe(0);
    const pkg = path.join(extracted, "package");
    const maps = packedFiles.filter((f) => f.endsWith(".map"));
    expect(maps.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot = "" } = JSON.parse(readFileSync(path.join(pkg, map), "utf8")) as {
        sources: string[];
        sourceRoot?: string;
      };
      for (const source of sources) {
        const file = path.resolve(path.dirname(path.join(pkg, map)), sourceRoot, source);
        if (!existsSync(file)) missing.push(`${map} → ${path.relative(pkg, file)}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe("installed from the tarball", () => {
  let app: string;
  beforeAll(() => {
    app = install("full", []);
  }, 180_000);

  it("imports the SDK by name, with types, and its browser part bundles for a browser", async () => {
    writeFileSync(
      path.join(app, "sdk.mjs"),
      [
        'import { NbhookClient, NbhookApiError, resolveConnection } from "nbhook";',
        'import { ApiClient } from "nbhook/api-client";',
        'import { createRequire } from "node:module";',
        'const { version } = createRequire(import.meta.url)("nbhook/package.json");',
        "const client = new NbhookClient({ url: 'http://127.0.0.1:9' });",
        "console.log(JSON.stringify({ version, client: client instanceof ApiClient, error: typeof NbhookApiError, resolve: typeof resolveConnection, url: client.url }));",
      ].join("\n"),
    );
    const run = exec(process.execPath, ["sdk.mjs"], app);
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({
      version: PACKAGE.version,
      client: true,
      error: "function",
      resolve: "function",
      url: "http://127.0.0.1:9",
    });

    // Types: a strict TypeScript consumer resolving through the package's "exports".
    writeFileSync(
      path.join(app, "typed.mts"),
      [
        'import { NbhookClient, type CallAnswer, type Webhook } from "nbhook";',
        'import { ApiClient } from "nbhook/api-client";',
        "const client: ApiClient = new NbhookClient({ url: 'http://127.0.0.1:9', retry: { retries: 1 } });",
        "export async function urls(): Promise<string[]> { return (await client.listWebhooks()).map((w: Webhook) => w.url); }",
        "export async function status(): Promise<number> { const a: CallAnswer = await client.call('http://x/notebook/t'); return a.status; }",
      ].join("\n"),
    );
    const tsc = exec(
      process.execPath,
      [
        path.join(ROOT, "node_modules", "typescript", "bin", "tsc"),
        "--noEmit",
        "--strict",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--target",
        "es2022",
        "--types",
        "node",
        "--typeRoots",
        path.join(ROOT, "node_modules", "@types"),
        "typed.mts",
      ],
      app,
    );
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.code).toBe(0);

    // `nbhook/api-client` has no Node import: esbuild bundles it for a browser.
    const { build } = await import("esbuild");
    writeFileSync(
      path.join(app, "browser.mjs"),
      'import { ApiClient } from "nbhook/api-client";\nconsole.log(ApiClient);\n',
    );
    const bundle = await build({
      entryPoints: [path.join(app, "browser.mjs")],
      absWorkingDir: app,
      bundle: true,
      platform: "browser",
      write: false,
      logLevel: "silent",
    });
    expect(bundle.errors).toEqual([]);
  });

  it("runs nbhook --version, kernels (Deno from the optional package) and run on the example", () => {
    const nbhook = nbhookIn(app);
    const version = nbhook.run(["--version"]);
    expect(version.stdout.trim()).toBe(PACKAGE.version);

    const kernels = nbhook.run(["kernels", "--json"]);
    expect(kernels.code, kernels.stderr).toBe(0);
    const names = (JSON.parse(kernels.stdout) as { name: string; argv: string[] }[]).map((k) => k.name);
    expect(names).toContain("python3");
    expect(names).toContain("deno");
    // deno's postinstall (skipped) would have copied the binary into node_modules/deno: the one of
    // its platform package is used.
    expect(existsSync(path.join(app, "node_modules", "deno", "deno"))).toBe(false);

    const run = nbhook.run([
      "run",
      "hello.ipynb",
      "-p",
      "name",
      "Ada",
      "-p",
      "times",
      "2",
      "--response-out",
      "answer.json",
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe("application/json");
    expect(JSON.parse(readFileSync(path.join(app, "answer.json"), "utf8"))).toEqual({
      greeting: "Hello, Ada! Hello, Ada!",
      name: "Ada",
      times: 2,
    });
    expect(existsSync(path.join(app, "hello.out.ipynb"))).toBe(true);

    const typed = nbhook.run(["run", "typed.ipynb", "-q"], 90_000);
    expect(typed.code, typed.stderr).toBe(0);
    expect(readFileSync(path.join(app, "typed.out.ipynb"), "utf8")).toContain("x=42");
  }, 120_000);

  it("without better-sqlite3's build, serve names the module and the fix; with it, serve, add and call work", async () => {
    const nbhook = nbhookIn(app);
    const unbuilt = nbhook.run(["serve", "--port", "0"]);
    expect(unbuilt.code).toBe(2);
    expect(unbuilt.stderr).toMatch(
      /^nbhook: the native module of better-sqlite3 .* cannot be loaded: .*npm rebuild better-sqlite3/,
    );
    expect(unbuilt.stderr).not.toContain("    at ");

    // What `npm rebuild better-sqlite3` would build: this checkout's, of the same version.
    const installed = path.join(app, "node_modules", "better-sqlite3");
    const ours = path.join(ROOT, "node_modules", "better-sqlite3");
    const versionOf = (dir: string) =>
      (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version;
    expect(versionOf(installed)).toBe(versionOf(ours));
    mkdirSync(path.join(installed, "build", "Release"), { recursive: true });
    cpSync(
      path.join(ours, "build", "Release", "better_sqlite3.node"),
      path.join(installed, "build", "Release", "better_sqlite3.node"),
    );

    const server = spawn(nbhook.bin, ["serve", "--port", "0", "--pool", "0", "-q"], {
      cwd: app,
      env: { ...process.env, ...nbhook.env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => server.on("close", resolve));
    try {
      let stderr = "";
      const url = await new Promise<string>((resolve, reject) => {
        server.stderr.on("data", (b: Buffer) => {
          stderr += b.toString("utf8");
          const match = /serving on (http:\/\/\S+)/.exec(stderr);
          if (match) resolve(match[1]!);
        });
        server.on("close", (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      });
      const withUrl = (args: string[]) => nbhook.run([...args, "--url", url]);
      const added = withUrl(["add", "hello.ipynb"]);
      expect(added.code, added.stderr).toBe(0);
      const called = withUrl(["call", "hello.ipynb", "-p", "name", "Bo"]);
      expect(called.code, called.stderr).toBe(0);
      expect(JSON.parse(called.stdout)).toEqual({ greeting: "Hello, Bo!", name: "Bo", times: 1 });
      const params = withUrl(["params", "hello.ipynb", "--deployed"]);
      expect(params.stdout).toMatch(/times\s+int\s+1/);
    } finally {
      server.kill("SIGTERM");
      await exited;
    }
  }, 120_000);
});

describe("installed with --omit=optional (no Deno)", () => {
  let app: string;
  beforeAll(() => {
    app = install("no-optional", ["--omit=optional"]);
  }, 180_000);

  it("serves Python notebooks, and says what is missing for a TypeScript one", () => {
    expect(existsSync(path.join(app, "node_modules", "deno"))).toBe(false);
    const nbhook = nbhookIn(app);
    const kernels = JSON.parse(nbhook.run(["kernels", "--json"]).stdout) as { name: string }[];
    expect(kernels.map((k) => k.name)).not.toContain("deno");

    const run = nbhook.run(["run", "hello.ipynb", "-q", "--response-out", "answer.json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(app, "answer.json"), "utf8"))).toMatchObject({ name: "world" });

    const typed = nbhook.run(["run", "typed.ipynb"]);
    expect(typed.code).toBe(2);
    expect(typed.stderr).toContain("TypeScript notebooks run on Deno's Jupyter kernel");
    expect(typed.stderr).toContain("optional npm package `deno`");
    expect(typed.stderr).toContain("`npm install deno`");
  });

  it("without zeromq's native module, says so and how to fix it, in one line", () => {
    const build = path.join(app, "node_modules", "zeromq", "build");
    renameSync(build, `${build}.moved`);
    try {
      const result = nbhookIn(app).run(["--version"]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /^nbhook: the native module of zeromq .* cannot be loaded: .*npm rebuild zeromq.*\n$/,
      );
      expect(result.stderr.split("\n")).toHaveLength(2);
    } finally {
      renameSync(`${build}.moved`, build);
    }
    expect(readdirSync(build).length).toBeGreaterThan(0);
  });
});
