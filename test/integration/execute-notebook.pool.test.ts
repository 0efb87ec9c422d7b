import { mkdtempSync, realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findKernelSpecs, KernelPool } from "../../src/kernel/index.js";
import type { CodeCell } from "../../src/notebook/types.js";
import { executeNotebook } from "../../src/runs/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();
const specs = await findKernelSpecs();
const pool = new KernelPool({ size: 2 });
afterAll(() => pool.close());

const text = (result: { notebook: { cells: unknown[] } }, i: number) =>
  ((result.notebook.cells[i] as CodeCell).outputs[0] as { text?: string } | undefined)?.text?.trim();

async function runPooled(cells: CellSpec[], kernel: "python3" | "deno" = "python3", options = {}) {
  return executeNotebook(makeNotebook(cells, kernel), { specs, pool, ...options });
}

describe("executeNotebook with a kernel pool", () => {
  it("gives a pooled Python kernel the run's working folder and environment", async () => {
    const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), "nbhook-cwd-")));
    const result = await runPooled(
      ["import os\nprint(os.getcwd())", "print(os.environ['NBHOOK_TEST_VALUE'])"],
      "python3",
      {
        cwd: dir,
        env: { NBHOOK_TEST_VALUE: "from the run" },
      },
    );
    expect(result.status).toBe("ok");
    expect(text(result, 0)).toBe(dir);
    expect(text(result, 1)).toBe("from the run");
    expect((result.notebook.cells[0] as CodeCell).execution_count).toBe(1); // the preamble is silent
  });

  it("never lets state from one call reach the next", async () => {
    const first = await runPooled(["leaked = 'secret'\nimport os\nprint(os.getpid())"]);
    const second = await runPooled(["print('leaked' in globals())\nimport os\nprint(os.getpid())"]);
    expect(first.status).toBe("ok");
    const [seen, pid] = text(second, 0)!.split("\n");
    expect(seen).toBe("False");
    expect(pid).not.toBe(text(first, 0));
  });

  it("gives a pooled Deno kernel the run's working folder and environment", async () => {
    const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), "nbhook-cwd-")));
    const result = await runPooled(
      ['console.log(Deno.cwd()); console.log(Deno.env.get("NBHOOK_TEST_VALUE"))'],
      "deno",
      {
        cwd: dir,
        env: { NBHOOK_TEST_VALUE: "deno run" },
      },
    );
    expect(result.status).toBe("ok");
    expect(text(result, 0)).toBe(`${dir}\ndeno run`);
  });
});
