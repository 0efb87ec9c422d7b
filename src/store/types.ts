/**
 * The store: webhooks, their notebook versions, runs and output notebooks. One interface, so the
 * embedded implementation (SQLite + files) can be joined by a Postgres one. All methods are async
 * for that reason, even where SQLite answers synchronously.
 *
 * Words: a *histo* is a version or output id in Naas's format `%Y%m%d%H%M%S%f` (20 digits,
 * sortable, unique per webhook). The *live* version of a webhook is its newest one.
 */
import type { AnswerFile } from "../notebook/types.js";
import type { FinishedRunStatus, RunStatus } from "../run-status.js";
import type { RunMode } from "../run-modes.js";
import type { ApiTokenStore } from "./api-token-types.js";

export type { FinishedRunStatus, RunStatus } from "../run-status.js";
export {
  TOKEN_SCOPES,
  type ApiToken,
  type ApiTokenStore,
  type NewApiToken,
  type TokenScope,
} from "./api-token-types.js";

/** A secret as it is set: its ciphertext made by the server. */
export interface NewSecret {
  name: string;
  /** Null: every webhook's; else this webhook's own (which wins over a global one of its name). */
  webhookId: string | null;
  /** AES-256-GCM: IV (12 bytes), auth tag (16), ciphertext (runs/secret-box.ts). */
  ciphertext: Buffer;
  /** Which key encrypted it (a fingerprint, not the key), to name a wrong key plainly. */
  keyId: string;
}

/** What may be shown of a secret: never its value. */
export interface SecretInfo {
  name: string;
  webhookId: string | null;
  keyId: string;
  createdAt: string;
  updatedAt: string;
}

export type StoredSecret = SecretInfo & { ciphertext: Buffer };

/** Settings given at `add` (Naas's add-time `params`), plus any user parameters. */
export interface WebhookParams {
  /** Addresses: a list (what the API stores), or one string, comma-separated or not (as Naas took it). */
  notif_up?: string | string[];
  notif_down?: string | string[];
  next_url?: string;
  inline?: boolean;
  /** Other add-time parameters, injected into every run (Naas did the same). */
  [name: string]: unknown;
}

/** How calls get their kernel (docs/modes.md). */
export { RUN_MODES, type RunMode } from "../run-modes.js";

/** Per-webhook execution settings. */
export interface WebhookSettings {
  /** isolated: a fresh (pooled) kernel per call; setup: `setup`-tagged cells run ahead on a
   * prepared kernel, discarded after the call; reuse: one prepared kernel serves calls in turn. */
  mode: RunMode;
  /** Calls of this webhook running at once; further ones wait in the queue. Null: no own limit. */
  maxConcurrency: number | null;
  /** In reuse mode, calls served by one kernel before it is replaced. */
  reuseCalls: number;
  /**
   * Origins (`https://example.com`) whose web pages may call the webhook URL and read its answer
   * (CORS); `*`: any page. Empty: none (no CORS headers; the default).
   */
  cors: string[];
}

export const DEFAULT_SETTINGS: WebhookSettings = {
  mode: "isolated",
  maxConcurrency: null,
  reuseCalls: 100,
  cors: [],
};

export interface Webhook {
  id: string;
  /**
   * The webhook's identity, unique: given at `add` (`--name`), else the notebook's absolute path
   * (docs/api.md, "Names").
   */
  name: string;
  /** Where the notebook of the newest deploy came from (absolute path on the deploying machine). */
  path: string;
  /** The notebook's file name, e.g. `report.ipynb` (downloads, titles). */
  fileName: string;
  /** The machine of the newest deploy (its host name), or null when the deploy did not say. */
  sourceHost: string | null;
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
export interface KeptAnswer {
  status: number;
  headers: Record<string, string>;
  /** The bytes, when held in memory; empty when {@link file} holds them. */
  body: Buffer;
  /**
   * The bytes are in this file. Given to `finishRun`: the call's copy, which the store takes
   * without reading it (a hard link, else a copy made by the OS) and leaves in place. From
   * `readAnswer`: the store's own file, to be streamed and never removed (large answers only).
   */
  file?: AnswerFile;
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
  hasAnswer: boolean;
}

export interface OutputInfo {
  webhookId: string;
  histo: string;
  size: number;
  createdAt: string;
  runId: string | null;
}

export interface NewWebhook {
  /** The identity (default: `path`); a webhook of that name is updated, else one is created. */
  name?: string;
  path: string;
  /** The deploying machine (default: null, not known). */
  sourceHost?: string | null;
  params: WebhookParams;
  debug: boolean;
  timeoutMs: number;
  /** Defaults: DEFAULT_SETTINGS. */
  settings?: Partial<WebhookSettings>;
}

/**
 * What every store implementation does; `store.conformance.ts` is the behaviour each must pass.
 * Writes naming a webhook or run that does not exist throw `AppError("not-found")`; reads answer
 * undefined, false or an empty list (`filesDir` and `uploadsDir` do not check).
 */
export interface Store extends ApiTokenStore {
  /**
   * Creates the webhook (fresh id and token), or updates the one of that name (`input.name`,
   * default the path): same id and token, new path, file name, source host, params, debug, timeout
   * and settings (keys not given take DEFAULT_SETTINGS), and a deleted one is revived.
   */
  upsertWebhook(input: NewWebhook): Promise<Webhook>;
  /** Deleted webhooks too. */
  getWebhook(id: string): Promise<Webhook | undefined>;
  /** The webhook of that name; deleted webhooks too. */
  findWebhookByName(name: string): Promise<Webhook | undefined>;
  /** Every webhook whose newest deploy came from `path`, ordered by name; deleted webhooks too. */
  listWebhooksByPath(path: string): Promise<Webhook[]>;
  /**
   * The webhook named `path`, else the only one deployed from `path` (undefined when several
   * were: ask by name); deleted webhooks too.
   */
  findWebhookByPath(path: string): Promise<Webhook | undefined>;
  /** Constant-time comparison of the token; deleted webhooks are not found. */
  findWebhookByToken(token: string): Promise<Webhook | undefined>;
  /** Ordered by name; deleted webhooks only with `includeDeleted`. */
  listWebhooks(options?: { includeDeleted?: boolean }): Promise<Webhook[]>;
  /** A new token; the old one stops working at once. */
  rotateToken(id: string): Promise<Webhook>;
  /** Soft delete: the row and its history stay; the token stops working. */
  deleteWebhook(id: string): Promise<void>;

  /** Keeps a new version under a fresh histo, greater than every earlier one: it becomes live. */
  addVersion(webhookId: string, notebook: Buffer): Promise<WebhookVersion>;
  /** Newest first. */
  listVersions(webhookId: string): Promise<WebhookVersion[]>;
  /** The notebook's bytes as given, or undefined for an unknown webhook or histo. */
  readVersion(webhookId: string, histo: string): Promise<Buffer | undefined>;
  /** False when there was no such version. The newest remaining one becomes live. */
  deleteVersion(webhookId: string, histo: string): Promise<boolean>;

  /**
   * Writes a dependency file under the webhook's files folder (the kernel's working directory);
   * a path that is absolute or leaves that folder is `AppError("usage")`.
   */
  writeFile(webhookId: string, relativePath: string, data: Buffer): Promise<void>;
  /** The kernel working directory of a webhook, a local folder (created if missing). */
  filesDir(webhookId: string): Promise<string>;
  /** A local folder for one run's uploaded files, its own for each `runHisto` (created if missing). */
  uploadsDir(webhookId: string, runHisto: string): Promise<string>;

  /** A run record, `running` (or `queued` with `queued: true`), with a fresh output histo. */
  createRun(input: {
    webhookId: string;
    versionHisto: string;
    parameters: Record<string, unknown>;
    queued?: boolean;
  }): Promise<Run>;
  /** A queued run starts: status `running`, `startedAt` now. A run that is not queued is left as it is. */
  startRun(id: string): Promise<Run>;
  /**
   * Closes the record (`durationMs` rounded to a whole ms). With `answer`, the answer is kept
   * (its body stored first) before the status changes, so a finished run never lacks the answer
   * it claims.
   */
  finishRun(
    id: string,
    result: {
      status: FinishedRunStatus;
      durationMs: number;
      error: RunErrorInfo | null;
      httpStatus: number;
      answer?: KeptAnswer;
    },
  ): Promise<Run>;
  /**
   * Runs left `queued` or `running` by a server that stopped without finishing them (a crash, a
   * kill) are closed as `died` (HTTP status 500, error `ServerStopped`), so pollers get an
   * answer; returns how many.
   */
  closeInterruptedRuns(): Promise<number>;
  /** The kept answer of a finished run, byte for byte; undefined for a run that kept none or an unknown run. */
  readAnswer(id: string): Promise<KeptAnswer | undefined>;
  getRun(id: string): Promise<Run | undefined>;
  /**
   * Newest first (by `startedAt`, then by creation), all webhooks' or one's; `limit` defaults to
   * 50 and is clamped to 1..1000.
   */
  listRuns(options: { webhookId?: string; limit?: number }): Promise<Run[]>;

  /** Keeps a run's executed notebook (replacing one kept under the same histo). */
  writeOutput(webhookId: string, histo: string, notebook: string, runId?: string): Promise<void>;
  /** Undefined for an unknown webhook or histo. */
  readOutput(webhookId: string, histo: string): Promise<Buffer | undefined>;
  /** Newest first; `size` in bytes (UTF-8). */
  listOutputs(webhookId: string): Promise<OutputInfo[]>;
  /** False when there was no such output. */
  deleteOutput(webhookId: string, histo: string): Promise<boolean>;

  /**
   * Dashboard sign-outs (docs/dashboard.md): the session `id` is refused until `expiresAt` (ISO
   * time), when the session would have ended anyway; kept in the store so that every node of a
   * cluster, and a restarted server, refuse it too. Expired entries are forgotten.
   */
  revokeSession(id: string, expiresAt: string): Promise<void>;
  /** Whether the session `id` was signed out (and would not have expired yet). */
  isSessionRevoked(id: string): Promise<boolean>;

  /**
   * Secrets for notebooks (docs/secrets.md), by name, global (`webhookId` null) or for one
   * webhook. The store keeps only what the server encrypted (runs/secret-box.ts): it never sees a
   * value. Setting a name again replaces its ciphertext and keeps its `createdAt`.
   */
  putSecret(input: NewSecret): Promise<SecretInfo>;
  /** Every secret, without ciphertexts: by name, the global one before those of webhooks. */
  listSecrets(): Promise<SecretInfo[]>;
  /** The secrets a webhook's runs get: the global ones and its own (both, when both have a name). */
  secretsFor(webhookId: string): Promise<StoredSecret[]>;
  /** False when there was no such secret. */
  deleteSecret(name: string, webhookId: string | null): Promise<boolean>;
  close(): Promise<void>;
}
