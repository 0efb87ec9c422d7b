/**
 * How an error ends the `nbhook` process: the exit code for each kind of failure, and whether its
 * message is meant for the user (no stack trace) or is a bug.
 */
import { NbhookApiError, NbhookClientError, NbhookConnectionError, NbhookResponseError } from "../client/index.js";
import { AppError } from "../errors.js";
import { EXIT } from "./exit-codes.js";

/** The exit code for a failure the user can act on, or undefined for a bug. */
export function exitCodeOf(err: unknown): number | undefined {
  if (err instanceof NbhookApiError) {
    if (err.status === 404) return EXIT.notFound;
    return err.status >= 500 ? EXIT.server : EXIT.usage;
  }
  if (err instanceof NbhookConnectionError || err instanceof NbhookResponseError) return EXIT.server;
  if (err instanceof NbhookClientError) return EXIT.usage;
  if (err instanceof AppError) {
    if (err.code === "timeout") return EXIT.timeout;
    return err.code === "not-found" ? EXIT.notFound : EXIT.usage;
  }
  return undefined;
}
