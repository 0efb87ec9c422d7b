#!/usr/bin/env node
// The server's memory under eight clients, not a test: is its RSS bounded, and what is garbage
// waiting for V8's next major collection against what stays? Runs the server in this process (so
// that process.memoryUsage() and gc() see it), deploys the bench's greet job in --mode (reuse,
// setup or isolated, a pool of 2), loads it with autocannon in a child process for --seconds, and
// prints rss / heapUsed / heapTotal / external / arrayBuffers every 10 s, at the end, and after a
// forced full collection.
//   npm run bench:memory -- [--mode reuse] [--seconds 180]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { JOBS, notebookOf } from "./jobs.mjs";

const { values } = parseArgs({
  options: { mode: { type: "string", default: "reuse" }, seconds: { type: "string", default: "180" } },
});
const MODE = values.mode;
if (!["reuse", "setup", "isolated"].includes(MODE)) throw new Error("--mode: reuse, setup or isolated");
const SECONDS = Math.max(10, Math.min(Number(values.seconds), 1800));
if (typeof global.gc !== "function") throw new Error("run with node --expose-gc (npm run bench:memory does)");

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const { startServer } = await import(path.join(root, "dist", "server", "app.js"));
const { resolveServerConfig } = await import(path.join(root, "dist", "server", "config.js"));

const home = mkdtempSync(path.join(os.tmpdir(), "nbhook-bench-memory-"));
const server = await startServer(
  resolveServerConfig({ host: "127.0.0.1", port: 0, home, poolSize: 2, logLevel: "silent" }, {}),
);
let load;
try {
  const notebook = notebookOf(JOBS.greet);
  const store = server.deps.store;
  const webhook = await store.upsertWebhook({
    path: "/bench/memory/greet.ipynb",
    params: {},
    debug: false,
    timeoutMs: 60_000,
    settings: MODE === "isolated" ? {} : { mode: MODE },
  });
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(notebook)));
  const url = `${server.url}/notebook/${webhook.token}${JOBS.greet.query(0)}`;
  const first = await fetch(url);
  if (first.status !== 200) throw new Error(`the job failed: ${first.status} ${await first.text()}`);

  const mib = (bytes) => (bytes / 1048576).toFixed(1).padStart(6);
  const sample = (label) => {
    const m = process.memoryUsage();
    console.log(
      `${label.padEnd(10)} rss ${mib(m.rss)}  heapUsed ${mib(m.heapUsed)}  heapTotal ${mib(m.heapTotal)}  ` +
        `external ${mib(m.external)}  arrayBuffers ${mib(m.arrayBuffers)}  MiB`,
    );
  };
  global.gc();
  console.log(`bench: server memory, ${MODE} mode, 8 clients for ${SECONDS} s (${os.cpus().length} cores)`);
  sample("start");
  const started = Date.now();
  load = spawn(
    path.join(root, "node_modules", ".bin", "autocannon"),
    ["-c", "8", "-d", String(SECONDS), url],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let report = "";
  load.stderr.on("data", (d) => (report += d));
  const timer = setInterval(() => sample(`${Math.round((Date.now() - started) / 1000)} s`), 10_000);
  await new Promise((resolve) => load.once("exit", resolve));
  clearInterval(timer);
  sample("end");
  global.gc();
  await new Promise((resolve) => setTimeout(resolve, 500));
  global.gc();
  sample("after gc");
  console.log(
    report
      .split("\n")
      .filter((line) => /requests in|non 2xx|errors/.test(line))
      .join("\n"),
  );
} finally {
  load?.kill();
  await server.close();
  rmSync(home, { recursive: true, force: true });
}
