/**
 * The warm-kernel manager driven directly with executeNotebook and a real ipykernel: the global
 * cap and which kernel gives way, a call that waits past its time limit for its reuse turn, a kept
 * kernel that dies, idle versions expiring, and kernels nbhook cannot warm.
 */
import { mkdtempSync, realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { chooseKernelSpec, findKernelSpecs, KernelPool, type KernelSpec } from "../../src/kernel/index.js";
import type { Notebook } from "../../src/notebook/types.js";
import {
  executeNotebook,
  WarmKernels,
  type PreparedCall,
  type ExecutionResult,
  type WarmOptions,
} from "../../src/runs/index.js";
import type { RunMode } from "../../src/store/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook } from "../support/notebooks.js";
import { preparedCall } from "../support/warm-harness.js";

guardKernelLeaks();
const specs = await findKernelSpecs();
const python = chooseKernelSpec(specs, { name: "python3" });
const cwd = realpathSync(mkdtempSync(path.join(os.tmpdir(), "warm-manager-")));

const managers: WarmKernels[] = [];
const pools: KernelPool[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function manager(options: Partial<WarmOptions> = {}): WarmKernels {
  const pool = new KernelPool({ size: 0 });
  pools.push(pool);
  const warm = new WarmKernels({ pool, ...options });
  managers.push(warm);
  return warm;
}

const COUNTER = makeNotebook([
  { source: "import os, time", tags: ["setup"] },
  { source: "nap = 0.0", tags: ["parameters"] },
  "counter = globals().get('counter', 0) + 1\ntime.sleep(nap)\nprint(counter, os.getpid())",
]);

function prepared(
  id: string,
  mode: RunMode,
  notebook: Notebook = COUNTER,
  spec: KernelSpec = python,
): PreparedCall {
  return preparedCall(id, mode, { notebook, spec, specs });
}

async function run(
  warm: WarmKernels,
  call: PreparedCall,
  options: { nap?: number; runTimeoutMs?: number } = {},
) {
  return executeNotebook(call.notebook, {
    specs,
    kernel: call.spec.name,
    cwd,
    env: { NBHOOK_RUN: JSON.stringify({ webhook_id: call.webhook.id, run_id: "r" }) },
    parameters: options.nap ? { nap: options.nap } : {},
    runTimeoutMs: options.runTimeoutMs ?? 30_000,
    lease: warm.leaseFor(call),
  });
}

/** [counter, pid] printed by the last cell. */
const printed = (result: ExecutionResult) => {
  const cell = result.notebook.cells.at(-1) as { outputs: { text?: string }[] };
  return cell.outputs[0]!.text!.trim().split(" ").map(Number) as [number, number];
};

async function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

const readyOf = (warm: WarmKernels, id: string) => warm.stats().find((s) => s.webhookId === id)?.ready ?? 0;
const held = (warm: WarmKernels) => warm.stats().reduce((n, s) => n + s.ready + s.preparing, 0);

describe("WarmKernels", () => {
  it("keeps at most maxKernels prepared kernels, giving up the idle one of the webhook called least recently", async () => {
    const warm = manager({ maxKernels: 2 });
    for (const id of ["a", "b", "c"]) {
      expect((await run(warm, prepared(id, "setup"))).status).toBe("ok");
      await until(() => readyOf(warm, id) === 1);
      expect(held(warm)).toBeLessThanOrEqual(2);
    }
    expect([readyOf(warm, "a"), readyOf(warm, "b"), readyOf(warm, "c")]).toEqual([0, 1, 1]);
  });

  it("fails a reuse call that waits for its turn past its run time limit, and keeps serving the others", async () => {
    const warm = manager();
    const call = prepared("slow", "reuse");
    const long = run(warm, call, { nap: 2 });
    await until(() => warm.stats()[0]?.inUse === 1);
    const t0 = Date.now();
    await expect(run(warm, call, { runTimeoutMs: 500 })).rejects.toMatchObject({ code: "timeout" });
    expect(Date.now() - t0).toBeLessThan(1500);
    const [first] = printed(await long);
    const [next] = printed(await run(warm, call));
    expect([first, next]).toEqual([1, 2]);
  });

  it("replaces a kept kernel that dies while idle", async () => {
    const warm = manager();
    const call = prepared("dies", "reuse");
    const [, pid] = printed(await run(warm, call));
    process.kill(pid, "SIGKILL");
    await until(() => readyOf(warm, "dies") === 1 && warm.stats()[0]!.pids[0] !== pid);
    const [counter, newPid] = printed(await run(warm, call));
    expect(counter).toBe(1);
    expect(newPid).not.toBe(pid);
  });

  it("shuts down the kernels of a webhook not called for idleMs", async () => {
    const warm = manager({ idleMs: 300, sweepMs: 100 });
    await run(warm, prepared("idle", "reuse"));
    expect(readyOf(warm, "idle")).toBe(1);
    await until(() => warm.stats().length === 0, 5000);
  });

  it("prepares Deno kernels too: setup cells once, the helper loaded, each call's environment applied", async () => {
    const warm = manager();
    const deno = chooseKernelSpec(specs, { name: "deno" });
    const notebook = makeNotebook(
      [
        { source: "const setupPid = Deno.pid;", tags: ["setup"] },
        "(globalThis as any).n = ((globalThis as any).n ?? 0) + 1;\n" +
          'console.log((globalThis as any).n, setupPid === Deno.pid, JSON.parse(Deno.env.get("NBHOOK_RUN")!).run_id);\n' +
          "await nbhook.webhook.respond_json({ ok: true });",
      ],
      "deno",
    );
    const call = prepared("deno", "reuse", notebook, deno);
    const results = [await run(warm, call), await run(warm, call)];
    for (const r of results) expect(r.status).toBe("ok");
    const lines = results.map((r) =>
      (r.notebook.cells.at(-1) as { outputs: { text?: string }[] }).outputs[0]!.text!.trim(),
    );
    expect(lines).toEqual(["1 true r", "2 true r"]);
    expect(results[1]!.response).toMatchObject({ contentType: expect.stringContaining("application/json") });
  });

  it("leaves calls isolated for kernels it cannot give a call's environment", () => {
    const warm = manager();
    const r: KernelSpec = { ...python, name: "ir", language: "R" };
    expect(warm.leaseFor(prepared("r", "setup", COUNTER, r))).toBeUndefined();
    expect(warm.leaseFor(prepared("iso", "isolated"))).toBeUndefined();
    expect(warm.leaseFor(prepared("py", "setup"))).toBeTypeOf("function");
  });
});
