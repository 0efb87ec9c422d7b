/**
 * @module The management API's JSON shapes (docs/api.md), as zod schemas: the server builds its
 * replies as these types (server/representations.ts), and the SDK checks every reply it hands out
 * against them (client/), so the two cannot drift apart without a compile error. Field names are
 * the API's (snake_case, as Naas's API and the Python helper use).
 */
import { z } from "zod";
import { runStatusSchema } from "../run-status.js";
// Not the store's module: the SDK imports this file, in a browser too.
import { RUN_MODES, type RunMode } from "../run-modes.js";

export { runStatusSchema };

export const runModeSchema = z.enum(RUN_MODES);
export type { RunMode };

export const webhookSchema = z.object({
  id: z.string(),
  /** The identity (docs/api.md, "Names"): given at add, else the notebook's absolute path. */
  name: z.string(),
  /** Where the newest deploy's notebook came from, on the deploying machine. */
  path: z.string(),
  /** The notebook's file name (`report.ipynb`): downloads, titles. */
  file_name: z.string(),
  /** The deploying machine's host name, or null when the deploy did not say. */
  source_host: z.string().nullable(),
  url: z.string(),
  params: z.record(z.string(), z.unknown()),
  debug: z.boolean(),
  timeout_ms: z.number(),
  mode: runModeSchema,
  max_concurrency: z.number().nullable(),
  reuse_calls: z.number(),
  /** Origins whose pages may call the webhook URL (CORS); `*`: any. */
  cors: z.array(z.string()),
  created_at: z.string(),
  updated_at: z.string(),
  deleted_at: z.string().nullable(),
  live_histo: z.string().nullable(),
  last_run_at: z.string().nullable(),
  last_run_status: runStatusSchema.nullable(),
});
export type WebhookJson = z.infer<typeof webhookSchema>;

export const versionSchema = z.object({
  histo: z.string(),
  created_at: z.string(),
  size: z.number(),
  sha256: z.string(),
  live: z.boolean(),
});
export type VersionJson = z.infer<typeof versionSchema>;

export const outputSchema = z.object({
  histo: z.string(),
  created_at: z.string(),
  size: z.number(),
  run_id: z.string().nullable(),
});
export type OutputJson = z.infer<typeof outputSchema>;

export const runErrorSchema = z.object({
  ename: z.string(),
  evalue: z.string(),
  traceback: z.array(z.string()).optional(),
  cell_index: z.number().optional(),
});

export const runSchema = z.object({
  id: z.string(),
  webhook_id: z.string(),
  /** The webhook's notebook path (absent when the webhook row is gone). */
  path: z.string().optional(),
  /** The webhook's name (absent when the webhook row is gone). */
  webhook_name: z.string().optional(),
  version_histo: z.string(),
  output_histo: z.string(),
  status: runStatusSchema,
  queued_at: z.string().nullable(),
  started_at: z.string(),
  duration_ms: z.number().nullable(),
  error: runErrorSchema.nullable(),
  parameters: z.record(z.string(), z.unknown()),
  http_status: z.number().nullable(),
  url: z.string(),
  output_url: z.string(),
  response_url: z.string(),
});
export type RunJson = z.infer<typeof runSchema>;

export const addResultSchema = z.object({
  created: z.boolean(),
  webhook: webhookSchema,
  version: versionSchema,
  /** How many versions the webhook keeps now, this one included. */
  versions: z.number(),
  files: z.array(z.string()),
  /**
   * Set when this deploy became a new version of a webhook whose previous deploy came from another
   * machine or another path: where that was (the host null when that deploy did not say).
   */
  previous: z.object({ host: z.string().nullable(), path: z.string() }).optional(),
});
export type AddResultJson = z.infer<typeof addResultSchema>;

export const webhookListSchema = z.object({ webhooks: z.array(webhookSchema) });
export type WebhookListJson = z.infer<typeof webhookListSchema>;
export const versionListSchema = z.object({ versions: z.array(versionSchema) });
export type VersionListJson = z.infer<typeof versionListSchema>;
export const outputListSchema = z.object({ outputs: z.array(outputSchema) });
export type OutputListJson = z.infer<typeof outputListSchema>;
export const runListSchema = z.object({ runs: z.array(runSchema) });
export type RunListJson = z.infer<typeof runListSchema>;
export const deletedSchema = z.object({ deleted: z.array(z.string()) });
export type DeletedJson = z.infer<typeof deletedSchema>;
export const deletedWebhookSchema = z.object({ deleted: z.literal(true), webhook: webhookSchema });
export type DeletedWebhookJson = z.infer<typeof deletedWebhookSchema>;

/**
 * The `202 Accepted` of an asynchronous call (`Prefer: respond-async`, or `wait=N` run out): the
 * run to poll, and where its answer will be.
 */
export const acceptedCallSchema = z.object({
  id: z.string(),
  status: z.enum(["queued", "running"]),
  url: z.string(),
  response_url: z.string(),
});
export type AcceptedCallJson = z.infer<typeof acceptedCallSchema>;

/**
 * A webhook call's answer when the notebook gave none (no `respond_*`): Naas's
 * `{"id", "status": "Done", "time"}`, `time` in seconds. The run record keeps its own status.
 */
export const doneAnswerSchema = z.object({ id: z.string(), status: z.literal("Done"), time: z.number() });
export type DoneAnswerJson = z.infer<typeof doneAnswerSchema>;

/** The body of every error answer; some add fields (a failed run: id, status, ename, evalue, traceback). */
export const errorBodySchema = z.looseObject({ error: z.string(), message: z.string() });
export type ErrorBody = z.infer<typeof errorBodySchema>;

/**
 * The type names of a notebook's parameters (papermill's, plus "unknown"): notebook/parameters'
 * ParamType (the parameters route assigns a ParamType to it: a type missing here does not compile).
 */
export const parameterTypeSchema = z.enum(["int", "float", "bool", "none", "str", "list", "dict", "unknown"]);

/** One name of a webhook's `parameters` cell, as `GET /api/webhooks/{id}/parameters` lists it. */
export const webhookParameterSchema = z.object({
  name: z.string(),
  type: parameterTypeSchema,
  /** The literal default as JSON (ints beyond ±(2^53 − 1) as their decimal text); absent when not a literal. */
  default: z.unknown().optional(),
  annotation: z.string().optional(),
  help: z.string().optional(),
});
export type WebhookParameterJson = z.infer<typeof webhookParameterSchema>;

/**
 * `GET /api/webhooks/{id}/parameters`: the parameters of the live version's `parameters` cell,
 * and their JSON Schema (draft 2020-12) as a call's JSON body. `histo` and `language` are null
 * when no version is left; `parameters` is empty when nbhook cannot read the kernel's language.
 */
export const webhookParametersSchema = z.object({
  histo: z.string().nullable(),
  language: z.string().nullable(),
  parameters: z.array(webhookParameterSchema),
  schema: z.record(z.string(), z.unknown()),
});
export type WebhookParametersJson = z.infer<typeof webhookParametersSchema>;

/** A stored secret as the API shows it: never its value (docs/secrets.md). */
export const secretSchema = z.object({
  name: z.string(),
  /** The webhook's id for a webhook's own secret; null for a global one (every webhook's). */
  webhook: z.string().nullable(),
  /** That webhook's name and notebook path, when it is known. */
  webhook_name: z.string().nullable(),
  webhook_path: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type SecretJson = z.infer<typeof secretSchema>;
export const secretListSchema = z.object({ secrets: z.array(secretSchema) });
export type SecretListJson = z.infer<typeof secretListSchema>;
export const secretDeletedSchema = z.object({
  deleted: z.literal(true),
  name: z.string(),
  webhook: z.string().nullable(),
});
export type SecretDeletedJson = z.infer<typeof secretDeletedSchema>;
