/**
 * The one error type nbhook throws on purpose. `code` says what went wrong in a way callers can
 * switch on (the server maps codes to HTTP statuses in one place); the message says what to do.
 */
export type ErrorCode =
  | "usage" // bad flags or arguments
  | "notebook-invalid" // not nbformat v4, or a cell/field is wrong
  | "parameter-invalid" // a parameter could not be parsed, coerced or translated
  | "kernel-not-found" // no kernelspec fits
  | "kernel-launch" // the kernel process could not start or never answered
  | "kernel-died" // the kernel process exited while we needed it
  | "timeout" // a cell or the whole run took too long
  | "protocol" // the kernel sent something we cannot read
  | "not-found" // no such webhook, version, output or run
  | "conflict" // the request contradicts the current state (e.g. clearing the live version)
  | "busy"; // too many calls at once: try again later (503 with Retry-After)

export class AppError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AppError";
    this.code = code;
  }
}

/** Turns whatever was thrown into an Error, keeping the original as `cause`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === "string" ? thrown : JSON.stringify(thrown), { cause: thrown });
}
