/**
 * The store: webhooks, their notebook versions, runs and output notebooks. One interface, so the
 * embedded implementation (SQLite + files) can be joined by a Postgres one. All methods are async
 * for that reason, even where SQLite answers synchronously.
 *
 * Words: a *histo* is a version or output id in Naas's format `%Y%m%d%H%M%S%f` (20 digits,
 * sortable, unique per webhook). The *live* version of a webhook is its newest one.
 */
import type { FinishedRunStatus, RunStatus } from "../run-status.js";

export type { FinishedRunStatus, RunStatus } from "../run-status.js";

/** Settings given at `add` (Naas's add-time `params`), plus any user parameters. */
export interface WebhookParams {
  notif_up?: string[];
  notif_down?: string[];
  next_url?: string;
  inline?: boolean;
  /** Other add-time parameters, injected into every run (Naas did the same). */
  [name: string]: unknown;
}

/** How calls get their kernel (issue "warm modes"). */
export type RunMode = "isolated" | "setup" | "reuse";

/** Per-webhook execution settings. */
export interface WebhookSettings {
  /** isolated: a fresh (pooled) kernel per call; setup: `setup`-tagged cells run ahead on a
   * prepared kernel, discarded after the call; reuse: one prepared kernel serves calls in turn. */
  mode: RunMode;
  /** Calls of this webhook running at once; further ones wait in the queue. Null: no own limit. */
  maxConcurrency: number | null;
  /** In reuse mode, calls served by one kernel before it is replaced. */
  reuseCalls: number;
}

export const DEFAULT_SETTINGS: WebhookSettings = { mode: "isolated", maxConcurrency: null, reuseCalls: 100 };

export interface Webhook {
  id: string;
  /** Where the notebook came from (absolute path on the deploying machine); the lookup key. */
  path: string;
  /** The notebook's file name, e.g. `report.ipynb`. */
  name: string;
  token: string;
  params: WebhookParams;
  debug: boolean;
  /** Run time limit in ms. */
  timeoutMs: number;
  settings: WebhookSettings;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
  /** The newest version's histo (the one calls run), or null when every version was cleared. */
  liveHisto: string | null;
  lastRunAt: string | null;
  lastRunStatus: RunStatus | null;
}

export interface WebhookVersion {
  webhookId: string;
  histo: string;
  createdAt: string;
  size: number;
  sha256: string;
}


/** The HTTP answer of a call, kept for `GET /api/runs/{id}/response`. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface RunErrorInfo {
  ename: string;
  evalue: string;
  traceback?: string[];
  cellIndex?: number;
}

export interface Run {
  id: string;
  webhookId: string;
  /** The version that ran. */
  versionHisto: string;
  /** Id of the output notebook (`outputs/<histo>.ipynb`). */
  outputHisto: string;
  status: RunStatus;
  /** When the call was queued, or null when it started at once. */
  queuedAt: string | null;
  /** When it started running (for a queued run: when it was queued, until it starts). */
  startedAt: string;
  durationMs: number | null;
  error: RunErrorInfo | null;
  /** What was injected, with secret-looking values redacted. */
  parameters: Record<string, unknown>;
  /** HTTP status answered, once known. */
  httpStatus: number | null;
  /** Whether the answer was kept (calls made with `Prefer: respond-async` or `wait`). */
  hasResponse: boolean;
}

export interface OutputInfo {
  webhookId: string;
  histo: string;
  size: number;
  createdAt: string;
  runId: string | null;
}

export interface NewWebhook {
  path: string;
  params: WebhookParams;
  debug: boolean;
  timeoutMs: number;
  /** Defaults: DEFAULT_SETTINGS. */
  settings?: Partial<WebhookSettings>;
}

export interface Store {
  /** Creates the webhook, or updates settings of the one at that path (reviving a deleted one, same token). */
  upsertWebhook(input: NewWebhook): Promise<Webhook>;
  getWebhook(id: string): Promise<Webhook | undefined>;
  findWebhookByPath(path: string): Promise<Webhook | undefined>;
  /** Constant-time comparison of the token; deleted webhooks are not found. */
  findWebhookByToken(token: string): Promise<Webhook | undefined>;
  listWebhooks(options?: { includeDeleted?: boolean }): Promise<Webhook[]>;
  rotateToken(id: string): Promise<Webhook>;
  /** Soft delete: the row and its history stay; the token stops working. */
  deleteWebhook(id: string): Promise<void>;

  addVersion(webhookId: string, notebook: Buffer): Promise<WebhookVersion>;
  listVersions(webhookId: string): Promise<WebhookVersion[]>;
  readVersion(webhookId: string, histo: string): Promise<Buffer | undefined>;
  deleteVersion(webhookId: string, histo: string): Promise<boolean>;

  /** Writes a dependency file under the webhook's files folder (the kernel's working directory). */
  writeFile(webhookId: string, relativePath: string, data: Buffer): Promise<void>;
  /** The kernel working directory of a webhook (created if missing). */
  filesDir(webhookId: string): Promise<string>;
  /** A fresh folder for one run's uploaded files. */
  uploadsDir(webhookId: string, runHisto: string): Promise<string>;

  /** A run record, `running` (or `queued` with `queued: true`). */
  createRun(input: {
    webhookId: string;
    versionHisto: string;
    parameters: Record<string, unknown>;
    queued?: boolean;
  }): Promise<Run>;
  /** A queued run starts: status `running`, `startedAt` now. */
  startRun(id: string): Promise<Run>;
  /** Closes the record; with `response`, the answer is kept (its body in a file) before the status changes. */
  /**
   * Runs left `queued` or `running` by a server that stopped without finishing them (a crash, a
   * kill) are closed as `died`, so pollers get an answer; returns how many.
   */
  closeInterruptedRuns(): Promise<number>;
  finishRun(
    id: string,
    result: {
      status: FinishedRunStatus;
      durationMs: number;
      error: RunErrorInfo | null;
      httpStatus: number;
      response?: StoredResponse;
    },
  ): Promise<Run>;
  /** The kept answer of a finished run, if it kept one. */
  readResponse(id: string): Promise<StoredResponse | undefined>;
  getRun(id: string): Promise<Run | undefined>;
  listRuns(options: { webhookId?: string; limit?: number }): Promise<Run[]>;

  writeOutput(webhookId: string, histo: string, notebook: string, runId?: string): Promise<void>;
  readOutput(webhookId: string, histo: string): Promise<Buffer | undefined>;
  listOutputs(webhookId: string): Promise<OutputInfo[]>;
  deleteOutput(webhookId: string, histo: string): Promise<boolean>;

  close(): Promise<void>;
}
