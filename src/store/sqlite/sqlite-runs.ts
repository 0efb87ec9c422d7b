/**
 * @module The run records of the embedded store (the `runs` table) and their kept answers, whose
 * bodies are files (`webhooks/<id>/responses/<run id>`). SqliteStore delegates its run methods here.
 * An answer given as a file (respond_file) is linked or copied there by the OS, never read; a large
 * kept answer is read back as that file, to be streamed.
 */
import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import { AppError } from "../../errors.js";
import type { FileLayout } from "../files.js";
import { newHisto } from "../histo.js";
import { responseHeadSchema, runErrorSchema, runParametersSchema, toJsonText } from "../schemas.js";
import type { Run, RunErrorInfo, Store, KeptAnswer } from "../types.js";
import { inTransaction } from "./database.js";
import { now, parseRow, runOwnerRowSchema, runResponseRowSchema, runRowSchema, toRun } from "./rows.js";

/**
 * The newest run is the one started last; runs started in the same millisecond go by creation
 * order (output histos are strictly increasing). For a query over `runs r`.
 */
export const NEWEST_RUN_FIRST = "ORDER BY r.started_at DESC, r.output_histo DESC";

const INTERRUPTED_ERROR: RunErrorInfo = {
  ename: "ServerStopped",
  evalue: "the server stopped before this run finished (crash or kill); call the webhook again",
};

const noRun = (id: string) => new AppError("not-found", `no run with id ${id}`);

/** `listRuns`' limit: 50 when not given, else a whole number within 1..1000. */
function runLimit(limit: number | undefined): number {
  if (limit === undefined || Number.isNaN(limit)) return 50;
  return Math.min(Math.max(Math.floor(limit), 1), 1000);
}

export class SqliteRuns {
  constructor(
    private readonly db: Database.Database,
    private readonly sql: (text: string) => Database.Statement,
    private readonly files: FileLayout,
  ) {}

  get(id: string): Run | undefined {
    const raw = this.sql("SELECT * FROM runs WHERE id = ?").get(id);
    return raw === undefined ? undefined : toRun(parseRow(runRowSchema, "runs", raw));
  }

  private mustGet(id: string): Run {
    const run = this.get(id);
    if (!run) throw noRun(id);
    return run;
  }

  create(input: Parameters<Store["createRun"]>[0]): Run {
    const id = randomUUID();
    const stamp = now();
    const parameters = toJsonText(runParametersSchema, input.parameters, "the run's parameters");
    const row = {
      id,
      webhook_id: input.webhookId,
      version_histo: input.versionHisto,
      output_histo: newHisto(),
      status: input.queued ? ("queued" as const) : ("running" as const),
      queued_at: input.queued ? stamp : null,
      started_at: stamp,
    };
    // One statement, atomic by itself: inserted only when the webhook exists (every call makes one).
    const info = this.sql(
      `INSERT INTO runs (id, webhook_id, version_histo, output_histo, status, queued_at, started_at, parameters)
         SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?)`,
    ).run(
      row.id,
      row.webhook_id,
      row.version_histo,
      row.output_histo,
      row.status,
      row.queued_at,
      row.started_at,
      parameters,
      row.webhook_id,
    );
    if (info.changes === 0) throw new AppError("not-found", `no webhook with id ${input.webhookId}`);
    // The record as just written, not read back (every call creates one): the parameters as a read
    // gives them (their JSON text parsed).
    return toRun({
      ...row,
      duration_ms: null,
      error: null,
      parameters: runParametersSchema.parse(JSON.parse(parameters)),
      http_status: null,
      response_headers: null,
    });
  }

  start(id: string): Run {
    return inTransaction(this.db, () => {
      this.sql("UPDATE runs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'").run(
        now(),
        id,
      );
      return this.mustGet(id);
    });
  }

  closeInterrupted(): number {
    const error = toJsonText(runErrorSchema, INTERRUPTED_ERROR, "the run's error");
    const info = this.sql(
      "UPDATE runs SET status = 'died', error = ?, http_status = 500 WHERE status IN ('queued', 'running')",
    ).run(error);
    return info.changes;
  }

  async finish(id: string, result: Parameters<Store["finishRun"]>[1]): Promise<Run> {
    const error = result.error && toJsonText(runErrorSchema, result.error, "the run's error");
    let head: string | null = null;
    if (result.answer) {
      const { status, headers, body, file } = result.answer;
      head = toJsonText(responseHeadSchema, { status, headers }, "the run's answer");
      // The body first (atomically), then the row: a run never claims an answer it has not got.
      const raw = this.sql("SELECT id, webhook_id FROM runs WHERE id = ?").get(id);
      if (raw === undefined) throw noRun(id);
      const owner = parseRow(runOwnerRowSchema, "runs", raw);
      const target = this.files.responseFile(owner.webhook_id, id);
      await (file ? this.files.keep(target, file.path) : this.files.write(target, body));
    }
    // The record back from the UPDATE itself (every call finishes one), but in a transaction:
    // `.get()` of an UPDATE … RETURNING resets the statement after its first row, and a failed
    // autocommit there (a full disk) would not be reported, the record silently left `running`.
    return inTransaction(this.db, () => {
      const raw = this.sql(
        `UPDATE runs SET status = ?, duration_ms = ?, error = ?, http_status = ?,
             response_headers = coalesce(?, response_headers)
           WHERE id = ? RETURNING *`,
      ).get(result.status, Math.round(result.durationMs), error, result.httpStatus, head, id);
      if (raw === undefined) throw noRun(id);
      return toRun(parseRow(runRowSchema, "runs", raw));
    });
  }

  async readAnswer(id: string): Promise<KeptAnswer | undefined> {
    const raw = this.sql("SELECT id, webhook_id, response_headers FROM runs WHERE id = ?").get(id);
    if (raw === undefined) return undefined;
    const row = parseRow(runResponseRowSchema, "runs", raw);
    if (!row.response_headers) return undefined;
    const kept = await this.files.readBody(this.files.responseFile(row.webhook_id, id));
    if (!kept) return undefined;
    return { status: row.response_headers.status, headers: row.response_headers.headers, ...kept };
  }

  list(options: Parameters<Store["listRuns"]>[0]): Run[] {
    const limit = runLimit(options.limit);
    const rows =
      options.webhookId === undefined
        ? this.sql(`SELECT * FROM runs r ${NEWEST_RUN_FIRST} LIMIT ?`).all(limit)
        : this.sql(`SELECT * FROM runs r WHERE r.webhook_id = ? ${NEWEST_RUN_FIRST} LIMIT ?`).all(
            options.webhookId,
            limit,
          );
    return rows.map((raw) => toRun(parseRow(runRowSchema, "runs", raw)));
  }
}
