/**
 * executeNotebook against a scripted fake kernel (test/support/fake-kernel.ts): cell order, outputs
 * as nbformat, timing metadata, parameters (real ones to the kernel, shown ones in the notebook),
 * what stops a run (an error, a cell or run timeout on a fake clock, a dead kernel, input()), the
 * notebook's response, and the lease's release. The real-ipykernel tests in test/integration/
 * cover the same ground against Python.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  fakeKernelSpec,
  startFakeKernel,
  type ExecuteContext,
  type ExecuteScript,
  type FakeKernel,
} from "../../test/support/fake-kernel.js";
import { makeNotebook, type CellSpec } from "../../test/support/notebooks.js";
import { RESPONSE_MIME, type CodeCell, type Notebook } from "../notebook/types.js";
import { executeNotebook, type ExecutionOptions, type ExecutionResult } from "./execute-notebook.js";
import type { ExecutionStatus, LeaseFn } from "./types.js";

// Fake kernels answer in milliseconds: a test that waits longer is stuck, not slow.
vi.setConfig({ testTimeout: 5_000, hookTimeout: 5_000 });

/** makeNotebook's notebooks name the kernelspec "python3". */
const SPEC = fakeKernelSpec({ name: "python3", displayName: "Python 3" });
const specs = [SPEC];

const fakes: FakeKernel[] = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const fake of fakes.splice(0)) {
    await fake.close();
    expect(fake.openSockets, "sockets the fake kernel left open").toBe(0);
    expect(
      fake.requests.filter((r) => r.problem),
      "requests that fail their schema, or scripts that threw",
    ).toEqual([]);
  }
});

/** Fake clocks at a fixed timestamp; socket I/O and the fake kernel stay on real time. */
function fakeClock(): void {
  vi.useFakeTimers({
    now: new Date("2026-01-01T00:00:00Z"),
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
  });
}

/**
 * A fake kernel scripted cell by cell (by exact code; any other code is a plain ok cell), and a
 * lease of our own around it that records each release.
 */
async function kernelWith(cells: Record<string, ExecuteScript> = {}) {
  const { kernel, fake } = await startFakeKernel((f) =>
    f.onExecute((code, k) => (cells[code] ? cells[code](code, k) : k.ok())),
  );
  fakes.push(fake);
  const released: ExecutionStatus[] = [];
  const lease: LeaseFn = async () => ({
    kernel,
    release: async (status) => {
      released.push(status);
    },
  });
  return { fake, lease, released };
}

/** Ends a cell the way ipykernel does once its outputs are out: the ok reply, then idle. */
function done(k: ExecuteContext): Promise<void> {
  void k.reply({ status: "ok", execution_count: k.count });
  return k.idle();
}

/** The code of every execute_request the fake received, in order. */
const executed = (fake: FakeKernel) =>
  fake.requests
    .filter((r) => r.msgType === "execute_request")
    .map((r) => (r.content as { code: string }).code);

const cell = (result: ExecutionResult, i: number) => result.notebook.cells[i] as CodeCell;

function run(nb: Notebook, lease: LeaseFn, options: ExecutionOptions = {}): Promise<ExecutionResult> {
  return executeNotebook(nb, { specs, lease, ...options });
}

/** Resolves when `open()` is called: holds a scripted cell while the test moves the clock. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const notebookOf = (cells: CellSpec[]) => makeNotebook(cells);

describe("executeNotebook: cells and their outputs", () => {
  it("runs the code cells in order and saves their outputs as Jupyter does", async () => {
    const { fake, lease, released } = await kernelWith({
      streams: (_code, k) => {
        void k.busy();
        void k.stream("stdout", "a\n");
        void k.stream("stdout", "b\n");
        void k.stream("stderr", "warning\n");
        void k.stream("stdout", "c\n");
        return done(k);
      },
      show: (_code, k) => {
        void k.busy();
        void k.display({ "text/plain": "0%" }, { displayId: "bar" });
        return done(k);
      },
      update: (_code, k) => {
        void k.busy();
        void k.updateDisplay("bar", { "text/plain": "100%" });
        void k.stream("stdout", "gone\n");
        void k.clearOutput(true);
        void k.stream("stdout", "kept\n");
        return done(k);
      },
      "6 * 7": (_code, k) => {
        void k.busy();
        void k.result({ "text/plain": "42" });
        return done(k);
      },
    });
    const nb = notebookOf([
      { source: "# Title", type: "markdown" },
      "streams",
      "  \n",
      "show",
      "update",
      "6 * 7",
    ]);
    const result = await run(nb, lease);

    expect(result.status).toBe("ok");
    expect(result.error).toBeUndefined();
    // the blank cell is not sent, as nbclient does
    expect(executed(fake)).toEqual(["streams", "show", "update", "6 * 7"]);
    expect(cell(result, 1).outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "a\nb\n" },
      { output_type: "stream", name: "stderr", text: "warning\n" },
      { output_type: "stream", name: "stdout", text: "c\n" },
    ]);
    // the update of a later cell rewrites the display where it was shown
    expect(cell(result, 3).outputs).toEqual([
      { output_type: "display_data", data: { "text/plain": "100%" }, metadata: {} },
    ]);
    // clear_output(wait=True) clears when the next output comes
    expect(cell(result, 4).outputs).toEqual([{ output_type: "stream", name: "stdout", text: "kept\n" }]);
    expect(cell(result, 5).outputs).toEqual([
      { output_type: "execute_result", data: { "text/plain": "42" }, metadata: {}, execution_count: 4 },
    ]);
    expect([1, 2, 3, 4, 5].map((i) => cell(result, i).execution_count)).toEqual([1, null, 2, 3, 4]);
    expect(nb.cells[1]).toMatchObject({ outputs: [], execution_count: null }); // the input is not modified
    expect(result.notebook.metadata.language_info).toEqual({ name: "python" }); // from kernel_info
    expect(released).toEqual(["ok"]);
  });

  it("takes a cell's execution count from its execute_result when the reply has none", async () => {
    const { lease } = await kernelWith({
      "1 + 1": (_code, k) => {
        void k.busy();
        void k.publish("execute_result", { data: { "text/plain": "2" }, metadata: {}, execution_count: 7 });
        void k.reply({ status: "ok" });
        return k.idle();
      },
    });
    const result = await run(notebookOf(["1 + 1"]), lease);
    expect(result.status).toBe("ok");
    expect(cell(result, 0).execution_count).toBe(7);
  });

  it("records each cell's start, end and duration in metadata.execution and metadata.papermill", async () => {
    const slow = gate();
    const { fake, lease } = await kernelWith({
      slow: async (_code, k) => {
        void k.busy();
        await slow.opened;
        return done(k);
      },
    });
    fakeClock();
    const running = run(notebookOf(["fast", "slow"]), lease);
    await fake.waitFor("execute_request", 2);
    await vi.advanceTimersByTimeAsync(1500);
    slow.open();
    const result = await running;

    expect(cell(result, 0).metadata).toEqual({
      execution: {
        "iopub.status.busy": "2026-01-01T00:00:00.000Z",
        "iopub.status.idle": "2026-01-01T00:00:00.000Z",
      },
      papermill: {
        start_time: "2026-01-01T00:00:00.000Z",
        end_time: "2026-01-01T00:00:00.000Z",
        duration: 0,
        status: "completed",
        exception: false,
      },
    });
    expect(cell(result, 1).metadata).toEqual({
      execution: {
        "iopub.status.busy": "2026-01-01T00:00:00.000Z",
        "iopub.status.idle": "2026-01-01T00:00:01.500Z",
      },
      papermill: {
        start_time: "2026-01-01T00:00:00.000Z",
        end_time: "2026-01-01T00:00:01.500Z",
        duration: 1.5,
        status: "completed",
        exception: false,
      },
    });
    expect(result.durationMs).toBe(1500);
  });
});

describe("executeNotebook: parameters", () => {
  const withParameters = () =>
    notebookOf(["import json", { source: "n = 1\ntoken = ''", tags: ["parameters"] }, "print(n)"]);

  it("injects the parameters right after the parameters cell, and the kernel runs them there", async () => {
    const { fake, lease } = await kernelWith();
    const result = await run(withParameters(), lease, { parameters: { n: 5n, token: "abc" } });

    expect(result.status).toBe("ok");
    const codes = executed(fake);
    expect(codes).toHaveLength(4);
    expect(codes.slice(0, 2)).toEqual(["import json", "n = 1\ntoken = ''"]);
    expect(codes[2]).toMatch(/^# Parameters\n/);
    expect(codes[2]).toContain("n = 5");
    expect(codes[2]).toContain('token = "abc"');
    expect(codes[3]).toBe("print(n)");
    expect(result.notebook.cells[2]).toMatchObject({
      cell_type: "code",
      metadata: { tags: ["injected-parameters"] },
      source: codes[2],
      execution_count: 3,
    });
  });

  it("shows shownParameters in the returned notebook while the kernel receives the real ones", async () => {
    const { fake, lease } = await kernelWith();
    const result = await run(withParameters(), lease, {
      parameters: { n: 5n, token: "s3cret" },
      shownParameters: { n: 5n, token: "<redacted>" },
    });

    expect(result.status).toBe("ok");
    expect(executed(fake)[2]).toContain('token = "s3cret"');
    const injected = result.notebook.cells[2]!;
    expect(injected.metadata.tags).toEqual(["injected-parameters"]);
    expect(injected.source).toContain('token = "<redacted>"');
    expect(injected.source).toContain("n = 5");
    // nowhere in the notebook that is saved and rendered: not in the cell, not in its metadata
    expect(JSON.stringify(result.notebook)).not.toContain("s3cret");
    expect(result.notebook.metadata.papermill).toMatchObject({ parameters: { n: 5, token: "<redacted>" } });
  });
});

describe("executeNotebook: what stops a run", () => {
  it("stops at a cell whose reply is an error: status error, its error, later cells never sent", async () => {
    const { fake, lease, released } = await kernelWith({
      "raise ValueError('bad')": (_code, k) => {
        void k.busy();
        void k.stream("stdout", "before\n");
        return k.raise("ValueError", "bad", ["Traceback (most recent call last)", "ValueError: bad"]);
      },
    });
    const result = await run(notebookOf(["a = 1", "raise ValueError('bad')", "print('never')"]), lease);

    expect(result.status).toBe("error");
    expect(result.error).toEqual({
      ename: "ValueError",
      evalue: "bad",
      traceback: ["Traceback (most recent call last)", "ValueError: bad"],
      cellIndex: 1,
    });
    expect(executed(fake)).toEqual(["a = 1", "raise ValueError('bad')"]);
    expect(cell(result, 1).outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "before\n" },
      {
        output_type: "error",
        ename: "ValueError",
        evalue: "bad",
        traceback: ["Traceback (most recent call last)", "ValueError: bad"],
      },
    ]);
    expect(cell(result, 1).metadata.papermill).toMatchObject({ status: "failed", exception: true });
    expect(cell(result, 2)).toMatchObject({ outputs: [], execution_count: null });
    expect(cell(result, 2).metadata.papermill).toBeUndefined();
    expect(result.response).toBeUndefined();
    expect(released).toEqual(["error"]);
  });

  it("interrupts a cell that runs past cellTimeoutMs and ends the run as a timeout", async () => {
    const { fake, lease, released } = await kernelWith({
      "while True: pass": async (_code, k) => {
        void k.busy();
        await k.interrupted;
        return k.keyboardInterrupt();
      },
    });
    fakeClock();
    const running = run(notebookOf(["a = 1", "while True: pass", "print('never')"]), lease, {
      cellTimeoutMs: 10_000,
    });
    await fake.waitFor("execute_request", 2);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(fake.signals).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    const result = await running;

    expect(fake.signals).toEqual(["SIGINT"]);
    expect(result.status).toBe("timeout");
    expect(result.error).toEqual({
      ename: "TimeoutError",
      evalue: "cell timed out after 10 s",
      traceback: [],
      cellIndex: 1,
    });
    expect(cell(result, 1).outputs.at(-1)).toEqual({
      output_type: "error",
      ename: "TimeoutError",
      evalue: "cell timed out after 10 s",
      traceback: [],
    });
    expect(executed(fake)).not.toContain("print('never')");
    expect(released).toEqual(["timeout"]);
  });

  it("applies runTimeoutMs across cells: the time the earlier cells took counts, with the run's message", async () => {
    const first = gate();
    const { fake, lease, released } = await kernelWith({
      "load()": async (_code, k) => {
        void k.busy();
        await first.opened;
        return done(k);
      },
      "while True: pass": async (_code, k) => {
        void k.busy();
        await k.interrupted;
        return k.keyboardInterrupt();
      },
    });
    fakeClock();
    const running = run(notebookOf(["load()", "while True: pass", "print('never')"]), lease, {
      runTimeoutMs: 5_000,
      cellTimeoutMs: 60_000,
    });
    await fake.waitFor("execute_request", 1);
    await vi.advanceTimersByTimeAsync(2_000);
    first.open();
    await fake.waitFor("execute_request", 2);
    await vi.advanceTimersByTimeAsync(2_999); // 4.999 s into the run
    expect(fake.signals).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    const result = await running;

    expect(fake.signals).toEqual(["SIGINT"]);
    expect(result.status).toBe("timeout");
    expect(result.error).toEqual({
      ename: "TimeoutError",
      evalue: "the run timed out after 5 s",
      traceback: [],
      cellIndex: 1,
    });
    expect(executed(fake)).toEqual(["load()", "while True: pass"]);
    expect(released).toEqual(["timeout"]);
  });

  it("reports a kernel that dies mid-cell as died, KernelDied, with its exit and last words", async () => {
    const { fake, lease, released } = await kernelWith({
      "print('before')": (_code, k) => {
        void k.busy();
        void k.stream("stdout", "before\n");
        return done(k);
      },
      "crash()": (_code, k) => {
        void k.busy();
        void k.stream("stdout", "crashing\n");
        fake.stderr = "Fatal Python error: Segmentation fault\n";
        // the stream gets out before the "process" goes
        setImmediate(() => k.die({ code: 139 }));
      },
    });
    const result = await run(notebookOf(["print('before')", "crash()", "print('after')"]), lease);

    expect(result.status).toBe("died");
    expect(result.error).toMatchObject({ ename: "KernelDied", cellIndex: 1, traceback: [] });
    expect(result.error!.evalue).toMatch(/exited with code 139/);
    expect(result.error!.evalue).toContain("Fatal Python error: Segmentation fault");
    expect(cell(result, 0).outputs).toEqual([{ output_type: "stream", name: "stdout", text: "before\n" }]);
    expect(executed(fake)).toEqual(["print('before')", "crash()"]);
    expect(cell(result, 2).execution_count).toBeNull();
    expect(released).toEqual(["died"]);
  });

  it("fails a cell that raises StdinNotImplementedError (ipykernel without stdin) with the hint about parameters", async () => {
    const { lease } = await kernelWith({
      "input('Your name? ')": (_code, k) => {
        void k.busy();
        return k.raise(
          "StdinNotImplementedError",
          "raw_input was called, but this frontend does not support input requests.",
        );
      },
    });
    const result = await run(notebookOf(["input('Your name? ')", "print('never')"]), lease);
    expect(result.status).toBe("error");
    expect(result.error).toMatchObject({ ename: "StdinNotImplementedError", cellIndex: 0 });
    expect(result.error!.evalue).toMatch(
      /does not support input requests\. — .*pass the value as a parameter instead$/,
    );
  });

  // The client answers StdinNotImplementedError in the reply; the cell's error output is the
  // KeyboardInterrupt of the interrupt, which must not win.
  it("fails a cell that sends an input_request: interrupts it, StdinNotImplementedError with the hint", async () => {
    const { fake, lease, released } = await kernelWith({
      "input('Your name? ')": async (_code, k) => {
        void k.busy();
        void k.inputRequest("Your name? ");
        await k.interrupted;
        return k.keyboardInterrupt();
      },
    });
    const result = await run(notebookOf(["input('Your name? ')", "print('never')"]), lease);

    expect(fake.signals).toEqual(["SIGINT"]);
    expect(result.status).toBe("error");
    expect(executed(fake)).toEqual(["input('Your name? ')"]);
    expect(released).toEqual(["error"]);
    expect(result.error).toMatchObject({ ename: "StdinNotImplementedError", cellIndex: 0 });
    expect(result.error!.evalue).toContain("pass the value as a parameter instead");
  });
});

describe("executeNotebook: the notebook's response", () => {
  const bundle = (value: unknown) => ({ [RESPONSE_MIME]: value, "text/plain": "<nbhook response>" }) as never;

  it("answers with the response bundle the notebook displayed, and still runs the cells after it", async () => {
    const { fake, lease, released } = await kernelWith({
      "respond()": (_code, k) => {
        void k.busy();
        void k.display(
          bundle({
            content_type: "application/json",
            data: '{"ok": true}',
            encoding: "utf-8",
            status: 201,
            headers: { "x-answer": "42" },
          }),
        );
        return done(k);
      },
    });
    const result = await run(notebookOf(["compute()", "respond()", "print('after')"]), lease);

    expect(result.status).toBe("ok");
    expect(result.response).toEqual({
      contentType: "application/json",
      body: Buffer.from('{"ok": true}'),
      status: 201,
      headers: { "x-answer": "42" },
    });
    expect(executed(fake)).toEqual(["compute()", "respond()", "print('after')"]);
    expect(released).toEqual(["ok"]);
  });

  it("fails the run with InvalidResponse and the cell's index for a broken bundle, instead of skipping it", async () => {
    const { lease, released } = await kernelWith({
      "broken()": (_code, k) => {
        void k.busy();
        void k.display(bundle({ content_type: "application/json", data: 42, encoding: "utf-8" }));
        return done(k);
      },
      "respond()": (_code, k) => {
        void k.busy();
        void k.display(bundle({ content_type: "text/plain", data: "fine", encoding: "utf-8" }));
        return done(k);
      },
    });
    const result = await run(notebookOf(["a = 1", "broken()", "respond()"]), lease);

    expect(result.status).toBe("error");
    expect(result.error).toMatchObject({ ename: "InvalidResponse", cellIndex: 1, traceback: [] });
    expect(result.error!.evalue).toMatch(/the response in cell 2, output 1 is invalid/);
    expect(result.response).toBeUndefined();
    // the release sees the final status, so a reuse kernel is replaced after a broken response
    expect(released).toEqual(["error"]);
  });

  it("renders respond_notebook's body from the executed notebook, with the shown parameters", async () => {
    const { fake, lease } = await kernelWith({
      "nbhook.respond_notebook()": (_code, k) => {
        void k.busy();
        void k.display(bundle({ content_type: "text/html", data: "", encoding: "utf-8", kind: "notebook" }));
        return done(k);
      },
      "print('after the response')": (_code, k) => {
        void k.busy();
        void k.stream("stdout", "printed after the response\n");
        return done(k);
      },
    });
    const nb = notebookOf([
      { source: "token = ''", tags: ["parameters"] },
      "nbhook.respond_notebook()",
      "print('after the response')",
    ]);
    const result = await run(nb, lease, {
      parameters: { token: "s3cret" },
      shownParameters: { token: "<redacted>" },
    });

    expect(result.status).toBe("ok");
    expect(executed(fake)[1]).toContain("s3cret");
    expect(result.response).toMatchObject({ contentType: "text/html", kind: "notebook" });
    const html = result.response!.body.toString("utf8");
    expect(html).toMatch(/^<!DOCTYPE html>/);
    // rendered once the run is over: a later cell's output is in it
    expect(html).toContain("printed after the response");
    expect(html).toContain("&lt;redacted&gt;");
    expect(html).not.toContain("s3cret");
  });
});
