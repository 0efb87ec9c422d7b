/**
 * The default lease with fake kernels: a pooled kernel is moved into the run's folder and
 * environment by one silent execute before the first cell and retired after the run; a preamble
 * the kernel refuses kills it and fails the run; Deno kernels get the helper import.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  fakeKernelSpec,
  fakeKernelStarter,
  startFakeKernel,
  type FakeKernel,
} from "../../test/support/fake-kernel.js";
import { makeNotebook } from "../../test/support/notebooks.js";
import { AppError } from "../errors.js";
import { DENO_HELPER_URL, KernelPool } from "../kernel/index.js";
import type { CodeCell } from "../notebook/types.js";
import { executeNotebook } from "./execute-notebook.js";
import { prepareKernel } from "./kernel-lease.js";

// Fake kernels answer in milliseconds: a test that waits longer is stuck, not slow.
vi.setConfig({ testTimeout: 5_000, hookTimeout: 5_000 });

const SPEC = fakeKernelSpec({ name: "python3" });
const DENO = fakeKernelSpec({
  name: "deno",
  language: "typescript",
  argv: ["/opt/deno/deno", "jupyter", "--kernel", "--conn", "{connection_file}"],
});

const cleanups: (() => Promise<void>)[] = [];
const allFakes: FakeKernel[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const fake of allFakes.splice(0)) {
    await fake.close();
    expect(fake.openSockets, "sockets the fake kernel left open").toBe(0);
    expect(fake.requests.filter((r) => r.problem)).toEqual([]);
  }
});

function pooled(setup: (fake: FakeKernel) => void = () => {}) {
  const starter = fakeKernelStarter(setup);
  const pool = new KernelPool({ size: 0, start: starter.start });
  cleanups.push(async () => {
    await pool.close();
    await starter.closeAll();
    allFakes.push(...starter.fakes);
  });
  return { pool, starter };
}

const executes = (fake: FakeKernel) =>
  fake.requests
    .filter((r) => r.msgType === "execute_request")
    .map((r) => r.content as { code: string; silent: boolean; store_history: boolean });

describe("freshKernelLease with a pool", () => {
  it("moves the pooled kernel into the run's folder and environment silently before the first cell, and retires it after the run", async () => {
    const { pool, starter } = pooled();
    const result = await executeNotebook(makeNotebook(["print(1)"]), {
      specs: [SPEC],
      pool,
      cwd: "/srv/files/run-1",
      env: { NBHOOK_RUN: '{"run_id":"r1"}' },
    });
    expect(result.status).toBe("ok");
    const [fake] = starter.fakes;
    const [preamble, first, ...rest] = executes(fake!);
    expect(rest).toEqual([]);
    expect(preamble).toMatchObject({ silent: true, store_history: false });
    expect(preamble!.code).toContain('__nbhook_os.chdir("/srv/files/run-1")');
    expect(preamble!.code).toContain(
      `__nbhook_os.environ.update(${JSON.stringify({ NBHOOK_RUN: '{"run_id":"r1"}' })})`,
    );
    expect(first).toMatchObject({ code: "print(1)", silent: false });
    // the silent preamble takes no execution count
    expect((result.notebook.cells[0] as CodeCell).execution_count).toBe(1);

    await pool.close(); // waits for the retired kernel's shutdown
    expect(fake!.requests.at(-1)).toMatchObject({ channel: "control", msgType: "shutdown_request" });
    expect(fake!.alive).toBe(false);
    expect(fake!.signals).toEqual([]);
  });

  it("kills the kernel and fails the run with kernel-launch when the kernel refuses the preamble", async () => {
    const { pool, starter } = pooled((fake) =>
      fake.onExecute((code, k) => {
        if (!code.startsWith("import os as __nbhook_os")) return k.ok();
        void k.busy();
        return k.raise("FileNotFoundError", "No such file or directory: '/gone'", []);
      }),
    );
    const failed = executeNotebook(makeNotebook(["print(1)"]), { specs: [SPEC], pool, cwd: "/gone" });
    await expect(failed).rejects.toBeInstanceOf(AppError);
    await expect(failed).rejects.toMatchObject({
      code: "kernel-launch",
      message: expect.stringMatching(/could not be prepared for the run .*FileNotFoundError: No such file/),
    });
    const [fake] = starter.fakes;
    expect(fake!.signals).toEqual(["SIGKILL"]);
    expect(executes(fake!).map((e) => e.code)).not.toContain("print(1)");
  });
});

describe("prepareKernel", () => {
  it("sends nothing to a Python kernel it started for the run itself", async () => {
    const { kernel, fake } = await startFakeKernel();
    allFakes.push(fake);
    await prepareKernel(kernel, { spec: SPEC, start: { cwd: "/srv" } }, false);
    expect(executes(fake)).toEqual([]);
  });

  it("binds the nbhook helper silently in a Deno kernel, started for the run or pooled", async () => {
    const { kernel, fake } = await startFakeKernel(() => {}, { spec: DENO });
    allFakes.push(fake);
    await prepareKernel(kernel, { spec: DENO, start: { cwd: "/srv" } }, false);
    await prepareKernel(kernel, { spec: DENO, start: { cwd: "/srv", env: { A: "1" } } }, true);
    const [own, pooledOne] = executes(fake);
    expect(own).toMatchObject({
      silent: true,
      code: `import * as nbhook from ${JSON.stringify(DENO_HELPER_URL)};`,
    });
    expect(pooledOne!.silent).toBe(true);
    expect(pooledOne!.code).toContain('Deno.chdir("/srv");');
    expect(pooledOne!.code).toContain("Deno.env.set(k, v)");
    expect(pooledOne!.code).toContain(`import * as nbhook from ${JSON.stringify(DENO_HELPER_URL)};`);
  });
});
