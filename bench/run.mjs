#!/usr/bin/env node
// Benchmark of the execution engine (issue: `nbhook run`), not a test. Prints ratios against
// baselines measured in the same run, since these machines are noisy:
//  1. whole run of a three-cell notebook: `nbhook run` vs `jupyter nbconvert --to notebook --execute`,
//     interleaved, N runs each (goal: ratio <= 0.5);
//  2. warm round trip of a trivial execute (`1+1`, reply + idle) on one kernel: nbhook's KernelClient
//     vs the same loop with Python's jupyter_client (goal: ratio <= 1.0).
// Usage: npm run bench:run [-- --runs 20 --executes 200]
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chooseKernelSpec, findKernelSpecs, KernelClient } from "../dist/kernel/index.js";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "20" }, executes: { type: "string", default: "200" } },
});
const RUNS = Math.min(Number(values.runs), 100);
const EXECUTES = Math.min(Number(values.executes), 2000);
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, "dist", "cli", "main.js");
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-bench-"));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)];
const fmt = (ms) => `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;

const three = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
  cells: [
    "1+1",
    "print('hi')",
    "display({'application/vnd.example+json': {'a': 1}}, raw=True, metadata={'x': True})",
  ].map((source, i) => ({
    cell_type: "code",
    id: `c${i}`,
    metadata: {},
    source,
    outputs: [],
    execution_count: null,
  })),
};
const nbFile = path.join(work, "three.ipynb");
writeFileSync(nbFile, JSON.stringify(three));

function timeCommand(cmd, args) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    cwd: work,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: "1" },
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return ms;
}

if (!existsSync("/usr/bin/jupyter-nbconvert")) {
  console.error("jupyter nbconvert is missing: run `bash scripts/install-system-deps.sh --bench` first.");
  process.exit(2);
}

console.log(
  `# nbhook run vs jupyter nbconvert --execute: three-cell notebook, ${RUNS} runs each, interleaved`,
);
const ours = [];
const theirs = [];
timeCommand("node", [cli, "run", nbFile, "-q", "-o", path.join(work, "warm.ipynb")]); // warm caches
for (let i = 0; i < RUNS; i++) {
  ours.push(timeCommand("node", [cli, "run", nbFile, "-q", "-o", path.join(work, "ours.ipynb")]));
  theirs.push(
    timeCommand("/usr/bin/jupyter-nbconvert", [
      "--to",
      "notebook",
      "--execute",
      nbFile,
      "--output",
      "theirs.ipynb",
      "--log-level=ERROR",
    ]),
  );
}
const runRatio = median(ours) / median(theirs);
console.log(`nbhook run          median ${fmt(median(ours))}  (min ${fmt(Math.min(...ours))})`);
console.log(`nbconvert --execute median ${fmt(median(theirs))}  (min ${fmt(Math.min(...theirs))})`);
console.log(
  `ratio nbhook/nbconvert: ${runRatio.toFixed(2)}  (goal <= 0.50) ${runRatio <= 0.5 ? "PASS" : "MISS"}`,
);

console.log(`\n# warm round trip of execute('1+1'), ${EXECUTES} executes after 20 warm-up, same kernelspec`);
const spec = chooseKernelSpec(await findKernelSpecs(), { name: "python3" });
async function nodeLoop() {
  const kernel = await KernelClient.start(spec);
  try {
    for (let i = 0; i < 20; i++) await kernel.execute("1+1", { onIopub: () => {} });
    const times = [];
    for (let i = 0; i < EXECUTES; i++) {
      const t0 = performance.now();
      await kernel.execute("1+1", { onIopub: () => {} });
      times.push(performance.now() - t0);
    }
    return times;
  } finally {
    await kernel.shutdown();
  }
}
const pyLoop = `
import json, sys, time
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
try:
    for _ in range(20): kc.execute_interactive("1+1", output_hook=lambda m: None, timeout=30)
    times = []
    for _ in range(${EXECUTES}):
        t0 = time.perf_counter()
        kc.execute_interactive("1+1", output_hook=lambda m: None, timeout=30)
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps(times))
finally:
    kc.stop_channels(); km.shutdown_kernel(now=True)
`;
function pythonLoop() {
  const out = execFileSync("/usr/bin/python3", ["-c", pyLoop], {
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: "1", JUPYTER_PLATFORM_DIRS: "1" },
  });
  return JSON.parse(out.trim().split("\n").at(-1));
}
const nodeTimes = [];
const pyTimes = [];
for (let round = 0; round < 2; round++) {
  nodeTimes.push(...(await nodeLoop()));
  pyTimes.push(...pythonLoop());
}
const rtRatio = median(nodeTimes) / median(pyTimes);
console.log(`nbhook KernelClient  median ${fmt(median(nodeTimes))}  p95 ${fmt(p95(nodeTimes))}`);
console.log(`jupyter_client       median ${fmt(median(pyTimes))}  p95 ${fmt(p95(pyTimes))}`);
console.log(
  `ratio nbhook/jupyter_client (median): ${rtRatio.toFixed(2)}  (goal <= 1.00) ${rtRatio <= 1 ? "PASS" : "MISS"}`,
);
rmSync(work, { recursive: true, force: true });
