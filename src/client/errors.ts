/**
 * What the SDK throws: the server said no (`NbhookApiError`, with its HTTP status and error
 * code), the server could not be reached (`NbhookConnectionError`), or it answered something this
 * client cannot read (`NbhookResponseError`). Messages say what to do.
 */
export class NbhookClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class NbhookApiError extends NbhookClientError {
  constructor(
    readonly status: number,
    /** The API's error code: not-found, conflict, usage, notebook-invalid, unauthorized, … */
    readonly code: string,
    message: string,
    details: { retryAfterS?: number; body?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.retryAfterS = details.retryAfterS;
    this.body = details.body;
  }

  /** The answer's `Retry-After`, in seconds, when it had one (a 503 busy, a 429, a 507). */
  readonly retryAfterS?: number;
  /** The error body (`{"error", "message", …}`; a failed run adds id, ename, evalue, traceback). */
  readonly body?: Record<string, unknown>;
}

export class NbhookConnectionError extends NbhookClientError {}

export class NbhookResponseError extends NbhookClientError {}
