/**
 * How an error ends the `nbhook` process: the exit code for each kind of failure, whether its
 * message is meant for the user (no stack trace) or is a bug, and that message.
 */
import { z } from "zod";
import {
  NbhookApiError,
  NbhookClientError,
  NbhookConnectionError,
  NbhookResponseError,
} from "../client/index.js";
import { AppError, type ErrorCode } from "../errors.js";
import { EXIT } from "./exit-codes.js";

/** AppError codes that do not end with exit 2 (usage, or a setup error). */
const APP_ERROR_EXIT: Partial<Record<ErrorCode, number>> = {
  timeout: EXIT.timeout,
  "not-found": EXIT.notFound,
  "kernel-died": EXIT.kernelDied,
  internal: EXIT.internal,
};

/** The exit code for a failure the user can act on, or undefined for a bug. */
export function exitCodeOf(err: unknown): number | undefined {
  if (err instanceof NbhookApiError) {
    if (err.status === 404) return EXIT.notFound;
    return err.status >= 500 ? EXIT.server : EXIT.usage;
  }
  if (err instanceof NbhookConnectionError || err instanceof NbhookResponseError) return EXIT.server;
  if (err instanceof NbhookClientError) return EXIT.usage;
  if (err instanceof AppError) return APP_ERROR_EXIT[err.code] ?? EXIT.usage;
  // A value that did not fit a schema (a setting, a file, what a program answered): usage, like
  // any other bad input, described field by field.
  if (err instanceof z.core.$ZodError) return EXIT.usage;
  return undefined;
}

/** The one-line message for an error exitCodeOf knows. */
export function userMessageOf(err: unknown): string {
  if (err instanceof z.core.$ZodError) return describeZodError(err);
  return err instanceof Error ? err.message : String(err);
}

/**
 * One line, field by field, not zod's JSON: `invalid values: version: Invalid input: expected
 * string, received number; cells[2].source: …`.
 */
export function describeZodError(err: z.core.$ZodError): string {
  const fields = err.issues.map((issue) => `${fieldPath(issue.path) || "value"}: ${issue.message}`);
  return `invalid ${fields.length === 1 ? "value" : "values"}: ${fields.join("; ")}`;
}

function fieldPath(path: PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === "number" ? `[${key}]` : `${i > 0 ? "." : ""}${String(key)}`))
    .join("");
}
