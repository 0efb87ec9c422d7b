/**
 * @module The Postgres store, for a cluster: nodes on different machines share nothing but the
 * database, so everything lives there — webhooks, notebook versions (bytea), runs, kept answers,
 * executed notebooks, dependency files. The local disk holds caches only, under `cacheDir` (same
 * layout as the embedded store's home, see files.ts): a webhook's files folder, materialized from
 * the database because a kernel needs a real working directory, upload folders, and large kept
 * answers to stream.
 *
 * Writes that read first (the next histo, a path conflict) lock the webhook's row, so two nodes
 * doing the same thing at once are put in turn. Times are the database server's clock.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { stat } from "node:fs/promises";
import path from "node:path";
import type pg from "pg";
import { z } from "zod";
import { AppError } from "../../errors.js";
import { FileLayout } from "../files.js";
import { newHisto } from "../histo.js";
import { settingsWithDefaults, toJsonText, webhookParamsSchema, webhookSettingsSchema } from "../schemas.js";
import { newToken } from "../token.js";
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
import { createPool, type PgLog, type Queryable, withTransaction } from "./connection.js";
import { migrate } from "./migrations.js";
import { webhookOfPath } from "../webhook-of-path.js";
import { DB_NOW, type NewRun, PgRuns, type RunResult } from "./pg-runs.js";
import { PgSecrets } from "./pg-secrets.js";
import { PgTokens } from "./pg-tokens.js";
import {
  bytesRowSchema,
  fileRowSchema,
  outputRowSchema,
  parseRow,
  parseRows,
  toOutput,
  toVersion,
  toWebhook,
  versionRowSchema,
  WEBHOOK_COLUMNS,
  webhookFrom,
  webhookRowSchema,
} from "./rows.js";

export interface PgStoreOptions {
  /** `postgres://user:password@host:5432/database` (or `postgresql://`). */
  databaseUrl: string;
  /** This node's local cache: files folders, upload folders, large answers. */
  cacheDir: string;
  /** Connections of the pool (default 10). */
  poolMax?: number;
  log?: PgLog;
}

/** Opens a pool on the database, applies the migrations it lacks, and gives the store. */
export async function openPgStore(options: PgStoreOptions): Promise<PgStore> {
  const pool = createPool(options);
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return new PgStore(pool, options.cacheDir, options.log);
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const noWebhook = (id: string) => new AppError("not-found", `no webhook with id ${id}`);

/** What this node last wrote of a dependency file, to tell whether the local copy is still it. */
const manifestEntrySchema = z.object({ sha256: z.string(), size: z.number(), mtimeMs: z.number() });
const manifestSchema = z.record(z.string(), manifestEntrySchema);
type Manifest = Map<string, z.output<typeof manifestEntrySchema>>;
const MANIFEST_FILE = "files.manifest.json";

/** When a histo `%Y%m%d%H%M%S%f` was issued (local time, as newHisto writes it), in ms since the epoch. */
function histoTime(histo: string): number {
  const n = (start: number, end: number) => Number(histo.slice(start, end));
  return new Date(n(0, 4), n(4, 6) - 1, n(6, 8), n(8, 10), n(10, 12), n(12, 14), n(14, 17)).getTime();
}

/**
 * A fresh histo greater than `newest` (another node's clock may be ahead of this one's): from
 * this clock when it is ahead, else from just after `newest`.
 */
export function histoAfter(newest: string | null): string {
  const fresh = newHisto();
  if (newest === null || fresh > newest) return fresh;
  const next = newHisto(histoTime(newest) + 1);
  // A local time that does not round-trip (a DST change) still gets a greater id.
  return next > newest ? next : (BigInt(newest) + 1n).toString().padStart(newest.length, "0");
}

export class PgStore implements Store {
  /** Local folders of this node (the database holds the data). */
  readonly files: FileLayout;
  private readonly runs: PgRuns;
  private readonly secrets: PgSecrets;
  private readonly tokens: PgTokens;
  private readonly manifests = new Map<string, Manifest>();
  /** Per webhook, the tail of its files folder's work: one sync or write at a time. */
  private readonly folderQueues = new Map<string, Promise<unknown>>();
  private closed = false;

  constructor(
    /** The store's pool; cluster code runs its own queries on it. */
    readonly pool: pg.Pool,
    readonly cacheDir: string,
    private readonly log?: PgLog,
  ) {
    this.files = new FileLayout(cacheDir);
    this.runs = new PgRuns(pool, this.files, log);
    this.secrets = new PgSecrets(pool);
    this.tokens = new PgTokens(pool, (fn) => this.transaction(fn));
  }

  /** Runs `fn` in one transaction (BEGIN … COMMIT, ROLLBACK when it throws), the client released after. */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, fn, this.log);
  }

  private async webhookWhere(where: string, values: unknown[]): Promise<Webhook[]> {
    const { rows } = await this.pool.query(
      `SELECT ${WEBHOOK_COLUMNS} FROM ${webhookFrom()} WHERE ${where}`,
      values,
    );
    return parseRows(webhookRowSchema, "webhooks", rows).map(toWebhook);
  }

  async upsertWebhook(input: NewWebhook): Promise<Webhook> {
    const params = toJsonText(webhookParamsSchema, input.params, "the webhook's params");
    const settings = toJsonText(
      webhookSettingsSchema,
      settingsWithDefaults(input.settings),
      "the webhook's settings",
    );
    const token = newToken();
    // One statement either way, so two nodes adding the same name at once agree: a new name is
    // inserted with a fresh id and token; a known one (deleted or not) keeps both.
    const { rows } = await this.pool.query(
      `WITH w AS (
         INSERT INTO webhooks (id, path, file_name, name, source_host, token, token_sha256, params, debug, timeout_ms, settings, created_at, updated_at)
           VALUES ($1, $2, $3, $10, $11, $4, $5, $6::json, $7, $8, $9::json, ${DB_NOW}, ${DB_NOW})
           ON CONFLICT (name) DO UPDATE SET path = excluded.path, file_name = excluded.file_name,
             source_host = excluded.source_host, params = excluded.params, debug = excluded.debug,
             timeout_ms = excluded.timeout_ms, settings = excluded.settings,
             updated_at = excluded.updated_at, deleted_at = NULL
           RETURNING *)
       SELECT ${WEBHOOK_COLUMNS} FROM ${webhookFrom("w")}`,
      [
        randomUUID().replaceAll("-", "").slice(0, 16),
        input.path,
        path.basename(input.path),
        token,
        sha256(token),
        params,
        input.debug,
        input.timeoutMs,
        settings,
        input.name ?? input.path,
        input.sourceHost ?? null,
      ],
    );
    const [webhook] = parseRows(webhookRowSchema, "webhooks", rows).map(toWebhook);
    if (!webhook) throw new Error(`upserting webhook ${input.path} returned no row`);
    return webhook;
  }

  async getWebhook(id: string): Promise<Webhook | undefined> {
    return (await this.webhookWhere("w.id = $1", [id]))[0];
  }

  async findWebhookByName(name: string): Promise<Webhook | undefined> {
    return (await this.webhookWhere("w.name = $1", [name]))[0];
  }

  async listWebhooksByPath(webhookPath: string): Promise<Webhook[]> {
    return this.webhookWhere("w.path = $1 ORDER BY w.name", [webhookPath]);
  }

  async findWebhookByPath(webhookPath: string): Promise<Webhook | undefined> {
    return webhookOfPath(this, webhookPath);
  }

  async findWebhookByToken(token: string): Promise<Webhook | undefined> {
    // Looked up by the token's hash: the index comparison then leaks nothing usable about the
    // token itself; the final comparison is constant-time.
    const [candidate] = await this.webhookWhere("w.token_sha256 = $1 AND w.deleted_at IS NULL", [
      sha256(token),
    ]);
    if (!candidate) return undefined;
    const a = Buffer.from(candidate.token);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b) ? candidate : undefined;
  }

  async listWebhooks(options: { includeDeleted?: boolean } = {}): Promise<Webhook[]> {
    return this.webhookWhere(
      `${options.includeDeleted ? "true" : "w.deleted_at IS NULL"} ORDER BY w.name`,
      [],
    );
  }

  async rotateToken(id: string): Promise<Webhook> {
    const token = newToken();
    const { rows } = await this.pool.query(
      `WITH w AS (
         UPDATE webhooks SET token = $2, token_sha256 = $3, updated_at = ${DB_NOW} WHERE id = $1 RETURNING *)
       SELECT ${WEBHOOK_COLUMNS} FROM ${webhookFrom("w")}`,
      [id, token, sha256(token)],
    );
    const [webhook] = parseRows(webhookRowSchema, "webhooks", rows).map(toWebhook);
    if (!webhook) throw noWebhook(id);
    return webhook;
  }

  async deleteWebhook(id: string): Promise<void> {
    const { rowCount } = await this.pool.query(
      `UPDATE webhooks SET deleted_at = ${DB_NOW}, updated_at = ${DB_NOW} WHERE id = $1`,
      [id],
    );
    if (rowCount === 0) throw noWebhook(id);
  }

  /** Locks the webhook's row for the transaction of `client` (writes that read first); not-found when missing. */
  private async lockWebhook(client: Queryable, id: string): Promise<void> {
    const { rowCount } = await client.query("SELECT 1 FROM webhooks WHERE id = $1 FOR UPDATE", [id]);
    if (rowCount === 0) throw noWebhook(id);
  }

  async addVersion(webhookId: string, notebook: Buffer): Promise<WebhookVersion> {
    const digest = sha256(notebook);
    return this.transaction(async (client) => {
      // The row lock puts two nodes adding a version at once in turn: each sees the other's histo.
      await this.lockWebhook(client, webhookId);
      const { rows: newest } = await client.query<{ histo: string | null }>(
        "SELECT max(histo) AS histo FROM versions WHERE webhook_id = $1",
        [webhookId],
      );
      const { rows } = await client.query(
        `INSERT INTO versions (webhook_id, histo, created_at, size, sha256, notebook)
           VALUES ($1, $2, ${DB_NOW}, $3, $4, $5)
           RETURNING webhook_id, histo, created_at, size, sha256`,
        [webhookId, histoAfter(newest[0]?.histo ?? null), notebook.length, digest, notebook],
      );
      const version = toVersion(parseRow(versionRowSchema, "versions", rows[0]));
      await client.query("UPDATE webhooks SET updated_at = $2 WHERE id = $1", [webhookId, version.createdAt]);
      return version;
    });
  }

  async listVersions(webhookId: string): Promise<WebhookVersion[]> {
    const { rows } = await this.pool.query(
      `SELECT webhook_id, histo, created_at, size, sha256 FROM versions
         WHERE webhook_id = $1 ORDER BY histo DESC`,
      [webhookId],
    );
    return parseRows(versionRowSchema, "versions", rows).map(toVersion);
  }

  async readVersion(webhookId: string, histo: string): Promise<Buffer | undefined> {
    const { rows } = await this.pool.query(
      "SELECT notebook AS data FROM versions WHERE webhook_id = $1 AND histo = $2",
      [webhookId, histo],
    );
    return rows.length === 0 ? undefined : parseRow(bytesRowSchema, "versions", rows[0]).data;
  }

  async deleteVersion(webhookId: string, histo: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("DELETE FROM versions WHERE webhook_id = $1 AND histo = $2", [
      webhookId,
      histo,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async writeFile(webhookId: string, relativePath: string, data: Buffer): Promise<void> {
    const target = this.files.dependencyFile(webhookId, relativePath);
    // The key: relative to the files folder, "/"-separated whatever this node's OS.
    const key = path.relative(this.files.filesDir(webhookId), target).split(path.sep).join("/");
    const digest = sha256(data);
    await this.transaction(async (client) => {
      await this.lockWebhook(client, webhookId);
      // A path both a file and a folder would stop every node from materializing the folder.
      const parts = key.split("/");
      const ancestors = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
      const { rows } = await client.query<{ path: string }>(
        `SELECT path FROM webhook_files
           WHERE webhook_id = $1 AND (path = ANY($2::text[]) OR starts_with(path, $3)) LIMIT 1`,
        [webhookId, ancestors, `${key}/`],
      );
      if (rows[0]) {
        throw new AppError(
          "usage",
          `dependency path "${relativePath}" clashes with the deployed file "${rows[0].path}": a path cannot be both a file and a folder`,
        );
      }
      await client.query(
        `INSERT INTO webhook_files (webhook_id, path, sha256, size, data, updated_at)
           VALUES ($1, $2, $3, $4, $5, ${DB_NOW})
           ON CONFLICT (webhook_id, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
             data = excluded.data, updated_at = excluded.updated_at`,
        [webhookId, key, digest, data.length, data],
      );
    });
    // This node's copy at once: its kernels see the file without waiting for the next sync.
    await this.inFolderQueue(webhookId, async () => {
      const manifest = await this.manifest(webhookId);
      await this.materialize(webhookId, manifest, key, target, digest, data);
      await this.saveManifest(webhookId, manifest);
    });
  }

  /**
   * The webhook's files folder in the cache, brought up to date with the database: a file is
   * written only when its sha256 differs from what this node wrote last, or the local copy is
   * gone or changed (size or mtime); when nothing changed, the cost is one small query and a
   * stat per file. Files the notebooks wrote there are never removed.
   */
  async filesDir(webhookId: string): Promise<string> {
    return this.inFolderQueue(webhookId, async () => {
      const dir = await this.files.ensureDir(this.files.filesDir(webhookId));
      const { rows } = await this.pool.query(
        "SELECT webhook_id, path, sha256, size FROM webhook_files WHERE webhook_id = $1",
        [webhookId],
      );
      if (rows.length === 0) return dir;
      const manifest = await this.manifest(webhookId);
      let changed = false;
      for (const row of parseRows(fileRowSchema, "webhook_files", rows)) {
        const target = this.files.dependencyFile(webhookId, row.path);
        const kept = manifest.get(row.path);
        const local = await stat(target).catch(() => undefined);
        const current =
          kept?.sha256 === row.sha256 && local?.size === row.size && local.mtimeMs === kept.mtimeMs;
        if (current) continue;
        const fetched = await this.pool.query(
          "SELECT webhook_id, path, sha256, size, data FROM webhook_files WHERE webhook_id = $1 AND path = $2",
          [webhookId, row.path],
        );
        if (fetched.rows.length === 0) continue;
        const file = parseRow(fileRowSchema.extend(bytesRowSchema.shape), "webhook_files", fetched.rows[0]);
        await this.materialize(webhookId, manifest, row.path, target, file.sha256, file.data);
        changed = true;
      }
      if (changed) await this.saveManifest(webhookId, manifest);
      return dir;
    });
  }

  private async materialize(
    webhookId: string,
    manifest: Manifest,
    key: string,
    target: string,
    digest: string,
    data: Buffer,
  ): Promise<void> {
    await this.files.write(target, data);
    const written = await stat(target);
    manifest.set(key, { sha256: digest, size: written.size, mtimeMs: written.mtimeMs });
    this.manifests.set(webhookId, manifest);
  }

  /** What this node wrote of the webhook's files: from memory, else from the cache (a restart). */
  private async manifest(webhookId: string): Promise<Manifest> {
    const known = this.manifests.get(webhookId);
    if (known) return known;
    const text = await this.files.read(path.join(this.files.webhookDir(webhookId), MANIFEST_FILE));
    let manifest: Manifest = new Map();
    try {
      if (text) manifest = new Map(Object.entries(manifestSchema.parse(JSON.parse(text.toString("utf8")))));
    } catch {
      // A damaged cache: every file is written again, which repairs it.
    }
    this.manifests.set(webhookId, manifest);
    return manifest;
  }

  private async saveManifest(webhookId: string, manifest: Manifest): Promise<void> {
    const file = path.join(this.files.webhookDir(webhookId), MANIFEST_FILE);
    await this.files.write(file, JSON.stringify(Object.fromEntries(manifest)));
  }

  /** Runs `fn` after the webhook's folder work already queued, so two never interleave. */
  private inFolderQueue<T>(webhookId: string, fn: () => Promise<T>): Promise<T> {
    const result = (this.folderQueues.get(webhookId) ?? Promise.resolve()).then(fn, fn);
    const tail = result.catch(() => undefined);
    this.folderQueues.set(webhookId, tail);
    void tail.then(() => {
      if (this.folderQueues.get(webhookId) === tail) this.folderQueues.delete(webhookId);
    });
    return result;
  }

  async uploadsDir(webhookId: string, runHisto: string): Promise<string> {
    return this.files.ensureDir(this.files.uploadsDir(webhookId, runHisto));
  }

  async createRun(input: NewRun): Promise<Run> {
    return this.runs.create(this.pool, input);
  }

  /**
   * `createRun` on `client`, in the caller's transaction: the cluster adds a run and its job
   * together. A failure throws without aborting that transaction's earlier work on its own.
   */
  async createRunWith(client: pg.PoolClient, input: NewRun): Promise<Run> {
    return this.runs.create(client, input);
  }

  async startRun(id: string): Promise<Run> {
    return this.runs.start(id);
  }

  async closeInterruptedRuns(): Promise<number> {
    return this.runs.closeInterrupted();
  }

  async finishRun(id: string, result: RunResult): Promise<Run> {
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
    const data = Buffer.from(notebook, "utf8");
    const { rowCount } = await this.pool.query(
      `INSERT INTO outputs (webhook_id, histo, created_at, size, run_id, notebook)
         SELECT w.id, $2, ${DB_NOW}, $3, $4, $5 FROM webhooks w WHERE w.id = $1
         ON CONFLICT (webhook_id, histo) DO UPDATE SET created_at = excluded.created_at,
           size = excluded.size, run_id = excluded.run_id, notebook = excluded.notebook`,
      [webhookId, histo, data.length, runId ?? null, data],
    );
    if (rowCount === 0) throw noWebhook(webhookId);
  }

  async readOutput(webhookId: string, histo: string): Promise<Buffer | undefined> {
    const { rows } = await this.pool.query(
      "SELECT notebook AS data FROM outputs WHERE webhook_id = $1 AND histo = $2",
      [webhookId, histo],
    );
    return rows.length === 0 ? undefined : parseRow(bytesRowSchema, "outputs", rows[0]).data;
  }

  async listOutputs(webhookId: string): Promise<OutputInfo[]> {
    const { rows } = await this.pool.query(
      `SELECT webhook_id, histo, created_at, size, run_id FROM outputs
         WHERE webhook_id = $1 ORDER BY histo DESC`,
      [webhookId],
    );
    return parseRows(outputRowSchema, "outputs", rows).map(toOutput);
  }

  async deleteOutput(webhookId: string, histo: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("DELETE FROM outputs WHERE webhook_id = $1 AND histo = $2", [
      webhookId,
      histo,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async revokeSession(id: string, expiresAt: string): Promise<void> {
    await this.transaction(async (client) => {
      await client.query("DELETE FROM revoked_sessions WHERE expires_at <= now()");
      await client.query(
        "INSERT INTO revoked_sessions (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET expires_at = $2",
        [id, expiresAt],
      );
    });
  }

  async isSessionRevoked(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      "SELECT 1 FROM revoked_sessions WHERE id = $1 AND expires_at > now()",
      [id],
    );
    return (rowCount ?? 0) > 0;
  }

  putSecret(input: NewSecret): Promise<SecretInfo> {
    return this.secrets.put(input);
  }

  listSecrets(): Promise<SecretInfo[]> {
    return this.secrets.list();
  }

  secretsFor(webhookId: string): Promise<StoredSecret[]> {
    return this.secrets.forWebhook(webhookId);
  }

  deleteSecret(name: string, webhookId: string | null): Promise<boolean> {
    return this.secrets.delete(name, webhookId);
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

  /** Ends the pool (once: closing again does nothing). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.folderQueues.values());
    await this.pool.end();
  }
}
