/**
 * One execution of one notebook: choose its kernel, inject the parameters, run the code cells top
 * to bottom with per-cell and whole-run time limits, collect outputs into nbformat, and find the
 * response the notebook chose (rendering the executed notebook to HTML, once, when it asked for
 * itself). Nothing here throws for what a notebook does: a failing cell, a timeout, a dead kernel
 * or a broken response is a result with a status. Only setup problems (no kernel, bad
 * parameters) throw.
 */
import { AppError, coerceError } from "../errors.js";
import {
  chooseKernelSpec,
  findKernelSpecs,
  type KernelClient,
  type KernelPool,
  type KernelSpec,
} from "../kernel/index.js";
import { OutputCollector } from "../notebook/outputs.js";
import {
  findInjectedCellIndex,
  hasTag,
  injectedSource,
  injectParameters,
  recordParameters,
} from "../notebook/parameters/index.js";
import { sourceText } from "../notebook/read.js";
import { renderNotebookHtml } from "../notebook/render-html.js";
import { findResponse } from "../notebook/response.js";
import type {
  AnswerLimits,
  CodeCell,
  Notebook,
  NotebookResponse,
  ParamLanguage,
  Parameters,
} from "../notebook/types.js";
import type { ExecutionStatus } from "../run-status.js";
import { kernelChoiceOf, paramLanguageOf } from "./kernel-choice.js";
import { freshKernelLease, preludeError, runPrelude } from "./kernel-lease.js";
import { runCellBatch, runnerUsable, type BegunCell, type CellRun, type CellSteps } from "./cell-runner.js";
import { scrubSecrets, secretTexts } from "./scrub-secrets.js";
import type { KernelLease, LeaseFn, RunError, RunTimings } from "./types.js";

export type ProgressEvent =
  | { type: "kernel-starting"; kernel: string }
  | { type: "kernel-ready"; kernel: string; ms: number }
  | { type: "cell-start"; cellIndex: number; ordinal: number; total: number; elapsedMs: number }
  | { type: "cell-done"; cellIndex: number; ordinal: number; total: number; ms: number; status: string };

export interface ExecutionOptions {
  parameters?: Parameters;
  /**
   * What the executed notebook's injected cell shows instead of `parameters` (the redacted
   * values): the kernel runs the real ones, the notebook that is saved and rendered shows these.
   */
  shownParameters?: Parameters;
  /** `--kernel NAME`: use this kernelspec whatever the notebook says. */
  kernel?: string;
  /** Kernelspecs to choose from; found on the machine when omitted. */
  specs?: KernelSpec[];
  /** Per cell; 0 or undefined for none. */
  cellTimeoutMs?: number;
  /** Whole run including the kernel start; 0 or undefined for none. */
  runTimeoutMs?: number;
  /** Kernel working directory. */
  cwd?: string;
  /** Extra kernel environment. */
  env?: Record<string, string>;
  onProgress?: (event: ProgressEvent) => void;
  /** Take the kernel from this pool instead of starting one; it is shut down after the run all the same. */
  pool?: KernelPool;
  /** Where the kernel comes from (warm modes); default: freshKernelLease(pool). */
  lease?: LeaseFn;
  /** Sizes kept of outputs and answers, and where a Naas respond_file is copied to be streamed. */
  limits?: AnswerLimits;
}

export interface ExecutionResult {
  status: ExecutionStatus;
  /** The executed notebook: parameters injected (as shown), outputs and timing metadata filled in. */
  notebook: Notebook;
  error?: RunError;
  /** What the notebook returned (first response in cell order), if the run ended ok. */
  response?: NotebookResponse;
  kernel: string;
  durationMs: number;
  /** Where the time went: getting a ready kernel (start or pool, plus preparation), and running the cells. */
  timings?: RunTimings;
}

/** Executes `source` (not modified) and returns the executed copy with its status. */
export async function executeNotebook(
  source: Notebook,
  options: ExecutionOptions = {},
): Promise<ExecutionResult> {
  const started = Date.now();
  const specs = options.specs ?? (await findKernelSpecs());
  const spec = chooseKernelSpec(specs, { ...kernelChoiceOf(source), override: options.kernel });
  const language = paramLanguageOf(spec.language);
  const notebook = prepareNotebook(source, spec, language, options.parameters);

  const deadline = options.runTimeoutMs ? started + options.runTimeoutMs : Infinity;
  const t0 = performance.now();
  options.onProgress?.({ type: "kernel-starting", kernel: spec.name });
  const start = {
    cwd: options.cwd,
    env: options.env,
    startTimeoutMs: Number.isFinite(deadline) ? Math.max(1, deadline - Date.now()) : undefined,
  };
  const lease = await (options.lease ?? freshKernelLease(options.pool))({ spec, start }).catch(
    (err: unknown) => {
      throw err instanceof AppError && err.code === "timeout" && Number.isFinite(deadline)
        ? new AppError("timeout", `the run timed out while the kernel was starting`, { cause: err })
        : err;
    },
  );
  const { kernel } = lease;
  const kernelMs = performance.now() - t0;
  options.onProgress?.({ type: "kernel-ready", kernel: spec.name, ms: Date.now() - started });

  let status: ExecutionStatus = "error";
  try {
    if (lease.skipTag) copySkippedOutputs(notebook, lease);
    const t1 = performance.now();
    const ended = await executeCells(kernel, notebook, {
      ...options,
      deadline,
      started,
      skipTag: lease.skipTag,
      prelude: lease.prelude,
    });
    const cellsMs = performance.now() - t1;
    notebook.metadata.language_info ??= kernel.info.language_info;
    if (options.shownParameters && language) showParameters(notebook, options.shownParameters, language);
    const result: ExecutionResult = {
      ...ended,
      notebook,
      kernel: spec.name,
      durationMs: Date.now() - started,
      timings: { kernelMs, cellsMs },
    };
    if (ended.status === "ok") answerOf(result, options.cwd, options.limits);
    if (options.parameters && options.shownParameters && language) {
      // After the answer was read: the notebook's answer is its own, what is saved holds no secret.
      const secrets = secretTexts(options.parameters, options.shownParameters, language);
      scrubSecrets(notebook, result.error, secrets);
    }
    status = result.status;
    return result;
  } finally {
    await lease.release(status);
  }
}

/**
 * Fills in what an ok run answers: the notebook's first response, its executed self rendered to
 * HTML when it asked for that (the one render of a run), or the error of a broken response.
 */
function answerOf(result: ExecutionResult, cwd: string | undefined, limits: AnswerLimits = {}): void {
  const found = findResponse(result.notebook.cells, {
    baseDir: cwd,
    maxAnswerBytes: limits.maxAnswerBytes,
    answerDir: limits.answerDir,
  });
  if (found?.kind === "broken") {
    result.status = "error";
    result.error = { ename: found.ename, evalue: found.evalue, traceback: [], cellIndex: found.cellIndex };
    return;
  }
  if (found?.kind === "notebook") found.body = Buffer.from(renderNotebookHtml(result.notebook), "utf8");
  result.response = found;
}

/**
 * Rewrites what the notebook says of its parameters from `shown`: the injected cell's source (its
 * outputs stay) and `metadata.papermill.parameters`.
 */
function showParameters(notebook: Notebook, shown: Parameters, language: ParamLanguage): void {
  const index = findInjectedCellIndex(notebook);
  if (index < 0) return;
  // What injectParameters would write, without copying the executed notebook and its outputs.
  notebook.cells[index]!.source = injectedSource(notebook, shown, { language });
  recordParameters(notebook, shown);
}

/** Cells that ran when the kernel was prepared (setup mode) show the outputs they had then. */
function copySkippedOutputs(notebook: Notebook, lease: KernelLease): void {
  const cells = notebook.cells.filter(
    (c) => c.cell_type === "code" && hasTag(c, lease.skipTag!),
  ) as CodeCell[];
  cells.forEach((cell, i) => {
    const done = lease.skippedOutputs?.[i];
    if (!done) return;
    cell.outputs = structuredClone(done.outputs);
    cell.execution_count = done.executionCount;
  });
}

function prepareNotebook(
  source: Notebook,
  spec: KernelSpec,
  language: ParamLanguage | undefined,
  parameters: Parameters | undefined,
): Notebook {
  const inject = parameters !== undefined && Object.keys(parameters).length > 0;
  if (inject && !language) {
    throw new AppError(
      "parameter-invalid",
      `cannot inject parameters into a ${spec.language || "unknown-language"} notebook (kernel "${spec.name}"): ` +
        `nbhook writes parameters for Python, R, Julia, JavaScript and TypeScript`,
    );
  }
  // One copy: injectParameters makes its own (its cell has no outputs to clear).
  const copy = inject
    ? injectParameters(source, parameters, { language: language! })
    : structuredClone(source);
  for (const cell of copy.cells) {
    if (cell.cell_type === "code") {
      cell.outputs = [];
      cell.execution_count = null;
    }
  }
  return copy;
}

interface CellLoopOptions extends ExecutionOptions {
  deadline: number;
  started: number;
  /** Cells with this tag already ran when the kernel was prepared. */
  skipTag?: string;
  /** The lease's silent code before the cells (KernelLease.prelude). */
  prelude?: string;
}

async function executeCells(
  kernel: KernelClient,
  notebook: Notebook,
  options: CellLoopOptions,
): Promise<{ status: ExecutionStatus; error?: RunError }> {
  const collector = new OutputCollector({ maxOutputBytes: options.limits?.maxOutputBytes });
  const entries = notebook.cells
    .map((cell, index) => ({ cell, index }))
    .filter(({ cell }) => cell.cell_type === "code" && sourceText(cell.source).trim() !== "")
    .filter(({ cell }) => !options.skipTag || !hasTag(cell, options.skipTag));
  const cells: CellRun[] = entries.map(({ cell, index }, i) => ({
    code: cell as CodeCell,
    index,
    ordinal: i + 1,
    total: entries.length,
  }));
  const steps: CellSteps = {
    begin: (cell) => beginCell(cell, collector, options),
    end: (cell, begun, status) => endCell(cell, begun, status, options),
    failure: (cell, begun, thrown) => failedCell(cell, begun, thrown, options),
    replyError: errorFromReply,
  };
  let next = 0;
  let prelude = options.prelude;
  while (next < cells.length) {
    let begun: BegunCell | undefined;
    if (runnerUsable(kernel)) {
      const batch = await runCellBatch(kernel, cells.slice(next), steps, prelude);
      if (batch.preludeFailed) {
        const { ename, evalue } = batch.preludeFailed;
        throw await killedFor(kernel, preludeError(kernel.spec.name, ename, evalue));
      }
      if (!batch.preludePending) prelude = undefined;
      if (batch.stop) return batch.stop;
      next += batch.done;
      if (next >= cells.length) break;
      // The runner handed this cell back (it needs the kernel's event loop), or is unavailable.
      begun = batch.begun;
    }
    if (prelude !== undefined) await runPrelude(kernel, prelude).catch((err) => throwKilled(kernel, err));
    prelude = undefined;
    const ended = await runOneCell(kernel, cells[next]!, begun ?? steps.begin(cells[next]!), steps);
    if (ended) return ended;
    next++;
  }
  // A notebook without code cells.
  if (prelude !== undefined) await runPrelude(kernel, prelude).catch((err) => throwKilled(kernel, err));
  return { status: "ok" };
}

/** A kernel that could not be prepared is killed, as the lease does when it prepares one itself. */
async function killedFor(kernel: KernelClient, err: unknown): Promise<unknown> {
  await kernel.kill();
  return err;
}

async function throwKilled(kernel: KernelClient, err: unknown): Promise<never> {
  throw await killedFor(kernel, err);
}

/** Starts a cell: its progress event, its output sink and its time limit. */
function beginCell(cell: CellRun, collector: OutputCollector, options: CellLoopOptions): BegunCell {
  const started = new Date();
  options.onProgress?.({
    type: "cell-start",
    cellIndex: cell.index,
    ordinal: cell.ordinal,
    total: cell.total,
    elapsedMs: Date.now() - options.started,
  });
  const remaining = options.deadline - Date.now();
  const timeoutMs = Math.min(options.cellTimeoutMs || Infinity, remaining);
  return {
    started,
    sink: collector.forCell(cell.code.outputs),
    timeoutMs: Number.isFinite(timeoutMs) ? Math.max(1, timeoutMs) : undefined,
    runOver: timeoutMs === remaining,
  };
}

/** Ends a cell: its timing metadata and progress event. */
function endCell(cell: CellRun, begun: BegunCell, status: ExecutionStatus, options: CellLoopOptions): void {
  const cellEnd = new Date();
  const ms = cellEnd.getTime() - begun.started.getTime();
  cell.code.metadata.execution = {
    "iopub.status.busy": begun.started.toISOString(),
    "iopub.status.idle": cellEnd.toISOString(),
  };
  cell.code.metadata.papermill = {
    start_time: begun.started.toISOString(),
    end_time: cellEnd.toISOString(),
    duration: ms / 1000,
    status: status === "ok" ? "completed" : "failed",
    exception: status !== "ok",
  };
  options.onProgress?.({
    type: "cell-done",
    cellIndex: cell.index,
    ordinal: cell.ordinal,
    total: cell.total,
    ms,
    status,
  });
}

/** A cell that did not end by itself (timeout, dead kernel, broken reply): its status and error output. */
function failedCell(
  cell: CellRun,
  begun: BegunCell,
  thrown: unknown,
  options: CellLoopOptions,
): { status: ExecutionStatus; error: RunError } {
  const code = cell.code;
  code.execution_count = begun.sink.executionCount ?? code.execution_count;
  const err = coerceError(thrown);
  const failure = classifyFailure(err);
  const runOver = failure.status === "timeout" && begun.runOver;
  const error: RunError = {
    ename: failure.ename,
    evalue: runOver ? `the run timed out after ${formatMs(options.runTimeoutMs ?? 0)}` : err.message,
    traceback: [],
    cellIndex: cell.index,
  };
  code.outputs.push({ output_type: "error", ename: error.ename, evalue: error.evalue, traceback: [] });
  return { status: failure.status, error };
}

/** One cell, one execute_request (every kernel; the runner's fallback). Returns how the run stops, if it does. */
async function runOneCell(
  kernel: KernelClient,
  cell: CellRun,
  begun: BegunCell,
  steps: CellSteps,
): Promise<{ status: ExecutionStatus; error?: RunError } | undefined> {
  const code = cell.code;
  let status: ExecutionStatus = "ok";
  let error: RunError | undefined;
  try {
    const reply = await kernel.execute(sourceText(code.source), {
      onIopub: (msg) => begun.sink.handle(msg),
      timeoutMs: begun.timeoutMs,
    });
    code.execution_count = reply.execution_count ?? begun.sink.executionCount ?? code.execution_count;
    if (reply.status !== "ok") {
      status = "error";
      error = errorFromReply(reply, code, cell.index);
    }
  } catch (thrown) {
    ({ status, error } = steps.failure(cell, begun, thrown));
  }
  steps.end(cell, begun, status);
  return status === "ok" ? undefined : { status, error };
}

/**
 * What a thrown error (not a cell's own exception) means for an execution: a timeout, a dead
 * kernel, or another failure, and the error name shown for it. The one mapping executions, warm
 * kernels and calls share.
 */
export function classifyFailure(err: Error): { status: Exclude<ExecutionStatus, "ok">; ename: string } {
  const code = err instanceof AppError ? err.code : undefined;
  if (code === "timeout") return { status: "timeout", ename: "TimeoutError" };
  if (code === "kernel-died") return { status: "died", ename: "KernelDied" };
  const ename = code
    ? `${code.replace(/(^|-)([a-z])/g, (_m, _dash: string, c: string) => c.toUpperCase())}Error`
    : err.name;
  return { status: "error", ename };
}

function errorFromReply(
  reply: { ename?: string; evalue?: string; traceback?: string[]; status: string },
  cell: CodeCell,
  index: number,
): RunError {
  // The error output carries the traceback as the kernel printed it; the reply has the same data,
  // unless the client answered for a kernel that asked for input (the output is then the
  // KeyboardInterrupt of the interrupt that stopped it).
  const shown =
    reply.ename === "StdinNotImplementedError"
      ? undefined
      : (cell.outputs.find((o) => o.output_type === "error") as
          { ename: string; evalue: string; traceback: string[] } | undefined);
  const error: RunError = {
    ename: shown?.ename ?? reply.ename ?? (reply.status === "ok" ? "" : "ExecutionAborted"),
    evalue: shown?.evalue ?? reply.evalue ?? "",
    traceback: shown?.traceback ?? reply.traceback ?? [],
    cellIndex: index,
  };
  if (error.ename === "StdinNotImplementedError") {
    error.evalue = `${error.evalue} — input() cannot be answered in a run; pass the value as a parameter instead`;
  }
  return error;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s` : `${ms} ms`;
}
