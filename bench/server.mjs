#!/usr/bin/env node
// Benchmark of the webhook server (issue: warm kernels), not a test. For each configuration it
// starts `nbhook serve` on loopback with a fresh home, deploys a trivial notebook that answers
// with respond_json, and measures in the same run:
//   - latency p50/p95/p99 with one client (sequential calls);
//   - throughput with 8 concurrent clients (autocannon, fixed duration), failures and 5xx;
//   - server overhead per call: client latency minus the kernel's own time (getting a kernel —
//     a start for pool 0 —, preparing it and running the cells), which the server reports in
//     its Server-Timing header;
//   - memory: server RSS and RSS per idle pooled kernel.
// Ratios are against pool 0 (a cold kernel per call, the Naas way), and pool 0 against
// `jupyter nbconvert --execute` run per call, all measured in this run (the machines are noisy).
// Usage: npm run bench [-- --calls 40 --seconds 10 --only pool2,reuse --notebook trivial|realistic]
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import http from "node:http";
import autocannon from "autocannon";

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "40" },
    seconds: { type: "string", default: "10" },
    only: { type: "string" },
    notebook: { type: "string", default: "trivial" },
  },
});
const CALLS = Math.min(Number(values.calls), 500);
const PACE_MS = 250;
const SECONDS = Math.min(Number(values.seconds), 60);
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
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
].filter((c) => !values.only || values.only.split(",").includes(c.key));

// The notebooks. trivial: the helper's import tagged `setup` (ignored in isolated mode) and the
// answer, called without parameters. realistic: the same plus a parameters cell, called with
// `?n=…` (so a call also runs the defaults and the injected cell).
const cell = (source, tags) => ({
  cell_type: "code",
  id: Math.random().toString(16).slice(2, 10),
  metadata: tags ? { tags } : {},
  source,
  outputs: [],
  execution_count: null,
});
const notebook = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
  cells:
    values.notebook === "realistic"
      ? [
          cell("import json\nfrom nbhook import webhook", ["setup"]),
          cell("n = 0", ["parameters"]),
          cell("webhook.respond_json({'ok': True, 'n': n})"),
        ]
      : [cell("from nbhook import webhook", ["setup"]), cell("webhook.respond_json({'ok': True})")],
};
const query = (n) => (values.notebook === "realistic" ? `?n=${n}` : "");
const nbFile = path.join(work, "trivial.ipynb");
writeFileSync(nbFile, JSON.stringify(notebook));

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const ms = (x) => (x === undefined ? "n/a" : x < 100 ? x.toFixed(1) : x.toFixed(0));
const rssMiB = (pid) => {
  try {
    return Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" }).trim()) / 1024;
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
/** Kernel processes under the server: its children, and the children of its fork server. */
const kernelPids = (pid) =>
  childPids(pid).flatMap((child) => (argsOf(child).includes("_forkserver") ? childPids(child) : [child]));

async function startServer(config) {
  const home = path.join(work, `home-${config.key}`);
  const child = spawn(
    "node",
    [cli, "serve", "--port", "0", "--home", home, "--pool", String(config.pool), "-q"],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, NBHOOK_HOME: home, ...config.env },
    },
  );
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
  });
  if (add.status !== 0) throw new Error(`add failed: ${add.stderr}`);
  return { child, url, hook: add.stdout.trim() };
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

async function call(hook, n) {
  const t0 = performance.now();
  const res = await get(`${hook}${query(n)}`);
  const body = res.body;
  const total = performance.now() - t0;
  const timing = String(res.headers["server-timing"] ?? "");
  // The kernel's own time: getting and preparing it (a start, for pool 0), then running the cells.
  const kernel = Number(/kernel;dur=([\d.]+)/.exec(timing)?.[1]);
  const cells = Number(/cells;dur=([\d.]+)/.exec(timing)?.[1]);
  if (res.status !== 200 || !body.includes('"ok": true'))
    throw new Error(`call failed: ${res.status} ${body.slice(0, 200)}`);
  return { total, kernelSide: kernel + cells };
}

async function measure(config) {
  const server = await startServer(config);
  try {
    await new Promise((r) => setTimeout(r, 3000)); // let the pool (and prepared kernels) fill
    for (let i = 0; i < 3; i++) await call(server.hook, i); // warm-up
    const latencies = [];
    const overheads = [];
    for (let i = 0; i < config.calls; i++) {
      const { total, kernelSide } = await call(server.hook, i);
      latencies.push(total);
      if (Number.isFinite(kernelSide)) overheads.push(total - kernelSide);
    }
    // The same client with a pause between calls (PACE_MS), the pace a pool of 2 refills at.
    const paced = [];
    for (let i = 0; i < Math.min(config.calls, 30); i++) {
      await new Promise((r) => setTimeout(r, PACE_MS));
      paced.push((await call(server.hook, i)).total);
    }
    await new Promise((r) => setTimeout(r, 2000)); // idle: pool refilled
    const serverRss = rssMiB(server.child.pid);
    const kernels = kernelPids(server.child.pid).map(rssMiB).filter(Number.isFinite);
    const load = await autocannon({
      url: `${server.hook}${query(1)}`,
      connections: 8,
      duration: SECONDS,
      timeout: 60,
    });
    return {
      config,
      p50: pct(latencies, 50),
      p95: pct(latencies, 95),
      p99: pct(latencies, 99),
      paced50: pct(paced, 50),
      paced95: pct(paced, 95),
      overhead: overheads.length ? pct(overheads, 50) : undefined,
      rps: load.requests.average,
      total8: load.requests.total,
      non2xx: load.non2xx,
      errors: load.errors + load.timeouts,
      status5xx: load["5xx"],
      serverRss,
      kernelRss: kernels.length ? kernels.reduce((a, b) => a + b, 0) / kernels.length : undefined,
      kernels: kernels.length,
    };
  } finally {
    server.child.kill("SIGTERM");
    await new Promise((r) => server.child.once("exit", r));
  }
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
      },
    );
    if (r.status !== 0) return undefined;
    times.push(performance.now() - t0);
  }
  return pct(times, 50);
}

const results = [];
for (const config of CONFIGS) {
  process.stderr.write(`bench: ${config.name}…\n`);
  results.push(await measure(config));
}
const nbconvert = nbconvertMedian();
const base = results.find((r) => r.config.key === "pool0");

console.log(
  `\n## nbhook server benchmark, ${values.notebook} notebook (${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)})\n`,
);
console.log(
  `One client: ${CALLS} sequential calls (20 for pool 0; ${CALLS * 5} for reuse). Eight clients: autocannon, ${SECONDS} s.\n`,
);
console.log(`Paced: the same client waiting ${PACE_MS} ms between calls (30 calls).\n`);
console.log(
  "| configuration | p50 ms | p95 ms | p99 ms | p50 vs pool 0 | paced p50 / p95 ms | overhead p50 ms | calls/s (8 clients) | vs pool 0 | failed / 5xx | server RSS MiB | RSS per idle kernel MiB |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of results) {
  const speedup = base ? `${(base.p50 / r.p50).toFixed(1)}× faster` : "";
  const tput = base ? `${(r.rps / base.rps).toFixed(1)}×` : "";
  console.log(
    `| ${r.config.name} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} | ${r.config.key === "pool0" ? "1×" : speedup} | ${ms(r.paced50)} / ${ms(r.paced95)} | ${ms(r.overhead)} | ${r.rps.toFixed(1)} | ${r.config.key === "pool0" ? "1×" : tput} | ${r.errors} / ${r.status5xx} | ${r.serverRss.toFixed(0)} | ${r.kernelRss === undefined ? "n/a" : `${r.kernelRss.toFixed(0)} (${r.kernels})`} |`,
  );
}
if (nbconvert !== undefined && base) {
  console.log(
    `\n\`jupyter nbconvert --execute\` per call: median ${ms(nbconvert)} ms; pool 0 p50 is ${(nbconvert / base.p50).toFixed(1)}× faster.`,
  );
}
const goals = [];
const find = (k) => results.find((r) => r.config.key === k);
if (find("pool2")) {
  goals.push(
    `pool p50 < 50 ms: back to back ${find("pool2").p50 < 50 ? "PASS" : "MISS"}, paced ${find("pool2").paced50 < 50 ? "PASS" : "MISS"}`,
  );
}
if (find("pool2") && base)
  goals.push(`pool > 20× faster than pool 0: ${base.p50 / find("pool2").p50 > 20 ? "PASS" : "MISS"}`);
if (find("reuse"))
  goals.push(
    `reuse p50 < 10 ms: ${find("reuse").p50 < 10 ? "PASS" : "MISS"}`,
    `reuse > 100 calls/s: ${find("reuse").rps > 100 ? "PASS" : "MISS"}`,
  );
const overheadAll = results.map((r) => r.overhead).filter((x) => x !== undefined);
if (overheadAll.length)
  goals.push(`server overhead p50 < 3 ms (best config): ${Math.min(...overheadAll) < 3 ? "PASS" : "MISS"}`);
goals.push(
  `no failed call and no 5xx at 8 clients: ${results.every((r) => r.errors === 0 && r.status5xx === 0) ? "PASS" : "MISS"}`,
);
console.log(`\nGoals: ${goals.join("; ")}`);
rmSync(work, { recursive: true, force: true });
