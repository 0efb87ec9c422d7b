/**
 * @module The run records of the Postgres store (`runs`) and their kept answers (`answers`, the
 * body a bytea). PgStore delegates its run methods here. An answer given as a file is read into
 * the row (the file stays: its owner removes it); a large kept answer is read back into a file of
 * the node's cache, in chunks, to be streamed, since a bytea cannot be streamed through `pg`.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type pg from "pg";
import { AppError } from "../../errors.js";
import { type FileLayout, KEPT_ANSWER_READ_BYTES } from "../files.js";
import { newHisto } from "../histo.js";
import { responseHeadSchema, runErrorSchema, runParametersSchema, toJsonText } from "../schemas.js";
import type { KeptAnswer, Run, RunErrorInfo, Store } from "../types.js";
import { type PgLog, type Queryable, withTransaction } from "./connection.js";
import {
  answerHeadRowSchema,
  bytesRowSchema,
  NEWEST_RUN_FIRST,
  parseRow,
  parseRows,
  RUN_COLUMNS,
  runRowSchema,
  toRun,
} from "./rows.js";

/**
 * The time the store writes: the database server's clock, one for every node, to the millisecond
 * (what is read back). clock_timestamp, not now(): a caller's transaction may be long.
 */
export const DB_NOW = "date_trunc('milliseconds', clock_timestamp())";

export type NewRun = Parameters<Store["createRun"]>[0];
export type RunResult = Parameters<Store["finishRun"]>[1];

const INTERRUPTED_ERROR: RunErrorInfo = {
  ename: "ServerStopped",
  evalue: "the server stopped before this run finished (crash or kill); call the webhook again",
};

/** Bytes of a large kept answer fetched per query while it is written to the cache. */
const ANSWER_CHUNK_BYTES = 1024 * 1024;

const noRun = (id: string) => new AppError("not-found", `no run with id ${id}`);
const noWebhook = (id: string) => new AppError("not-found", `no webhook with id ${id}`);

/** `listRuns`' limit: 50 when not given, else a whole number within 1..1000. */
function runLimit(limit: number | undefined): number {
  if (limit === undefined || Number.isNaN(limit)) return 50;
  return Math.min(Math.max(Math.floor(limit), 1), 1000);
}

export class PgRuns {
  constructor(
    private readonly pool: pg.Pool,
    private readonly cache: FileLayout,
    private readonly log?: PgLog,
  ) {}

  private parse(rows: unknown[]): Run[] {
    return parseRows(runRowSchema, "runs", rows).map(toRun);
  }

  async get(id: string, db: Queryable = this.pool): Promise<Run | undefined> {
    const { rows } = await db.query(`SELECT ${RUN_COLUMNS} FROM runs r WHERE r.id = $1`, [id]);
    return this.parse(rows)[0];
  }

  /** `createRun` on `db`: the pool, or a client in the caller's transaction (left usable). */
  async create(db: Queryable, input: NewRun): Promise<Run> {
    const parameters = toJsonText(runParametersSchema, input.parameters, "the run's parameters");
    // ON CONFLICT DO NOTHING rather than a failing insert: an error would abort the caller's
    // transaction, while a histo drawn twice (two nodes, one microsecond) only needs another.
    for (let attempt = 0; attempt < 5; attempt++) {
      const { rows } = await db.query(
        `INSERT INTO runs AS r (id, webhook_id, version_histo, output_histo, status, queued_at, started_at, parameters)
           SELECT $1, w.id, $3, $4, $5, CASE WHEN $6::boolean THEN t.now END, t.now, $7::json
             FROM webhooks w, (SELECT ${DB_NOW} AS now) t WHERE w.id = $2
           ON CONFLICT (webhook_id, output_histo) DO NOTHING
           RETURNING ${RUN_COLUMNS}`,
        [
          randomUUID(),
          input.webhookId,
          input.versionHisto,
          newHisto(),
          input.queued ? "queued" : "running",
          input.queued === true,
          parameters,
        ],
      );
      const [run] = this.parse(rows);
      if (run) return run;
      const known = await db.query("SELECT 1 FROM webhooks WHERE id = $1", [input.webhookId]);
      if (known.rowCount === 0) throw noWebhook(input.webhookId);
    }
    throw new Error(`no free output histo for a run of webhook ${input.webhookId} after 5 attempts`);
  }

  async start(id: string): Promise<Run> {
    const { rows } = await this.pool.query(
      `UPDATE runs AS r SET status = 'running', started_at = ${DB_NOW}
         WHERE r.id = $1 AND r.status = 'queued'
         RETURNING ${RUN_COLUMNS}`,
      [id],
    );
    const run = this.parse(rows)[0] ?? (await this.get(id));
    if (!run) throw noRun(id);
    return run;
  }

  async closeInterrupted(): Promise<number> {
    const error = toJsonText(runErrorSchema, INTERRUPTED_ERROR, "the run's error");
    const { rowCount } = await this.pool.query(
      `UPDATE runs SET status = 'died', error = $1::json, http_status = 500
         WHERE status IN ('queued', 'running')`,
      [error],
    );
    return rowCount ?? 0;
  }

  async finish(id: string, result: RunResult): Promise<Run> {
    const error = result.error && toJsonText(runErrorSchema, result.error, "the run's error");
    const update = `UPDATE runs AS r SET status = $2, duration_ms = $3, error = $4::json, http_status = $5
        WHERE r.id = $1 RETURNING ${RUN_COLUMNS}`;
    const values = [id, result.status, Math.round(result.durationMs), error, result.httpStatus];
    if (!result.answer) {
      const [run] = this.parse((await this.pool.query(update, values)).rows);
      if (!run) throw noRun(id);
      return run;
    }
    const { status, headers, file } = result.answer;
    // Checked as it will be read back (the text itself is not kept: status and headers are columns).
    toJsonText(responseHeadSchema, { status, headers }, "the run's answer");
    const body = file ? await readFile(file.path) : result.answer.body;
    // One transaction: the answer and the status together, so a finished run never lacks the
    // answer it claims.
    return withTransaction(
      this.pool,
      async (client) => {
        const locked = await client.query("SELECT 1 FROM runs WHERE id = $1 FOR UPDATE", [id]);
        if (locked.rowCount === 0) throw noRun(id);
        await client.query(
          `INSERT INTO answers (run_id, status, headers, size, sha256, body) VALUES ($1, $2, $3::json, $4, $5, $6)
             ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, headers = excluded.headers,
               size = excluded.size, sha256 = excluded.sha256, body = excluded.body`,
          [
            id,
            status,
            JSON.stringify(headers),
            body.length,
            createHash("sha256").update(body).digest("hex"),
            body,
          ],
        );
        const [run] = this.parse((await client.query(update, values)).rows);
        if (!run) throw noRun(id);
        return run;
      },
      this.log,
    );
  }

  async readAnswer(id: string): Promise<KeptAnswer | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      // A small body comes with its head, in one query; a large one is left in the row.
      const { rows } = await this.pool.query(
        `SELECT a.run_id, r.webhook_id, a.status, a.headers, a.size, a.sha256,
             CASE WHEN a.size <= $2 THEN a.body END AS data
           FROM answers a JOIN runs r ON r.id = a.run_id WHERE a.run_id = $1`,
        [id, KEPT_ANSWER_READ_BYTES],
      );
      if (rows.length === 0) return undefined;
      const head = parseRow(answerHeadRowSchema, "answers", rows[0]);
      const kept = { status: head.status, headers: head.headers };
      if (head.size <= KEPT_ANSWER_READ_BYTES) {
        return { ...kept, body: parseRow(bytesRowSchema, "answers", rows[0]).data };
      }
      const file = await this.cachedAnswer(head);
      if (file) return { ...kept, body: Buffer.alloc(0), file: { path: file, size: head.size } };
      // The answer was replaced while it was read: read the new one.
    }
    throw new Error(`the kept answer of run ${id} kept changing while it was read`);
  }

  /**
   * The large answer `head` names, as a file of the cache: named by its sha256, so a file found
   * there is the right one and a replaced answer never serves the old bytes. Written in chunks
   * (never the whole body in memory) to a temporary name, then renamed; undefined when the
   * answer changed meanwhile.
   */
  private async cachedAnswer(head: {
    run_id: string;
    webhook_id: string;
    size: number;
    sha256: string;
  }): Promise<string | undefined> {
    const target = `${this.cache.responseFile(head.webhook_id, head.run_id)}.${head.sha256.slice(0, 16)}`;
    const found = await stat(target).catch(() => undefined);
    if (found?.isFile() && found.size === head.size) return target;
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.${randomBytes(4).toString("hex")}.tmp`;
    const hash = createHash("sha256");
    const handle = await open(tmp, "w");
    try {
      for (let offset = 0; offset < head.size; offset += ANSWER_CHUNK_BYTES) {
        const { rows } = await this.pool.query(
          "SELECT substring(body FROM $2 FOR $3) AS data FROM answers WHERE run_id = $1 AND sha256 = $4",
          [head.run_id, offset + 1, ANSWER_CHUNK_BYTES, head.sha256],
        );
        if (rows.length === 0) return undefined;
        const chunk = parseRow(bytesRowSchema, "answers", rows[0]).data;
        hash.update(chunk);
        await handle.write(chunk);
      }
      await handle.close();
      if (hash.digest("hex") !== head.sha256) return undefined;
      await rename(tmp, target);
      return target;
    } finally {
      await handle.close().catch(() => undefined);
      await rm(tmp, { force: true });
    }
  }

  async list(options: Parameters<Store["listRuns"]>[0]): Promise<Run[]> {
    const limit = runLimit(options.limit);
    const { rows } =
      options.webhookId === undefined
        ? await this.pool.query(`SELECT ${RUN_COLUMNS} FROM runs r ${NEWEST_RUN_FIRST} LIMIT $1`, [limit])
        : await this.pool.query(
            `SELECT ${RUN_COLUMNS} FROM runs r WHERE r.webhook_id = $1 ${NEWEST_RUN_FIRST} LIMIT $2`,
            [options.webhookId, limit],
          );
    return this.parse(rows);
  }
}
