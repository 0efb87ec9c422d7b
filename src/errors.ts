/**
 * The one error type nbhook throws on purpose. `code` says what went wrong in a way callers can
 * switch on (server/http-errors.ts maps each code to its HTTP status, the CLI to its exit code);
 * the message says what to do. `details` carry what an answer needs besides the message (the
 * seconds in Retry-After, the methods in Allow).
 */
export type ErrorCode =
  | "usage" // bad flags, arguments or request fields
  | "bad-request" // a request the server cannot read (malformed JSON or multipart)
  | "unauthorized" // no API token, or a wrong one
  | "forbidden" // signed in, but the request may not be made so (a token whose scope is too small, a dashboard request without its CSRF token)
  | "method-not-allowed" // a method the route does not take
  | "body-too-large" // a request body over the limit
  | "unsupported-media-type" // a body of a type the route does not read
  | "notebook-invalid" // not nbformat v4, or a cell/field is wrong
  | "parameter-invalid" // a parameter could not be parsed, coerced or translated
  | "name-invalid" // a webhook name nbhook does not take (docs/api.md, "Names")
  | "kernel-not-found" // no kernelspec fits
  | "kernel-launch" // the kernel process could not start or never answered
  | "kernel-died" // the kernel process exited while we needed it
  | "run-failed" // a run ended in error (a cell raised, the answer was broken)
  | "timeout" // a cell or the whole run took too long
  | "protocol" // the kernel sent something we cannot read
  | "not-found" // no such webhook, version, output, run or route
  | "conflict" // the request contradicts the current state (e.g. clearing the live version)
  | "too-many-requests" // too many failed authentications from one address: wait (429 with Retry-After)
  | "busy" // too many calls at once: try again later (503 with Retry-After)
  | "not-ready" // GET /readyz: the store, the kernels or the cluster's workers cannot serve a call now (503)
  | "insufficient-storage" // the server's disk is full (or read-only): nothing more can be kept (507)
  | "secret-key" // no secret key, a bad one, or not the one a stored secret was set with
  | "internal"; // a bug or a failure of nbhook itself (see the server log)

export interface ErrorDetails {
  /** When trying again makes sense, in seconds (Retry-After). */
  retryAfterS?: number;
  /** The methods the route takes (Allow). */
  allow?: string[];
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown } & ErrorDetails = {}) {
    const { cause, ...details } = options;
    super(message, cause === undefined ? undefined : { cause });
    this.name = "AppError";
    this.code = code;
    this.details = details;
  }
}

/** Turns whatever was thrown into an Error, keeping the original as `cause`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === "string" ? thrown : JSON.stringify(thrown), { cause: thrown });
}
