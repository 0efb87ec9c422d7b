#!/usr/bin/env node
// Profile of the webhook server's own time per call (issue 11), not a test. Starts
// `node --cpu-prof dist/cli/main.js serve` on 127.0.0.1 with a fresh home, deploys the greet job
// (as bench/server.mjs does) with `nbhook add --mode reuse` (or --mode), makes --calls sequential
// keep-alive calls, stops the server (SIGTERM: the profile is written on exit) and prints the
// self time by function and by file, in ms per call, from the .cpuprofile.
// Usage: node bench/profile-server.mjs [--calls 400] [--mode reuse] [--root DIR] [--top 40] [--no-prof]
//   --no-prof: no profiler, only the latencies and the server's CPU time per call (/proc/PID/stat).
//   --root: the checkout whose dist/ is run (default: this one). Bounded: calls ≤ 2000, 60 s a call.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "400" },
    mode: { type: "string", default: "reuse" },
    root: { type: "string" },
    top: { type: "string", default: "40" },
    keep: { type: "string" },
    "no-prof": { type: "boolean", default: false },
  },
});
const CALLS = Math.max(1, Math.min(Number(values.calls), 2000));
const root = values.root ?? path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, "dist", "cli", "main.js");
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-profile-server-"));
const home = path.join(work, "home");
const profDir = path.join(work, "prof");

const cell = (source, tags) => ({
  cell_type: "code",
  id: Math.random().toString(16).slice(2, 10),
  metadata: tags ? { tags } : {},
  source,
  outputs: [],
  execution_count: null,
});
const nbFile = path.join(work, "greet.ipynb");
writeFileSync(
  nbFile,
  JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
    cells: [
      cell("import naas", ["setup"]),
      cell("name = 'world'", ["parameters"]),
      cell("naas.webhook.respond_json({'greeting': 'hello ' + name})"),
    ],
  }),
);

const child = spawn(
  "node",
  [
    ...(values["no-prof"] ? [] : ["--cpu-prof", "--cpu-prof-interval", "100", "--cpu-prof-dir", profDir]),
    cli,
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--home",
    home,
    "--pool",
    "2",
    "-q",
  ],
  { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NBHOOK_HOME: home } },
);
process.on("exit", () => child.kill("SIGKILL"));
let stderr = "";
const url = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 30_000);
  child.stderr.on("data", (d) => {
    stderr += d;
    const m = /serving on (http:\/\/\S+)/.exec(stderr);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  child.once("exit", (code) => reject(new Error(`server exited (${code}): ${stderr}`)));
});
const add = spawnSync("node", [cli, "add", nbFile, "--inline", "--mode", values.mode, "--url", url], {
  encoding: "utf8",
  env: { ...process.env, NBHOOK_HOME: home },
  timeout: 60_000,
});
if (add.status !== 0) throw new Error(`add failed: ${add.stderr}`);
const hook = add.stdout.trim();

/** The server process's CPU time (user + system) so far, in ms, from /proc/PID/stat. */
function cpuMs(pid, which = "both") {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  const [user, system] = [Number(fields[11]), Number(fields[12])]; // utime, stime: ticks of 1/100 s
  return ((which === "user" ? user : which === "system" ? system : user + system) * 1000) / 100;
}

/** CPU ms by thread id: [name, ms] from /proc/PID/task/TID/stat. */
function threadCpu(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
      const fields = text.slice(text.lastIndexOf(") ") + 2).split(" ");
      out.set(tid, [name, ((Number(fields[11]) + Number(fields[12])) * 1000) / 100]);
    } catch {
      // the thread ended
    }
  }
  return out;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = (u) =>
  new Promise((resolve, reject) => {
    const req = http.get(u, { agent, timeout: 60_000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });

await new Promise((r) => setTimeout(r, 3000));
for (let i = 0; i < 5; i++) await get(`${hook}?name=warm${i}`);
const totals = [];
const overheads = [];
const t0 = performance.now();
// The calls' window on the profile's clock (CLOCK_MONOTONIC, µs): start-up is left out.
const from = Number(process.hrtime.bigint() / 1000n);
const cpu0 = cpuMs(child.pid);
const sys0 = cpuMs(child.pid, "system");
const threads0 = threadCpu(child.pid);
for (let i = 0; i < CALLS; i++) {
  const s = performance.now();
  const res = await get(`${hook}?name=caller${i}`);
  const total = performance.now() - s;
  if (res.status !== 200 || !res.body.toString().includes(`hello caller${i}`)) {
    child.kill("SIGKILL");
    const log = stderr.split("\n").slice(-30).join("\n");
    throw new Error(
      `call ${i} failed: ${res.status} ${res.body.toString().slice(0, 2000)}\nserver log:\n${log}`,
    );
  }
  const timing = String(res.headers["server-timing"] ?? "");
  const kernel = Number(/kernel;dur=([\d.]+)/.exec(timing)?.[1]);
  const cells = Number(/cells;dur=([\d.]+)/.exec(timing)?.[1]);
  totals.push(total);
  if (Number.isFinite(kernel + cells)) overheads.push(total - kernel - cells);
}
const wall = performance.now() - t0;
const to = Number(process.hrtime.bigint() / 1000n);
const cpuPerCall = (cpuMs(child.pid) - cpu0) / CALLS;
const sysPerCall = (cpuMs(child.pid, "system") - sys0) / CALLS;
const threads1 = threadCpu(child.pid);
agent.destroy();
const exited = new Promise((r) => child.once("exit", r));
child.kill("SIGTERM");
const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
await exited;
clearTimeout(killer);

const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `${CALLS} calls (${values.mode}): p50 ${p50(totals).toFixed(2)} ms, overhead p50 ${p50(overheads).toFixed(2)} ms, ` +
    `wall ${(wall / CALLS).toFixed(2)} ms/call, server CPU ${cpuPerCall.toFixed(2)} ms/call (system ${sysPerCall.toFixed(2)}); load ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
);

// By thread name (zeromq's I/O "ZMQbg/…"), the main thread apart.
const byThread = new Map();
for (const [tid, [name, ms]] of threads1) {
  // The main thread is the one whose id is the process's; Node 20 leaves its other threads
  // (libuv's pool, V8's workers) named "node" too.
  const key = Number(tid) === child.pid ? "main" : name.replace(/\d+$/, "#");
  byThread.set(key, (byThread.get(key) ?? 0) + ms - (threads0.get(tid)?.[1] ?? 0));
}
console.log(
  "server CPU by thread (ms/call): " +
    [...byThread]
      .filter(([, ms]) => ms > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([name, ms]) => `${name} ${(ms / CALLS).toFixed(2)}`)
      .join(", "),
);
if (values["no-prof"]) {
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}
const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
if (!file) throw new Error("no profile written");
const prof = JSON.parse(readFileSync(path.join(profDir, file), "utf8"));
if (values.keep) writeFileSync(values.keep, JSON.stringify(prof));
// Self time per node: each sample weighs the time to the next one; only samples within the calls'
// window count, and idle time ("(idle)") is left out.
const counts = new Map(); // node id -> µs of self time within the calls' window
let at = prof.startTime;
prof.samples.forEach((id, i) => {
  at += prof.timeDeltas[i];
  const next = prof.timeDeltas[i + 1] ?? 0;
  if (at >= from && at <= to) counts.set(id, (counts.get(id) ?? 0) + next);
});
const byFn = new Map();
const byFile = new Map();
const short = (u) =>
  u
    .replace(/^file:\/\//, "")
    .replace(/.*\/node_modules\//, "nm:")
    .replace(/.*\/dist\//, "dist/");
let busy = 0;
for (const node of prof.nodes) {
  const n = counts.get(node.id) ?? 0;
  if (!n) continue;
  const cf = node.callFrame;
  if (cf.functionName === "(idle)") continue;
  busy += n;
  const f = short(cf.url || "(native)");
  const key = `${cf.functionName || "(anon)"} ${f}:${cf.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + n);
  const pkg = f.startsWith("nm:")
    ? f
        .split("/")
        .slice(0, f.startsWith("nm:@") ? 2 : 1)
        .join("/")
    : f;
  byFile.set(pkg, (byFile.get(pkg) ?? 0) + n);
}
const per = (n) => (n / 1000 / CALLS).toFixed(3);
console.log(`busy (not idle): ${per(busy)} ms/call`);
const TOP = Number(values.top);
console.log("\nself time by function (ms/call):");
for (const [k, n] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, TOP))
  console.log(`${per(n).padStart(7)}  ${k}`);
console.log("\nself time by file or package (ms/call):");
for (const [k, n] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, TOP))
  console.log(`${per(n).padStart(7)}  ${k}`);
rmSync(work, { recursive: true, force: true });
