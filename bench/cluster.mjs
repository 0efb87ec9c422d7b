#!/usr/bin/env node
// Benchmark of a cluster on Postgres (docs/scaling.md) against the embedded server, not a test.
// Three configurations, started one after the other on loopback, each with fresh homes (and a
// fresh Postgres database for the cluster ones, dropped after):
//   - embedded: one `nbhook serve` (SQLite in its home), calls run in that process;
//   - 1 API + 1 worker: `nbhook serve --database … --no-worker` and one `nbhook worker`;
//   - 1 API + 2 workers: the same with two workers.
// Every server or worker gets the same --pool and --max-runs (defaults: pool 2, max-runs 4; each
// worker has its own, so two workers have twice the slots). In each, the trivial notebook of
// bench/server.mjs is deployed through the (API) node's management API, in isolated mode, then
// in reuse mode (a second webhook), and measured in the same run:
//   - latency p50/p95 with one client calling back to back, after a warm-up (--calls calls in
//     reuse mode, half as many in isolated mode, where each call costs a kernel);
//   - kernel+cells p50: the kernel's own part of a call (getting and preparing a kernel, running
//     the cells), which the node that ran it reports in Server-Timing; "overhead p50" is the
//     client's latency minus that: nbhook's part (and, for a cluster, the queue, the database
//     and the API↔worker round trip);
//   - calls/s with N concurrent clients (default 16) for a bounded time and count of calls (in
//     reuse mode after one unmeasured round of N calls, so every worker has its kernel).
// How to read it: "cluster cost" is the p50 of a cluster minus the embedded p50 of the same mode,
// i.e. what a call pays for going through Postgres and a worker; in isolated mode two workers
// also have twice the ready kernels, which shortens back-to-back calls: the overhead column
// (latency minus kernel+cells) separates nbhook's part from that. "2 workers / 1 worker" is the
// throughput ratio: in reuse mode a webhook's calls run one at a time across the cluster (one
// serial job queue), so it stays near 1× by design; in isolated mode, on a machine with few
// cores, all the processes (client, API node, workers, kernels, Postgres) share the same cores,
// so it cannot show the gain of workers on separate machines. No timed assertion: the exit code is non-zero only when the benchmark itself failed
// (a node that did not start, a deploy or a call that did not answer 200); failures are counted
// and reported, with the status codes and the tail of the nodes' stderr.
// Usage: npm run bench:cluster [-- --calls 100 --warmup 10 --seconds 8 --clients 16 --pool 2
//        --max-runs 4 --only embedded,w1,w2]   (Postgres: NBHOOK_BENCH_PG, default below)
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { JOBS, notebookOf } from "./jobs.mjs";

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "100" },
    warmup: { type: "string", default: "10" },
    seconds: { type: "string", default: "8" },
    clients: { type: "string", default: "16" },
    pool: { type: "string", default: "2" },
    "max-runs": { type: "string", default: "4" },
    only: { type: "string" },
  },
});
const CALLS = Math.min(Number(values.calls), 1000);
const WARMUP = Math.min(Number(values.warmup), 100);
const SECONDS = Math.min(Number(values.seconds), 60);
const CLIENTS = Math.min(Number(values.clients), 64);
const POOL = String(Number(values.pool));
const MAX_RUNS = String(Number(values["max-runs"]));
/** Bounds of the load phase besides its duration: calls started, and one call's wait. */
const MAX_LOAD_CALLS = 20_000;
const CALL_TIMEOUT_MS = 30_000;
/** A sequential phase stops after this long even if not all its calls were made (a slow cluster). */
const SEQUENTIAL_BUDGET_MS = 25_000;
const ADMIN_URL = process.env.NBHOOK_BENCH_PG ?? "postgres://postgres@127.0.0.1:5432/postgres";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, "dist", "cli", "main.js");
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-bench-cluster-"));

const CONFIGS = [
  { key: "embedded", name: "embedded (SQLite)", workers: 0 },
  { key: "w1", name: "1 API + 1 worker (Postgres)", workers: 1 },
  { key: "w2", name: "1 API + 2 workers (Postgres)", workers: 2 },
].filter((c) => !values.only || values.only.split(",").includes(c.key));
const MODES = [
  { mode: "isolated", path: "/bench/trivial.ipynb" },
  { mode: "reuse", path: "/bench/trivial-reuse.ipynb" },
];

// The trivial notebook of bench/server.mjs: the helper's import tagged `setup` (run once per
// kernel in reuse mode, every call in isolated mode) and the answer, called without parameters.
const notebook = notebookOf(JOBS.trivial);

const pct = (xs, p) => {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const ms = (x) => (x === undefined || !Number.isFinite(x) ? "n/a" : x < 100 ? x.toFixed(1) : x.toFixed(0));
const signed = (x) => (x === undefined || !Number.isFinite(x) ? "n/a" : `${x >= 0 ? "+" : ""}${ms(x)}`);
const sleep = (t) => new Promise((r) => setTimeout(r, t));
const T0 = performance.now();
/** Progress on stderr, with the seconds since the start. */
const progress = (text) =>
  process.stderr.write(`bench: [${((performance.now() - T0) / 1000).toFixed(0)} s] ${text}\n`);

// ---- processes: every node is started here, in its own process group, and stopped at the end.
/** Environment of the nodes: ours without NBHOOK_* (the flags say everything). */
const nodeEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NBHOOK_")));
const nodes = new Set();

function startNode(label, args, readyRe, home) {
  const child = spawn(process.execPath, [cli, ...args, "--home", home], {
    stdio: ["ignore", "ignore", "pipe"],
    env: nodeEnv,
    detached: true, // its own process group: Ctrl-C reaches us, we stop it; SIGKILL reaches its kernels
  });
  const node = { label, child, home, stderr: "", exited: false, exit: undefined };
  nodes.add(node);
  node.exitPromise = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      node.exited = true;
      node.exit = signal ?? code;
      resolve();
    }),
  );
  const started = performance.now();
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} not ready after 60 s`)), 60_000);
    child.stderr.on("data", (d) => {
      node.stderr = (node.stderr + d).slice(-200_000);
      const m = readyRe.exec(node.stderr);
      if (m) {
        clearTimeout(timer);
        node.startupMs = performance.now() - started;
        resolve(m);
      }
    });
    node.exitPromise.then(() => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${node.exit}) before it was ready`));
    });
  });
  return { node, ready };
}

async function stopNode(node) {
  if (!node.exited) {
    try {
      process.kill(node.child.pid, "SIGTERM");
    } catch {
      /* gone */
    }
    await Promise.race([node.exitPromise, sleep(10_000)]);
    if (!node.exited) {
      node.killed = true;
      try {
        process.kill(-node.child.pid, "SIGKILL");
      } catch {
        /* gone */
      }
      await Promise.race([node.exitPromise, sleep(5_000)]);
    }
  }
  nodes.delete(node);
}

/** Processes still running whose command line names one of these (our temporary) homes. */
function leftovers(homes) {
  let out = "";
  try {
    out = execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" });
  } catch {
    return [];
  }
  return out
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(.*)$/.exec(line))
    .filter((m) => m && Number(m[1]) !== process.pid && homes.some((h) => m[2].includes(h)))
    .map((m) => ({ pid: Number(m[1]), args: m[2] }));
}

// ---- Postgres: a fresh database per cluster configuration, dropped after (also on failure).
const databases = new Set();
async function withAdmin(fn) {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
async function createDatabase() {
  const name = `nbhook_bench_${randomBytes(5).toString("hex")}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  databases.add(name);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}
async function dropDatabase(name) {
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  databases.delete(name);
}

let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    await Promise.all([...nodes].map(stopNode));
    for (const name of [...databases]) {
      await dropDatabase(name).catch((err) =>
        process.stderr.write(`bench: could not drop database ${name}: ${err.message}\n`),
      );
    }
    rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}: stopping the nodes…\n`);
    cleanup().finally(() => process.exit(130));
  });
}

// ---- HTTP: a lean keep-alive client (fetch adds about 0.4 ms per call): we time the server.
function get(url, agent) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: CALL_TIMEOUT_MS }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${CALL_TIMEOUT_MS / 1000} s`)));
    req.on("error", reject);
  });
}

/** Failures of one phase: count by status (or error), and the first few answers. */
const newFailures = () => ({ count: 0, byStatus: {}, samples: [] });
function addFailure(failures, status, detail) {
  failures.count++;
  failures.byStatus[status] = (failures.byStatus[status] ?? 0) + 1;
  if (failures.samples.length < 3) failures.samples.push(`${status}: ${String(detail).slice(0, 300)}`);
}

async function call(hook, agent, failures) {
  const t0 = performance.now();
  let res;
  try {
    res = await get(hook, agent);
  } catch (err) {
    addFailure(failures, err.code ?? "error", err.message);
    return undefined;
  }
  const total = performance.now() - t0;
  if (res.status !== 200 || !res.body.includes('"ok": true')) {
    addFailure(failures, res.status, res.body);
    return undefined;
  }
  const timing = String(res.headers["server-timing"] ?? "");
  const kernel = Number(/kernel;dur=([\d.]+)/.exec(timing)?.[1]);
  const cells = Number(/cells;dur=([\d.]+)/.exec(timing)?.[1]);
  return { total, kernelSide: kernel + cells };
}

async function deploy(apiUrl, token, mode, nbPath) {
  const res = await fetch(`${apiUrl}/api/webhooks`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ path: nbPath, notebook, mode }),
  });
  const text = await res.text();
  if (res.status !== 201 && res.status !== 200)
    throw new Error(`POST /api/webhooks (${mode}) answered ${res.status}: ${text.slice(0, 500)}`);
  const body = JSON.parse(text);
  if (body.webhook?.mode !== mode) throw new Error(`deployed with mode ${body.webhook?.mode}, not ${mode}`);
  return new URL(body.webhook.url, apiUrl).toString();
}

/** N clients back to back until the time or the count runs out; calls/s = answered 200 / elapsed. */
async function load(hook, clients, seconds, maxCalls, failures) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let started = 0;
  const latencies = [];
  const client = async () => {
    while (performance.now() < deadline && started < maxCalls) {
      started++;
      const r = await call(hook, agent, failures);
      if (r) latencies.push(r.total);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const elapsed = performance.now() - t0;
  agent.destroy();
  return {
    rps: (latencies.length / elapsed) * 1000,
    calls: started,
    ok: latencies.length,
    p50: pct(latencies, 50),
  };
}

async function measureMode(apiUrl, token, { mode, path: nbPath }) {
  const result = { mode, failures: newFailures() };
  const calls = mode === "reuse" ? CALLS : Math.ceil(CALLS / 2);
  const hook = await deploy(apiUrl, token, mode, nbPath);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    let warmOk = 0;
    for (let i = 0; i < WARMUP; i++) if (await call(hook, agent, result.failures)) warmOk++;
    if (WARMUP > 0 && warmOk === 0) {
      result.error = `every warm-up call failed (${WARMUP})`;
      return result;
    }
    const latencies = [];
    const kernelSide = [];
    const overheads = [];
    const t0 = performance.now();
    for (let i = 0; i < calls && performance.now() - t0 < SEQUENTIAL_BUDGET_MS; i++) {
      const r = await call(hook, agent, result.failures);
      if (!r) continue;
      latencies.push(r.total);
      if (Number.isFinite(r.kernelSide)) {
        kernelSide.push(r.kernelSide);
        overheads.push(r.total - r.kernelSide);
      }
    }
    Object.assign(result, {
      calls: latencies.length,
      p50: pct(latencies, 50),
      p95: pct(latencies, 95),
      kernel50: pct(kernelSide, 50),
      overhead50: pct(overheads, 50),
    });
    progress(`    one client: ${latencies.length} calls, p50 ${ms(result.p50)} ms`);
    if (mode === "reuse") {
      // One unmeasured round of concurrent calls first: every worker gets its reuse kernel, so the
      // measured load does not include their start.
      const burst = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
      await Promise.all(Array.from({ length: CLIENTS }, () => call(hook, burst, result.failures)));
      burst.destroy();
    }
    result.load = await load(hook, CLIENTS, SECONDS, MAX_LOAD_CALLS, result.failures);
    progress(`    ${CLIENTS} clients: ${result.load.ok} calls, ${result.load.rps.toFixed(1)} calls/s`);
    return result;
  } finally {
    agent.destroy();
  }
}

const sizing = ["--pool", POOL, "--max-runs", MAX_RUNS];
const SERVE_READY = /serving on (http:\/\/\S+)[^\n]*\n(?:.*\n)*?nbhook: API token in [^\n]*: (\S+)\n/;

async function measureConfig(config) {
  const out = { config, modes: [], nodes: [], startup: [] };
  const homes = [];
  const home = (label) => {
    const dir = mkdtempSync(path.join(work, `${config.key}-${label}-`));
    homes.push(dir);
    return dir;
  };
  let db;
  const started = [];
  try {
    let api;
    if (config.workers === 0) {
      api = startNode(
        "embedded server",
        ["serve", "--host", "127.0.0.1", "--port", "0", "-q", ...sizing],
        SERVE_READY,
        home("server"),
      );
      started.push(api.node);
    } else {
      db = await createDatabase();
      api = startNode(
        "API node",
        ["serve", "--database", db.url, "--no-worker", "--host", "127.0.0.1", "--port", "0", "-q"],
        SERVE_READY,
        home("api"),
      );
      started.push(api.node);
    }
    const [, apiUrl, token] = await api.ready;
    // Workers once the API node has migrated the database (they would take turns anyway).
    const workers = Array.from({ length: config.workers }, (_, i) =>
      startNode(
        `worker ${i + 1}`,
        ["worker", "--database", db.url, "-q", ...sizing],
        /nbhook: worker \S+ \(/,
        home(`worker${i + 1}`),
      ),
    );
    started.push(...workers.map((w) => w.node));
    await Promise.all(workers.map((w) => w.ready));
    out.startup = started.map((n) => `${n.label} ${(n.startupMs / 1000).toFixed(1)} s`);
    await sleep(2000); // let the pools (and prepared kernels) fill
    for (const mode of MODES) {
      progress(`  ${mode.mode}…`);
      try {
        out.modes.push(await measureMode(apiUrl, token, mode));
      } catch (err) {
        out.modes.push({ mode: mode.mode, failures: newFailures(), error: err.message });
      }
      const dead = started.filter((n) => n.exited);
      if (dead.length) {
        out.error = `${dead.map((n) => `${n.label} exited (${n.exit})`).join(", ")} during the run`;
        break;
      }
    }
  } catch (err) {
    out.error = err.message;
  } finally {
    progress("  stopping the nodes…");
    await Promise.all(started.map(stopNode));
    out.nodes = started.map((n) => ({
      label: n.label,
      stderr: n.stderr,
      exit: n.exit,
      killed: n.killed,
    }));
    // Processes of these homes still running once the nodes exited (kernels, fork servers); they
    // are given 5 s to go, then reported and killed (by pid).
    let left = leftovers(homes);
    for (let i = 0; i < 10 && left.length; i++) {
      await sleep(500);
      left = leftovers(homes);
    }
    if (left.length) {
      out.leftovers = left;
      for (const p of left) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    }
    if (db) await dropDatabase(db.name).catch((err) => (out.dropError = err.message));
  }
  return out;
}

// ---- the run
let results = [];
let exitCode = 0;
try {
  for (const config of CONFIGS) {
    progress(`${config.name}…`);
    results.push(await measureConfig(config));
  }
} catch (err) {
  process.stderr.write(`bench: ${err.stack ?? err}\n`);
  exitCode = 1;
} finally {
  await cleanup();
  progress("done");
}

// ---- the report
const row = (key, mode) => results.find((r) => r.config.key === key)?.modes.find((m) => m.mode === mode);
const failedCalls = (m) => m.failures.count;
const head = [
  "configuration",
  "mode",
  "p50 ms",
  "p95 ms",
  "kernel+cells p50 ms",
  "overhead p50 ms",
  `calls/s (${CLIENTS} clients)`,
  `p50 ms (${CLIENTS} clients)`,
  `calls (${CLIENTS} clients)`,
  "failed",
];
const rows = [];
for (const r of results) {
  for (const m of r.modes) {
    rows.push([
      r.config.name,
      m.mode,
      ms(m.p50),
      ms(m.p95),
      ms(m.kernel50),
      ms(m.overhead50),
      m.load ? m.load.rps.toFixed(1) : "n/a",
      m.load ? ms(m.load.p50) : "n/a",
      m.load ? String(m.load.calls) : "n/a",
      m.error ? `${failedCalls(m)} (${m.error})` : String(failedCalls(m)),
    ]);
  }
  if (!r.modes.length) rows.push([r.config.name, "-", ...Array(7).fill("n/a"), `did not run: ${r.error}`]);
}
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");

const date = new Date().toISOString().slice(0, 10);
const conditions =
  `${os.cpus().length} cores, ${date}; --pool ${POOL} --max-runs ${MAX_RUNS} for the embedded server and each worker; ` +
  `one client: ${CALLS} calls back to back in reuse mode, ${Math.ceil(CALLS / 2)} in isolated mode, after ${WARMUP} warm-up; ` +
  `${CLIENTS} clients: ${SECONDS} s`;
console.log(`\nnbhook cluster benchmark, trivial notebook (${conditions})\n`);
console.log(line(head));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const x of rows) console.log(line(x));

const notes = [];
for (const { mode } of MODES) {
  const base = row("embedded", mode);
  for (const key of ["w1", "w2"]) {
    const m = row(key, mode);
    if (!base?.p50 || !m?.p50) continue;
    const name = CONFIGS.find((c) => c.key === key).name;
    notes.push(
      `cluster cost, ${mode}, ${name}: ${signed(m.p50 - base.p50)} ms per call at p50 over embedded ` +
        `(overhead p50 ${signed(m.overhead50 - base.overhead50)} ms)`,
    );
  }
}
for (const { mode } of MODES) {
  const a = row("w1", mode);
  const b = row("w2", mode);
  if (a?.load?.rps && b?.load?.rps)
    notes.push(`2 workers / 1 worker throughput, ${mode}: ${(b.load.rps / a.load.rps).toFixed(2)}×`);
}
{
  // Reuse mode runs one call at a time (one kernel; in a cluster one serial job queue per webhook):
  // under load, 1 / calls/s is the time per call, handoff included.
  const base = row("embedded", "reuse");
  for (const key of ["w1", "w2"]) {
    const m = row(key, "reuse");
    if (!base?.load?.rps || !m?.load?.rps) continue;
    const name = CONFIGS.find((c) => c.key === key).name;
    notes.push(
      `reuse under load (one call at a time): ${ms(1000 / m.load.rps)} ms per call with ${name}, ` +
        `${ms(1000 / base.load.rps)} ms embedded (${signed(1000 / m.load.rps - 1000 / base.load.rps)} ms)`,
    );
  }
}
notes.push(
  "isolated mode: two workers keep twice the ready kernels (--pool each), which alone shortens back-to-back calls; " +
    "the overhead difference is the cluster's part",
  "reuse mode: a webhook's calls run one at a time across the cluster (one serial job queue, docs/scaling.md), " +
    "so a second worker cannot raise its throughput by design, on any machine",
  `on this ${os.cpus().length}-core machine every process (client, API node, workers, their kernels, Postgres) ` +
    "shares the same cores, so the 2-worker ratio cannot show the gain that workers on separate machines would give",
);
console.log("");
for (const n of notes) console.log(`- ${n}`);

console.log(`\nMarkdown (for docs/scaling.md):\n`);
console.log(`Trivial notebook; ${conditions}.\n`);
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map(() => "---").join("|")}|`);
for (const x of rows) console.log(`| ${x.join(" | ")} |`);
console.log("");
for (const n of notes) console.log(`- ${n}`);

// Failures: what failed, and what the nodes said. A failure of the benchmark (a node that did not
// start, a deploy or a call that did not answer 200, a database left) sets the exit code; a node
// that had to be SIGKILLed or left a process behind is a warning (nbhook's stop, not the numbers).
for (const r of results) {
  const bad = r.error || r.dropError || r.modes.some((m) => m.error || m.failures.count);
  const warn = r.leftovers || r.nodes.some((n) => n.killed || (n.exit !== 0 && n.exit !== undefined));
  if (r.startup.length) console.error(`\nbench: ${r.config.name}: ready in ${r.startup.join(", ")}`);
  if (!bad && !warn) continue;
  if (bad) exitCode = 1;
  console.error(`bench: ${r.config.name} ${bad ? "FAILED" : "WARNING"}${r.error ? `: ${r.error}` : ""}`);
  for (const m of r.modes) {
    if (!m.error && !m.failures.count) continue;
    console.error(
      `  ${m.mode}: ${m.error ?? ""} failed calls ${m.failures.count} by status ${JSON.stringify(m.failures.byStatus)}`,
    );
    for (const s of m.failures.samples) console.error(`    ${s}`);
  }
  if (r.dropError) console.error(`  could not drop its database: ${r.dropError}`);
  if (r.leftovers)
    console.error(
      `  processes still running 5 s after their node exited (killed): ${r.leftovers.map((p) => `${p.pid} ${p.args}`).join("; ")}`,
    );
  for (const n of r.nodes) {
    const tail = n.stderr.trimEnd().split("\n").slice(-30).join("\n    ");
    console.error(
      `  ${n.label} (exit ${n.exit}${n.killed ? ", SIGKILLed" : ""}) stderr, last lines:\n    ${tail}`,
    );
  }
}
process.exit(exitCode);
