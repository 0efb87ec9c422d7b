import { describe, expect, it } from "vitest";
import { findKernelSpecs } from "../../src/kernel/index.js";
import type { CodeCell } from "../../src/notebook/types.js";
import { executeNotebook } from "../../src/runs/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();
const specs = await findKernelSpecs();
const run = (cells: CellSpec[], options: Parameters<typeof executeNotebook>[1] = {}) =>
  executeNotebook(makeNotebook(cells, "deno"), { specs, ...options });
const code = (result: { notebook: { cells: unknown[] } }, i: number) => result.notebook.cells[i] as CodeCell;

describe("executeNotebook on Deno's Jupyter kernel (TypeScript)", () => {
  it("runs TypeScript cells and records stream and result outputs", async () => {
    const result = await run([
      'const greet = (n: string): string => `hello ${n}`;\nconsole.log(greet("world"));',
      "40 + 2",
    ]);
    expect(result.status).toBe("ok");
    expect(result.kernel).toBe("deno");
    expect(code(result, 0).outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "hello world\n" },
    ]);
    const value = code(result, 1).outputs[0] as { output_type: string; data: Record<string, string> };
    expect(value.output_type).toBe("execute_result");
    expect(value.data["text/plain"]).toContain("42");
    expect(result.notebook.metadata.language_info).toMatchObject({ name: "typescript" });
  });

  it("stops at a thrown error with its name, message and cell", async () => {
    const result = await run(["const a = 1;", 'throw new TypeError("bad input");', "console.log('never')"]);
    expect(result.status).toBe("error");
    expect(result.error).toMatchObject({ ename: "TypeError", evalue: "bad input", cellIndex: 1 });
    expect(code(result, 2).execution_count).toBeNull();
  });

  it("times out a cell that never finishes", async () => {
    const t0 = Date.now();
    const result = await run(["await new Promise(() => {});"], { cellTimeoutMs: 1000 });
    expect(result.status).toBe("timeout");
    expect(result.error!.evalue).toContain("cell timed out after 1 s");
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it("reports a kernel that exits mid-run", async () => {
    const result = await run(['console.log("before")', "Deno.exit(5)"]);
    expect(result.status).toBe("died");
    expect(result.error!.evalue).toContain("exited with code 5");
  });

  it("keeps rich displays with custom MIME types and metadata", async () => {
    const result = await run([
      'await Deno.jupyter.display({ "application/vnd.example+json": { a: 1 }, "text/plain": "ex" }, { raw: true });',
    ]);
    expect(code(result, 0).outputs[0]).toEqual({
      output_type: "display_data",
      data: { "application/vnd.example+json": { a: 1 }, "text/plain": "ex" },
      metadata: {},
    });
  });
});
