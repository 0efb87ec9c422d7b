/**
 * Starting a kernel process from its kernelspec: a private folder holding the connection file
 * (mode 0600, random 32-byte key, ipc transport so concurrent launches never race for TCP ports —
 * papermill issues 239 and 511), the argv of the spec with `{connection_file}` substituted, and an
 * environment that works for Debian's ipykernel (see docs/kernel-notes.md).
 *
 * ipykernel kernelspecs are forked from a fork server when one can serve (forkserver.ts): ready in
 * ~55 ms instead of ~350-450 ms. Everything else, and every launch the fork server cannot take, is
 * spawned. Both give the same LaunchedKernel: callers never see a ChildProcess.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { mkdtemp, rm, rmdir, unlink, writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AppError, coerceError } from "../errors.js";
import { freeTcpPorts, newConnection } from "./connection.js";
import { forkKernel, type ForkedProcess, type KernelFile } from "./forkserver.js";
import { helperEnv, isDenoKernel } from "./in-kernel-helpers.js";
import { IPYTHON_KERNEL_CONFIG } from "./ipython-config.js";
import type { KernelSpec } from "./kernelspec.js";
import type { KernelExit, LaunchedKernel, LaunchOptions, ProcessExit } from "./types.js";
import { warnKernel } from "./warnings.js";

const TAIL_BYTES = 8192;

/** Kernels known not to listen on ipc:// endpoints. */
function defaultTransport(spec: KernelSpec): "ipc" | "tcp" {
  return isDenoKernel(spec) ? "tcp" : "ipc";
}

/**
 * nbhook's own secrets, kept from kernels: the API tokens, the key of stored secrets, the mail
 * server's settings (its password among them), the database URL (it may hold a password).
 * Stored secrets reach a run's kernel by name, as NBHOOK_SECRET_<NAME> (runs/run-secrets.ts).
 */
const NBHOOK_PRIVATE_ENV = new Set([
  "NBHOOK_TOKEN",
  "NBHOOK_ADMIN_TOKEN",
  "NBHOOK_SECRET_KEY",
  "NBHOOK_DATABASE_URL",
]);

export function isNbhookPrivate(name: string): boolean {
  return NBHOOK_PRIVATE_ENV.has(name) || name.startsWith("NBHOOK_SMTP_");
}

/** The environment of every kernel of `spec` started now, before its per-launch part. */
function baseEnv(spec: KernelSpec): Record<string, string> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // A developer's venv/pyenv activation must not leak into Debian's python.
  delete env.PYTHONHOME;
  delete env.VIRTUAL_ENV;
  // nbhook's own secrets are not the notebooks' business (a notebook printing its environment
  // would save them in its output). The rest of the server's environment is the kernels'.
  for (const name of Object.keys(env)) if (isNbhookPrivate(name)) delete env[name];
  Object.assign(env, spec.env);
  Object.assign(env, helperEnv(spec, process.env));
  env.JPY_PARENT_PID = String(process.pid); // ipykernel exits if we die
  env.PYDEVD_DISABLE_FILE_VALIDATION = "1";
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/**
 * The longest folder an ipc endpoint (`<dir>/k-5`) can live in: a Unix socket path has 107 bytes
 * (sun_path, less its NUL); mkdtemp adds `nbhook-k-` and 6 characters.
 */
const MAX_IPC_ROOT = 107 - "/nbhook-k-XXXXXX/k-5".length;

const warnedRoots = new Set<string>();

/** Where the kernel's folder is made: the server's runtime folder, unless its path is too long for ipc. */
function rootFor(options: LaunchOptions, transport: "ipc" | "tcp"): string {
  const wanted = options.runtimeDir;
  if (!wanted) return os.tmpdir();
  if (transport === "tcp" || Buffer.byteLength(wanted) <= MAX_IPC_ROOT) return wanted;
  if (warnedRoots.has(wanted)) return os.tmpdir();
  warnedRoots.add(wanted);
  warnKernel({
    code: "runtime-dir-too-long",
    message:
      `the kernels' folder ${wanted} is too long for ipc sockets (${MAX_IPC_ROOT} bytes at most): ` +
      `kernels are started in ${os.tmpdir()} instead; choose a shorter --home`,
  });
  return os.tmpdir();
}

export async function launchKernel(spec: KernelSpec, options: LaunchOptions = {}): Promise<LaunchedKernel> {
  const transport = options.transport ?? defaultTransport(spec);
  const tmpRoot = rootFor(options, transport);
  const dir = await mkdtemp(path.join(tmpRoot, "nbhook-k-"));
  const cleanup = () => removeKernelDir(dir);
  try {
    const profile = path.join(dir, "ipython", "profile_default");
    const connection = newConnection(
      spec.name,
      transport === "ipc" ? { ipcDir: dir } : { tcpPorts: await freeTcpPorts(5) },
    );
    const connectionFile = path.join(dir, "connection.json");
    // The kernel's files. A forked kernel's process writes them itself before it becomes the
    // kernel (python/nbhook/_forkserver.py, _write_private_file: a few plain calls in a fresh
    // process), instead of ~8 asynchronous file operations on the server's event loop (~1 ms of
    // its CPU per kernel); they are written here for any other launch.
    const files: KernelFile[] = [
      { path: path.join(profile, "ipython_kernel_config.json"), text: IPYTHON_KERNEL_CONFIG },
      { path: connectionFile, text: JSON.stringify(connection) },
    ];

    const argv = spec.argv.map((arg) =>
      arg.replaceAll("{connection_file}", connectionFile).replaceAll("{resource_dir}", spec.resourceDir),
    );
    const base = baseEnv(spec);
    const env = { ...base, IPYTHONDIR: path.join(dir, "ipython"), ...options.env };
    const cwd = path.resolve(options.cwd ?? process.cwd());
    const log = path.join(dir, "kernel.log");
    // A missing cwd is left to spawn, whose error names it.
    const request = { argv, cwd, env, baseEnv: base, log, tmpRoot, files };
    const forked = options.fork
      ? await options.fork(spec, request)
      : existsSync(cwd)
        ? await forkKernel(spec, request).catch((err: unknown) => {
            const reason = coerceError(err).message;
            warnKernel({
              code: "forkserver-fallback",
              message: `the kernel fork server failed (${reason}); spawning the kernel`,
            });
            return undefined;
          })
        : undefined;
    if (!forked) await writeKernelFiles(files);
    const proc = forked ? forkedProcess(forked, log) : await spawnedProcess(spec, argv, cwd, env);
    const connected = () => rm(connectionFile, { force: true });
    return { ...proc, connection, dir, connected, cleanup: proc.cleanup(cleanup) };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * Removes a kernel's folder. An ended forked kernel leaves only its log there (it removes its
 * profile and sockets itself, python/nbhook/_forkserver.py): two operations instead of a
 * recursive removal's six; anything else left goes the recursive way.
 */
async function removeKernelDir(dir: string): Promise<void> {
  try {
    await unlink(path.join(dir, "kernel.log")).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    await rmdir(dir);
  } catch {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Files readable by the kernel's user only (0600), in folders of theirs (0700). */
async function writeKernelFiles(files: KernelFile[]): Promise<void> {
  for (const file of files) {
    await mkdir(path.dirname(file.path), { recursive: true, mode: 0o700 });
    await writeFile(file.path, file.text, { mode: 0o600 });
  }
}

const SETPRIV = "/usr/bin/setpriv";

/**
 * Makes the kernel die with us even when we are SIGKILLed: util-linux's setpriv sets the parent
 * death signal and execs the kernel (same pid). ipykernel also watches JPY_PARENT_PID, but Deno's
 * kernel ignores it. Without setpriv, or for a program that does not exist (so that spawn's own
 * error names it), the argv is used as it is.
 */
function withParentDeathSignal(argv: string[]): string[] {
  const program = argv[0] ?? "";
  if (process.platform !== "linux" || !existsSync(SETPRIV)) return argv;
  if (path.isAbsolute(program) && !existsSync(program)) return argv;
  return [SETPRIV, "--pdeathsig", "KILL", "--", ...argv];
}

type KernelProcess = Pick<
  LaunchedKernel,
  "pid" | "startedBy" | "prewarmed" | "exited" | "kill" | "outputTail"
> & {
  /** Wraps the folder removal with what must happen before it. */
  cleanup(removeDir: () => Promise<void>): () => Promise<void>;
};

async function spawnedProcess(
  spec: KernelSpec,
  argv: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<KernelProcess> {
  const command = withParentDeathSignal(argv);
  const child = spawn(command[0]!, command.slice(1), { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let tail = "";
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-TAIL_BYTES);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (err) =>
      reject(
        new AppError("kernel-launch", `cannot start kernel "${spec.name}" (${argv[0]}): ${err.message}`, {
          cause: err,
        }),
      ),
    );
  });
  const exited = new Promise<KernelExit>((resolve) => {
    child.once("exit", (code, signal) => {
      // Give stderr a moment to drain so errors can quote the kernel's last words.
      const done = () => resolve({ code, signal });
      if (child.stderr?.readableEnded) return done();
      const timer = setTimeout(done, 200);
      timer.unref();
      child.once("close", () => {
        clearTimeout(timer);
        done();
      });
    });
  });
  return {
    pid: child.pid!,
    startedBy: "spawn",
    exited,
    kill: (signal) => void child.kill(signal),
    outputTail: () => tail,
    cleanup: (removeDir) => removeDir,
  };
}

/** A kernel forked by the fork server: its exit comes from the server, its output is in `log`. */
function forkedProcess(forked: ForkedProcess, log: string): KernelProcess {
  let gone = false;
  let over = false;
  let note = "";
  let lastTail = "";
  const outputTail = () => {
    if (!over) lastTail = fileTail(log);
    return lastTail + note;
  };
  // Should the server stall (stopped, wedged), a killed kernel stays an unreaped zombie: after a
  // grace period the kill is taken as done, so kill() and shutdown() never wait on the server.
  let unreported: ((exit: ProcessExit) => void) | undefined;
  const assumed = new Promise<ProcessExit>((resolve) => (unreported = resolve));
  const exited = Promise.race([forked.exited, assumed]).then(({ code, signal, note: why }) => {
    gone = true;
    if (why) note = `\n[nbhook: ${why}]`;
    return { code, signal };
  });
  return {
    pid: forked.pid,
    startedBy: "fork",
    prewarmed: forked.prewarmed === true,
    exited,
    kill: (signal) => {
      if (gone) return;
      try {
        process.kill(forked.pid, signal);
      } catch {
        // it has just exited; the fork server reports it
      }
      if (signal !== "SIGKILL") return;
      const check = setTimeout(() => {
        if (!isRunning(forked.pid))
          unreported?.({ code: null, signal, note: "exit not reported by the fork server" });
      }, 5000);
      check.unref();
    },
    outputTail,
    cleanup: (removeDir) => async () => {
      if (!over) lastTail = fileTail(log);
      over = true;
      await removeDir();
    },
  };
}

/** Whether a process exists and is not a zombie. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** The last TAIL_BYTES of a file, or "" when it cannot be read. */
function fileTail(file: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const size = fstatSync(fd).size;
    const length = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    return buf.toString("utf8");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
