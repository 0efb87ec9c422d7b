/**
 * The management API's JSON shapes (docs/api.md), as zod schemas: every reply the SDK hands out
 * has been checked against them. Field names are the API's (snake_case). Objects are loose: fields
 * a newer server adds are kept, not dropped.
 */
import { z } from "zod";

export const runStatusSchema = z.enum(["queued", "running", "ok", "error", "timeout", "died", "cancelled"]);
export type RunStatus = z.infer<typeof runStatusSchema>;

export const webhookSchema = z.looseObject({
  id: z.string(),
  path: z.string(),
  name: z.string(),
  url: z.string(),
  params: z.record(z.string(), z.unknown()),
  debug: z.boolean(),
  timeout_ms: z.number(),
  mode: z.enum(["isolated", "setup", "reuse"]),
  max_concurrency: z.number().nullable(),
  reuse_calls: z.number(),
  created_at: z.string(),
  updated_at: z.string(),
  deleted_at: z.string().nullable(),
  live_histo: z.string().nullable(),
  last_run_at: z.string().nullable(),
  last_run_status: runStatusSchema.nullable(),
});
export type Webhook = z.infer<typeof webhookSchema>;

export const versionSchema = z.looseObject({
  histo: z.string(),
  created_at: z.string(),
  size: z.number(),
  sha256: z.string(),
  live: z.boolean(),
});
export type Version = z.infer<typeof versionSchema>;

export const outputSchema = z.looseObject({
  histo: z.string(),
  created_at: z.string(),
  size: z.number(),
  run_id: z.string().nullable(),
});
export type Output = z.infer<typeof outputSchema>;

export const runErrorSchema = z.looseObject({
  ename: z.string(),
  evalue: z.string(),
  traceback: z.array(z.string()).optional(),
  cell_index: z.number().optional(),
});

export const runSchema = z.looseObject({
  id: z.string(),
  webhook_id: z.string(),
  path: z.string().optional(),
  version_histo: z.string(),
  output_histo: z.string(),
  status: runStatusSchema,
  started_at: z.string(),
  duration_ms: z.number().nullable(),
  error: runErrorSchema.nullable(),
  parameters: z.record(z.string(), z.unknown()),
  http_status: z.number().nullable(),
  url: z.string(),
  output_url: z.string(),
});
export type Run = z.infer<typeof runSchema>;

export const addResultSchema = z.looseObject({
  created: z.boolean(),
  webhook: webhookSchema,
  version: versionSchema,
  files: z.array(z.string()),
});
export type AddResult = z.infer<typeof addResultSchema>;

export const webhookListSchema = z.object({ webhooks: z.array(webhookSchema) });
export const versionListSchema = z.object({ versions: z.array(versionSchema) });
export const outputListSchema = z.object({ outputs: z.array(outputSchema) });
export const runListSchema = z.object({ runs: z.array(runSchema) });
export const deletedSchema = z.object({ deleted: z.array(z.string()) });
export const deletedWebhookSchema = z.object({ deleted: z.literal(true), webhook: webhookSchema });

/** The body of every error answer. */
export const errorBodySchema = z.object({ error: z.string(), message: z.string() });
