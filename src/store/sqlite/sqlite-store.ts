/**
 * The embedded store: better-sqlite3 (WAL) for rows, FileLayout for notebooks and files.
 * A row is written only after its file is safely renamed into place, and a file is removed only
 * after its row, so a crash leaves at worst an orphan file, never a row without its notebook.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { AppError } from "../../errors.js";
import { FileLayout } from "../files.js";
import { newHisto } from "../histo.js";
import {
  DEFAULT_SETTINGS,
  type NewWebhook,
  type OutputInfo,
  type Run,
  type FinishedRunStatus,
  type RunErrorInfo,
  type RunStatus,
  type Store,
  type StoredResponse,
  type Webhook,
  type WebhookSettings,
  type WebhookVersion,
} from "../types.js";
import { migrate } from "./schema.js";

interface WebhookRow {
  id: string;
  path: string;
  name: string;
  token: string;
  params: string;
  debug: number;
  timeout_ms: number;
  settings: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  live_histo: string | null;
  last_run_at: string | null;
  last_run_status: RunStatus | null;
}

interface RunRow {
  id: string;
  webhook_id: string;
  version_histo: string;
  output_histo: string;
  status: RunStatus;
  queued_at: string | null;
  started_at: string;
  duration_ms: number | null;
  error: string | null;
  parameters: string;
  http_status: number | null;
  response_headers: string | null;
}

const WEBHOOK_SELECT = `
  SELECT w.*,
    (SELECT max(histo) FROM versions v WHERE v.webhook_id = w.id) AS live_histo,
    (SELECT started_at FROM runs r WHERE r.webhook_id = w.id ORDER BY started_at DESC LIMIT 1) AS last_run_at,
    (SELECT status FROM runs r WHERE r.webhook_id = w.id ORDER BY started_at DESC LIMIT 1) AS last_run_status
  FROM webhooks w`;

/** A webhook token: 32 random bytes, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

const now = () => new Date().toISOString();
const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    path: row.path,
    name: row.name,
    token: row.token,
    params: JSON.parse(row.params) as Webhook["params"],
    debug: row.debug === 1,
    timeoutMs: row.timeout_ms,
    settings: { ...DEFAULT_SETTINGS, ...(JSON.parse(row.settings) as Partial<WebhookSettings>) },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
    liveHisto: row.live_histo,
    lastRunAt: row.last_run_at,
    lastRunStatus: row.last_run_status,
  };
}

function toRun(row: RunRow): Run {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    versionHisto: row.version_histo,
    outputHisto: row.output_histo,
    status: row.status,
    queuedAt: row.queued_at,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    error: row.error ? (JSON.parse(row.error) as RunErrorInfo) : null,
    parameters: JSON.parse(row.parameters) as Record<string, unknown>,
    httpStatus: row.http_status,
    hasResponse: row.response_headers !== null,
  };
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  readonly files: FileLayout;

  constructor(readonly home: string) {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const dbFile = path.join(home, "nbhook.db");
    this.db = new Database(dbFile);
    // It holds every webhook token: readable by the server's user only, whatever the folder allows.
    for (const file of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) {
      try {
        chmodSync(file, 0o600);
      } catch {
        // -wal/-shm appear with the first write; SQLite gives them the database file's mode.
      }
    }
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 5000");
    migrate(this.db);
    this.files = new FileLayout(home);
  }

  private webhookWhere(where: string, ...args: unknown[]): Webhook | undefined {
    const row = this.db.prepare(`${WEBHOOK_SELECT} WHERE ${where}`).get(...args) as WebhookRow | undefined;
    return row && toWebhook(row);
  }

  private mustGet(id: string): Webhook {
    const webhook = this.webhookWhere("w.id = ?", id);
    if (!webhook) throw new AppError("not-found", `no webhook with id ${id}`);
    return webhook;
  }

  async upsertWebhook(input: NewWebhook): Promise<Webhook> {
    const existing = this.webhookWhere("w.path = ?", input.path);
    const params = JSON.stringify(input.params);
    const settings = JSON.stringify({ ...DEFAULT_SETTINGS, ...input.settings });
    if (existing) {
      this.db
        .prepare(
          "UPDATE webhooks SET params = ?, debug = ?, timeout_ms = ?, settings = ?, updated_at = ?, deleted_at = NULL WHERE id = ?",
        )
        .run(params, input.debug ? 1 : 0, input.timeoutMs, settings, now(), existing.id);
      return this.mustGet(existing.id);
    }
    const id = randomUUID().replaceAll("-", "").slice(0, 16);
    const stamp = now();
    const token = newToken();
    this.db
      .prepare(
        `INSERT INTO webhooks (id, path, name, token, token_sha256, params, debug, timeout_ms, settings, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(id, input.path, path.basename(input.path), token, sha256(token), params, input.debug ? 1 : 0, input.timeoutMs, settings, stamp, stamp);
    return this.mustGet(id);
  }

  async getWebhook(id: string): Promise<Webhook | undefined> {
    return this.webhookWhere("w.id = ?", id);
  }

  async findWebhookByPath(webhookPath: string): Promise<Webhook | undefined> {
    return this.webhookWhere("w.path = ?", webhookPath);
  }

  async findWebhookByToken(token: string): Promise<Webhook | undefined> {
    // Looked up by the token's hash: the index comparison then leaks nothing usable about the
    // token itself; the final comparison is constant-time.
    const candidate = this.webhookWhere("w.token_sha256 = ? AND w.deleted_at IS NULL", sha256(token));
    if (!candidate) return undefined;
    const a = Buffer.from(candidate.token);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b) ? candidate : undefined;
  }

  async listWebhooks(options: { includeDeleted?: boolean } = {}): Promise<Webhook[]> {
    const where = options.includeDeleted ? "" : " WHERE w.deleted_at IS NULL";
    const rows = this.db.prepare(`${WEBHOOK_SELECT}${where} ORDER BY w.path`).all() as WebhookRow[];
    return rows.map(toWebhook);
  }

  async rotateToken(id: string): Promise<Webhook> {
    this.mustGet(id);
    const token = newToken();
    this.db
      .prepare("UPDATE webhooks SET token = ?, token_sha256 = ?, updated_at = ? WHERE id = ?")
      .run(token, sha256(token), now(), id);
    return this.mustGet(id);
  }

  async deleteWebhook(id: string): Promise<void> {
    this.mustGet(id);
    this.db.prepare("UPDATE webhooks SET deleted_at = ?, updated_at = ? WHERE id = ?").run(now(), now(), id);
  }

  async addVersion(webhookId: string, notebook: Buffer): Promise<WebhookVersion> {
    this.mustGet(webhookId);
    const version: WebhookVersion = {
      webhookId,
      histo: newHisto(),
      createdAt: now(),
      size: notebook.length,
      sha256: sha256(notebook),
    };
    await this.files.write(this.files.versionFile(webhookId, version.histo), notebook);
    this.db
      .prepare("INSERT INTO versions (webhook_id, histo, created_at, size, sha256) VALUES (?, ?, ?, ?, ?)")
      .run(webhookId, version.histo, version.createdAt, version.size, version.sha256);
    this.db.prepare("UPDATE webhooks SET updated_at = ? WHERE id = ?").run(version.createdAt, webhookId);
    return version;
  }

  async listVersions(webhookId: string): Promise<WebhookVersion[]> {
    const rows = this.db
      .prepare("SELECT * FROM versions WHERE webhook_id = ? ORDER BY histo DESC")
      .all(webhookId) as { webhook_id: string; histo: string; created_at: string; size: number; sha256: string }[];
    return rows.map((r) => ({ webhookId: r.webhook_id, histo: r.histo, createdAt: r.created_at, size: r.size, sha256: r.sha256 }));
  }

  async readVersion(webhookId: string, histo: string): Promise<Buffer | undefined> {
    const row = this.db.prepare("SELECT 1 FROM versions WHERE webhook_id = ? AND histo = ?").get(webhookId, histo);
    return row ? this.files.read(this.files.versionFile(webhookId, histo)) : undefined;
  }

  async deleteVersion(webhookId: string, histo: string): Promise<boolean> {
    const info = this.db.prepare("DELETE FROM versions WHERE webhook_id = ? AND histo = ?").run(webhookId, histo);
    if (info.changes === 0) return false;
    await this.files.remove(this.files.versionFile(webhookId, histo));
    return true;
  }

  async writeFile(webhookId: string, relativePath: string, data: Buffer): Promise<void> {
    this.mustGet(webhookId);
    await this.files.write(this.files.dependencyFile(webhookId, relativePath), data);
  }

  async filesDir(webhookId: string): Promise<string> {
    return this.files.ensureDir(this.files.filesDir(webhookId));
  }

  async uploadsDir(webhookId: string, runHisto: string): Promise<string> {
    return this.files.ensureDir(this.files.uploadsDir(webhookId, runHisto));
  }

  async createRun(input: {
    webhookId: string;
    versionHisto: string;
    parameters: Record<string, unknown>;
    queued?: boolean;
  }): Promise<Run> {
    const id = randomUUID();
    const stamp = now();
    this.db
      .prepare(
        `INSERT INTO runs (id, webhook_id, version_histo, output_histo, status, queued_at, started_at, parameters)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        input.webhookId,
        input.versionHisto,
        newHisto(),
        input.queued ? "queued" : "running",
        input.queued ? stamp : null,
        stamp,
        JSON.stringify(input.parameters),
      );
    return (await this.getRun(id))!;
  }

  async startRun(id: string): Promise<Run> {
    this.db.prepare("UPDATE runs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'").run(now(), id);
    const run = await this.getRun(id);
    if (!run) throw new AppError("not-found", `no run with id ${id}`);
    return run;
  }

  async closeInterruptedRuns(): Promise<number> {
    const error = JSON.stringify({
      ename: "ServerStopped",
      evalue: "the server stopped before this run finished (crash or kill); call the webhook again",
    });
    const info = this.db
      .prepare("UPDATE runs SET status = 'died', error = ?, http_status = 500 WHERE status IN ('queued', 'running')")
      .run(error);
    return info.changes;
  }

  async finishRun(
    id: string,
    result: {
      status: FinishedRunStatus;
      durationMs: number;
      error: RunErrorInfo | null;
      httpStatus: number;
      response?: StoredResponse;
    },
  ): Promise<Run> {
    let headers: string | null = null;
    if (result.response) {
      // The body first (atomically), then the row: a run never claims an answer it has not got.
      const row = this.db.prepare("SELECT webhook_id FROM runs WHERE id = ?").get(id) as { webhook_id: string } | undefined;
      if (!row) throw new AppError("not-found", `no run with id ${id}`);
      await this.files.write(this.files.responseFile(row.webhook_id, id), result.response.body);
      headers = JSON.stringify({ status: result.response.status, headers: result.response.headers });
    }
    this.db
      .prepare(
        "UPDATE runs SET status = ?, duration_ms = ?, error = ?, http_status = ?, response_headers = coalesce(?, response_headers) WHERE id = ?",
      )
      .run(
        result.status,
        Math.round(result.durationMs),
        result.error ? JSON.stringify(result.error) : null,
        result.httpStatus,
        headers,
        id,
      );
    const run = await this.getRun(id);
    if (!run) throw new AppError("not-found", `no run with id ${id}`);
    return run;
  }

  async readResponse(id: string): Promise<StoredResponse | undefined> {
    const row = this.db.prepare("SELECT webhook_id, response_headers FROM runs WHERE id = ?").get(id) as
      | { webhook_id: string; response_headers: string | null }
      | undefined;
    if (!row?.response_headers) return undefined;
    const body = await this.files.read(this.files.responseFile(row.webhook_id, id));
    if (!body) return undefined;
    const head = JSON.parse(row.response_headers) as { status: number; headers: Record<string, string> };
    return { status: head.status, headers: head.headers, body };
  }

  async getRun(id: string): Promise<Run | undefined> {
    const row = this.db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as RunRow | undefined;
    return row && toRun(row);
  }

  async listRuns(options: { webhookId?: string; limit?: number }): Promise<Run[]> {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 1000);
    const rows = (
      options.webhookId
        ? this.db.prepare("SELECT * FROM runs WHERE webhook_id = ? ORDER BY started_at DESC LIMIT ?").all(options.webhookId, limit)
        : this.db.prepare("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?").all(limit)
    ) as RunRow[];
    return rows.map(toRun);
  }

  async writeOutput(webhookId: string, histo: string, notebook: string, runId?: string): Promise<void> {
    await this.files.write(this.files.outputFile(webhookId, histo), notebook);
    this.db
      .prepare("INSERT OR REPLACE INTO outputs (webhook_id, histo, created_at, size, run_id) VALUES (?, ?, ?, ?, ?)")
      .run(webhookId, histo, now(), Buffer.byteLength(notebook), runId ?? null);
  }

  async readOutput(webhookId: string, histo: string): Promise<Buffer | undefined> {
    const row = this.db.prepare("SELECT 1 FROM outputs WHERE webhook_id = ? AND histo = ?").get(webhookId, histo);
    return row ? this.files.read(this.files.outputFile(webhookId, histo)) : undefined;
  }

  async listOutputs(webhookId: string): Promise<OutputInfo[]> {
    const rows = this.db
      .prepare("SELECT * FROM outputs WHERE webhook_id = ? ORDER BY histo DESC")
      .all(webhookId) as { webhook_id: string; histo: string; created_at: string; size: number; run_id: string | null }[];
    return rows.map((r) => ({ webhookId: r.webhook_id, histo: r.histo, createdAt: r.created_at, size: r.size, runId: r.run_id }));
  }

  async deleteOutput(webhookId: string, histo: string): Promise<boolean> {
    const info = this.db.prepare("DELETE FROM outputs WHERE webhook_id = ? AND histo = ?").run(webhookId, histo);
    if (info.changes === 0) return false;
    await this.files.remove(this.files.outputFile(webhookId, histo));
    return true;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
