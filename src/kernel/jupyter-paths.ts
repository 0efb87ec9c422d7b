/**
 * Where Jupyter keeps kernelspecs, as `jupyter kernelspec list` finds them (jupyter_core's
 * `jupyter_path("kernels")`, plus jupyter_client's `~/.ipython/kernels`), in the same precedence:
 *
 * 1. `$JUPYTER_PATH` (each entry);
 * 2. the user's: `$JUPYTER_DATA_DIR`, else `~/.local/share/jupyter` (`$XDG_DATA_HOME/jupyter`) on
 *    Linux, `~/Library/Jupyter` on macOS, `%APPDATA%\jupyter` on Windows; and Python's user base
 *    (`$PYTHONUSERBASE`, `~/Library/Python/X.Y` on macOS, `%APPDATA%\Python` on Windows) +
 *    `share/jupyter`, where `pip install --user ipykernel` puts its kernel;
 * 3. the environments': `{prefix}/share/jupyter` of the active `$VIRTUAL_ENV` and `$CONDA_PREFIX`,
 *    and of the `jupyter`, `python3` and `python` found on PATH (their `sys.prefix`);
 * 4. the system's: `/usr/local/share/jupyter`, `/usr/share/jupyter` (`%PROGRAMDATA%\jupyter`);
 * 5. IPython's `$IPYTHONDIR/kernels` (default `~/.ipython/kernels`).
 *
 * As in jupyter_core, 3 comes before 2 when `$JUPYTER_PREFER_ENV_PATH` says so, or, when it is not
 * set, inside an activated virtual environment or a conda environment other than `base` that the
 * user owns.
 *
 * The `sys.prefix` of an executable on PATH is read from the file system, not by running Python
 * (a few `stat` calls, against ~30 ms for a Python start): a venv's `pyvenv.cfg` beside or above
 * it, else the folder above its `bin` once symlinks are resolved, else (a `jupyter` script) the
 * Python named by its `#!` line, else (a pyenv shim) the version pyenv would choose. Only another
 * wrapper script that names no Python is asked, once per process:
 * `python3 -c 'import sys; print(sys.prefix)'`, bounded to 3 s (a pyenv shim takes 90-600 ms).
 */
import { execFile } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** One folder holding `<name>/kernel.json` folders, and why it is searched. */
export interface KernelDir {
  /** The `kernels` folder. */
  dir: string;
  /** Where the folder comes from: `JUPYTER_PATH`, `user`, `VIRTUAL_ENV`, `python3 on PATH`, … */
  source: string;
  /** The Python environment (sys.prefix) the folder belongs to, for environments' folders. */
  prefix?: string;
}

export interface SearchOptions {
  /** The platform to lay the paths out for (tests); default `process.platform`. */
  platform?: NodeJS.Platform;
}

type PathModule = typeof path.posix;

function pathsOf(platform: NodeJS.Platform): PathModule {
  return platform === "win32" ? path.win32 : path.posix;
}

/** jupyter_core's `envset`: set and not one of its false words. */
function envSet(value: string | undefined): boolean {
  return value !== undefined && !["no", "n", "false", "off", "0", "0.0"].includes(value.toLowerCase());
}

function isMine(dir: string): boolean {
  try {
    const uid = process.getuid?.();
    return uid === undefined || statSync(dir).uid === uid;
  } catch {
    return false;
  }
}

/** jupyter_core's `prefer_environment_over_user()`. */
function preferEnvironment(env: NodeJS.ProcessEnv): boolean {
  if (env.JUPYTER_PREFER_ENV_PATH !== undefined) return envSet(env.JUPYTER_PREFER_ENV_PATH);
  if (env.VIRTUAL_ENV && isMine(env.VIRTUAL_ENV)) return true;
  return Boolean(
    env.CONDA_PREFIX && (env.CONDA_DEFAULT_ENV ?? "base") !== "base" && isMine(env.CONDA_PREFIX),
  );
}

function homeOf(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string {
  return (platform === "win32" ? env.USERPROFILE : undefined) ?? env.HOME ?? os.homedir();
}

/** jupyter_core's `jupyter_data_dir()`. */
export function userDataDir(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  const p = pathsOf(platform);
  if (env.JUPYTER_DATA_DIR) return env.JUPYTER_DATA_DIR;
  const home = homeOf(env, platform);
  if (platform === "darwin") return p.join(home, "Library", "Jupyter");
  if (platform === "win32") {
    return env.APPDATA ? p.join(env.APPDATA, "jupyter") : p.join(home, ".jupyter", "data");
  }
  return p.join(env.XDG_DATA_HOME || p.join(home, ".local", "share"), "jupyter");
}

/** `site.getuserbase()/share/jupyter`: where `pip install --user` puts data files. */
function userSiteDataDirs(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string[] {
  const p = pathsOf(platform);
  if (env.PYTHONNOUSERSITE) return [];
  if (env.PYTHONUSERBASE) return [p.join(env.PYTHONUSERBASE, "share", "jupyter")];
  const home = homeOf(env, platform);
  if (platform === "win32") return env.APPDATA ? [p.join(env.APPDATA, "Python", "share", "jupyter")] : [];
  if (platform === "darwin") {
    // One user base per Python version (framework builds): ~/Library/Python/3.12.
    const base = p.join(home, "Library", "Python");
    return listDir(base)
      .filter((v) => /^\d+\.\d+$/.test(v))
      .sort(byVersionDescending)
      .map((v) => p.join(base, v, "share", "jupyter"));
  }
  return [p.join(home, ".local", "share", "jupyter")];
}

function byVersionDescending(a: string, b: string): number {
  const [am = 0, an = 0] = a.split(".").map(Number);
  const [bm = 0, bn = 0] = b.split(".").map(Number);
  return bm - am || bn - an;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function systemDataDirs(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string[] {
  if (platform === "win32") {
    return env.PROGRAMDATA ? [path.win32.join(env.PROGRAMDATA, "jupyter")] : [];
  }
  return ["/usr/local/share/jupyter", "/usr/share/jupyter"];
}

// -- sys.prefix of the executables on PATH --------------------------------------------------------

/** Executables whose environment holds kernels, in the order they are searched. */
const PATH_EXECUTABLES = ["jupyter", "python3", "python"] as const;

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string | undefined {
  const p = pathsOf(platform);
  const exts = platform === "win32" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";").filter(Boolean) : [""];
  const dirs = (env.PATH ?? env.Path ?? "").split(platform === "win32" ? ";" : ":").filter(Boolean);
  for (const dir of dirs) {
    for (const ext of exts) {
      const file = p.join(dir, name + ext.toLowerCase());
      if (isFile(file)) return file;
    }
  }
  return undefined;
}

/** The first bytes of a file: the `#!` line of a script, or undefined for a binary. */
function shebang(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const head = Buffer.alloc(256);
    const n = readSync(fd, head, 0, head.length, 0);
    const text = head.subarray(0, n).toString("latin1");
    return text.startsWith("#!") ? text.slice(2).split("\n")[0]!.trim() : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The venv an executable belongs to: `pyvenv.cfg` in its folder or the one above (PEP 405). */
function venvOf(exe: string, p: PathModule): string | undefined {
  const dir = p.dirname(exe);
  for (const candidate of [dir, p.dirname(dir)]) {
    if (isFile(p.join(candidate, "pyvenv.cfg"))) return candidate;
  }
  return undefined;
}

/** The prefix of a Python binary from its place: `<prefix>/bin/python3`, `<prefix>\python.exe`. */
function prefixOfBinary(exe: string, platform: NodeJS.Platform): string | undefined {
  const p = pathsOf(platform);
  const venv = venvOf(exe, p);
  if (venv) return venv;
  let real: string;
  try {
    real = realpathSync(exe);
  } catch {
    return undefined;
  }
  const dir = p.dirname(real);
  const base = p.basename(dir).toLowerCase();
  if (base === "bin" || base === "scripts") return p.dirname(dir);
  return platform === "win32" ? dir : undefined;
}

/** Answers of `python -c 'import sys; print(sys.prefix)'` for wrapper scripts, per executable. */
const askedPrefixes = new Map<string, Promise<string | undefined>>();
const ASK_TIMEOUT_MS = 3_000;

function askPython(exe: string): Promise<string | undefined> {
  let asked = askedPrefixes.get(exe);
  if (!asked) {
    asked = new Promise((resolve) => {
      execFile(
        exe,
        ["-c", "import sys; print(sys.prefix)"],
        { timeout: ASK_TIMEOUT_MS, windowsHide: true, encoding: "utf8" },
        (err, stdout) => {
          const prefix = stdout?.trim();
          resolve(err || !prefix ? undefined : prefix);
        },
      );
    });
    askedPrefixes.set(exe, asked);
  }
  return asked;
}

/**
 * The sys.prefix of an executable on PATH from the file system; `ask` when it is a wrapper script
 * that names no Python (then the answer comes from the cache, once {@link resolvePathPrefixes} ran).
 */
function prefixOf(
  exe: string,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
  ask: (python: string) => string | undefined,
) {
  const line = shebang(exe);
  if (line === undefined) return prefixOfBinary(exe, platform);
  const venv = venvOf(exe, pathsOf(platform));
  if (venv) return venv;
  // `#!/path/to/env/bin/python3` (a console script such as jupyter): that Python's prefix.
  const [interpreter = "", arg] = line.split(/\s+/);
  const named = path.basename(interpreter) === "env" ? arg : interpreter;
  if (named && /^python[\d.]*$/.test(path.basename(named)) && path.isAbsolute(named)) {
    if (isFile(named) && shebang(named) === undefined) return prefixOfBinary(named, platform);
  }
  // pyenv's shim: the version pyenv would pick, read as pyenv reads it.
  const pyenv = pyenvPrefix(exe, env, platform);
  if (pyenv !== undefined) return pyenv ?? undefined;
  // Another wrapper (`#!/usr/bin/env bash`): only Python itself knows.
  return /python/.test(path.basename(exe)) ? ask(exe) : undefined;
}

function isDir(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** The first version named in a pyenv version file (`.python-version`, `$PYENV_ROOT/version`). */
function versionIn(file: string): string | undefined {
  try {
    const text = readFileSync(file, "utf8");
    return text
      .split("\n")
      .flatMap((line) => line.replace(/#.*/, "").split(/\s+/))
      .find(Boolean);
  } catch {
    return undefined;
  }
}

/**
 * The prefix of the Python a pyenv shim (`$PYENV_ROOT/shims/python3`) runs, as pyenv chooses it:
 * `$PYENV_VERSION`, else the nearest `.python-version` from the working folder up, else
 * `$PYENV_ROOT/version`. `null` for pyenv's `system` (the Python further down PATH, searched
 * anyway), undefined when `exe` is not a pyenv shim or its version cannot be told.
 */
function pyenvPrefix(
  exe: string,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
): string | null | undefined {
  const p = pathsOf(platform);
  const shims = p.dirname(exe);
  if (p.basename(shims) !== "shims") return undefined;
  const root = env.PYENV_ROOT || p.dirname(shims);
  if (p.join(root, "shims") !== shims || !isDir(p.join(root, "versions"))) return undefined;
  let version = env.PYENV_VERSION?.split(":")[0]?.trim();
  for (let dir = process.cwd(); !version; dir = p.dirname(dir)) {
    version = versionIn(p.join(dir, ".python-version"));
    if (p.dirname(dir) === dir) break;
  }
  version ||= versionIn(p.join(root, "version"));
  if (!version) return undefined;
  if (version === "system") return null;
  const prefix = p.join(root, "versions", version);
  return isDir(prefix) ? prefix : undefined;
}

interface PathPrefix {
  source: string;
  prefix: string;
}

function pathPrefixes(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
  ask: (python: string) => string | undefined,
): PathPrefix[] {
  const found: PathPrefix[] = [];
  for (const name of PATH_EXECUTABLES) {
    const exe = onPath(name, env, platform);
    const prefix = exe ? prefixOf(exe, env, platform, ask) : undefined;
    if (prefix) found.push({ source: `${name} on PATH`, prefix });
  }
  return found;
}

const cachedAnswer = (python: string): string | undefined => settled.get(python);
const settled = new Map<string, string | undefined>();

/**
 * Asks the wrapper scripts on PATH (pyenv's shims) for their Python's sys.prefix, once per
 * process, so that {@link kernelDirs} knows it. Executables Python need not be asked about cost
 * nothing here.
 */
export async function resolvePathPrefixes(
  env: NodeJS.ProcessEnv = process.env,
  options: SearchOptions = {},
): Promise<void> {
  const platform = options.platform ?? process.platform;
  const wanted: string[] = [];
  pathPrefixes(env, platform, (python) => {
    if (!settled.has(python)) wanted.push(python);
    return undefined;
  });
  await Promise.all(
    wanted.map(async (python) => {
      settled.set(python, await askPython(python));
    }),
  );
}

// -- the whole search path ------------------------------------------------------------------------

/**
 * The kernel folders in precedence order (earlier ones shadow later ones for the same kernel
 * name), each once. Wrapper scripts on PATH count once {@link resolvePathPrefixes} has run.
 */
export function kernelDirs(env: NodeJS.ProcessEnv = process.env, options: SearchOptions = {}): KernelDir[] {
  const platform = options.platform ?? process.platform;
  const p = pathsOf(platform);
  const data: { dir: string; source: string; prefix?: string }[] = [];
  const strip = (dir: string) => (dir.length > 1 ? dir.replace(/[\\/]+$/, "") : dir);

  for (const dir of (env.JUPYTER_PATH ?? "").split(platform === "win32" ? ";" : ":").filter(Boolean)) {
    data.push({ dir: strip(dir), source: "JUPYTER_PATH" });
  }
  const user = [
    { dir: userDataDir(env, platform), source: "user" },
    ...userSiteDataDirs(env, platform).map((dir) => ({ dir, source: "user site" })),
  ];
  const system = systemDataDirs(env, platform);
  const prefixes: PathPrefix[] = [];
  if (env.VIRTUAL_ENV) prefixes.push({ source: "VIRTUAL_ENV", prefix: env.VIRTUAL_ENV });
  if (env.CONDA_PREFIX) prefixes.push({ source: "CONDA_PREFIX", prefix: env.CONDA_PREFIX });
  prefixes.push(...pathPrefixes(env, platform, cachedAnswer));
  const environments = prefixes
    .map(({ source, prefix }) => ({
      dir: p.join(strip(prefix), "share", "jupyter"),
      source,
      prefix: strip(prefix),
    }))
    .filter((e) => !system.includes(e.dir));
  if (preferEnvironment(env)) data.push(...environments, ...user);
  else data.push(...user, ...environments);
  data.push(...system.map((dir) => ({ dir, source: "system" })));

  const dirs: KernelDir[] = data.map((d) => ({ ...d, dir: p.join(d.dir, "kernels") }));
  const ipython = env.IPYTHONDIR || p.join(homeOf(env, platform), ".ipython");
  dirs.push({ dir: p.join(ipython, "kernels"), source: "IPython" });

  const seen = new Set<string>();
  return dirs.filter((d) => !seen.has(d.dir) && seen.add(d.dir));
}

/**
 * The Python of an environment's kernelspec whose argv names a bare `python`/`python3`:
 * jupyter_client runs its own `sys.executable` there; for a spec found in an environment, that is
 * the environment's Python (`<prefix>/bin/python3`), whatever PATH the server was started with.
 */
export function environmentPython(
  prefix: string,
  command: string,
  platform = process.platform,
): string | undefined {
  if (!/^python[\d.]*(\.exe)?$/i.test(command)) return undefined;
  const p = pathsOf(platform);
  const candidates =
    platform === "win32"
      ? [p.join(prefix, "python.exe"), p.join(prefix, "Scripts", "python.exe")]
      : [p.join(prefix, "bin", command), p.join(prefix, "bin", "python3"), p.join(prefix, "bin", "python")];
  return candidates.find(isFile);
}
