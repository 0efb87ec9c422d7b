import { describe, expect, it } from "vitest";
import { findKernelSpecs } from "../../src/kernel/index.js";
import { serializeNotebook, parseNotebook } from "../../src/notebook/read.js";
import type { CodeCell } from "../../src/notebook/types.js";
import { executeNotebook, type ProgressEvent } from "../../src/runs/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook } from "../support/notebooks.js";

guardKernelLeaks();
const specs = await findKernelSpecs();
const run = (
  nb: Parameters<typeof executeNotebook>[0],
  options: Parameters<typeof executeNotebook>[1] = {},
) => executeNotebook(nb, { specs, ...options });
const code = (result: { notebook: { cells: unknown[] } }, i: number) => result.notebook.cells[i] as CodeCell;

describe("executeNotebook on Debian's ipykernel", () => {
  it("runs hello world and fills outputs, execution counts and timing metadata", async () => {
    const events: ProgressEvent[] = [];
    const nb = makeNotebook([{ source: "# Title", type: "markdown" }, "print('hello world')", "", "1 + 1"]);
    const result = await run(nb, { onProgress: (e) => events.push(e) });
    expect(result.status).toBe("ok");
    expect(code(result, 1).outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "hello world\n" },
    ]);
    expect(code(result, 1).execution_count).toBe(1);
    expect(code(result, 2).execution_count).toBeNull(); // empty cells are skipped, as nbclient does
    expect(code(result, 3).outputs).toEqual([
      { output_type: "execute_result", data: { "text/plain": "2" }, metadata: {}, execution_count: 2 },
    ]);
    expect(code(result, 3).metadata.papermill).toMatchObject({ status: "completed", exception: false });
    expect(typeof (code(result, 3).metadata.papermill as { duration: number }).duration).toBe("number");
    expect(
      events.filter((e) => e.type === "cell-done").map((e) => e.type === "cell-done" && e.ordinal),
    ).toEqual([1, 2]);
    expect(nb.cells[1]).toMatchObject({ outputs: [] }); // the input is not modified
    // What nbhook writes reads back as a valid notebook.
    expect(() => parseNotebook(serializeNotebook(result.notebook))).not.toThrow();
  });

  it("stops at a failing cell, keeps its error output, and leaves later cells unexecuted", async () => {
    const result = await run(makeNotebook(["x = 1", "raise ValueError('bad value')", "print('never')"]));
    expect(result.status).toBe("error");
    expect(result.error).toMatchObject({ ename: "ValueError", evalue: "bad value", cellIndex: 1 });
    expect(result.error!.traceback.join("\n")).toContain("ValueError");
    expect(code(result, 1).outputs[0]).toMatchObject({ output_type: "error", ename: "ValueError" });
    expect(code(result, 1).metadata.papermill).toMatchObject({ status: "failed", exception: true });
    expect(code(result, 2)).toMatchObject({ outputs: [], execution_count: null });
  });

  it("times out a cell that runs forever and reports it as a timeout", async () => {
    const t0 = Date.now();
    const result = await run(makeNotebook(["import time", "while True: time.sleep(0.01)", "print(1)"]), {
      cellTimeoutMs: 800,
    });
    expect(result.status).toBe("timeout");
    expect(result.error).toMatchObject({ ename: "TimeoutError", cellIndex: 1 });
    expect(result.error!.evalue).toContain("cell timed out after 0.8 s");
    expect(Date.now() - t0).toBeLessThan(8000);
  });

  it("applies the whole-run timeout across cells", async () => {
    const result = await run(
      makeNotebook(["import time; time.sleep(0.5)", "time.sleep(0.5)", "time.sleep(5)"]),
      {
        runTimeoutMs: 2500,
      },
    );
    expect(result.status).toBe("timeout");
    expect(result.error).toMatchObject({ cellIndex: 2 });
    expect(result.error!.evalue).toContain("the run timed out after 2.5 s");
  });

  it("reports a kernel that kills itself, with the exit code", async () => {
    const result = await run(makeNotebook(["print('before')", "import os; os._exit(7)", "print('after')"]));
    expect(result.status).toBe("died");
    expect(result.error).toMatchObject({ ename: "KernelDied", cellIndex: 1 });
    expect(result.error!.evalue).toContain("exited with code 7");
    expect(code(result, 0).outputs).toHaveLength(1);
  });

  it("fails input() at once with a message that says what to do", async () => {
    const t0 = Date.now();
    const result = await run(makeNotebook(["name = input('Your name? ')"]), { runTimeoutMs: 20_000 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(result.status).toBe("error");
    expect(result.error!.ename).toBe("StdinNotImplementedError");
    expect(result.error!.evalue).toContain("pass the value as a parameter");
  });

  it("saves rich displays, display updates and clear_output as Jupyter does", async () => {
    const result = await run(
      makeNotebook([
        "from IPython.display import display, HTML, clear_output\n" +
          "h = display(HTML('<b>0%</b>'), display_id=True)\n" +
          "display({'application/vnd.example+json': {'a': 1}, 'text/plain': 'ex'}, raw=True, metadata={'x': True})",
        "h.update(HTML('<b>100%</b>'))\nprint('tick')",
        "print('gone')\nclear_output(wait=True)\nprint('kept')",
        "print('also gone')\nclear_output()",
      ]),
    );
    expect(result.status).toBe("ok");
    expect(code(result, 0).outputs).toEqual([
      {
        output_type: "display_data",
        data: { "text/html": "<b>100%</b>", "text/plain": "<IPython.core.display.HTML object>" },
        metadata: {},
      },
      {
        output_type: "display_data",
        data: { "application/vnd.example+json": { a: 1 }, "text/plain": "ex" },
        metadata: { x: true },
      },
    ]);
    expect(code(result, 1).outputs).toEqual([{ output_type: "stream", name: "stdout", text: "tick\n" }]);
    expect(code(result, 2).outputs).toEqual([{ output_type: "stream", name: "stdout", text: "kept\n" }]);
    expect(code(result, 3).outputs).toEqual([]);
  });

  it("collects 10 MB of stdout intact", async () => {
    const result = await run(
      makeNotebook(["import sys\nline = 'x' * 99 + '\\n'\nfor _ in range(100_000): sys.stdout.write(line)"]),
    );
    expect(result.status).toBe("ok");
    const outputs = code(result, 0).outputs as { text: string }[];
    expect(outputs).toHaveLength(1);
    expect(outputs[0]!.text.length).toBe(10_000_000);
    expect(outputs[0]!.text.slice(0, 100)).toBe("x".repeat(99) + "\n");
  });

  it("keeps non-ASCII text exact in sources, outputs and errors", async () => {
    const text = "Zoë, 東京, emoji 😀, ‮rtl";
    const result = await run(
      makeNotebook([`s = ${JSON.stringify(text)}\nprint(s)\ns`, "raise KeyError('ключ')"]),
    );
    expect(code(result, 0).outputs[0]).toEqual({ output_type: "stream", name: "stdout", text: `${text}\n` });
    expect(result.error!.evalue).toBe("'ключ'");
  });

  it("runs four notebooks concurrently, each on its own kernel", async () => {
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) => run(makeNotebook([`import os\nx = ${i}`, "print(x, os.getpid())"]))),
    );
    const lines = results.map((r) => (code(r, 1).outputs[0] as { text: string }).text.trim().split(" "));
    expect(lines.map((l) => l[0])).toEqual(["0", "1", "2", "3"]);
    expect(new Set(lines.map((l) => l[1])).size).toBe(4);
  });

  it("names the kernels it found when none fits", async () => {
    const nb = makeNotebook(["1"]);
    nb.metadata.kernelspec = { name: "nope", display_name: "Nope", language: "cobol" } as never;
    await expect(run(nb)).rejects.toThrow(
      /no installed kernel matches the notebook's name "nope" or language "cobol"[\s\S]*python3/,
    );
  });
});
