#!/usr/bin/env node
// The kernel tweaks (python/nbhook/_kernel_tweaks.py) on and off, interleaved, not a test. Starts
// two kernels the way nbhook does (dist's KernelClient: forked, or spawned with --spawn), one with
// NBHOOK_KERNEL_TWEAKS=0, and runs the reuse call's three executes (parameters cell, injected
// cell, respond cell), each waiting for its reply and idle, on each in turn for --rounds rounds:
// load changes during the run hit both sides alike. Prints p50/p95 of a round and the kernel's
// CPU per round (schedstat of all its threads).
//   npm run build && node bench/kernel-tweaks.mjs [--rounds 200] [--spawn]
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "200" }, spawn: { type: "boolean", default: false } },
});
const ROUNDS = Math.max(10, Math.min(Number(values.rounds), 2000));
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const { KernelClient, chooseKernelSpec, findKernelSpecs } = await import(
  path.join(root, "dist", "kernel", "index.js")
);
const { stopForkServers } = await import(path.join(root, "dist", "kernel", "forkserver.js"));
if (values.spawn) process.env.NBHOOK_FORKSERVER = "0";

const spec = chooseKernelSpec(await findKernelSpecs(), { name: "python3" });
const cpuMs = (pid) => {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
  }
  return ns / 1e6;
};
const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];

const variants = [
  { name: "tweaks on", env: {} },
  { name: "tweaks off (NBHOOK_KERNEL_TWEAKS=0)", env: { NBHOOK_KERNEL_TWEAKS: "0" } },
];
for (const v of variants) {
  v.kernel = await KernelClient.start(spec, { env: v.env });
  v.times = [];
  v.cpu = [];
  await v.kernel.execute("import naas", {});
}
try {
  for (let i = 0; i < ROUNDS; i++) {
    for (const v of i % 2 ? variants : [...variants].reverse()) {
      const cpu0 = cpuMs(v.kernel.pid);
      const t0 = performance.now();
      await v.kernel.execute(`name = 'caller${i}'`);
      await v.kernel.execute("import os as __o\n__o.environ.update({})\ndel __o");
      await v.kernel.execute("naas.webhook.respond_json({'greeting': 'hello ' + name})");
      v.times.push(performance.now() - t0);
      v.cpu.push(cpuMs(v.kernel.pid) - cpu0);
    }
  }
  console.log(
    `${ROUNDS} rounds, ${values.spawn ? "spawned" : "forked"} kernels (${variants[0].kernel.startedBy})`,
  );
  console.log("| variant | p50 ms (3 executes) | p95 ms | kernel CPU ms per round (p50) |");
  console.log("|---|---|---|---|");
  for (const v of variants) {
    console.log(
      `| ${v.name} | ${pct(v.times, 50).toFixed(2)} | ${pct(v.times, 95).toFixed(2)} | ${pct(v.cpu, 50).toFixed(2)} |`,
    );
  }
} finally {
  await Promise.all(variants.map((v) => v.kernel?.shutdown()));
  await stopForkServers();
}
