/**
 * Several code cells in one execute_request: nbhook's in-kernel runner (python/nbhook/_runner.py)
 * runs each through IPython's `run_cell(code, store_history=True)` — what ipykernel does for a
 * request of its own — and publishes a marker (a display_data of RUNNER_MIME) after each, so that
 * the outputs before a marker are that cell's. One round trip per run instead of one per cell;
 * the saved notebook is the same: per-cell outputs, execution counts, timing metadata, the first
 * error stopping the run, per-cell time limits (the request's timer re-armed at each cell, the
 * interrupt then lands in the cell that ran over).
 *
 * Only for IPython kernels (kernel_info `implementation: "ipython"`); NBHOOK_CELL_RUNNER=0 turns it
 * off. A kernel where the runner cannot be imported falls back to one request per cell, as does a
 * cell IPython runs as a coroutine (top-level await: the runner hands it back).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AppError } from "../errors.js";
import type { IopubOutput, KernelClient } from "../kernel/index.js";
import type { CellOutputSink } from "../notebook/outputs.js";
import { sourceText } from "../notebook/read.js";
import type { CodeCell } from "../notebook/types.js";
import type { ExecutionStatus } from "../run-status.js";
import type { RunError } from "./types.js";

export const RUNNER_MIME = "application/vnd.nbhook.cell+json";

/** One code cell of a run. */
export interface CellRun {
  code: CodeCell;
  index: number;
  ordinal: number;
  total: number;
}

/** A cell whose execution has begun (its progress event sent). */
export interface BegunCell {
  started: Date;
  sink: CellOutputSink;
  timeoutMs: number | undefined;
  /** Whether the time limit is what is left of the run's (its timeout is then the run's). */
  runOver: boolean;
}

/** What executeNotebook does at each step of a cell, shared by both paths. */
export interface CellSteps {
  begin(cell: CellRun): BegunCell;
  end(cell: CellRun, begun: BegunCell, status: ExecutionStatus): void;
  failure(cell: CellRun, begun: BegunCell, thrown: unknown): { status: ExecutionStatus; error: RunError };
  replyError(
    reply: { ename?: string; evalue?: string; traceback?: string[]; status: string },
    cell: CodeCell,
    index: number,
  ): RunError;
}

export interface BatchResult {
  /** Cells that ran to their end (ok). */
  done: number;
  /** How the run stops (a cell failed or did not end), if it does. */
  stop?: { status: ExecutionStatus; error?: RunError };
  /** The cell after the `done` ones when the runner handed it back: begun, for the one-request path. */
  begun?: BegunCell;
  /** The prelude raised (no cell ran). */
  preludeFailed?: { ename?: string; evalue?: string };
  /** The prelude did not run (the runner did not start): the caller runs it. */
  preludePending?: boolean;
}

/** Kernels whose runner could not be imported: they get one request per cell from then on. */
const unavailable = new WeakSet<KernelClient>();

export function runnerUsable(kernel: KernelClient, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NBHOOK_CELL_RUNNER === "0") return false;
  return kernel.info.implementation === "ipython" && !unavailable.has(kernel);
}

interface Marker {
  cell: number;
  status: "ok" | "error" | "yield" | "prelude-error";
  execution_count?: number | null;
  /** Of a failed cell: what the execute_reply of its own request would have said. */
  ename?: string;
  evalue?: string;
  traceback?: string[];
  /** This request's token: a notebook's own display of the MIME type is an output. */
  token?: string;
}

function markerOf(msg: IopubOutput): Marker | undefined {
  if (msg.msg_type !== "display_data") return undefined;
  const data = msg.content.data[RUNNER_MIME] as Partial<Marker> | undefined;
  // Only the runner's own shape: a notebook displaying this MIME type itself keeps its output.
  if (!data || typeof data !== "object" || typeof data.cell !== "number") return undefined;
  return typeof data.status === "string" ? (data as Marker) : undefined;
}

/** The code of the request: the cells as JSON text, read back by json.loads (exact for any text). */
export function runnerCode(
  codes: string[],
  progress?: { file: string; token: string },
  prelude?: string,
): string {
  const request = { cells: codes, progress: progress?.file, token: progress?.token, prelude };
  const payload = JSON.stringify(JSON.stringify(request));
  return `__import__("nbhook._runner", fromlist=["run"]).run(${payload})`;
}

/**
 * Runs `cells` (in order) in one request. The outputs of the cell running are held until its
 * marker, so that a runner that fails to start (nothing ran) leaves no trace and the cells run the
 * one-request way instead.
 */
export async function runCellBatch(
  kernel: KernelClient,
  cells: CellRun[],
  steps: CellSteps,
  prelude?: string,
): Promise<BatchResult> {
  const progress = { file: progressFile(kernel), token: randomBytes(6).toString("hex") };
  let current = 0;
  let begun = steps.begin(cells[0]!);
  let held: IopubOutput[] = [];
  let marked = false;
  let failed: Marker | undefined;
  let preludeFailed: Marker | undefined;
  let yielded = false;
  let timedOut = false;
  let arm: (ms: number | undefined) => void = () => {};
  const flush = () => {
    for (const msg of held) begun.sink.handle(msg);
    held = [];
  };
  const onIopub = (msg: IopubOutput) => {
    const found = markerOf(msg);
    const marker = found?.token === progress.token ? found : undefined;
    if (!marker) {
      if (!failed && !yielded) held.push(msg);
      return;
    }
    marked = true;
    if (marker.status === "prelude-error") {
      preludeFailed = marker;
      held = [];
      return;
    }
    if (failed || yielded || preludeFailed || marker.cell !== current) return;
    if (marker.status === "yield") {
      yielded = true;
      return;
    }
    flush();
    if (marker.status !== "ok" || timedOut) {
      // Ended below, once the request is over (its reply, or the timeout that interrupted it).
      failed = marker;
      return;
    }
    const cell = cells[current]!;
    cell.code.execution_count = marker.execution_count ?? begun.sink.executionCount ?? null;
    steps.end(cell, begun, "ok");
    current++;
    if (current < cells.length) {
      begun = steps.begin(cells[current]!);
      arm(begun.timeoutMs);
    } else {
      arm(undefined);
    }
  };
  const codes = cells.map((c) => sourceText(c.code.source));
  let reply: Awaited<ReturnType<KernelClient["execute"]>>;
  try {
    reply = await kernel.execute(runnerCode(codes, progress, prelude), {
      silent: true,
      storeHistory: false,
      onIopub,
      timeoutMs: begun.timeoutMs,
      bindTimer: (fn) => (arm = fn),
      onTimeout: () => (timedOut = true),
    });
  } catch (thrown) {
    if (!failed && !yielded && classifyDeath(thrown)) {
      // The cells the kernel finished before it died, though their markers died with it.
      for (const ended of endedBefore(progress, cells.length)) {
        if (ended.cell < current) continue;
        if (ended.cell !== current || !ended.ok) break;
        flush();
        cells[current]!.code.execution_count = ended.executionCount || begun.sink.executionCount;
        steps.end(cells[current]!, begun, "ok");
        current++;
        if (current < cells.length) begun = steps.begin(cells[current]!);
      }
    }
    if (current >= cells.length) return { done: current }; // every cell ended before the failure
    flush();
    const cell = cells[current]!;
    const { status, error } = steps.failure(cell, begun, thrown);
    steps.end(cell, begun, status);
    return { done: current, stop: { status, error } };
  }
  if (preludeFailed) return { done: 0, preludeFailed };
  if (yielded) return { done: current, begun };
  if (failed) {
    const cell = cells[current]!;
    cell.code.execution_count = failed.execution_count ?? begun.sink.executionCount ?? null;
    const { ename, evalue, traceback } = failed;
    const error = steps.replyError({ status: "error", ename, evalue, traceback }, cell.code, cell.index);
    steps.end(cell, begun, "error");
    return { done: current, stop: { status: "error", error } };
  }
  if (reply.status !== "ok" && !marked) {
    // The runner did not start (not importable here): nothing ran, the cells run one by one.
    unavailable.add(kernel);
    return { done: 0, begun, preludePending: prelude !== undefined };
  }
  if (current < cells.length) {
    // The runner itself failed between cells (an interrupt that came late): the cell it was at fails.
    flush();
    const cell = cells[current]!;
    const error =
      reply.status !== "ok"
        ? steps.replyError(reply, cell.code, cell.index)
        : steps.failure(cell, begun, new AppError("protocol", "the cell runner stopped without a result"))
            .error;
    steps.end(cell, begun, "error");
    return { done: current, stop: { status: "error", error } };
  }
  return { done: current };
}

/** Where a kernel's runner notes the cells it ended (see _runner.py), removed with the kernel. */
const progressFiles = new WeakMap<KernelClient, string>();

function progressFile(kernel: KernelClient): string {
  let file = progressFiles.get(kernel);
  if (!file) {
    file = path.join(os.tmpdir(), `nbhook-cells-${process.pid}-${randomBytes(6).toString("hex")}`);
    progressFiles.set(kernel, file);
    const remove = file;
    void kernel.exited.then(() => rm(remove, { force: true })).catch(() => {});
  }
  return file;
}

function classifyDeath(thrown: unknown): boolean {
  return thrown instanceof AppError && thrown.code === "kernel-died";
}

/** What the runner wrote of the cells it ended in this request, read at once (the file goes with the kernel). */
function endedBefore(
  progress: { file: string; token: string },
  count: number,
): { cell: number; executionCount: number | null; ok: boolean }[] {
  let text: string;
  try {
    text = readFileSync(progress.file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .map((line) => line.split(" "))
    .filter((parts) => parts.length === 4 && parts[0] === progress.token)
    .map((parts) => parts.slice(1).map(Number))
    .filter(([cell]) => Number.isInteger(cell) && cell! >= 0 && cell! < count)
    .map(([cell, n, ok]) => ({ cell: cell!, executionCount: n || null, ok: ok === 1 }));
}
