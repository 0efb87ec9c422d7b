/**
 * The embedded store: better-sqlite3 (WAL) for rows, FileLayout for notebooks and files.
 *
 * A row is written only after its file is safely renamed into place, and a file is removed only
 * after its row, so a crash leaves at worst an orphan file, never a row without its notebook.
 * Statements that belong together run in one transaction. better-sqlite3 transactions are
 * synchronous, so file I/O happens before or after them, never inside; read-then-write ones are
 * IMMEDIATE (the write lock first), so another process cannot slip in between.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import path from "node:path";
import type Database from "better-sqlite3";
import { AppError } from "../../errors.js";
import { FileLayout } from "../files.js";
import { newHisto } from "../histo.js";
import { newToken } from "../token.js";
import { settingsWithDefaults, toJsonText, webhookParamsSchema, webhookSettingsSchema } from "../schemas.js";
import type {
  ApiToken,
  KeptAnswer,
  NewApiToken,
  NewSecret,
  NewWebhook,
  OutputInfo,
  Run,
  SecretInfo,
  Store,
  StoredSecret,
  Webhook,
  WebhookVersion,
} from "../types.js";
import { inTransaction, openDatabase, statementCache } from "./database.js";
import {
  now,
  outputRowSchema,
  parseRow,
  toOutput,
  toVersion,
  toWebhook,
  versionRowSchema,
  webhookRowSchema,
} from "./rows.js";
import { NEWEST_RUN_FIRST, SqliteRuns } from "./sqlite-runs.js";
import { webhookOfPath } from "../webhook-of-path.js";
import { SqliteSecrets } from "./sqlite-secrets.js";
import { SqliteTokens } from "./sqlite-tokens.js";

const WEBHOOK_SELECT = `
  SELECT w.*,
    (SELECT max(histo) FROM versions v WHERE v.webhook_id = w.id) AS live_histo,
    (SELECT started_at FROM runs r WHERE r.webhook_id = w.id ${NEWEST_RUN_FIRST} LIMIT 1) AS last_run_at,
    (SELECT status FROM runs r WHERE r.webhook_id = w.id ${NEWEST_RUN_FIRST} LIMIT 1) AS last_run_status
  FROM webhooks w`;

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const noWebhook = (id: string) => new AppError("not-found", `no webhook with id ${id}`);

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly sql: (text: string) => Database.Statement;
  private readonly runs: SqliteRuns;
  private readonly secrets: SqliteSecrets;
  private readonly tokens: SqliteTokens;
  readonly files: FileLayout;

  constructor(readonly home: string) {
    this.db = openDatabase(home);
    this.sql = statementCache(this.db);
    this.files = new FileLayout(home);
    this.runs = new SqliteRuns(this.db, this.sql, this.files);
    this.secrets = new SqliteSecrets(this.db, this.sql);
    this.tokens = new SqliteTokens(this.db, this.sql);
  }

  private webhookWhere(where: string, ...args: unknown[]): Webhook | undefined {
    const raw = this.sql(`${WEBHOOK_SELECT} WHERE ${where}`).get(...args);
    return raw === undefined ? undefined : toWebhook(parseRow(webhookRowSchema, "webhooks", raw));
  }

  private mustGet(id: string): Webhook {
    const webhook = this.webhookWhere("w.id = ?", id);
    if (!webhook) throw noWebhook(id);
    return webhook;
  }

  async upsertWebhook(input: NewWebhook): Promise<Webhook> {
    const params = toJsonText(webhookParamsSchema, input.params, "the webhook's params");
    const settings = toJsonText(
      webhookSettingsSchema,
      settingsWithDefaults(input.settings),
      "the webhook's settings",
    );
    const token = newToken();
    const stamp = now();
    return inTransaction(this.db, () => {
      // One statement either way: a new name is inserted with a fresh id and token; a known one
      // (deleted or not) keeps both and takes the new path, host and settings.
      const id = this.sql(
        `INSERT INTO webhooks (id, name, path, file_name, source_host, token, token_sha256, params, debug, timeout_ms, settings, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET path = excluded.path, file_name = excluded.file_name,
             source_host = excluded.source_host, params = excluded.params, debug = excluded.debug,
             timeout_ms = excluded.timeout_ms, settings = excluded.settings, updated_at = excluded.updated_at,
             deleted_at = NULL
           RETURNING id`,
      )
        .pluck()
        .get(
          randomUUID().replaceAll("-", "").slice(0, 16),
          input.name ?? input.path,
          input.path,
          path.basename(input.path),
          input.sourceHost ?? null,
          token,
          sha256(token),
          params,
          input.debug ? 1 : 0,
          input.timeoutMs,
          settings,
          stamp,
          stamp,
        );
      if (typeof id !== "string") throw new Error(`upserting webhook ${input.path} returned no id`);
      return this.mustGet(id);
    });
  }

  async getWebhook(id: string): Promise<Webhook | undefined> {
    return this.webhookWhere("w.id = ?", id);
  }

  async findWebhookByName(name: string): Promise<Webhook | undefined> {
    return this.webhookWhere("w.name = ?", name);
  }

  async listWebhooksByPath(webhookPath: string): Promise<Webhook[]> {
    const rows = this.sql(`${WEBHOOK_SELECT} WHERE w.path = ? ORDER BY w.name`).all(webhookPath);
    return rows.map((raw) => toWebhook(parseRow(webhookRowSchema, "webhooks", raw)));
  }

  async findWebhookByPath(webhookPath: string): Promise<Webhook | undefined> {
    return webhookOfPath(this, webhookPath);
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
    const rows = this.sql(`${WEBHOOK_SELECT}${where} ORDER BY w.name`).all();
    return rows.map((raw) => toWebhook(parseRow(webhookRowSchema, "webhooks", raw)));
  }

  async rotateToken(id: string): Promise<Webhook> {
    const token = newToken();
    return inTransaction(this.db, () => {
      const info = this.sql(
        "UPDATE webhooks SET token = ?, token_sha256 = ?, updated_at = ? WHERE id = ?",
      ).run(token, sha256(token), now(), id);
      if (info.changes === 0) throw noWebhook(id);
      return this.mustGet(id);
    });
  }

  async deleteWebhook(id: string): Promise<void> {
    const stamp = now();
    const info = this.sql("UPDATE webhooks SET deleted_at = ?, updated_at = ? WHERE id = ?").run(
      stamp,
      stamp,
      id,
    );
    if (info.changes === 0) throw noWebhook(id);
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
    const file = this.files.versionFile(webhookId, version.histo);
    await this.files.write(file, notebook);
    try {
      inTransaction(this.db, () => {
        this.sql(
          "INSERT INTO versions (webhook_id, histo, created_at, size, sha256) VALUES (?, ?, ?, ?, ?)",
        ).run(webhookId, version.histo, version.createdAt, version.size, version.sha256);
        this.sql("UPDATE webhooks SET updated_at = ? WHERE id = ?").run(version.createdAt, webhookId);
      });
    } catch (err) {
      await this.files.remove(file); // no row will ever name it
      throw err;
    }
    return version;
  }

  async listVersions(webhookId: string): Promise<WebhookVersion[]> {
    const rows = this.sql("SELECT * FROM versions WHERE webhook_id = ? ORDER BY histo DESC").all(webhookId);
    return rows.map((raw) => toVersion(parseRow(versionRowSchema, "versions", raw)));
  }

  async readVersion(webhookId: string, histo: string): Promise<Buffer | undefined> {
    const row = this.sql("SELECT 1 FROM versions WHERE webhook_id = ? AND histo = ?").get(webhookId, histo);
    return row === undefined ? undefined : this.files.read(this.files.versionFile(webhookId, histo));
  }

  async deleteVersion(webhookId: string, histo: string): Promise<boolean> {
    const info = this.sql("DELETE FROM versions WHERE webhook_id = ? AND histo = ?").run(webhookId, histo);
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

  async createRun(input: Parameters<Store["createRun"]>[0]): Promise<Run> {
    return this.runs.create(input);
  }

  async startRun(id: string): Promise<Run> {
    return this.runs.start(id);
  }

  async closeInterruptedRuns(): Promise<number> {
    return this.runs.closeInterrupted();
  }

  async finishRun(id: string, result: Parameters<Store["finishRun"]>[1]): Promise<Run> {
    return this.runs.finish(id, result);
  }

  async readAnswer(id: string): Promise<KeptAnswer | undefined> {
    return this.runs.readAnswer(id);
  }

  async getRun(id: string): Promise<Run | undefined> {
    return this.runs.get(id);
  }

  async listRuns(options: Parameters<Store["listRuns"]>[0]): Promise<Run[]> {
    return this.runs.list(options);
  }

  async writeOutput(webhookId: string, histo: string, notebook: string, runId?: string): Promise<void> {
    // Only whether it exists (every call writes one): not the whole webhook read and validated.
    if (this.sql("SELECT 1 FROM webhooks WHERE id = ?").get(webhookId) === undefined)
      throw noWebhook(webhookId);
    await this.files.write(this.files.outputFile(webhookId, histo), notebook);
    this.sql(
      "INSERT OR REPLACE INTO outputs (webhook_id, histo, created_at, size, run_id) VALUES (?, ?, ?, ?, ?)",
    ).run(webhookId, histo, now(), Buffer.byteLength(notebook), runId ?? null);
  }

  async readOutput(webhookId: string, histo: string): Promise<Buffer | undefined> {
    const row = this.sql("SELECT 1 FROM outputs WHERE webhook_id = ? AND histo = ?").get(webhookId, histo);
    return row === undefined ? undefined : this.files.read(this.files.outputFile(webhookId, histo));
  }

  async listOutputs(webhookId: string): Promise<OutputInfo[]> {
    const rows = this.sql("SELECT * FROM outputs WHERE webhook_id = ? ORDER BY histo DESC").all(webhookId);
    return rows.map((raw) => toOutput(parseRow(outputRowSchema, "outputs", raw)));
  }

  async deleteOutput(webhookId: string, histo: string): Promise<boolean> {
    const info = this.sql("DELETE FROM outputs WHERE webhook_id = ? AND histo = ?").run(webhookId, histo);
    if (info.changes === 0) return false;
    await this.files.remove(this.files.outputFile(webhookId, histo));
    return true;
  }

  async revokeSession(id: string, expiresAt: string): Promise<void> {
    inTransaction(this.db, () => {
      this.sql("DELETE FROM revoked_sessions WHERE expires_at <= ?").run(now());
      this.sql("INSERT OR REPLACE INTO revoked_sessions (id, expires_at) VALUES (?, ?)").run(id, expiresAt);
    });
  }

  async putSecret(input: NewSecret): Promise<SecretInfo> {
    return this.secrets.put(input);
  }

  async listSecrets(): Promise<SecretInfo[]> {
    return this.secrets.list();
  }

  async secretsFor(webhookId: string): Promise<StoredSecret[]> {
    return this.secrets.forWebhook(webhookId);
  }

  async deleteSecret(name: string, webhookId: string | null): Promise<boolean> {
    return this.secrets.delete(name, webhookId);
  }

  async isSessionRevoked(id: string): Promise<boolean> {
    return (
      this.sql("SELECT 1 FROM revoked_sessions WHERE id = ? AND expires_at > ?").get(id, now()) !== undefined
    );
  }

  createApiToken(input: NewApiToken, options?: { onlyIfNone?: boolean }): Promise<ApiToken | undefined> {
    return this.tokens.createApiToken(input, options);
  }

  putApiToken(input: NewApiToken): Promise<{ token: ApiToken; changed: boolean }> {
    return this.tokens.putApiToken(input);
  }

  findApiTokenByHash(hash: string): Promise<(ApiToken & { hash: string }) | undefined> {
    return this.tokens.findApiTokenByHash(hash);
  }

  getApiToken(id: string): Promise<ApiToken | undefined> {
    return this.tokens.getApiToken(id);
  }

  listApiTokens(): Promise<ApiToken[]> {
    return this.tokens.listApiTokens();
  }

  revokeApiToken(name: string): Promise<ApiToken | undefined> {
    return this.tokens.revokeApiToken(name);
  }

  touchApiToken(id: string, at?: string): Promise<void> {
    return this.tokens.touchApiToken(id, at);
  }

  serverKey(name: string, candidate: string): Promise<string> {
    return this.tokens.serverKey(name, candidate);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
