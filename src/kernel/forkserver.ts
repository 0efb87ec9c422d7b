/**
 * Fork servers ("zygotes") for ipykernel: one Python process per kernelspec that has done the
 * ~400 ms of imports of a kernel start once, and forks a child per launch that becomes the kernel
 * (python/nbhook/_forkserver.py; one JSON object per line each way).
 *
 * Only kernelspecs whose argv is exactly `<python> -m ipykernel_launcher -f {connection_file}` are
 * forked. A server starts with the environment its kernels get minus what is per launch (IPYTHONDIR,
 * the caller's extra env), as imported modules read some variables once (ipykernel's JPY_PARENT_PID
 * default): when that base changes, a new server replaces the old one, which exits after its last
 * kernel. Any failure (cannot start, crash, no or bad reply) makes the launch spawn normally, with
 * one warning; NBHOOK_FORKSERVER=0 disables forking. The server also builds the kernels' IPython
 * shell before forking, with their config (IPYTHON_KERNEL_CONFIG, on its command line), which each
 * child adopts (NBHOOK_FORKSERVER_SHELL=0 turns that off; a failure to build it is warned about).
 *
 * Kernels are children of their server, which reaps them and reports each exit (code or signal).
 * They die with it (PR_SET_PDEATHSIG), and it kills those left when its stdin closes (Node exited),
 * so none is orphaned. A server keeps Node's event loop alive only while it has a launch or a kernel
 * in flight, as a spawned kernel process would.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { IPYTHON_KERNEL_CONFIG } from "./ipython-config.js";
import type { KernelSpec } from "./kernelspec.js";
import type { ProcessExit } from "./types.js";
import { warnKernel } from "./warnings.js";

export const FORKSERVER_SCRIPT = fileURLToPath(
  new URL("../../python/nbhook/_forkserver.py", import.meta.url),
);

export interface ForkRequest {
  argv: string[]; // the kernelspec's, `{connection_file}` substituted
  cwd: string;
  env: Record<string, string>; // the kernel's whole environment
  baseEnv: Record<string, string>; // the fork server's: `env` minus what is per launch
  log: string; // file for the kernel's stdout and stderr
  tmpRoot: string; // the kernels' temp folder: on the server's command line, for leak checks
  files?: KernelFile[]; // what the child writes before it becomes the kernel (launch.ts)
}

/** A file of the kernel's own (its connection file, its IPython config), 0600 in folders 0700. */
export interface KernelFile {
  path: string;
  text: string;
}

export interface ForkedProcess {
  pid: number;
  exited: Promise<ProcessExit>;
  /**
   * Its server built the kernels' IPython shell before forking and paid the first execute's
   * per-process costs there (python/nbhook/_forkserver.py: _warm_code_paths), with nbhook's
   * helpers imported and not shadowed in the kernel's folder: a warm-up execute buys it nothing
   * (KernelClient.prewarmed). (A child whose IPython config differs from the server's builds its
   * own shell; its first call pays for that.)
   */
  prewarmed?: boolean;
}

/** The lines the fork server writes (see the protocol in _forkserver.py). */
const serverLineSchema = z.union([
  z.object({
    ready: z.literal(true),
    pid: z.number().int(),
    python: z.string(),
    ipykernel: z.string(),
    // "template" when it built the kernels' IPython shell before forking, else why not.
    shell: z.string().optional(),
  }),
  z.object({ refused: z.string() }),
  z.object({ exit: z.number().int(), code: z.number().int().nullable(), signal: z.string().nullable() }),
  // prewarmed: see ForkedProcess.prewarmed (_prewarmed in _forkserver.py).
  z.object({ id: z.number().int(), pid: z.number().int().positive(), prewarmed: z.boolean().optional() }),
  // `id` is null when the request line itself was not JSON.
  z.object({ id: z.number().int().nullable(), error: z.string() }),
  // A setup template's setup cells (SetupTemplate): an iopub-like message, then the reply.
  z.object({
    cell: z.number().int(),
    msg: z.object({ msg_type: z.string(), content: z.record(z.string(), z.unknown()) }),
  }),
  z.object({
    cell: z.number().int(),
    reply: z.object({
      status: z.string(),
      execution_count: z.number().int().nullable(),
      ename: z.string().optional(),
      evalue: z.string().optional(),
      traceback: z.array(z.string()).optional(),
    }),
  }),
]);

export type SetupLine =
  | { cell: number; msg: { msg_type: string; content: Record<string, unknown> } }
  | {
      cell: number;
      reply: {
        status: string;
        execution_count: number | null;
        ename?: string;
        evalue?: string;
        traceback?: string[];
      };
    };

/** Variables a Python process reads while starting: a launch that changes them is spawned instead. */
const STARTUP_ENV = /^(PYTHON\w*|LC_\w+|LANG|LANGUAGE|HOME|USER|JPY_\w+|PYDEVD_\w+)$/;
const READY_TIMEOUT_MS = 30_000;
const REPLY_TIMEOUT_MS = 10_000;
const RETRY_BROKEN_MS = 60_000;
const CHURN_WINDOW_MS = 60_000;
const CHURN_MAX_STARTS = 10;

/** The module a kernelspec runs, when it is exactly the ipykernel launcher; undefined otherwise. */
export function forkableModule(spec: KernelSpec): string | undefined {
  const [python, m, module, f, conn] = spec.argv;
  const exact = spec.argv.length === 5 && m === "-m" && module === "ipykernel_launcher" && f === "-f";
  return python && exact && conn === "{connection_file}" ? module : undefined;
}

class ForkServer {
  readonly proc: ChildProcess;
  readonly ready: Promise<boolean>;
  dead = false;
  diedAt = 0;
  wasReady = false;
  private markReady!: (ok: boolean) => void;
  /** Launches waiting for the server to be ready. */
  private waiting = 0;
  private nextId = 1;
  private readonly replies = new Map<number, (forked: ForkedProcess | undefined) => void>();
  private readonly kernels = new Map<number, (exit: ProcessExit) => void>();
  private stderrTail = "";
  private retiring = false;
  /** A setup template's: why it stopped serving (refused, died), for SetupTemplate. */
  setupFailure?: string;

  constructor(
    readonly key: string,
    python: string,
    module: string,
    env: Record<string, string>,
    tmpRoot: string,
    /** A setup template's: its setup cells' lines, and how long they may take (else 30 s). */
    private readonly setup?: { onLine: (line: SetupLine) => void; readyTimeoutMs: number },
  ) {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    // The kernels' IPython config: the server builds its template shell with it.
    const args = [FORKSERVER_SCRIPT, module, tmpRoot, IPYTHON_KERNEL_CONFIG];
    this.proc = spawn(python, args, { cwd: "/", env, stdio: "pipe" });
    this.proc.on("error", (err) => this.die(`could not be started: ${err.message}`));
    this.proc.on("exit", (code, sig) => this.die(sig ? `was killed by ${sig}` : `exited with code ${code}`));
    this.proc.stdin!.on("error", () => {}); // EPIPE once it died; "exit" reports that
    this.proc.stderr!.on("data", (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-2000);
    });
    createInterface({ input: this.proc.stdout! }).on("line", (line) => this.onLine(line));
    this.updateRef();
  }

  get pid(): number | undefined {
    return this.dead ? undefined : this.proc.pid;
  }

  private onLine(line: string): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return this.fail(`wrote unexpected output: ${line.slice(0, 200)}`);
    }
    const parsed = serverLineSchema.safeParse(json);
    if (!parsed.success) return this.fail(`sent an unexpected line: ${line.slice(0, 200)}`);
    const msg = parsed.data;
    if ("cell" in msg) {
      if (!this.setup) return this.fail(`sent an unexpected line: ${line.slice(0, 200)}`);
      return this.setup.onLine(msg);
    }
    if ("ready" in msg) {
      if (msg.shell !== undefined && msg.shell !== "template" && msg.shell !== "off") {
        warnKernel({
          code: "forkserver-no-template",
          message:
            `the kernel fork server could not build the IPython shell before forking (${msg.shell}); ` +
            `forked kernels build their own (about 20 ms more per start)`,
        });
      }
      this.wasReady = true;
      this.markReady(true);
    } else if ("refused" in msg) {
      this.fail(`refused to serve: ${msg.refused}`);
    } else if ("exit" in msg) {
      const report = this.kernels.get(msg.exit);
      this.kernels.delete(msg.exit);
      report?.(exitOf(msg));
      this.closeIfRetiredAndIdle();
    } else {
      const reply = msg.id === null ? undefined : this.replies.get(msg.id);
      if (!reply || msg.id === null) return this.fail(`sent an unexpected reply: ${line.slice(0, 200)}`);
      this.replies.delete(msg.id);
      if ("error" in msg) {
        this.warnOnce(`could not fork a kernel (${msg.error})`);
        reply(undefined);
      } else {
        const pid = msg.pid;
        // Registered now, before any later line (its exit) is read.
        reply({
          pid,
          exited: new Promise((resolve) => this.kernels.set(pid, resolve)),
          prewarmed: msg.prewarmed === true,
        });
      }
    }
    this.updateRef();
  }

  /** A kernel from this server, or undefined when it cannot give one (the caller spawns instead). */
  async fork(request: ForkRequest): Promise<ForkedProcess | undefined> {
    if (!this.wasReady) {
      this.waiting++;
      this.updateRef();
      const limit = this.setup?.readyTimeoutMs ?? READY_TIMEOUT_MS;
      const ready = await Promise.race([this.ready, delay(limit, "timeout" as const)]);
      this.waiting--;
      if (ready === "timeout") this.fail(`was not ready after ${limit / 1000} s`);
    }
    if (this.dead) return this.closeIfRetiredAndIdle();
    const id = this.nextId++;
    const forked = await new Promise<ForkedProcess | undefined>((resolve) => {
      this.replies.set(id, resolve);
      const { argv, cwd, env, log, files } = request;
      // What is per launch (IPYTHONDIR, …): a setup template's child puts it on top of the
      // environment its setup cells left.
      const launch_env = Object.fromEntries(Object.entries(env).filter(([k, v]) => request.baseEnv[k] !== v));
      this.proc.stdin!.write(
        `${JSON.stringify({ id, args: argv.slice(3), orig_argv: argv, cwd, env, log, launch_env, files })}\n`,
      );
      this.updateRef();
      void delay(REPLY_TIMEOUT_MS).then(() => {
        // No answer: the server is wedged. Killing it also kills a child it may have forked.
        if (this.replies.has(id)) this.fail(`did not answer a launch within ${REPLY_TIMEOUT_MS / 1000} s`);
      });
    });
    void forked?.exited.then(() => this.updateRef());
    this.closeIfRetiredAndIdle();
    return forked;
  }

  /** Stops serving: kills the process, and with it its kernels; launches spawn from now on. */
  private fail(reason: string): void {
    this.warnOnce(reason);
    if (!this.dead) this.proc.kill("SIGKILL");
    this.die(reason);
  }

  private warnOnce(reason: string): void {
    if (this.setup) return void (this.setupFailure ??= reason); // its owner logs why (SetupTemplate)
    if (warned.has(this.key)) return;
    warned.add(this.key);
    const tail = this.stderrTail.trim().split("\n").slice(-10).join("\n");
    const message = `the kernel fork server ${reason}; falling back to spawning kernels${tail ? `\n${tail}` : ""}`;
    warnKernel({ code: "forkserver-fallback", message });
  }

  private die(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.diedAt = Date.now();
    retired.delete(this);
    if (!this.retiring) this.warnOnce(reason);
    this.markReady(false);
    for (const reply of this.replies.values()) reply(undefined);
    this.replies.clear();
    // Its kernels die with it (PR_SET_PDEATHSIG); make sure, and report what happened to them.
    for (const [pid, report] of this.kernels) {
      if (isForkedKernel(pid)) process.kill(pid, "SIGKILL");
      report({ code: null, signal: "SIGKILL", note: `the kernel fork server ${reason}` });
    }
    this.kernels.clear();
    this.updateRef();
  }

  /** Lets the server exit once its kernels have (at once when it has none). */
  retire(): void {
    retired.add(this);
    this.retiring = true;
    this.closeIfRetiredAndIdle();
  }

  private closeIfRetiredAndIdle(): undefined {
    if (this.retiring && !this.dead && !this.busy) void this.close();
    return undefined;
  }

  /** Closes its stdin: it kills the kernels it still has and exits. Resolves once it has. */
  close(): Promise<void> {
    this.retiring = true;
    const gone = this.dead
      ? Promise.resolve()
      : new Promise<void>((resolve) => this.proc.once("exit", resolve));
    this.proc.stdin!.end();
    return gone.then(() => {});
  }

  private get busy(): boolean {
    return this.waiting + this.replies.size + this.kernels.size > 0;
  }

  /** Keeps Node alive only while a launch or a kernel is in flight, as a spawned kernel would. */
  private updateRef(): void {
    // The pipes are net.Sockets, which can be unref'd like the process handle.
    type Handle = { ref(): void; unref(): void };
    const handles = [this.proc, this.proc.stdout, this.proc.stderr, this.proc.stdin] as unknown as Handle[];
    const ref = !this.dead && this.busy;
    handles.forEach((h, i) => (ref && i < 3 ? h.ref() : h.unref()));
  }
}

const servers = new Map<string, ForkServer>();
const templates = new Set<ForkServer>();
const retired = new Set<ForkServer>();
const warned = new Set<string>();
const recentStarts: number[] = [];

/**
 * Forks a kernel for `spec` from its fork server (started on first use, restarted when it died),
 * or returns undefined when the launch must be spawned normally.
 */
export async function forkKernel(spec: KernelSpec, request: ForkRequest): Promise<ForkedProcess | undefined> {
  const module = forkableModule(spec);
  if (!module || process.env.NBHOOK_FORKSERVER === "0") return undefined;
  for (const [name, value] of Object.entries(request.env)) {
    if (STARTUP_ENV.test(name) && request.baseEnv[name] !== value) return undefined;
  }
  const python = request.argv[0]!;
  const key = JSON.stringify([python, module, request.tmpRoot, Object.entries(request.baseEnv).sort()]);
  let server = servers.get(spec.name);
  if (server && server.key !== key) {
    server.retire(); // it goes once its kernels have
    server = undefined;
  }
  if (server?.dead) {
    // One that served and then died (crashed, killed) is replaced at once; one that never
    // worked (refused, cannot start) is retried only after a while.
    if (!server.wasReady && Date.now() - server.diedAt < RETRY_BROKEN_MS) return undefined;
    server = undefined;
  }
  if (!server) {
    // A process whose environment keeps changing would start a server per launch: spawn instead.
    const now = Date.now();
    while (recentStarts.length && recentStarts[0]! < now - CHURN_WINDOW_MS) recentStarts.shift();
    if (recentStarts.length >= CHURN_MAX_STARTS) return undefined;
    recentStarts.push(now);
    server = new ForkServer(key, python, module, request.baseEnv, request.tmpRoot);
    servers.set(spec.name, server);
  }
  return server.fork(request);
}

/** Pids of the fork servers this process runs (for leak checks). */
export function forkServerPids(): number[] {
  return [...servers.values(), ...retired, ...templates].flatMap((s) => (s.pid === undefined ? [] : [s.pid]));
}

/** Stops every fork server (their kernels are killed) and waits until they have exited. */
export async function stopForkServers(): Promise<void> {
  const all = [...servers.values(), ...retired, ...templates];
  servers.clear();
  retired.clear();
  templates.clear();
  await Promise.all(all.map((s) => s.close()));
}

/** The setup cells a template runs: their code (non-empty cells), folder and environment. */
export interface TemplateSetup {
  cells: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  /** Limit for all setup cells (0: none). */
  timeoutMs: number;
}

export interface TemplateCell {
  messages: { msg_type: string; content: Record<string, unknown> }[];
  reply?: Extract<SetupLine, { reply: unknown }>["reply"];
}

/**
 * A fork server that ran one webhook version's setup cells before forking (`setup` mode): its
 * kernels start with the setup state. Started by the first fork (which gives the kernels' base
 * environment), it reports each setup cell's messages; it refuses to serve after a failing cell
 * or when forking would be unsafe (a thread, a zmq Context, an event loop, top-level await), and
 * fork() then throws with the reason, as it does once the process died: the caller prepares its
 * kernels the usual way. retire() lets it exit after its last kernel; stopForkServers() kills it.
 */
export class SetupTemplate {
  private server?: ForkServer;
  private setupFile?: string;
  readonly cells: TemplateCell[] = [];

  constructor(
    private readonly spec: KernelSpec,
    private readonly setup: TemplateSetup,
  ) {}

  /** Whether kernels of `spec` can come from a setup template (NBHOOK_SETUP_TEMPLATE=0: never). */
  static usable(spec: KernelSpec): boolean {
    return (
      forkableModule(spec) !== undefined &&
      process.env.NBHOOK_FORKSERVER !== "0" &&
      process.env.NBHOOK_SETUP_TEMPLATE !== "0"
    );
  }

  /** Served (ready) and then died: a new template may replace it. */
  get died(): boolean {
    return this.server !== undefined && this.server.dead && this.server.wasReady;
  }

  /** LaunchOptions.fork: a kernel forked from the template, or throws why it cannot give one. */
  readonly fork = async (spec: KernelSpec, request: ForkRequest): Promise<ForkedProcess> => {
    if (!this.server) {
      const { mkdtemp, writeFile } = await import("node:fs/promises");
      const path = await import("node:path");
      const dir = await mkdtemp(path.join(request.tmpRoot, "nbhook-setup-"));
      this.setupFile = path.join(dir, "setup.json");
      const { cells, cwd, env } = this.setup;
      await writeFile(this.setupFile, JSON.stringify({ cells, cwd: cwd ?? null, env }), { mode: 0o600 });
      const module = forkableModule(spec)!;
      const timeout = this.setup.timeoutMs > 0 ? this.setup.timeoutMs : 24 * 3600_000;
      this.server = new ForkServer(
        `template:${spec.name}`,
        request.argv[0]!,
        module,
        { ...request.baseEnv, NBHOOK_SETUP_TEMPLATE_FILE: this.setupFile },
        request.tmpRoot,
        { onLine: (line) => this.onLine(line), readyTimeoutMs: timeout },
      );
      templates.add(this.server);
      void this.server.ready.then(() => this.removeSetupFile());
    }
    const forked = await this.server.fork(request);
    if (!forked) throw new Error(this.server.setupFailure ?? "the setup template gave no kernel");
    return forked;
  };

  private onLine(line: SetupLine): void {
    const cell = (this.cells[line.cell] ??= { messages: [] });
    if ("msg" in line) cell.messages.push(line.msg);
    else cell.reply = line.reply;
  }

  private removeSetupFile(): void {
    if (!this.setupFile) return;
    const dir = this.setupFile.slice(0, this.setupFile.lastIndexOf("/"));
    void import("node:fs/promises").then((fs) => fs.rm(dir, { recursive: true, force: true }));
  }

  /** The version is gone: the process exits once its last kernel has (at once without one). */
  retire(): void {
    if (!this.server) return;
    const server = this.server;
    server.retire();
    void server.ready.then(() => undefined);
    void new Promise<void>((resolve) => server.proc.once("exit", () => resolve())).then(() =>
      templates.delete(server),
    );
  }
}

/** Whether `pid` is still one of our forked kernels (they keep the server's command line). */
function isForkedKernel(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(FORKSERVER_SCRIPT);
  } catch {
    return false;
  }
}

/** A child's exit as Node names it; a signal Node has no name for (real-time ones) is noted instead. */
function exitOf(report: { code: number | null; signal: string | null }): ProcessExit {
  const { code, signal } = report;
  if (signal === null || isSignalName(signal)) return { code, signal };
  return { code, signal: null, note: `killed by signal ${signal}` };
}

function isSignalName(name: string): name is NodeJS.Signals {
  return Object.hasOwn(os.constants.signals, name);
}

function delay<T>(ms: number, value?: T): Promise<T | undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}
