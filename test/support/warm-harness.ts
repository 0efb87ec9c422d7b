/**
 * The warm-mode unit tests' harness (src/runs/warm-*.test.ts): a WarmKernels over a pool of fake
 * kernels, fake clocks, and prepared calls as runs/ makes them. The manager with a real ipykernel:
 * test/integration/warm-modes.manager.test.ts (which shares `preparedCall`).
 */
import { afterEach, expect, vi } from "vitest";
import { KernelPool, type KernelSpec } from "../../src/kernel/index.js";
import type { Notebook } from "../../src/notebook/types.js";
import {
  executeNotebook,
  WarmKernels,
  type ExecutionOptions,
  type ExecutionResult,
  type PreparedCall,
  type WarmOptions,
} from "../../src/runs/index.js";
import type { RunMode } from "../../src/store/index.js";
import { fakeKernelSpec, fakeKernelStarter, type ExecuteScript, type RequestContext } from "./fake-kernel.js";
import { makeNotebook } from "./notebooks.js";

/** The fake kernels' spec: makeNotebook's notebooks name the kernelspec "python3". */
export const FAKE_PYTHON = fakeKernelSpec({ name: "python3" });

/** A notebook with one setup cell, a parameters cell and one call cell. */
export const WARM_NOTEBOOK = makeNotebook([
  { source: "model = load()", tags: ["setup"] },
  { source: "run = ''", tags: ["parameters"] },
  "answer(run)",
]);

/**
 * A prepared call of webhook `id` in `mode` (nothing injected), for driving warm modes directly;
 * by default of WARM_NOTEBOOK on FAKE_PYTHON.
 */
export function preparedCall(
  id: string,
  mode: RunMode,
  options: {
    notebook?: Notebook;
    spec?: KernelSpec;
    specs?: KernelSpec[];
    reuseCalls?: number;
    timeoutMs?: number;
  } = {},
): PreparedCall {
  const {
    notebook = WARM_NOTEBOOK,
    spec = FAKE_PYTHON,
    specs = [spec],
    reuseCalls = 100,
    timeoutMs = 30_000,
  } = options;
  const now = "2026-01-01T00:00:00.000Z";
  return {
    webhook: {
      id,
      path: `/work/${id}/nb.ipynb`,
      name: `nb-${id}`,
      fileName: "nb.ipynb",
      sourceHost: null,
      token: `token-${id}`,
      params: {},
      debug: false,
      timeoutMs,
      settings: { mode, maxConcurrency: null, reuseCalls, cors: [] },
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
      liveHisto: "20260101000000000000",
      lastRunAt: null,
      lastRunStatus: null,
    },
    versionHisto: "20260101000000000000",
    notebook,
    spec,
    specs,
    parameters: {},
    redacted: {},
  };
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Fake clocks at a fixed timestamp (before the manager is made, so its sweeper is fake too). */
export function fakeClock(): void {
  vi.useFakeTimers({
    now: new Date("2026-01-01T00:00:00Z"),
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
  });
}

/**
 * kernel_info as the fake answers it, then a few more idles on real time, so that the client's
 * handshake never depends on its 50 ms retry pause (a global timer: frozen on a fake clock) even
 * when the first messages on iopub are lost to the slow joiner.
 */
async function kernelInfo(k: RequestContext): Promise<void> {
  void k.busy();
  void k.reply({
    status: "ok",
    protocol_version: "5.3",
    implementation: "fake",
    language_info: { name: "python" },
  });
  void k.idle();
  for (let i = 0; i < 4; i++) {
    await k.sleep(2);
    void k.idle();
  }
}

/**
 * A WarmKernels over a pool of fake kernels. Every fake runs `cells[code]` for that code (tests
 * change it as they go), else a plain ok cell. After the test: the manager and pool are closed,
 * and no fake may be left running (nbhook must have stopped each kernel it started).
 */
export function warmHarness(options: Partial<WarmOptions> = {}) {
  const cells: Record<string, ExecuteScript> = {};
  const logs: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const starter = fakeKernelStarter((fake) => {
    fake.onKernelInfo(kernelInfo);
    fake.onExecute((code, k) => (cells[code] ? cells[code](code, k) : k.ok()));
  });
  const pool = new KernelPool({ size: 0, start: starter.start });
  const warm = new WarmKernels({
    pool,
    log: (level, fields, msg) => logs.push({ level, fields, msg }),
    ...options,
  });
  cleanups.push(async () => {
    await warm.close();
    await pool.close();
    const running = starter.fakes.filter((f) => f.alive).length;
    await starter.closeAll();
    expect(running, "fake kernels the warm manager left running").toBe(0);
    for (const fake of starter.fakes) {
      expect(fake.openSockets).toBe(0);
      expect(fake.requests.filter((r) => r.problem)).toEqual([]);
    }
  });
  /** The fakes started for webhook `id` (each kernel is started in the webhook's folder). */
  const kernelsOf = (id: string) =>
    starter.fakes.filter((_f, i) => starter.starts[i]!.options.cwd === `/srv/files/${id}`);
  return { warm, starter, cells, logs, kernelsOf };
}

/** One call as run-call.ts makes it, on its warm lease: the webhook's folder, an environment without per-call values. */
export function warmCall(
  warm: WarmKernels,
  target: PreparedCall,
  run: string,
  options: Pick<ExecutionOptions, "cellTimeoutMs" | "runTimeoutMs"> = {},
): Promise<ExecutionResult> {
  const { webhook } = target;
  const lease = warm.leaseFor(target);
  if (!lease) throw new Error("expected a warm lease"); // else executeNotebook would spawn a process
  return executeNotebook(target.notebook, {
    specs: target.specs,
    kernel: target.spec.name,
    cwd: `/srv/files/${webhook.id}`,
    env: {
      NBHOOK_RUN: JSON.stringify({
        path: webhook.path,
        url: `https://x/${webhook.token}`,
        webhook_id: webhook.id,
      }),
    },
    parameters: { run },
    ...options,
    lease,
  });
}
