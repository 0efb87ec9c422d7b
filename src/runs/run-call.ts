/**
 * @module One admitted webhook call, run: its kernel by the webhook's mode, execution in the
 * webhook's files folder with the redacted parameters shown in the executed notebook, the executed
 * notebook saved (failed runs too), the answer decided, the record finished, the mail sent.
 *
 * What is stored never holds secrets: the run record's parameters and the saved notebook's
 * injected cell have secret-looking values replaced by "<redacted>" (webhook-parameters.ts); the
 * request's Authorization/Cookie-like headers are redacted before the kernel sees them. The
 * webhook's stored secrets reach the kernel as NBHOOK_SECRET_<NAME> variables, and their values
 * are replaced by "***" in the executed notebook and the error before anything is saved, logged
 * or mailed (the answer the notebook chose to give is its own).
 */
import { coerceError } from "../errors.js";
import type { KernelPool } from "../kernel/index.js";
import { toJsonValue } from "../notebook/parameters/index.js";
import { serializeNotebook } from "../notebook/read.js";
import { renderNotebookHtml } from "../notebook/render-html.js";
import { discardAnswerFiles, removeAnswerFileSync } from "../notebook/response.js";
import type { AnswerLimits } from "../notebook/types.js";
import { stripAnsi } from "../notebook/ansi.js";
import {
  storageProblem,
  type KeptAnswer,
  type Run,
  type RunErrorInfo,
  type Store,
  type Webhook,
} from "../store/index.js";
import {
  classifyFailure,
  executeNotebook,
  type ProgressEvent,
  type ExecutionOptions,
  type ExecutionResult,
} from "./execute-notebook.js";
import type { FinishRetries } from "./finish-retries.js";
import { recipientsFor, type Notifier } from "./notify.js";
import type { RunSecrets, WebhookSecrets } from "./run-secrets.js";
import { scrubSecretValues, secretValueTexts } from "./scrub-secrets.js";
import type {
  AnswerFn,
  CallAnswer,
  CallOutcome,
  CallResult,
  CancelReason,
  LeaseFn,
  Links,
  PreparedCall,
  RunError,
  RunLogger,
} from "./types.js";
import { SetupCellError } from "./warm-prepare.js";

export interface RunCallDeps {
  store: Store;
  pool: KernelPool;
  links: Links;
  answerFor: AnswerFn;
  notifier: Notifier;
  /** Where finishes the store refused are retried until it takes them. */
  finishRetries: FinishRetries;
  /** Warm modes: where the call's kernel comes from; undefined for a fresh (pooled) kernel. */
  leaseFor(call: PreparedCall): LeaseFn | undefined;
  /**
   * Sizes kept of outputs and answers; `answerDir` is where answer files are copied to be
   * streamed (the kernels' NBHOOK_ANSWER_DIR). Unset: the defaults, copies in the temp folder.
   */
  limits?: AnswerLimits;
  /**
   * The secrets of the webhook's runs (docs/secrets.md): given to the kernel as environment, and
   * scrubbed ("***") from the executed notebook and the error. Unset: none.
   */
  secrets?: RunSecrets;
}

/**
 * Runs `call` on its record `run` (already `running`) and finishes the record. Never rejects: a
 * failure of nbhook itself (the store) is a `failed` outcome with its answer (see failedCall).
 */
export async function runCall(
  deps: RunCallDeps,
  call: PreparedCall,
  run: Run,
  options: { keepAnswer: boolean; log: RunLogger },
): Promise<CallResult> {
  const { webhook } = call;
  const { store } = deps;
  const log = options.log;
  const about = { webhook: webhook.path, run: run.id };
  if (webhook.debug) log.info({ ...about, parameters: toJsonValue(call.redacted) }, "debug: run parameters");
  let outcome: Extract<CallOutcome, { kind: "ran" }>;
  let answer: CallAnswer;
  let finished: Run;
  let result: ExecutionResult | undefined;
  try {
    result = await execute(deps, call, run, log);
    // Copies made for answers that will not be sent (the run failed after respond_file).
    discardAnswerFiles(result.notebook.cells, result.response?.file);
    // A run whose executed notebook is not saved did not succeed: its caller hears why (507 for
    // a full disk), never an ok with an output link that answers 404.
    await store
      .writeOutput(webhook.id, run.outputHisto, serializeNotebook(result.notebook), run.id)
      .catch((err: unknown) => {
        throw new OutputNotSaved(err);
      });
    outcome = {
      kind: "ran",
      runId: run.id,
      status: result.status,
      durationMs: result.durationMs,
      timings: result.timings,
    };
    if (result.error) {
      outcome.error = { ...result.error, traceback: result.error.traceback.map((l) => stripAnsi(l)) };
    }
    if (result.response) outcome.response = result.response;
    answer = deps.answerFor(outcome, webhook);
    finished = await store.finishRun(run.id, {
      status: outcome.status,
      durationMs: outcome.durationMs,
      error: errorInfo(outcome.error),
      httpStatus: answer.status,
      answer: options.keepAnswer ? keptOf(answer) : undefined,
    });
  } catch (err) {
    if (result?.response?.file) removeAnswerFileSync(result.response.file.path); // never sent now
    return failedCall(deps, call, run, err, options);
  }
  // The record is final from here: nothing below may change it.
  if (answer.droppedHeaders) {
    log.warn(
      { ...about, headers: answer.droppedHeaders },
      "response headers the notebook may not set were dropped",
    );
  }
  logOutcome(log, webhook, about, outcome);
  deps.notifier.send(
    recipientsFor(webhook.params, outcome.status),
    {
      notebook: webhook.name === webhook.path ? webhook.fileName : webhook.name,
      path: webhook.path,
      runId: run.id,
      status: outcome.status,
      durationMs: outcome.durationMs,
      error: outcome.error,
      outputUrl: deps.links.runOutput(run.id),
      runPageUrl: deps.links.runPage(run.id),
    },
    log,
  );
  return { run: finished, outcome, answer };
}

/**
 * A call nbhook itself failed (the store could not start, record or finish its run): logged, the
 * record closed as an internal error when the store still can, and a `failed` outcome answered
 * (kept for pollers, when asked).
 */
export async function failedCall(
  deps: Pick<RunCallDeps, "store" | "answerFor" | "finishRetries">,
  call: Pick<PreparedCall, "webhook">,
  run: Run,
  thrown: unknown,
  options: { keepAnswer: boolean; log: RunLogger },
): Promise<CallResult> {
  const err = coerceError(thrown);
  const storage = storageProblem(err);
  const what =
    err instanceof OutputNotSaved
      ? "the executed notebook could not be saved"
      : "the run could not be recorded";
  const message = storage ? `${what}: ${storage}` : err.message;
  options.log.error(
    { err, webhook: call.webhook.path, run: run.id },
    storage ? `the call failed: ${message}` : "the call failed inside nbhook",
  );
  const outcome: CallOutcome = { kind: "failed", runId: run.id, message, storage };
  const answer = deps.answerFor(outcome, call.webhook);
  const finish = () =>
    deps.store.finishRun(run.id, {
      status: "error",
      durationMs: Date.now() - Date.parse(run.startedAt),
      error: { ename: storage ? "InsufficientStorage" : "InternalError", evalue: message },
      httpStatus: answer.status,
      answer: options.keepAnswer ? keptOf(answer) : undefined,
    });
  const finished = await finish().catch((again: unknown) => {
    options.log.error(
      { err: again, run: run.id },
      "could not record the failure either: retrying until the store takes it",
    );
    deps.finishRetries.add(run.id, finish);
    return run;
  });
  return { run: finished, outcome, answer };
}

/** `error.ename` of a cancelled run, by why it left the queue. */
const CANCELLED_ENAME: Record<CancelReason, string> = {
  "queue-timeout": "QueueTimeout",
  "caller-gone": "CallerGone",
  closing: "ServerStopping",
};

/**
 * A queued call that left the queue without running: its record closed as `cancelled` (the
 * answer kept for pollers, unless its caller is gone), retried until the store takes it.
 */
export async function cancelledCall(
  deps: Pick<RunCallDeps, "store" | "answerFor" | "finishRetries">,
  webhook: Webhook,
  run: Run,
  why: { reason: CancelReason; message: string; retryAfterS: number },
  options: { keepAnswer: boolean; log: RunLogger },
): Promise<CallResult> {
  const outcome: CallOutcome = { kind: "cancelled", runId: run.id, ...why };
  const answer = deps.answerFor(outcome, webhook);
  options.log.warn({ webhook: webhook.path, run: run.id, reason: why.reason }, "queued call cancelled");
  const finish = () =>
    deps.store.finishRun(run.id, {
      status: "cancelled",
      durationMs: Date.now() - Date.parse(run.queuedAt ?? run.startedAt),
      error: { ename: CANCELLED_ENAME[why.reason], evalue: why.message },
      httpStatus: answer.status,
      // Nobody is left to poll the answer of a call whose caller went away.
      answer: options.keepAnswer && why.reason !== "caller-gone" ? answer : undefined,
    });
  const finished = await finish().catch((err: unknown) => {
    options.log.error(
      { err, run: run.id },
      "could not record a cancelled call: retrying until the store takes it",
    );
    deps.finishRetries.add(run.id, finish);
    return run;
  });
  return { run: finished, outcome, answer };
}

/** The executed notebook could not be written (the cause says why). */
class OutputNotSaved extends Error {
  constructor(cause: unknown) {
    super(`the executed notebook could not be saved: ${coerceError(cause).message}`, { cause });
    this.name = "OutputNotSaved";
  }
}

/** What the store keeps of an answer: a file answer as its file, which the store links, never reads. */
function keptOf(answer: CallAnswer): KeptAnswer {
  const kept: KeptAnswer = { status: answer.status, headers: answer.headers, body: answer.body };
  if (answer.file) kept.file = answer.file;
  return kept;
}

const NO_SECRETS: WebhookSecrets = { env: {}, values: [] };

/**
 * Executes with the webhook's secrets, then scrubs their values from the executed notebook and
 * the error. A secret that cannot be decrypted fails the call (nbhook's failure: see failedCall).
 */
async function execute(
  deps: RunCallDeps,
  call: PreparedCall,
  run: Run,
  log: RunLogger,
): Promise<ExecutionResult> {
  const secrets = deps.secrets ? await deps.secrets.forWebhook(call.webhook.id) : NO_SECRETS;
  const result = await executeWith(deps, call, run, log, secrets.env);
  const texts = secretValueTexts(secrets.values, call.language);
  if (texts.length) {
    // The setup-failure and launch-failure results may share the prepared call's notebook.
    if (result.notebook === call.notebook) result.notebook = structuredClone(call.notebook);
    scrubSecretValues(result.notebook, result.error, texts);
    // A notebook that answers with itself answers what is saved.
    if (result.response?.kind === "notebook") {
      result.response.body = Buffer.from(renderNotebookHtml(result.notebook), "utf8");
    }
  }
  return result;
}

/** Executes; a setup failure (kernel launch, start timeout) becomes a failed result, not a throw. */
async function executeWith(
  deps: RunCallDeps,
  call: PreparedCall,
  run: Run,
  log: RunLogger,
  secretEnv: Record<string, string>,
): Promise<ExecutionResult> {
  const { webhook } = call;
  const url = deps.links.webhook(webhook.token);
  const started = Date.now();
  const options: ExecutionOptions = {
    parameters: call.parameters,
    shownParameters: call.redacted,
    kernel: call.spec.name,
    specs: call.specs,
    cwd: await deps.store.filesDir(webhook.id),
    env: {
      // Nothing per call in here: a reused kernel then keeps the same environment from call to call.
      NBHOOK_RUN: JSON.stringify({ path: webhook.path, url, webhook_id: webhook.id }),
      NBHOOK_WEBHOOK_URL: url,
      ...(deps.limits?.answerDir ? { NBHOOK_ANSWER_DIR: deps.limits.answerDir } : {}),
      // Per webhook too; a change of them gives the webhook new prepared kernels (warm-kernels.ts).
      ...secretEnv,
    },
    limits: deps.limits,
    runTimeoutMs: webhook.timeoutMs > 0 ? webhook.timeoutMs : undefined,
    pool: deps.pool,
    lease: deps.leaseFor(call),
  };
  if (webhook.debug) {
    options.onProgress = (event) =>
      log.info({ webhook: webhook.path, run: run.id, ...progressFields(event) }, `debug: ${event.type}`);
  }
  try {
    return await executeNotebook(call.notebook, options);
  } catch (thrown) {
    if (thrown instanceof SetupCellError) {
      // Warm modes: a `setup` cell failed while the kernel was prepared; the saved notebook shows it.
      const error = thrown.runError();
      const notebook = thrown.annotate(call.notebook);
      return { status: "error", notebook, error, kernel: call.spec.name, durationMs: Date.now() - started };
    }
    const err = coerceError(thrown);
    const { status, ename } = classifyFailure(err);
    return {
      status,
      notebook: call.notebook,
      error: { ename, evalue: err.message, traceback: [] },
      kernel: call.spec.name,
      durationMs: Date.now() - started,
    };
  }
}

function errorInfo(error: RunError | undefined): RunErrorInfo | null {
  if (!error) return null;
  const info: RunErrorInfo = { ename: error.ename, evalue: error.evalue, traceback: error.traceback };
  if (error.cellIndex !== undefined) info.cellIndex = error.cellIndex;
  return info;
}

function logOutcome(
  log: RunLogger,
  webhook: Webhook,
  about: object,
  outcome: CallOutcome & { kind: "ran" },
): void {
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
