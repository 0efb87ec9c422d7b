/**
 * @module The words of the run layer (docs/glossary.md), as types: what a call is once prepared,
 * what it came to (its outcome), what its caller receives (its answer), and the seam behind which
 * calls are run (`Calls`: in-process today, a job queue in a cluster). Types only, so every file
 * of runs/ can share them without importing each other.
 */
import type { KernelClient, KernelSpec, PoolStats, StartOptions } from "../kernel/index.js";
import type {
  AnswerFile,
  Notebook,
  NotebookResponse,
  Output,
  ParamLanguage,
  Parameters,
} from "../notebook/types.js";
import type { ExecutionStatus } from "../run-status.js";
import type { Run, Webhook } from "../store/index.js";
import type { RequestInput } from "./webhook-parameters.js";

export type { ExecutionStatus } from "../run-status.js";

/** A failed run's error: a cell's exception, or what stopped the run (timeout, dead kernel). */
export interface RunError {
  ename: string;
  evalue: string;
  traceback: string[];
  /** 0-based index of the failing cell in the executed notebook, if a cell failed. */
  cellIndex?: number;
}

/** pino-compatible: what runs/ logs through (the server's logger, or a request's). */
export interface RunLogger {
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * The URLs runs/ hands out (to kernels, in mails), built by whoever knows the server's address:
 * runs/ never builds a URL path itself.
 */
export interface Links {
  /** The webhook URL callers call. */
  webhook(token: string): string;
  /** A run's record. */
  run(runId: string): string;
  /** A run's executed notebook (.ipynb, through the API). */
  runOutput(runId: string): string;
  /** A run's page on the dashboard (linked from notification mails). */
  runPage(runId: string): string;
  /** A run's kept answer (asynchronous calls). */
  runAnswer(runId: string): string;
}

/** A webhook call ready to run: everything that can be refused before a run (404, 422) was checked. */
export interface PreparedCall {
  webhook: Webhook;
  versionHisto: string;
  notebook: Notebook;
  spec: KernelSpec;
  specs: KernelSpec[];
  /** Undefined for kernels nbhook cannot write parameters for: nothing is injected. */
  language?: ParamLanguage;
  parameters: Parameters;
  /** The same with secret-looking values redacted: what is recorded, logged and saved. */
  redacted: Parameters;
  /** The folder of the files the request uploaded; removed once the call is over (or refused). */
  uploadsDir?: string;
}

/** Kernel-side time of a run: getting and preparing a kernel, and running the cells (ms). */
export interface RunTimings {
  kernelMs: number;
  cellsMs: number;
}

/** Why a call was refused at once (503 busy, nothing recorded). */
export type Refusal = "queue-full" | "closing";

/** Why a queued call left the queue without running (its record ends `cancelled`). */
export type CancelReason = "queue-timeout" | "caller-gone" | "closing";

/** What a call came to. */
export type CallOutcome =
  | {
      kind: "ran";
      runId: string;
      status: ExecutionStatus;
      durationMs: number;
      error?: RunError;
      /** What the notebook returned (its first respond_*), for a run that ended ok. */
      response?: NotebookResponse;
      timings?: RunTimings;
    }
  | {
      /** Left the queue without running. */
      kind: "cancelled";
      runId: string;
      reason: CancelReason;
      message: string;
      retryAfterS: number;
    }
  | {
      /** nbhook itself failed (the store could not start, record or finish the run): not the notebook's doing. */
      kind: "failed";
      runId: string;
      message: string;
      /** Set when the store's disk failed (full, read-only): what happened, for a 507. */
      storage?: string;
      /**
       * Set when the database of a cluster could not be reached while the call was waited for: the
       * call may still run (its record tells), the caller may try again (503).
       */
      unreachable?: boolean;
    };

/** What the caller of a call receives: status, headers, bytes. */
export interface CallAnswer {
  status: number;
  headers: Record<string, string>;
  /** The bytes, when held in memory; empty when {@link file} holds them. */
  body: Buffer;
  /**
   * The bytes are in this file (respond_file), streamed to the caller: the call's own copy,
   * removed once it was sent, or once the run is over when nobody waits (server/deliver-call.ts).
   */
  file?: AnswerFile;
  /** Headers the notebook set that may not be sent (logged). */
  droppedHeaders?: string[];
}

/** Turns an outcome into the answer (the server's; runs/ records it and keeps it for pollers). */
export type AnswerFn = (outcome: CallOutcome, webhook: Webhook) => CallAnswer;

/** A finished call: its record, its outcome and the answer it got. */
export interface CallResult {
  run: Run;
  outcome: CallOutcome;
  answer: CallAnswer;
}

export interface SubmitOptions {
  /** Keep the answer for `GET /api/runs/{id}/response` (asynchronous calls). */
  keepAnswer: boolean;
  /** Where this call logs (a request's logger); default the calls' own. */
  log?: RunLogger;
}

/** What `submit` says at once. */
export type Submission =
  | {
      kind: "refused";
      reason: Refusal;
      message: string;
      retryAfterS: number;
    }
  | {
      kind: "accepted";
      /** The call's record as created: `running`, or `queued` while it waits for a slot. */
      run: Run;
      /** Where the call is now. */
      state(): "queued" | "running" | "over";
      /** Settles once the call is over (a failure of nbhook itself is a `failed` outcome). */
      result: Promise<CallResult>;
      /** The caller went away: a call still queued leaves the queue (its record ends cancelled). */
      cancel(): void;
    };

export interface CallStats {
  /** Calls running now. */
  running: number;
  /** Calls waiting for a slot. */
  queued: number;
  /** The kernels this process keeps for calls (absent where calls run elsewhere). */
  kernels?: { pool: PoolStats[]; warm: WarmStats[] };
}

/** The prepared kernels of one webhook version (warm modes). */
export interface WarmStats {
  webhookId: string;
  histo: string;
  mode: "setup" | "reuse";
  ready: number;
  preparing: number;
  inUse: number;
  pids: number[];
}

/**
 * Where webhook calls go: admission, the run record, a kernel by the webhook's mode, execution,
 * redaction, saving, notification; one answer per call. Built once at start-up. `EmbeddedCalls`
 * runs them in this process; a cluster puts a job queue behind the same interface.
 */
export interface Calls {
  /**
   * Loads the live version and builds the parameters. Throws AppError "not-found" (no version)
   * or "parameter-invalid" (a value that cannot be coerced), before anything is recorded.
   */
  prepare(webhook: Webhook, input: RequestInput, log?: RunLogger): Promise<PreparedCall>;
  /** Admits and records the call, or refuses it (busy, stopping). */
  submit(call: PreparedCall, options: SubmitOptions): Promise<Submission>;
  /** A webhook was redeployed or deleted: what was prepared for its old version goes. */
  webhookChanged(webhookId: string): void;
  stats(): CallStats;
  /** Refuses new calls and the queued ones (they end cancelled); running ones go on. */
  stopAdmitting(): void;
  /** stopAdmitting, then waits for every running call and stops every kernel. */
  close(): Promise<void>;
}

/** Where a run's kernel comes from, and what happens to it afterwards (kernel-lease.ts). */
export interface KernelLease {
  kernel: KernelClient;
  /**
   * Code cells carrying this tag already ran on the kernel and are not executed again; their
   * outputs (in cell order) are copied into the run's notebook from `skippedOutputs`.
   */
  skipTag?: string;
  skippedOutputs?: { outputs: Output[]; executionCount: number | null }[];
  /**
   * Silent code the run executes before its cells (a pooled kernel's move into the run's folder
   * and environment), left to the run so that it can go with the cells in one request. Its
   * failure throws the AppError of preludeError().
   */
  prelude?: string;
  /** Called once when the run is over. */
  release(status: ExecutionStatus): Promise<void>;
}

/** What a run asks of its lease: the kernel's working folder and environment. */
export interface LeaseRequest {
  spec: KernelSpec;
  start: StartOptions;
}

export type LeaseFn = (request: LeaseRequest) => Promise<KernelLease>;
