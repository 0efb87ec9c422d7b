#!/usr/bin/env node
// Where the CPU of one isolated call goes (issue 11), not a test. Starts `nbhook serve --pool 2`
// from a checkout's dist (--root, default this one; /work/main for a "before"), deploys the greet
// job of bench/server.mjs in isolated mode (--mode), and runs eight clients (autocannon) for --soak seconds.
// Around that phase it reads /proc: the node server's CPU, the fork server's own CPU, the kernels'
// (those it reaped: its cutime + cstime; plus those alive at the end, less what those alive at the
// start had spent before), and the whole machine's busy time (/proc/stat), whose rest is "anything
// else" (the load generator, other users of the machine). Prints ms of CPU per call by class.
//   node bench/isolated-cpu.mjs [--root /work/main] [--soak 15] [--clients 8] [--mode isolated|setup|reuse]
// (--mode: the webhook's run mode; the name says what it was written for).
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";

const { values } = parseArgs({
  options: {
    root: { type: "string" },
    soak: { type: "string", default: "15" },
    clients: { type: "string", default: "8" },
    mode: { type: "string", default: "isolated" },
  },
});
const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const root = path.resolve(values.root ?? here);
const cli = path.join(root, "dist", "cli", "main.js");
if (!existsSync(cli)) {
  console.error(`isolated-cpu: no ${cli}; build that checkout first (npm run build)`);
  process.exit(2);
}
const SOAK = Math.max(1, Math.min(Number(values.soak), 300));
const CLIENTS = Math.max(1, Math.min(Number(values.clients), 64));
const MODE = values.mode;
if (!["isolated", "setup", "reuse"].includes(MODE)) {
  console.error(`isolated-cpu: unknown --mode ${MODE}; use isolated, setup or reuse`);
  process.exit(2);
}
const TICK_MS = 1000 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-bench-cpu-"));

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

/** utime+stime and cutime+cstime of a process, in ms (NaN when it is gone). */
function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop().trim().split(/\s+/);
    return {
      self: (Number(f[11]) + Number(f[12])) * TICK_MS,
      children: (Number(f[13]) + Number(f[14])) * TICK_MS,
    };
  } catch {
    return { self: NaN, children: NaN };
  }
}
/** The machine's busy CPU time in ms (all but idle and iowait). */
function machineBusy() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) * TICK_MS;
}
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
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
};

/** The server's CPU ms by thread name (numbers folded: "ZMQbg/IO/#"), threads alive now. */
function threadsOf(pid) {
  const byName = {};
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return byName;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/\d+/g, "#");
      const f = stat.split(")").pop().trim().split(/\s+/);
      byName[name] = (byName[name] ?? 0) + (Number(f[11]) + Number(f[12])) * TICK_MS;
    } catch {
      // the thread ended
    }
  }
  return byName;
}

function snapshot(serverPid) {
  const forkservers = childPids(serverPid).filter((p) => argsOf(p).includes("_forkserver"));
  const kernels = forkservers.flatMap(childPids);
  return {
    server: cpuOf(serverPid).self,
    threads: threadsOf(serverPid),
    forkservers: Object.fromEntries(forkservers.map((p) => [p, cpuOf(p)])),
    // A kernel that ended between the listing and its read counts in its reaped CPU instead.
    kernels: Object.fromEntries(
      kernels.map((p) => [p, cpuOf(p).self]).filter(([, ms]) => Number.isFinite(ms)),
    ),
    machine: machineBusy(),
    at: performance.now(),
  };
}

const home = path.join(work, "home");
const server = spawn(
  "node",
  [cli, "serve", "--host", "127.0.0.1", "--port", "0", "--home", home, "--pool", "2", "-q"],
  { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NBHOOK_HOME: home } },
);
const stop = () => server.kill("SIGKILL");
process.on("exit", stop);
try {
  let stderr = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 30_000);
    server.stderr.on("data", (d) => {
      stderr += d;
      const m = /serving on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.once("exit", (code) => reject(new Error(`server exited (${code}): ${stderr}`)));
  });
  const add = spawnSync("node", [cli, "add", nbFile, "--inline", "--mode", MODE, "--url", url], {
    encoding: "utf8",
    env: { ...process.env, NBHOOK_HOME: home },
    timeout: 60_000,
  });
  if (add.status !== 0) throw new Error(`add failed: ${add.stderr}`);
  const hook = add.stdout.trim();
  await new Promise((r) => setTimeout(r, 3000));
  for (let i = 0; i < 5; i++) await fetch(`${hook}?name=warm${i}`).then((r) => r.text());
  await new Promise((r) => setTimeout(r, 1000));
  const before = snapshot(server.pid);
  let counter = 0;
  const load = await autocannon({
    url: hook,
    connections: CLIENTS,
    duration: SOAK,
    timeout: 60,
    requests: [{ setupRequest: (req) => ({ ...req, path: `${new URL(hook).pathname}?name=c${counter++}` }) }],
  });
  const after = snapshot(server.pid);
  const calls = load.requests.total;
  const ok = load["2xx"];
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const fsSelf = sum(
    Object.keys(after.forkservers).map((p) => after.forkservers[p].self - (before.forkservers[p]?.self ?? 0)),
  );
  const reaped = sum(
    Object.keys(after.forkservers).map(
      (p) => after.forkservers[p].children - (before.forkservers[p]?.children ?? 0),
    ),
  );
  const kernels = reaped + sum(Object.values(after.kernels)) - sum(Object.values(before.kernels));
  const serverMs = after.server - before.server;
  const machine = after.machine - before.machine;
  const rest = machine - serverMs - fsSelf - kernels;
  const per = (x) => (x / calls).toFixed(1);
  console.log(
    `root ${root}; ${CLIENTS} clients for ${SOAK} s: ${calls} calls (${ok} 2xx), ${(calls / SOAK).toFixed(1)} calls/s`,
  );
  console.log(
    `load average before/after: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  console.log("| CPU ms per call | node server | fork server | kernels | rest of the machine | total |");
  console.log("|---|---|---|---|---|---|");
  console.log(
    `| ${calls} calls | ${per(serverMs)} | ${per(fsSelf)} | ${per(kernels)} | ${per(rest)} | ${per(machine)} |`,
  );
  const threads = Object.entries(after.threads)
    .map(([name, ms]) => [name, ms - (before.threads[name] ?? 0)])
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => `${name} ${per(ms)}`);
  console.log(`node server CPU ms per call by thread: ${threads.join(", ")}`);
} finally {
  server.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 2000));
  stop();
  rmSync(work, { recursive: true, force: true });
}
