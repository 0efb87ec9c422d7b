/**
 * A real `nbhook serve` child process (the built dist/: `npm run build` first) for the reliability
 * suite (test/faults): its own home and its own TMPDIR under the test file's temp folder (see
 * kernel-leaks.ts, so its kernels are found by that folder too), its whole stdout and stderr kept,
 * and what a test needs to fault it: its process tree, SIGKILL, a restart on the same home.
 *
 * Every server started here is stopped by {@link stopFaultServers} (call it in afterEach/afterAll,
 * it runs even when a test failed): SIGTERM, SIGKILL after a bound, and any process of its home
 * still alive afterwards is killed and reported.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RunJson } from "../../src/api/schemas.js";
import { processesMentioning, settled } from "./kernel-leaks.js";
import { makeNotebook, type CellSpec } from "./notebooks.js";

export { processesMentioning, settled };

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export interface FaultServerOptions {
  /** Data folder (default: a new one); give the same one to restart on it. */
  home?: string;
  /** Flags after `serve --host 127.0.0.1 --port 0 --home <home>`. */
  args?: string[];
  /** Variables added to the environment (every NBHOOK_* of the test process is removed first). */
  env?: Record<string, string>;
  /** `worker`: `nbhook worker --home <home> …args` (a cluster's worker: no HTTP, ready once it takes calls). */
  command?: "serve" | "worker";
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** From the request sent to the answer's last byte. */
  ms: number;
  json<T = Record<string, unknown>>(): T;
}

export interface FaultServer {
  child: ChildProcess;
  pid: number;
  url: string;
  token: string;
  home: string;
  /** The server's TMPDIR (the system temp folder its kernels would fall back to). */
  tmp: string;
  stdout(): string;
  stderr(): string;
  /** The JSON lines of its log (stdout). */
  logLines(): Record<string, unknown>[];
  exited: Promise<Exit>;
  /** Management API call with the API token. */
  api<T = Record<string, unknown>>(method: string, route: string, body?: unknown): Promise<T>;
  deploy(name: string, cells: CellSpec[], options?: DeployOptions): Promise<{ id: string; url: string }>;
  runs(webhookId?: string): Promise<RunJson[]>;
  run(id: string): Promise<RunJson>;
  /** The pids of every process below the server (fork server, kernels). */
  descendants(): number[];
  /** SIGTERM; SIGKILL if it has not exited within the bound. */
  stop(): Promise<Exit>;
  kill(signal: NodeJS.Signals): Promise<Exit>;
}

export interface DeployOptions {
  params?: Record<string, unknown>;
  debug?: boolean;
  timeout_s?: number;
}

const started: FaultServer[] = [];
const folders: string[] = [];

/** A new folder under the test file's temp folder (removed by {@link stopFaultServers}). */
export function tempFolder(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

export async function startFaultServer(options: FaultServerOptions = {}): Promise<FaultServer> {
  const home = options.home ?? tempFolder("home-");
  const tmp = tempFolder("tmp-");
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("NBHOOK_")) env[name] = value;
  }
  Object.assign(env, { TMPDIR: tmp }, options.env);
  const worker = options.command === "worker";
  const argv = worker
    ? [CLI, "worker", "--home", home, ...(options.args ?? [])]
    : [CLI, "serve", "--host", "127.0.0.1", "--port", "0", "--home", home, ...(options.args ?? [])];
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString("utf8")));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString("utf8")));
  const exited = new Promise<Exit>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const pid = child.pid!;
  const handle: FaultServer = {
    child,
    pid,
    url: "",
    token: "",
    home,
    tmp,
    stdout: () => out,
    stderr: () => err,
    logLines: () =>
      out
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    exited,
    async api<T>(method: string, route: string, body?: unknown): Promise<T> {
      const res = await fetch(`${handle.url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${handle.token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`);
      return JSON.parse(text) as T;
    },
    async deploy(name, cells, deployOptions = {}) {
      const added = await handle.api<{ webhook: { id: string; url: string } }>("POST", "/api/webhooks", {
        path: `/work/faults/${name}.ipynb`,
        notebook: makeNotebook(cells),
        ...deployOptions,
      });
      return added.webhook;
    },
    async runs(webhookId) {
      const query = webhookId ? `?webhook=${encodeURIComponent(webhookId)}&limit=1000` : "?limit=1000";
      return (await handle.api<{ runs: RunJson[] }>("GET", `/api/runs${query}`)).runs;
    },
    run: (id) => handle.api<RunJson>("GET", `/api/runs/${encodeURIComponent(id)}`),
    descendants: () => descendantsOf(pid),
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  started.push(handle);

  const ready = await new Promise<{ url: string; token: string } | Error>((resolve) => {
    const timer = setTimeout(() => resolve(new Error("not serving within 30 s")), READY_TIMEOUT_MS);
    const check = () => {
      if (worker && /nbhook: worker \S+/.test(err)) {
        clearTimeout(timer);
        child.stderr!.off("data", check);
        resolve({ url: "", token: "" });
        return;
      }
      const url = /serving on (\S+)/.exec(err)?.[1];
      // The admin token is printed at the first start only: the CLI's copy in the home (or the
      // NBHOOK_ADMIN_TOKEN it was given) is what a client uses.
      if (url && /nbhook: (API tokens|the first admin|=|the API token of)/.test(err)) {
        clearTimeout(timer);
        child.stderr!.off("data", check);
        resolve({ url, token: adminTokenOf(home, options.env) });
      }
    };
    child.stderr!.on("data", check);
    void exited.then((exit) => {
      clearTimeout(timer);
      resolve(new Error(`exited (${exit.code ?? exit.signal}) before serving`));
    });
    check();
  });
  if (ready instanceof Error) {
    await handle.stop();
    throw new Error(
      `nbhook ${worker ? "worker" : "serve"} --home ${home}: ${ready.message}\nstderr:\n${err}\nstdout:\n${out}`,
    );
  }
  handle.url = ready.url;
  handle.token = ready.token;
  return handle;
}

/**
 * Stops every server started here, then kills any process still mentioning its home and throws
 * naming them (a leak nbhook must not have), and removes the temp folders.
 */
export async function stopFaultServers(): Promise<void> {
  const servers = started.splice(0);
  await Promise.all(servers.map((s) => s.stop()));
  const strays: string[] = [];
  for (const server of servers) {
    const left = await settled(() => processesMentioning(server.home), 3000);
    for (const line of left) {
      strays.push(line);
      const pid = Number(line.trim().split(" ")[0]);
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
  if (strays.length) throw new Error(`processes left behind by nbhook serve:\n${strays.join("\n")}`);
}

/** Whether a process with this pid exists (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Every process below `root`, read from /proc. */
export function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(Number(name), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent === pid && !found.includes(child)) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return found.filter(alive);
}

/** The parent of a process (undefined when it is gone). */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** The command line of a process ("" when it is gone). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** A call with a time limit; a connection error or the limit rejects. */
export async function call(url: string, init: RequestInit = {}, timeoutMs = 30_000): Promise<Answer> {
  const started = Date.now();
  const res = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(timeoutMs), ...init });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    ms: Date.now() - started,
    json: <T>() => JSON.parse(text) as T,
  };
}

/** Every regular file under `dir`, recursively (sockets, links and the like skipped). */
export function filesUnder(dir: string): string[] {
  const files: string[] = [];
  const walk = (folder: string) => {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      return; // removed meanwhile (a kernel's folder)
    }
    for (const name of names) {
      const file = path.join(folder, name);
      let stat;
      try {
        stat = lstatSync(file);
      } catch {
        continue;
      }
      if (stat.isDirectory()) walk(file);
      else if (stat.isFile()) files.push(file);
    }
  };
  walk(dir);
  return files;
}

/** Polls `check` every 50 ms until it is true; fails after `timeoutMs`, saying what was awaited. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The admin token a server on `home` was given (NBHOOK_ADMIN_TOKEN) or wrote for the local CLI. */
function adminTokenOf(home: string, env: Record<string, string> | undefined): string {
  if (env?.NBHOOK_ADMIN_TOKEN) return env.NBHOOK_ADMIN_TOKEN;
  try {
    return readFileSync(path.join(home, "api-token"), "utf8").trim();
  } catch {
    return "";
  }
}
