/**
 * The in-kernel cell runner (src/runs/cell-runner.ts, python/nbhook/_runner.py) against Debian's
 * ipykernel: every notebook here is executed twice, on fresh kernels, one request per cell
 * (NBHOOK_CELL_RUNNER=0) and with the runner, and the saved notebooks must be the same once the
 * volatile fields (timestamps, durations) are removed: outputs, execution counts, errors, what
 * stops the run, the status and the error of the result.
 */
import { mkdtempSync, realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findKernelSpecs, KernelClient, KernelPool } from "../../src/kernel/index.js";
import type { CodeCell, Notebook } from "../../src/notebook/types.js";
import {
  executeNotebook,
  type ExecutionOptions,
  type ExecutionResult,
  type LeaseFn,
  type ProgressEvent,
} from "../../src/runs/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();
const specs = await findKernelSpecs();

afterEach(() => {
  delete process.env.NBHOOK_CELL_RUNNER;
});

async function runWith(runner: boolean, nb: Notebook, options: ExecutionOptions) {
  if (runner) delete process.env.NBHOOK_CELL_RUNNER;
  else process.env.NBHOOK_CELL_RUNNER = "0";
  const events: ProgressEvent[] = [];
  const result = await executeNotebook(nb, { specs, ...options, onProgress: (e) => events.push(e) });
  delete process.env.NBHOOK_CELL_RUNNER;
  return { result, events };
}

/** What is saved and answered, without times and durations. */
function stable(result: ExecutionResult, events: ProgressEvent[]) {
  const notebook = structuredClone(result.notebook);
  for (const cell of notebook.cells) {
    if (cell.cell_type !== "code") continue;
    if (cell.metadata.tags?.includes("injected-parameters")) cell.id = "<random>";
    const meta = cell.metadata as Record<string, unknown>;
    const papermill = meta.papermill as Record<string, unknown> | undefined;
    if (meta.execution) meta.execution = "<times>";
    if (papermill) {
      for (const key of ["start_time", "end_time", "duration"]) {
        expect(papermill[key], `papermill.${key}`).toBeDefined();
        papermill[key] = "<volatile>";
      }
    }
  }
  return {
    status: result.status,
    error: result.error,
    notebook,
    response: result.response && { ...result.response, body: String(result.response.body) },
    events: events.map((e) => ({ ...e, elapsedMs: 0, ms: 0 })),
  };
}

/** Runs `cells` both ways and expects the same; returns the runner's result. */
async function same(cells: CellSpec[] | Notebook, options: ExecutionOptions = {}) {
  const nb = Array.isArray(cells) ? makeNotebook(cells) : cells;
  const plain = await runWith(false, nb, options);
  const batched = await runWith(true, nb, options);
  expect(stable(batched.result, batched.events)).toEqual(stable(plain.result, plain.events));
  return batched.result;
}

const code = (result: ExecutionResult, i: number) => result.notebook.cells[i] as CodeCell;

describe("the cell runner saves the notebook one request per cell saves", () => {
  it("runs the cells in one request (the runner is on the stack), and not with NBHOOK_CELL_RUNNER=0", async () => {
    const probe = makeNotebook([
      "import inspect\nprint(any(f.filename.endswith('_runner.py') for f in inspect.stack()))",
    ]);
    const on = await runWith(true, probe, {});
    const off = await runWith(false, probe, {});
    expect((code(on.result, 0).outputs[0] as { text: string }).text).toBe("True\n");
    expect((code(off.result, 0).outputs[0] as { text: string }).text).toBe("False\n");
  });

  it("streams, results, execution counts, empty and markdown cells, history", async () => {
    const result = await same([
      { source: "# Title", type: "markdown" },
      "print('hello world')",
      "",
      "1 + 1",
      "import sys\nprint('out', end='')\nsys.stderr.write('err\\n')\nprint(' more')",
      "_ * 21",
      "x = 3;",
      "x;",
      "print(len(In), _i[:3], Out)",
      "print('no newline', end='')",
    ]);
    expect(result.status).toBe("ok");
    expect(code(result, 3).execution_count).toBe(2);
  });

  it("an error stops the run; later cells stay unexecuted", async () => {
    const result = await same(["x = 1", "raise ValueError('bad value')", "print('never')"]);
    expect(result.error).toMatchObject({ ename: "ValueError", cellIndex: 1 });
  });

  it("syntax errors and unknown magics (errors before execution)", async () => {
    await same(["x = 1", "def broken(:", "print('never')"]);
    await same(["%not_a_magic", "print('never')"]);
  });

  it("rich displays, display updates across cells and clear_output", async () => {
    await same([
      "from IPython.display import display, HTML, Markdown, clear_output, update_display\n" +
        "h = display(HTML('<b>0%</b>'), display_id=True)\n" +
        "display({'application/vnd.example+json': {'a': 1}, 'text/plain': 'ex'}, raw=True, metadata={'x': True})",
      "h.update(HTML('<b>100%</b>'))\nprint('tick')",
      "print('gone')\nclear_output(wait=True)\nprint('kept')",
      "print('also gone')\nclear_output()",
      "print('waits')\nclear_output(wait=True)",
      "display(Markdown('*md*'))\nupdate_display(HTML('<i>late</i>'), display_id=h.display_id)",
    ]);
  });

  it("rich reprs and magics", async () => {
    await same([
      "class R:\n  def __repr__(self): return 'R'\n  def _repr_html_(self): return '<p>r</p>'\n  def _repr_mimebundle_(self, include=None, exclude=None): return {'application/json': {'k': 1}}\nR()",
      "class H:\n  def __repr__(self): return 'H'\n  def _repr_html_(self): return '<p>h</p>'\nH()",
      "%precision 3\n1/3",
      "%%capture captured\nprint('captured text')",
      "captured.stdout",
      "!echo from a shell",
      "%env NBHOOK_TEST_VAR=on\nimport os; os.environ['NBHOOK_TEST_VAR']",
      "a = %pwd\ntype(a).__name__",
      // The runner's MIME type displayed by the notebook itself is an output like any other.
      "display({'application/vnd.nbhook.cell+json': {'cell': 8, 'status': 'ok'}}, raw=True)",
      "print('after')",
    ]);
  });

  it("a cell with top-level await runs on its own request, the others around it batched", async () => {
    const result = await same([
      "import asyncio\nx = 1",
      "await asyncio.sleep(0)\nprint('awaited')\nx + 1",
      "print('after', x)",
      "raise RuntimeError('stop')",
      "print('never')",
    ]);
    expect(result.status).toBe("error");
    expect(code(result, 1).outputs[0]).toEqual({ output_type: "stream", name: "stdout", text: "awaited\n" });
  });

  it("non-ASCII text in sources, outputs and errors", async () => {
    const text = "Zoë, 東京, emoji 😀, ‮rtl \\ \" ''' \u2028";
    await same([`s = ${JSON.stringify(text)}\nprint(s)\ns`, "raise KeyError('ключ')"]);
  });

  it("injected parameters", async () => {
    const nb = makeNotebook([{ source: "name = 'x'\nn = 1", tags: ["parameters"] }, "print(name, n)", "n"]);
    const result = await same(nb, { parameters: { name: "ab", n: 3 } });
    expect(result.error).toBeUndefined();
    expect(code(result, 2).outputs[0]).toMatchObject({
      output_type: "stream",
      text: expect.stringContaining("ab 3"),
    });
  });

  it("a cell that runs over its time limit is interrupted; the cells before it kept", async () => {
    const result = await same(
      ["import time\nprint('a')", "print('b')\nwhile True: time.sleep(0.01)", "print(1)"],
      {
        cellTimeoutMs: 800,
      },
    );
    expect(result.status).toBe("timeout");
    expect(result.error).toMatchObject({ ename: "TimeoutError", cellIndex: 1 });
  });

  it("the whole-run time limit across cells", async () => {
    const result = await same(["import time; time.sleep(0.3)", "time.sleep(0.3)", "time.sleep(5)"], {
      runTimeoutMs: 2000,
    });
    expect(result.error).toMatchObject({ cellIndex: 2 });
    expect(result.error!.evalue).toContain("the run timed out after 2 s");
  });

  it("a kernel that exits in a cell, also right after the cell before it", async () => {
    // Right after: the previous cell's end marker may still be in the dying process; the runner's
    // progress file tells which cells ended.
    for (const exit of ["import os; os._exit(7)", "import os, time; time.sleep(0.2); os._exit(7)"]) {
      const result = await same(["print('before')", "x = 1", exit, "print('after')"]);
      expect(result.status).toBe("died");
      expect(result.error).toMatchObject({ cellIndex: 2 });
    }
  });

  it("input() fails at once with the same message", async () => {
    const result = await same(["print('first')", "name = input('Your name? ')"]);
    expect(result.error!.ename).toBe("StdinNotImplementedError");
  });

  it("the notebook's answer", async () => {
    const result = await same([
      "import nbhook",
      "nbhook.webhook.respond_json({'greeting': 'hello'})",
      "print('after the answer')",
    ]);
    expect(result.response).toBeDefined();
  });

  it("falls back to one request per cell on a kernel where the runner cannot be imported", async () => {
    const lease: LeaseFn = async ({ spec }) => {
      const kernel = await KernelClient.start(spec);
      await kernel.execute("import sys; sys.modules['nbhook._runner'] = None", { silent: true });
      return { kernel, release: async () => void (await kernel.shutdown()) };
    };
    const cells = [
      "import inspect\nprint(any(f.filename.endswith('_runner.py') for f in inspect.stack()))",
      "1 + 1",
      "raise ValueError('stop')",
      "print('never')",
    ];
    const plain = await runWith(false, makeNotebook(cells), {});
    const fallback = await runWith(true, makeNotebook(cells), { lease });
    expect(stable(fallback.result, fallback.events)).toEqual(stable(plain.result, plain.events));
    expect((code(fallback.result, 0).outputs[0] as { text: string }).text).toBe("False\n");
  });

  it("a pooled kernel's folder and environment go with the cells, as on their own request", async () => {
    const pool = new KernelPool({ size: 1 });
    try {
      const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), "nbhook-cwd-")));
      const cells = [
        "import os\nprint(os.getcwd(), os.environ['NBHOOK_TEST_VALUE'])",
        "print(sorted(k for k in globals() if 'nbhook' in k))",
        "1 + 1",
      ];
      const options = { pool, cwd: dir, env: { NBHOOK_TEST_VALUE: "from the run" } };
      const result = await same(cells, options);
      expect(code(result, 0).outputs[0]).toMatchObject({ text: `${dir} from the run\n` });
      expect(code(result, 0).execution_count).toBe(1);
      // A prelude that fails (a folder that is gone) fails the run the same way both ways.
      // (A pooled kernel must be ready: one started for the call would be started in that folder.)
      const gone = path.join(dir, "gone");
      const ready = async () => {
        while ((pool.stats()[0]?.ready ?? 0) < 1) await new Promise((r) => setTimeout(r, 20));
      };
      await ready();
      const plain = await runWith(false, makeNotebook(cells), { ...options, cwd: gone }).catch(
        (e: Error) => e,
      );
      await ready();
      const batched = await runWith(true, makeNotebook(cells), { ...options, cwd: gone }).catch(
        (e: Error) => e,
      );
      expect(batched).toBeInstanceOf(Error);
      expect(String(batched)).toBe(String(plain));
      expect(String(batched)).toContain("FileNotFoundError");
    } finally {
      await pool.close();
    }
  });
});
