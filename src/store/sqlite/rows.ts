/**
 * @module The rows the SQLite store reads, as zod schemas (JSON columns parsed in place), and their
 * mapping to the store's types. A row that does not fit is an error naming the table, the row and
 * the field: a damaged database must never answer with undefined fields.
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

/** A TEXT column holding JSON that must fit `schema`. */
function jsonText<T extends z.ZodType>(schema: T) {
  return z.codec(z.string(), schema, {
    decode: (text, ctx) => {
      try {
        return JSON.parse(text);
      } catch (err) {
        ctx.issues.push({
          code: "invalid_format",
          format: "json",
          input: text,
          message: `not JSON (${String(err)})`,
        });
        return z.NEVER;
      }
    },
    encode: (value) => JSON.stringify(value),
  });
}

/** The form of every time the store writes (ISO 8601, UTC, milliseconds); `time` reads it. */
export const now = () => new Date().toISOString();

const time = z.iso.datetime();
const histo = z.string().regex(HISTO_PATTERN);
const count = z.number().int().nonnegative();

export const webhookRowSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  path: z.string().min(1),
  file_name: z.string(),
  source_host: z.string().nullable(),
  token: z.string().min(1),
  params: jsonText(webhookParamsSchema),
  debug: z.literal([0, 1]),
  timeout_ms: z.number().int().positive(),
  settings: jsonText(webhookSettingsSchema),
  created_at: time,
  updated_at: time,
  deleted_at: time.nullable(),
  // Computed by WEBHOOK_SELECT.
  live_histo: histo.nullable(),
  last_run_at: time.nullable(),
  last_run_status: runStatusSchema.nullable(),
});

export const versionRowSchema = z.object({
  webhook_id: z.string(),
  histo,
  created_at: time,
  size: count,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
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
  error: jsonText(runErrorSchema).nullable(),
  parameters: jsonText(runParametersSchema),
  http_status: z.number().int().nullable(),
  response_headers: jsonText(responseHeadSchema).nullable(),
});

/** `SELECT id, webhook_id FROM runs`: where a run's files go. */
export const runOwnerRowSchema = runRowSchema.pick({ id: true, webhook_id: true });

/** `SELECT id, webhook_id, response_headers FROM runs`: a kept answer's head. */
export const runResponseRowSchema = runRowSchema.pick({ id: true, webhook_id: true, response_headers: true });

export const outputRowSchema = z.object({
  webhook_id: z.string(),
  histo,
  created_at: time,
  size: count,
  run_id: z.string().nullable(),
});

type Table = "webhooks" | "versions" | "runs" | "outputs";

const KEY_COLUMNS: Record<Table, string[]> = {
  webhooks: ["id"],
  versions: ["webhook_id", "histo"],
  runs: ["id"],
  outputs: ["webhook_id", "histo"],
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
    `nbhook.db is damaged: the row of table "${table}" with ${describeKey(table, raw)} has bad fields (` +
      `${describeIssues(result.error)}). Restore nbhook.db from a backup, or fix or delete that row.`,
    { cause: result.error },
  );
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
    debug: row.debug === 1,
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
    hasAnswer: row.response_headers !== null,
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
