#!/usr/bin/env node
// Benchmark of the webhook server (issues: warm kernels; 11, isolated calls at shared-kernel speed),
// not a test. For each configuration it starts `nbhook serve` on 127.0.0.1 with a fresh home,
// deploys the job's notebook with `nbhook add --mode …`, and measures in the same run:
//   - latency p50/p95/p99 with one client (sequential calls, back to back), then paced (250 ms);
//   - the kernel's own share, from the Server-Timing header (getting/preparing a kernel, the cells);
//   - eight concurrent clients (autocannon) for --soak seconds: calls/s, failed calls, 5xx, and the
//     server's RSS sampled every second (start / max / end);
//   - memory: the private memory (USS = Private_Clean + Private_Dirty of /proc/PID/smaps_rollup) of
//     the kernel processes the server holds when idle, and of its fork server;
//   - the floor: the same executes a reuse call runs (the parameters cell, the injected cell, the
//     respond cell), back to back on one warm kernel driven by Python's jupyter_client
//     (/usr/bin/python3), and the ratio of reuse p50 to it.
// Jobs (--job): greet (default, issue 11): `import naas` tagged `setup`, a `parameters` cell
// `name = 'world'`, `naas.webhook.respond_json({'greeting': 'hello ' + name})`, called as
// `GET ?name=…` (a different name per call); realistic: `import json; from nbhook import webhook`
// (setup), `n = 0` (parameters), respond_json, called with `?n=…`; trivial: the helper's import
// (setup) and respond_json, no parameters; pandas: greet with a heavy setup cell (`import pandas as pd`
// tagged `setup`), what preparing a setup-mode kernel costs when the setup is not trivial.
// Configurations (--only, comma-separated; default pool2,setup,reuse,floor): pool0 (a spawned
// kernel per call, NBHOOK_FORKSERVER=0: the Naas way; adds the `jupyter nbconvert --execute`
// comparison), pool0f (a forked kernel per call), pool2 (isolated, --pool 2), setup, reuse, floor.
// Usage: npm run bench [-- --job greet|realistic|trivial|pandas --calls 40 --soak 15 --only pool2,reuse]
//   --root DIR: run another checkout's build (e.g. a worktree of main for a "before"); alternate
//   `node bench/server.mjs --root before` and `node bench/server.mjs` runs: this machine's speed
//   drifts by ±15 % within minutes, so only interleaved runs compare.
//   --soak N: seconds of the eight-client phase per configuration (default 15; the issue's memory
//   check is --soak 60). --seconds is the old name of --soak. Every loop is bounded (calls ≤ 500,
//   soak ≤ 300 s, 60 s per call); servers and kernels are stopped before the script exits.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import http from "node:http";
import autocannon from "autocannon";
import { cell, JOBS, notebookOf } from "./jobs.mjs";

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "40" },
    soak: { type: "string" },
    seconds: { type: "string" },
    only: { type: "string", default: "pool2,setup,reuse,floor" },
    job: { type: "string" },
    notebook: { type: "string" },
    root: { type: "string" },
  },
});
const JOB = values.job ?? values.notebook ?? "greet";
if (!["greet", "realistic", "trivial", "pandas"].includes(JOB)) {
  console.error(`bench: unknown --job ${JOB}; use greet, realistic, trivial or pandas`);
  process.exit(2);
}
const ONLY = values.only.split(",").map((k) => k.trim());
const CALLS = Math.max(1, Math.min(Number(values.calls), 500));
const PACE_MS = 250;
const SECONDS = Math.max(1, Math.min(Number(values.soak ?? values.seconds ?? 15), 300));
// --root: the checkout whose dist/ (and python/) is run, built beforehand; default this one.
const root = values.root
  ? path.resolve(values.root)
  : path.dirname(path.dirname(fileURLToPath(import.meta.url)));
if (!existsSync(path.join(root, "dist", "cli", "main.js"))) {
  console.error(
    `bench: no ${path.join(root, "dist", "cli", "main.js")}; build that checkout first (npm run build)`,
  );
  process.exit(2);
}
const cli = path.join(root, "dist", "cli", "main.js");
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-bench-server-"));

const CONFIGS = [
  // The Naas way: a kernel spawned per call (fork server off), the baseline of the ratios.
  {
    key: "pool0",
    name: "pool 0, spawned kernel per call (the Naas way)",
    pool: 0,
    mode: "isolated",
    calls: Math.min(CALLS, 20),
    env: { NBHOOK_FORKSERVER: "0" },
  },
  { key: "pool0f", name: "pool 0, forked kernel per call", pool: 0, mode: "isolated", calls: CALLS },
  { key: "pool2", name: "pool 2 (isolated)", pool: 2, mode: "isolated", calls: CALLS },
  { key: "setup", name: "setup mode", pool: 2, mode: "setup", calls: CALLS },
  { key: "reuse", name: "reuse mode", pool: 2, mode: "reuse", calls: CALLS * 5 },
].filter((c) => ONLY.includes(c.key));

const job = JOBS[JOB];
const notebook = notebookOf(job);
const query = job.query;
const nbFile = path.join(work, `${JOB}.ipynb`);
writeFileSync(nbFile, JSON.stringify(notebook));

const pct = (xs, p) => {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const ms = (x) => (x === undefined || !Number.isFinite(x) ? "n/a" : x < 100 ? x.toFixed(1) : x.toFixed(0));
const mib = (x) => (x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(1));
const rssMiB = (pid) => {
  try {
    return Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" }).trim()) / 1024;
  } catch {
    return NaN;
  }
};
/** Private memory (USS) in MiB: Private_Clean + Private_Dirty of /proc/PID/smaps_rollup. */
const ussMiB = (pid) => {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
    return (kb("Private_Clean") + kb("Private_Dirty")) / 1024;
  } catch {
    return NaN;
  }
};
const childPids = (pid) => {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};
const argsOf = (pid) => {
  try {
    return execFileSync("ps", ["-o", "args=", "-p", String(pid)], { encoding: "utf8" });
  } catch {
    return "";
  }
};
/**
 * The kernel processes under the server (its children, and the children of its fork servers; a
 * `setpriv` wrapper is looked through), and its fork servers.
 */
function processesOf(pid) {
  const kernels = [];
  const forkservers = [];
  const visit = (p, depth) => {
    for (const child of childPids(p)) {
      const args = argsOf(child);
      if (/^\s*\S*setpriv\b/.test(args) && depth < 3) visit(child, depth + 1);
      else if (args.includes("_forkserver")) {
        // A fork server's children are kernels (they keep its command line).
        forkservers.push(child);
        kernels.push(...childPids(child));
      } else if (/python|kernel/.test(args)) kernels.push(child);
    }
  };
  visit(pid, 0);
  return { kernels, forkservers };
}
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);

const servers = new Set();
function stopAll() {
  for (const child of servers) child.kill("SIGKILL");
}
process.on("exit", stopAll);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    stopAll();
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
}

async function startServer(config) {
  const home = path.join(work, `home-${config.key}`);
  const child = spawn(
    "node",
    [cli, "serve", "--host", "127.0.0.1", "--port", "0", "--home", home, "--pool", String(config.pool), "-q"],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, NBHOOK_HOME: home, ...config.env },
    },
  );
  servers.add(child);
  child.once("exit", () => servers.delete(child));
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
  const add = spawnSync("node", [cli, "add", nbFile, "--inline", "--mode", config.mode, "--url", url], {
    encoding: "utf8",
    env: { ...process.env, NBHOOK_HOME: home },
    timeout: 60_000,
  });
  if (add.status !== 0) throw new Error(`add failed: ${add.stderr}`);
  return { child, url, hook: add.stdout.trim() };
}

async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

// A lean keep-alive HTTP client (fetch adds about 0.4 ms per call here): we time the server.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: 60_000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

let failedSequential = 0;
async function call(hook, n) {
  const t0 = performance.now();
  const res = await get(`${hook}${query(n)}`);
  const body = res.body;
  const total = performance.now() - t0;
  const timing = String(res.headers["server-timing"] ?? "");
  // The kernel's own time: getting and preparing it (a start, for pool 0), then running the cells.
  const kernel = Number(/kernel;dur=([\d.]+)/.exec(timing)?.[1]);
  const cells = Number(/cells;dur=([\d.]+)/.exec(timing)?.[1]);
  if (res.status !== 200 || !body.includes(job.expect(n))) {
    failedSequential++;
    if (failedSequential > 5) throw new Error(`calls fail: ${res.status} ${body.slice(0, 200)}`);
    process.stderr.write(`bench: call failed: ${res.status} ${body.slice(0, 200)}\n`);
  }
  return { total, kernelSide: kernel + cells, cells };
}

async function measure(config) {
  const server = await startServer(config);
  try {
    failedSequential = 0;
    await new Promise((r) => setTimeout(r, 3000)); // let the pool (and prepared kernels) fill
    for (let i = 0; i < 3; i++) await call(server.hook, 100_000 + i); // warm-up
    const latencies = [];
    const overheads = [];
    const cells = [];
    for (let i = 0; i < config.calls; i++) {
      const r = await call(server.hook, i);
      latencies.push(r.total);
      if (Number.isFinite(r.kernelSide)) overheads.push(r.total - r.kernelSide);
      if (Number.isFinite(r.cells)) cells.push(r.cells);
    }
    // The same client with a pause between calls (PACE_MS), the pace a pool of 2 refills at.
    const paced = [];
    for (let i = 0; i < Math.min(config.calls, 30); i++) {
      await new Promise((r) => setTimeout(r, PACE_MS));
      paced.push((await call(server.hook, 1000 + i)).total);
    }
    await new Promise((r) => setTimeout(r, 2000)); // idle: pool refilled
    const procs = processesOf(server.child.pid);
    const kernelUss = procs.kernels.map(ussMiB).filter(Number.isFinite);
    const kernelRss = procs.kernels.map(rssMiB).filter(Number.isFinite);
    const forkUss = procs.forkservers.map(ussMiB).filter(Number.isFinite);
    // Eight clients for SECONDS, each call with its own name; the server's RSS every second.
    const rss = [rssMiB(server.child.pid)];
    const sampler = setInterval(() => rss.push(rssMiB(server.child.pid)), 1000);
    let counter = 0;
    const load = await autocannon({
      url: server.hook,
      connections: 8,
      duration: SECONDS,
      timeout: 60,
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            path: `${new URL(server.hook).pathname}${query(10_000 + counter++)}`,
          }),
        },
      ],
    });
    clearInterval(sampler);
    rss.push(rssMiB(server.child.pid));
    return {
      config,
      p50: pct(latencies, 50),
      p95: pct(latencies, 95),
      p99: pct(latencies, 99),
      paced50: pct(paced, 50),
      paced95: pct(paced, 95),
      overhead: pct(overheads, 50),
      cells50: pct(cells, 50),
      rps: load.requests.average,
      total8: load.requests.total,
      failed: failedSequential + load.errors + load.timeouts + load.non2xx,
      status5xx: load["5xx"],
      rss: {
        start: rss[0],
        max: Math.max(...rss.filter(Number.isFinite)),
        end: rss[rss.length - 1],
        samples: rss,
      },
      kernelUss: mean(kernelUss),
      kernelUssMax: kernelUss.length ? Math.max(...kernelUss) : undefined,
      kernelRss: mean(kernelRss),
      kernels: kernelUss.length,
      forkUss: mean(forkUss),
    };
  } finally {
    await stopServer(server.child);
  }
}

// The floor: the executes of one reuse call (parameters cell, injected cell as nbhook writes it,
// respond cell) on one warm kernel with jupyter_client, each waiting for its reply and idle.
const pyFloor = String.raw`
import json, os, sys, time
from jupyter_client.manager import start_new_kernel
rounds = int(sys.argv[1])
km, kc = start_new_kernel(kernel_name="python3")
def run(code):
    mid = kc.execute(code)
    reply = kc.get_shell_msg(timeout=20)
    while reply["parent_header"].get("msg_id") != mid:
        reply = kc.get_shell_msg(timeout=20)
    if reply["content"]["status"] != "ok":
        raise SystemExit("floor: execute failed: %r" % (reply["content"],))
    while True:
        m = kc.get_iopub_msg(timeout=20)
        if m["parent_header"].get("msg_id") == mid and m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return
cells = json.loads(os.environ["BENCH_CELLS"])
try:
    for code in cells["setup"]:
        run(code)
    times = []
    for i in range(20 + rounds):
        t0 = time.perf_counter()
        for code in cells["call"]:
            run(code.replace("{N}", str(i)))
        if i >= 20:
            times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps(times))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    sys.stdout.flush()
    os._exit(0)  # no KernelClient.__del__ noise at interpreter exit
`;

function floorCells() {
  const setup = job.cells.filter((c) => c.metadata.tags?.includes("setup")).map((c) => c.source);
  const rest = job.cells.filter((c) => !c.metadata.tags?.includes("setup"));
  const callCells = [];
  for (const c of rest) {
    callCells.push(c.source);
    if (c.metadata.tags?.includes("parameters")) {
      // The injected cell as nbhook writes it for this job (see a saved notebook).
      const [key] = /\?(\w+)=/.exec(query(0))?.slice(1) ?? [];
      const value = JOB === "greet" || JOB === "pandas" ? '"caller{N}"' : "{N}";
      callCells.push(
        [
          "# Parameters",
          "inline = True",
          `params = {"${key}": "${JOB === "greet" || JOB === "pandas" ? "caller{N}" : "{N}"}"}`,
          "body = {}",
          'headers = {"host": "127.0.0.1:8080", "user-agent": "bench", "accept": "*/*"}',
          `${key} = ${value}`,
          "",
        ].join("\n"),
      );
    }
  }
  return { setup, call: callCells };
}

function measureFloor(rounds) {
  const ipydir = path.join(work, "floor-ipython", "profile_default");
  mkdirSync(ipydir, { recursive: true });
  // The same IPython settings as nbhook's kernels (src/kernel/launch.ts): no command history.
  writeFileSync(
    path.join(ipydir, "ipython_kernel_config.json"),
    JSON.stringify({ HistoryManager: { enabled: false } }),
  );
  const out = execFileSync("/usr/bin/python3", ["-c", pyFloor, String(rounds)], {
    encoding: "utf8",
    timeout: 180_000,
    env: {
      ...process.env,
      BENCH_CELLS: JSON.stringify(floorCells()),
      IPYTHONDIR: path.dirname(ipydir),
      PYDEVD_DISABLE_FILE_VALIDATION: "1",
      PYTHONPATH: path.join(root, "python"),
    },
  });
  const times = JSON.parse(out.trim().split("\n").pop());
  return { times, p50: pct(times, 50) };
}

function nbconvertMedian(runs = 5) {
  if (!existsSync("/usr/bin/jupyter-nbconvert")) return undefined;
  const plain = {
    ...notebook,
    cells: [cell("import json\nn = 0"), cell("print(json.dumps({'ok': True, 'n': n}))")],
  };
  const file = path.join(work, "plain.ipynb");
  writeFileSync(file, JSON.stringify(plain));
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(
      "/usr/bin/jupyter-nbconvert",
      ["--to", "notebook", "--execute", file, "--output", "plain.out.ipynb", "--log-level=ERROR"],
      {
        cwd: work,
        env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: "1" },
        timeout: 60_000,
      },
    );
    if (r.status !== 0) return undefined;
    times.push(performance.now() - t0);
  }
  return pct(times, 50);
}

// The floor runs before and after the servers (half the rounds each, pooled): the machine's load
// changes during a run, and the ratio reuse / floor should not depend on when each was measured.
const floorTimes = [];
const floorRounds = Math.min(CALLS * 5, 1000);
const runFloor = () => {
  process.stderr.write("bench: floor (jupyter_client, one warm kernel)…\n");
  const f = measureFloor(Math.ceil(floorRounds / 2));
  floorTimes.push(...f.times);
  return f.p50;
};
const floorP50s = [];
if (ONLY.includes("floor")) floorP50s.push(runFloor());
const results = [];
try {
  for (const config of CONFIGS) {
    process.stderr.write(`bench: ${config.name}…\n`);
    results.push(await measure(config));
  }
} catch (err) {
  stopAll();
  rmSync(work, { recursive: true, force: true });
  throw err;
}
let floor;
if (ONLY.includes("floor")) {
  floorP50s.push(runFloor());
  floor = {
    p50: pct(floorTimes, 50),
    p95: pct(floorTimes, 95),
    p99: pct(floorTimes, 99),
    n: floorTimes.length,
    executes: floorCells().call.length,
    before: floorP50s[0],
    after: floorP50s[1],
  };
}
const nbconvert = ONLY.includes("pool0") ? nbconvertMedian() : undefined;
const base = results.find((r) => r.config.key === "pool0");
const find = (k) => results.find((r) => r.config.key === k);

console.log(
  `\n## nbhook server benchmark, ${JOB} job (${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)})\n`,
);
console.log(
  `One client: ${CALLS} sequential calls back to back (20 for pool 0; ${CALLS * 5} for reuse), then 30 paced ${PACE_MS} ms apart. Eight clients: autocannon, ${SECONDS} s, server RSS sampled every second.\n`,
);
console.log(
  "| configuration | p50 ms | p95 ms | p99 ms | paced p50 / p95 ms | cells p50 ms (Server-Timing) | overhead p50 ms | calls/s (8 clients) | failed / 5xx | server RSS MiB start / max / end | kernel USS MiB mean (max, n) | kernel RSS MiB | fork server USS MiB |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of results) {
  console.log(
    `| ${r.config.name} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} | ${ms(r.paced50)} / ${ms(r.paced95)} | ${ms(r.cells50)} | ${ms(r.overhead)} | ${r.rps.toFixed(1)} | ${r.failed} / ${r.status5xx} | ${r.rss.start.toFixed(0)} / ${r.rss.max.toFixed(0)} / ${r.rss.end.toFixed(0)} | ${r.kernels ? `${mib(r.kernelUss)} (${mib(r.kernelUssMax)}, ${r.kernels})` : "n/a"} | ${r.kernels ? r.kernelRss.toFixed(0) : "n/a"} | ${mib(r.forkUss)} |`,
  );
}
if (floor) {
  console.log(
    `| floor: ${floor.executes} execute${floor.executes === 1 ? "" : "s"} on one warm kernel, jupyter_client | ${ms(floor.p50)} | ${ms(floor.p95)} | ${ms(floor.p99)} | | | | n/a (one kernel, serial) | 0 / 0 | | | | |`,
  );
  console.log(
    `\nFloor: ${floor.n} rounds, half before the servers (p50 ${ms(floor.before)} ms) and half after (p50 ${ms(floor.after)} ms), pooled.`,
  );
}
// The RSS trend under eight clients, every tenth of the phase: bounded or still growing.
for (const r of results) {
  const xs = r.rss.samples;
  const marks = Array.from(
    { length: 11 },
    (_, i) => xs[Math.min(xs.length - 1, Math.round((i * (xs.length - 1)) / 10))],
  );
  console.log(
    `\nServer RSS under 8 clients, ${r.config.key}, every ${(SECONDS / 10).toFixed(1)} s (MiB): ${marks.map((x) => x.toFixed(0)).join(" ")}`,
  );
}
if (base && results.length > 1) {
  console.log(
    `\nAgainst pool 0 (spawned): ${results
      .filter((r) => r !== base)
      .map(
        (r) =>
          `${r.config.key} p50 ${(base.p50 / r.p50).toFixed(1)}× faster, ${(r.rps / base.rps).toFixed(1)}× the calls/s`,
      )
      .join("; ")}.`,
  );
}
if (nbconvert !== undefined && base) {
  console.log(
    `\`jupyter nbconvert --execute\` per call: median ${ms(nbconvert)} ms; pool 0 p50 is ${(nbconvert / base.p50).toFixed(1)}× faster.`,
  );
}
if (floor && find("reuse")) {
  console.log(`\nreuse p50 / floor p50 = ${(find("reuse").p50 / floor.p50).toFixed(2)} (goal ≤ 1.3).`);
}
// The goals of issue 11 (docs/performance.md).
const goals = [];
const verdict = (ok) => (ok ? "PASS" : "MISS");
for (const k of ["pool2", "setup"]) {
  const r = find(k);
  if (r)
    goals.push(
      `${k} p50 ≤ 25 ms: ${verdict(r.p50 <= 25)} (${ms(r.p50)})`,
      `${k} ≥ 40 calls/s: ${verdict(r.rps >= 40)} (${r.rps.toFixed(1)})`,
    );
}
const reuse = find("reuse");
if (reuse) {
  goals.push(
    `reuse p50 ≤ 8 ms: ${verdict(reuse.p50 <= 8)} (${ms(reuse.p50)})`,
    `reuse ≥ 150 calls/s: ${verdict(reuse.rps >= 150)} (${reuse.rps.toFixed(1)})`,
  );
  if (floor) goals.push(`reuse ≤ 1.3× floor: ${verdict(reuse.p50 / floor.p50 <= 1.3)}`);
}
const forked = results.filter((r) => r.config.key !== "pool0" && r.kernels);
if (forked.length) {
  const worst = Math.max(...forked.map((r) => r.kernelUssMax));
  goals.push(`forked kernel USS ≤ 20 MiB: ${verdict(worst <= 20)} (max ${mib(worst)})`);
}
goals.push(
  `no failed call and no 5xx: ${verdict(results.every((r) => r.failed === 0 && r.status5xx === 0))}`,
);
console.log(`\nGoals (issue 11): ${goals.join("; ")}`);
rmSync(work, { recursive: true, force: true });
