/**
 * @module Schemas of the values a store keeps as JSON (TEXT columns in SQLite, jsonb in Postgres):
 * a webhook's params and settings, a run's parameters and error, a kept answer's status and
 * headers. Every implementation checks them on the way in and parses them on the way out, so a
 * damaged value is a clear error, never a row with undefined fields.
 */
import { z } from "zod";
import { AppError } from "../errors.js";
import { DEFAULT_SETTINGS, RUN_MODES, type WebhookSettings } from "./types.js";

/** Naas's add-time params: the known keys are typed, any other key is a parameter to inject. */
export const webhookParamsSchema = z.looseObject({
  notif_up: z.union([z.string(), z.array(z.string())]).optional(),
  notif_down: z.union([z.string(), z.array(z.string())]).optional(),
  next_url: z.string().optional(),
  inline: z.boolean().optional(),
});

export const runModeSchema = z.enum(RUN_MODES);

/** A key missing from a kept value (written before that setting existed) takes its default. */
export const webhookSettingsSchema = z.object({
  mode: runModeSchema.default(DEFAULT_SETTINGS.mode),
  maxConcurrency: z.number().int().positive().nullable().default(DEFAULT_SETTINGS.maxConcurrency),
  reuseCalls: z.number().int().positive().default(DEFAULT_SETTINGS.reuseCalls),
  cors: z.array(z.string()).default(() => [...DEFAULT_SETTINGS.cors]),
});

export const runErrorSchema = z.object({
  ename: z.string(),
  evalue: z.string(),
  traceback: z.array(z.string()).optional(),
  cellIndex: z.number().int().nonnegative().optional(),
});

export const runParametersSchema = z.record(z.string(), z.unknown());

/** The head of a kept answer; its body is stored apart (a file, a bytea). */
export const responseHeadSchema = z.object({
  status: z.number().int().min(100).max(599),
  headers: z.record(z.string(), z.string()),
});

/** `settings` of `upsertWebhook`: each key not given (or given as undefined) takes its default. */
export function settingsWithDefaults(settings: Partial<WebhookSettings> = {}): WebhookSettings {
  return {
    mode: settings.mode ?? DEFAULT_SETTINGS.mode,
    maxConcurrency:
      settings.maxConcurrency === undefined ? DEFAULT_SETTINGS.maxConcurrency : settings.maxConcurrency,
    reuseCalls: settings.reuseCalls ?? DEFAULT_SETTINGS.reuseCalls,
    cors: settings.cors ?? [...DEFAULT_SETTINGS.cors],
  };
}

/** "settings.mode: Invalid option …; params: …" — the fields at fault, without their values (a token may be one). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.map(String).join(".") || "(value)"}: ${issue.message}`)
    .join("; ");
}

/**
 * JSON text of a value about to be stored, checked against the schema it will be read back with:
 * a store never writes what it could not read. Callers check what they are given first, so a
 * value that fails here is nbhook's own mistake ("internal").
 */
export function toJsonText(schema: z.ZodType, value: unknown, what: string): string {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new AppError("internal", `cannot store ${what}: ${describeIssues(result.error)}`, {
      cause: result.error,
    });
  }
  return JSON.stringify(result.data);
}
