/**
 * @module One webhook call: load the live version, build the parameters, execute it on a fresh
 * kernel in the webhook's files folder, save the output notebook (failed runs too), record the
 * run, and notify. A plain function with explicit dependencies: a kernel pool can stand in for
 * `execute` later.
 *
 * What is stored never holds secrets: the run record's parameters and the saved output notebook's
 * injected cell have secret-looking values replaced by "<redacted>" (webhook-parameters.ts); the
 * request's Authorization/Cookie-like headers are redacted before the kernel sees them.
 */
import { AppError, coerceError } from "../errors.js";
import { chooseKernelSpec, findKernelSpecs, type KernelSpec } from "../kernel/index.js";
import { findInjectedCellIndex, injectParameters, toJsonValue } from "../notebook/parameters/index.js";
import { parseNotebook, serializeNotebook } from "../notebook/read.js";
import { renderNotebookHtml } from "../notebook/render-html.js";
import { stripAnsi } from "../notebook/ansi.js";
import type { Notebook, NotebookResponse, ParamLanguage, Parameters } from "../notebook/types.js";
import type { Run, RunErrorInfo, Store, Webhook } from "../store/index.js";
import {
  classifyFailure,
  executeNotebook,
  type ProgressEvent,
  type RunError,
  type RunOptions,
  type RunResult,
  type RunStatus,
} from "./execute-notebook.js";
import { kernelChoiceOf, paramLanguageOf } from "./kernel-choice.js";
import type { LeaseFn } from "./kernel-lease.js";
import { recipientsFor, type Notifier, type RunLogger } from "./notify.js";
import { SetupCellError } from "./warm-prepare.js";
import { buildWebhookParameters, redactParameters, type RequestInput } from "./webhook-parameters.js";

/** What runs a notebook: executeNotebook's signature. */
export type ExecuteFn = (source: Notebook, options: RunOptions) => Promise<RunResult>;

export interface WebhookRunDeps {
  store: Store;
  /** Server base URL (no trailing slash): the webhook URL given to the kernel, links in mails. */
  baseUrl: string;
  /** Where the run logs (the request's logger); `webhook.debug` adds parameters, cells, traceback. */
  logger: RunLogger;
  /** @default executeNotebook (one fresh kernel per call) */
  execute?: ExecuteFn;
  /** @default findKernelSpecs */
  findSpecs?: () => Promise<KernelSpec[]>;
  notifier?: Notifier;
  /** Warm modes: where the call's kernel comes from; undefined (or absent) for a fresh kernel. */
  leaseFor?: (prepared: PreparedRun) => LeaseFn | undefined;
}

/** A call ready to run: everything that can be refused (404, 422) has been checked. */
export interface PreparedRun {
  webhook: Webhook;
  versionHisto: string;
  notebook: Notebook;
  spec: KernelSpec;
  specs: KernelSpec[];
  /** Undefined for kernels nbhook cannot write parameters for: nothing is injected. */
  language?: ParamLanguage;
  parameters: Parameters;
  /** The same with secrets redacted, as recorded. */
  redacted: Parameters;
}

export interface RunOutcome {
  runId: string;
  status: RunStatus;
  durationMs: number;
  error?: RunError;
  response?: NotebookResponse;
  /** Kernel-side time: getting and preparing a kernel, and running the cells (ms). */
  timings?: { kernelMs: number; cellsMs: number };
}

/**
 * Loads the live version and builds the parameters. Throws AppError "not-found" (no version) or
 * "parameter-invalid" (a value that cannot be coerced), before any kernel starts.
 */
export async function prepareWebhookRun(
  deps: WebhookRunDeps,
  webhook: Webhook,
  request: RequestInput,
): Promise<PreparedRun> {
  const noVersion = () =>
    new AppError(
      "not-found",
      `the webhook for ${webhook.name} has no deployed version: deploy one with \`nbhook add\``,
    );
  const versionHisto = webhook.liveHisto;
  if (!versionHisto) throw noVersion();
  const bytes = await deps.store.readVersion(webhook.id, versionHisto);
  if (!bytes) throw noVersion();
  const notebook = parseNotebook(bytes.toString("utf8"), `${webhook.name} (version ${versionHisto})`);
  const specs = await (deps.findSpecs ?? findKernelSpecs)();
  const spec = chooseKernelSpec(specs, kernelChoiceOf(notebook));
  const language = paramLanguageOf(spec.language);
  if (!language) {
    deps.logger.warn(
      { webhook: webhook.path, kernel: spec.name },
      "no parameters injected: nbhook cannot write this kernel's language",
    );
    return { webhook, versionHisto, notebook, spec, specs, parameters: {}, redacted: {} };
  }
  const parameters = buildWebhookParameters({ notebook, language, addParams: webhook.params, request });
  return {
    webhook,
    versionHisto,
    notebook,
    spec,
    specs,
    language,
    parameters,
    redacted: redactParameters(parameters),
  };
}

/** What executeWebhookRun may be given besides the call. */
export interface ExecuteWebhookOptions {
  /** The call's record, already created (and started) by the caller; default: a new one. */
  run?: Run;
  /** Keep the answer in the store for `GET /api/runs/{id}/response` (asynchronous calls). */
  keepResponse?: boolean;
}

/** The record of a prepared call (`queued` while it waits for a slot). */
export function createRunRecord(store: Store, prepared: PreparedRun, queued = false): Promise<Run> {
  return store.createRun({
    webhookId: prepared.webhook.id,
    versionHisto: prepared.versionHisto,
    parameters: toJsonValue(prepared.redacted) as Record<string, unknown>,
    queued,
  });
}

/**
 * Runs a prepared call and records it. `answer` turns the outcome into the HTTP answer (the
 * server's webhookAnswer): its status is recorded (with the answer itself when `keepResponse`),
 * and the mail goes out once it is decided.
 */
export async function executeWebhookRun<A extends { status: number; headers?: Record<string, string>; body?: Buffer }>(
  deps: WebhookRunDeps,
  prepared: PreparedRun,
  answer: (outcome: RunOutcome) => A,
  options: ExecuteWebhookOptions = {},
): Promise<{ run: Run; outcome: RunOutcome; answer: A }> {
  const { webhook } = prepared;
  const { store } = deps;
  const log = deps.logger;
  const about = { webhook: webhook.path };
  const run = options.run ?? (await createRunRecord(store, prepared));
  const runAbout = { ...about, run: run.id };
  if (webhook.debug) {
    log.info({ ...runAbout, parameters: toJsonValue(prepared.redacted) }, "debug: run parameters");
  }
  try {
    const result = await execute(deps, prepared, run);
    const saved = redactOutput(result.notebook, prepared);
    const response = result.response;
    if (response?.kind === "notebook" && saved !== result.notebook) {
      response.body = Buffer.from(renderNotebookHtml(saved), "utf8");
    }
    await store
      .writeOutput(webhook.id, run.outputHisto, serializeNotebook(saved), run.id)
      .catch((err: unknown) => {
        log.error({ ...runAbout, err: coerceError(err).message }, "could not save the output notebook");
      });
    const outcome: RunOutcome = {
      runId: run.id,
      status: result.status,
      durationMs: result.durationMs,
      timings: result.timings,
    };
    if (result.error) {
      outcome.error = { ...result.error, traceback: result.error.traceback.map((l) => stripAnsi(l)) };
    }
    if (response) outcome.response = response;
    const reply = answer(outcome);
    const finished = await store.finishRun(run.id, {
      status: outcome.status,
      durationMs: outcome.durationMs,
      error: errorInfo(outcome.error),
      httpStatus: reply.status,
      response:
        options.keepResponse && reply.body
          ? { status: reply.status, headers: reply.headers ?? {}, body: reply.body }
          : undefined,
    });
    logOutcome(log, webhook, runAbout, outcome);
    deps.notifier?.send(
      recipientsFor(webhook.params, outcome.status),
      {
        notebook: webhook.name,
        path: webhook.path,
        runId: run.id,
        status: outcome.status,
        durationMs: outcome.durationMs,
        error: outcome.error,
        outputUrl: `${deps.baseUrl}/api/runs/${run.id}/output`,
      },
      log,
    );
    return { run: finished, outcome, answer: reply };
  } catch (err) {
    // Not the notebook's doing (the store failed): close the record, let the server answer 500.
    await store
      .finishRun(run.id, {
        status: "error",
        durationMs: Date.now() - Date.parse(run.startedAt),
        error: { ename: "InternalError", evalue: coerceError(err).message },
        httpStatus: 500,
      })
      .catch(() => undefined);
    throw err;
  }
}

/** prepareWebhookRun, then executeWebhookRun. */
export async function runWebhook<A extends { status: number; headers?: Record<string, string>; body?: Buffer }>(
  deps: WebhookRunDeps,
  webhook: Webhook,
  request: RequestInput,
  answer: (outcome: RunOutcome) => A,
): Promise<{ run: Run; outcome: RunOutcome; answer: A }> {
  return executeWebhookRun(deps, await prepareWebhookRun(deps, webhook, request), answer);
}

/** Executes; a setup failure (kernel launch, start timeout) becomes a failed result, not a throw. */
async function execute(deps: WebhookRunDeps, prepared: PreparedRun, run: Run): Promise<RunResult> {
  const { webhook } = prepared;
  const url = `${deps.baseUrl}/notebook/${webhook.token}`;
  const started = Date.now();
  const log = deps.logger;
  const options: RunOptions = {
    parameters: prepared.parameters,
    kernel: prepared.spec.name,
    specs: prepared.specs,
    cwd: await deps.store.filesDir(webhook.id),
    env: {
      // Nothing per call in here: a reused kernel then keeps the same environment from call to call.
      NBHOOK_RUN: JSON.stringify({ path: webhook.path, url, webhook_id: webhook.id }),
      NBHOOK_WEBHOOK_URL: url,
    },
    runTimeoutMs: webhook.timeoutMs > 0 ? webhook.timeoutMs : undefined,
  };
  const lease = deps.leaseFor?.(prepared);
  if (lease) options.lease = lease;
  if (webhook.debug) {
    options.onProgress = (event) =>
      log.info({ webhook: webhook.path, run: run.id, ...progressFields(event) }, `debug: ${event.type}`);
  }
  try {
    return await (deps.execute ?? executeNotebook)(prepared.notebook, options);
  } catch (thrown) {
    if (thrown instanceof SetupCellError) {
      // Warm modes: a `setup` cell failed while the kernel was prepared; the saved notebook shows it.
      const error = thrown.runError();
      const notebook = thrown.annotate(prepared.notebook);
      return { status: "error", notebook, error, kernel: prepared.spec.name, durationMs: Date.now() - started };
    }
    const err = coerceError(thrown);
    const { status, ename } = classifyFailure(err);
    return {
      status,
      notebook: prepared.notebook,
      error: { ename, evalue: err.message, traceback: [] },
      kernel: prepared.spec.name,
      durationMs: Date.now() - started,
    };
  }
}

/** The executed notebook with its injected cell rewritten from the redacted parameters. */
function redactOutput(nb: Notebook, prepared: PreparedRun): Notebook {
  const index = findInjectedCellIndex(nb);
  if (!prepared.language || index < 0) return nb;
  const redacted = injectParameters(nb, prepared.redacted, { language: prepared.language });
  const original = nb.cells[index]!;
  redacted.cells[index] = { ...original, source: redacted.cells[index]!.source };
  return redacted;
}

function errorInfo(error: RunError | undefined): RunErrorInfo | null {
  if (!error) return null;
  const info: RunErrorInfo = { ename: error.ename, evalue: error.evalue, traceback: error.traceback };
  if (error.cellIndex !== undefined) info.cellIndex = error.cellIndex;
  return info;
}

function logOutcome(log: RunLogger, webhook: Webhook, about: object, outcome: RunOutcome): void {
  const fields = { ...about, status: outcome.status, ms: outcome.durationMs };
  if (outcome.status === "ok") {
    log.info(fields, "webhook run finished");
    return;
  }
  const error = outcome.error;
  log.warn(
    { ...fields, ename: error?.ename, evalue: error?.evalue, cell: error?.cellIndex },
    "webhook run failed",
  );
  if (webhook.debug && error) {
    log.info({ ...about, traceback: error.traceback.join("\n") }, "debug: traceback");
  }
}

function progressFields(event: ProgressEvent): Record<string, unknown> {
  const fields: Record<string, unknown> = { ...event };
  delete fields.type;
  return fields;
}
