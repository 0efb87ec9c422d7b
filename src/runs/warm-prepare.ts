/**
 * Preparing a kernel for one webhook version (warm modes, docs/modes.md): a kernel from the pool,
 * moved into the webhook's files folder with nbhook's helper loaded, then the code cells tagged
 * `setup` run in order with their outputs recorded, so that calls skip them and still show them.
 * And the step every call takes on a prepared kernel: its own environment (NBHOOK_RUN, …).
 */
import { AppError, coerceError } from "../errors.js";
import { SetupTemplate, type TemplateSetup } from "../kernel/forkserver.js";
import {
  contextPreamble,
  KernelClient,
  type IopubOutput,
  type KernelPool,
  type KernelSpec,
} from "../kernel/index.js";
import { OutputCollector } from "../notebook/outputs.js";
import { hasTag } from "../notebook/parameters/index.js";
import { sourceText } from "../notebook/read.js";
import type { CodeCell, Notebook, Output } from "../notebook/types.js";
import { classifyFailure } from "./execute-notebook.js";
import { prepareKernel } from "./kernel-lease.js";
import type { RunError } from "./types.js";

/** Cells with this tag run once per prepared kernel, not once per call. */
export const SETUP_TAG = "setup";

/** Outputs of the `setup` cells, one entry per tagged code cell in cell order (KernelLease.skippedOutputs). */
export type SetupOutputs = { outputs: Output[]; executionCount: number | null }[];

export interface WarmKernel {
  kernel: KernelClient;
  setupOutputs: SetupOutputs;
  /** Calls served so far (reuse mode). */
  calls: number;
  /** The folder and environment last given to the kernel (JSON), so a reused kernel is not given them again. */
  context?: string;
}

/** What a kernel is prepared for: one webhook version. */
export interface WarmTarget {
  spec: KernelSpec;
  notebook: Notebook;
  /** The webhook's files folder. */
  cwd: string | undefined;
  /** Environment without per-call values (setupEnvOf). */
  env: Record<string, string>;
  /** Limit for all setup cells together (the webhook's run time limit); 0 for none. */
  timeoutMs: number;
}

/** A `setup` cell failed (or the kernel died or timed out in one): the calls waiting for it fail with this. */
export class SetupCellError extends Error {
  constructor(
    readonly ename: string,
    readonly evalue: string,
    readonly traceback: string[],
    /** Index of the failing cell in the deployed notebook. */
    readonly cellIndex: number,
    /** Outputs of the setup cells that ran, the failing one included. */
    readonly setupOutputs: SetupOutputs,
  ) {
    super(evalue);
    this.name = ename;
  }

  runError(): RunError {
    return { ename: this.ename, evalue: this.evalue, traceback: this.traceback, cellIndex: this.cellIndex };
  }

  /** The deployed notebook with the setup cells' outputs (what the failed call saves). */
  annotate(source: Notebook): Notebook {
    const notebook = structuredClone(source);
    let i = 0;
    for (const cell of notebook.cells) {
      if (cell.cell_type !== "code") continue;
      cell.outputs = [];
      cell.execution_count = null;
      if (!hasTag(cell, SETUP_TAG)) continue;
      const done = this.setupOutputs[i++];
      if (done) {
        cell.outputs = structuredClone(done.outputs);
        cell.execution_count = done.executionCount;
      }
    }
    return notebook;
  }
}

export function hasSetupCells(notebook: Notebook): boolean {
  return notebook.cells.some((c) => c.cell_type === "code" && hasTag(c, SETUP_TAG));
}

/**
 * The environment of a call without what belongs to that call alone: NBHOOK_RUN keeps the
 * webhook's path, url and id (so `naas.webhook.add()` in a setup cell still knows it runs on the
 * server), gaining `"setup": true`.
 */
export function setupEnvOf(env: Record<string, string> = {}): Record<string, string> {
  const out = { ...env };
  try {
    const run: unknown = JSON.parse(env.NBHOOK_RUN ?? "");
    if (run && typeof run === "object" && !Array.isArray(run)) {
      out.NBHOOK_RUN = JSON.stringify({ ...run, setup: true });
    }
  } catch {
    delete out.NBHOOK_RUN;
  }
  return out;
}

/** A kernel from `pool` for `target`, its setup cells run. Throws SetupCellError when one fails. */
export async function prepareWarmKernel(pool: KernelPool, target: WarmTarget): Promise<WarmKernel> {
  const start = { cwd: target.cwd, env: target.env };
  const kernel = await pool.take(target.spec, start);
  try {
    await prepareKernel(kernel, { spec: target.spec, start }, true);
    const setupOutputs = await runSetupCells(kernel, target.notebook, target.timeoutMs);
    return { kernel, setupOutputs, calls: 0 };
  } catch (err) {
    await kernel.kill();
    throw err;
  }
}

/** A template cannot serve this version (why); the caller prepares kernels the usual way. */
export class TemplateUnusable extends Error {}

/** The setup cells a template of `target` runs, or undefined when its kernels cannot come from one. */
export function templateSetup(target: WarmTarget): TemplateSetup | undefined {
  if (!SetupTemplate.usable(target.spec) || target.spec.language.toLowerCase() !== "python") return undefined;
  const cells = setupCodes(target.notebook).filter((code) => code.trim());
  return { cells, cwd: target.cwd, env: target.env, timeoutMs: target.timeoutMs };
}

function setupCodes(notebook: Notebook): string[] {
  return notebook.cells
    .filter((c) => c.cell_type === "code" && hasTag(c, SETUP_TAG))
    .map((c) => sourceText((c as CodeCell).source));
}

/**
 * A kernel forked from the version's setup template: the setup cells ran once in the template,
 * their outputs built from its messages as from a kernel's. Throws TemplateUnusable when the
 * template refused or died (a failing setup cell included: the usual preparation then fails
 * with the kernel's own error, timing and backoff).
 */
export async function prepareFromTemplate(template: SetupTemplate, target: WarmTarget): Promise<WarmKernel> {
  let kernel: KernelClient;
  try {
    kernel = await KernelClient.start(target.spec, { cwd: target.cwd, fork: template.fork });
  } catch (err) {
    throw new TemplateUnusable(coerceError(err).message);
  }
  return { kernel, setupOutputs: templateOutputs(template, target.notebook), calls: 0 };
}

function templateOutputs(template: SetupTemplate, notebook: Notebook): SetupOutputs {
  const collector = new OutputCollector(); // display ids are shared across the setup cells
  let ran = 0;
  return setupCodes(notebook).map((code) => {
    const record: SetupOutputs[number] = { outputs: [], executionCount: null };
    if (!code.trim()) return record;
    const cell = template.cells[ran++];
    const sink = collector.forCell(record.outputs);
    for (const msg of cell?.messages ?? []) sink.handle(msg as unknown as IopubOutput);
    record.executionCount = cell?.reply?.execution_count ?? null;
    return structuredClone(record);
  });
}

async function runSetupCells(
  kernel: KernelClient,
  notebook: Notebook,
  timeoutMs: number,
): Promise<SetupOutputs> {
  const collector = new OutputCollector(); // display ids are shared across the setup cells
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
  const done: SetupOutputs = [];
  for (const [index, cell] of notebook.cells.entries()) {
    if (cell.cell_type !== "code" || !hasTag(cell, SETUP_TAG)) continue;
    const record: SetupOutputs[number] = { outputs: [], executionCount: null };
    done.push(record);
    const code = sourceText((cell as CodeCell).source);
    if (!code.trim()) continue;
    const sink = collector.forCell(record.outputs);
    try {
      const reply = await kernel.execute(code, {
        onIopub: (msg) => sink.handle(msg),
        timeoutMs: Number.isFinite(deadline) ? Math.max(1, deadline - Date.now()) : undefined,
      });
      record.executionCount = reply.execution_count ?? null;
      if (reply.status !== "ok") {
        const shown = record.outputs.find((o) => o.output_type === "error") as
          { ename: string; evalue: string; traceback: string[] } | undefined;
        throw new SetupCellError(
          shown?.ename ?? reply.ename ?? "ExecutionAborted",
          shown?.evalue ?? reply.evalue ?? "",
          shown?.traceback ?? reply.traceback ?? [],
          index,
          done,
        );
      }
    } catch (thrown) {
      if (thrown instanceof SetupCellError) throw thrown;
      const err = coerceError(thrown);
      const { ename } = classifyFailure(err);
      const evalue = `setup cell ${index + 1}: ${err.message}`;
      record.outputs.push({ output_type: "error", ename, evalue, traceback: [] } as Output);
      throw new SetupCellError(ename, evalue, [], index, done);
    }
  }
  return done;
}

/** Moves a prepared kernel into one call's working folder and environment. */
export async function applyCallContext(
  kernel: KernelClient,
  spec: KernelSpec,
  cwd: string | undefined,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  const code = contextPreamble(spec, cwd, env);
  if (!code) return;
  const reply = await kernel.execute(code, { silent: true, timeoutMs: Math.max(1, timeoutMs) });
  if (reply.status !== "ok") {
    throw new AppError(
      "kernel-launch",
      `the prepared kernel "${spec.name}" could not be given the call's folder and environment: ${reply.ename}: ${reply.evalue}`,
    );
  }
}

/** Whether nbhook can give a running kernel of `spec` a call's environment (Python, Deno). */
export function canApplyContext(spec: KernelSpec): boolean {
  return contextPreamble(spec, undefined, {}) !== undefined;
}
