/**
 * @module The rows the Postgres store reads, as zod schemas, and their mapping to the store's
 * types. node-postgres gives `json` columns parsed, `timestamptz` as Date, `bytea` as Buffer; the
 * schemas check the values (the same ones the SQLite store checks, from `schemas.ts`) and turn
 * times into ISO strings. A row that does not fit is an error naming the table, the row and the
 * field: a damaged database must never answer with undefined fields.
 */
import { z } from "zod";
import { runStatusSchema } from "../../run-status.js";
import { HISTO_PATTERN } from "../histo.js";
import {
  describeIssues,
  responseHeadSchema,
  runErrorSchema,
  runParametersSchema,
  webhookParamsSchema,
  webhookSettingsSchema,
} from "../schemas.js";
import type { OutputInfo, Run, Webhook, WebhookVersion } from "../types.js";

/** A `timestamptz`, read back as the store's times are written: ISO 8601, UTC, milliseconds. */
const time = z.date().transform((date) => date.toISOString());
const histo = z.string().regex(HISTO_PATTERN);
const count = z.number().int().nonnegative();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/** The columns of `webhooks w` a Webhook is made of, with its live version and newest run. */
export const WEBHOOK_COLUMNS = `
  w.id, w.name, w.path, w.file_name, w.source_host, w.token, w.params, w.debug, w.timeout_ms, w.settings,
  w.created_at, w.updated_at, w.deleted_at,
  (SELECT max(v.histo) FROM versions v WHERE v.webhook_id = w.id) AS live_histo,
  n.started_at AS last_run_at, n.status AS last_run_status`;

/**
 * `FROM <source> AS w` with the newest run of each (`n`), for {@link WEBHOOK_COLUMNS}. `source`:
 * the table, or a CTE of rows just written (`RETURNING *`), read back in the same statement.
 */
export function webhookFrom(source = "webhooks"): string {
  return `
  ${source} AS w LEFT JOIN LATERAL (
    SELECT r.started_at, r.status FROM runs r WHERE r.webhook_id = w.id
    ORDER BY r.started_at DESC, r.seq DESC LIMIT 1
  ) n ON true`;
}

/** The columns of `runs r` a Run is made of. */
export const RUN_COLUMNS = `
  r.id, r.webhook_id, r.version_histo, r.output_histo, r.status, r.queued_at, r.started_at,
  r.duration_ms, r.error, r.parameters, r.http_status,
  EXISTS (SELECT 1 FROM answers a WHERE a.run_id = r.id) AS has_answer`;

/** Newest first: by start, then by creation (`seq`), over `runs r`. */
export const NEWEST_RUN_FIRST = "ORDER BY r.started_at DESC, r.seq DESC";

export const webhookRowSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  path: z.string().min(1),
  file_name: z.string(),
  source_host: z.string().nullable(),
  token: z.string().min(1),
  params: webhookParamsSchema,
  debug: z.boolean(),
  timeout_ms: z.number().int().positive(),
  settings: webhookSettingsSchema,
  created_at: time,
  updated_at: time,
  deleted_at: time.nullable(),
  live_histo: histo.nullable(),
  last_run_at: time.nullable(),
  last_run_status: runStatusSchema.nullable(),
});

export const versionRowSchema = z.object({
  webhook_id: z.string(),
  histo,
  created_at: time,
  size: count,
  sha256,
});

export const runRowSchema = z.object({
  id: z.string().min(1),
  webhook_id: z.string(),
  version_histo: histo,
  output_histo: histo,
  status: runStatusSchema,
  queued_at: time.nullable(),
  started_at: time,
  duration_ms: count.nullable(),
  error: runErrorSchema.nullable(),
  parameters: runParametersSchema,
  http_status: z.number().int().nullable(),
  has_answer: z.boolean(),
});

/** `SELECT run_id, webhook_id, status, headers, size, sha256` of a kept answer (no body). */
export const answerHeadRowSchema = z.object({
  run_id: z.string(),
  webhook_id: z.string(),
  ...responseHeadSchema.shape,
  size: count,
  sha256,
});

export const outputRowSchema = z.object({
  webhook_id: z.string(),
  histo,
  created_at: time,
  size: count,
  run_id: z.string().nullable(),
});

/** `SELECT path, sha256, size FROM webhook_files`: what a files folder should hold. */
export const fileRowSchema = z.object({
  webhook_id: z.string(),
  path: z.string().min(1),
  sha256,
  size: count,
});

/** A `bytea` column read on its own. */
export const bytesRowSchema = z.object({ data: z.instanceof(Buffer) });

type Table = "webhooks" | "versions" | "runs" | "answers" | "outputs" | "webhook_files";

const KEY_COLUMNS: Record<Table, string[]> = {
  webhooks: ["id"],
  versions: ["webhook_id", "histo"],
  runs: ["id"],
  answers: ["run_id"],
  outputs: ["webhook_id", "histo"],
  webhook_files: ["webhook_id", "path"],
};

function describeKey(table: Table, raw: unknown): string {
  return KEY_COLUMNS[table]
    .map((column) => {
      const value =
        typeof raw === "object" && raw !== null && column in raw ? Reflect.get(raw, column) : undefined;
      return `${column} ${JSON.stringify(value) ?? "?"}`;
    })
    .join(", ");
}

/** Parses one row read from `table`; throws an error naming the table, the row and the bad fields. */
export function parseRow<S extends z.ZodType>(schema: S, table: Table, raw: unknown): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw new Error(
    `the nbhook database is damaged: the row of table "${table}" with ${describeKey(table, raw)} has bad ` +
      `fields (${describeIssues(result.error)}). Restore the database from a backup, or fix or delete that row.`,
    { cause: result.error },
  );
}

export function parseRows<S extends z.ZodType>(schema: S, table: Table, rows: unknown[]): z.output<S>[] {
  return rows.map((raw) => parseRow(schema, table, raw));
}

export function toWebhook(row: z.output<typeof webhookRowSchema>): Webhook {
  return {
    id: row.id,
    name: row.name,
    path: row.path,
    fileName: row.file_name,
    sourceHost: row.source_host,
    token: row.token,
    params: row.params,
    debug: row.debug,
    timeoutMs: row.timeout_ms,
    settings: row.settings,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
    liveHisto: row.live_histo,
    lastRunAt: row.last_run_at,
    lastRunStatus: row.last_run_status,
  };
}

export function toVersion(row: z.output<typeof versionRowSchema>): WebhookVersion {
  return {
    webhookId: row.webhook_id,
    histo: row.histo,
    createdAt: row.created_at,
    size: row.size,
    sha256: row.sha256,
  };
}

export function toRun(row: z.output<typeof runRowSchema>): Run {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    versionHisto: row.version_histo,
    outputHisto: row.output_histo,
    status: row.status,
    queuedAt: row.queued_at,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    error: row.error,
    parameters: row.parameters,
    httpStatus: row.http_status,
    hasAnswer: row.has_answer,
  };
}

export function toOutput(row: z.output<typeof outputRowSchema>): OutputInfo {
  return {
    webhookId: row.webhook_id,
    histo: row.histo,
    createdAt: row.created_at,
    size: row.size,
    runId: row.run_id,
  };
}
