/**
 * @module The one place that chooses an error's HTTP status, for thrown errors and for calls that
 * did not end ok alike. Every error answer is JSON `{"error": <code>, "message": <what to do>, …}`:
 * unknown routes, 401, 405, 413, 400, 415, 422, 503, and the 500/504 of failed runs (which add
 * `id`, `status`, `ename`, `evalue`, `traceback`).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import type { z, ZodError } from "zod";
import type { ErrorBody } from "../api/schemas.js";
import { AppError, type ErrorCode } from "../errors.js";
import { insufficientStorage, storageProblem } from "../store/index.js";
import type { ExecutionStatus } from "../run-status.js";

const STATUS: Record<ErrorCode, number> = {
  usage: 400,
  "bad-request": 400,
  unauthorized: 401,
  forbidden: 403,
  "not-found": 404,
  "method-not-allowed": 405,
  conflict: 409,
  "body-too-large": 413,
  "unsupported-media-type": 415,
  "too-many-requests": 429,
  "notebook-invalid": 422,
  "parameter-invalid": 422,
  "name-invalid": 422,
  "run-failed": 500,
  "kernel-not-found": 500,
  "kernel-launch": 500,
  "kernel-died": 500,
  protocol: 500,
  internal: 500,
  "secret-key": 500,
  busy: 503,
  "not-ready": 503,
  timeout: 504,
  "insufficient-storage": 507,
};

/** The error code a run that did not end ok answers with. */
export const RUN_FAILURE_CODE: Record<Exclude<ExecutionStatus, "ok">, ErrorCode> = {
  error: "run-failed",
  died: "kernel-died",
  timeout: "timeout",
};

/**
 * Recorded for a queued call whose caller left before it ran (nginx's "client closed request");
 * never sent, as nobody is there to receive it.
 */
export const CALLER_GONE_STATUS = 499;

export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}

/** The JSON body of an error answer; `extra` fields follow code and message. */
export function errorBody(err: AppError, extra: Record<string, unknown> = {}): ErrorBody {
  return { error: err.code, message: err.message, ...extra };
}

/** Headers an error answer carries besides its body: Retry-After, Allow, WWW-Authenticate. */
export function errorHeaders(err: AppError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (err.details.retryAfterS !== undefined) headers["retry-after"] = String(err.details.retryAfterS);
  if (err.details.allow) headers.allow = err.details.allow.join(", ");
  if (err.code === "unauthorized") headers["www-authenticate"] = 'Bearer realm="nbhook"';
  return headers;
}

/**
 * A request's params, query or body read with the route's schema: a mismatch is the caller's
 * mistake (400 usage, naming each wrong field). Other zod errors are nbhook's own (500).
 */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AppError("usage", describeZodError(parsed.error), { cause: parsed.error });
  return parsed.data;
}

/** Any thrown error as an AppError: ours as they are, fastify's by what they mean, others internal. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const status = (err as Partial<FastifyError> | undefined)?.statusCode;
  const message = err instanceof Error ? err.message : String(err);
  if (status === 413) {
    return new AppError(
      "body-too-large",
      "the request body is larger than the server accepts: send less, or start the server with a larger --max-body",
      { cause: err },
    );
  }
  if (status === 415) return new AppError("unsupported-media-type", message, { cause: err });
  if (status !== undefined && status >= 400 && status < 500)
    return new AppError("bad-request", message, { cause: err });
  const storage = storageProblem(err);
  if (storage) return insufficientStorage(storage, err);
  return new AppError("internal", "internal error: see the server log", { cause: err });
}

/**
 * A request that failed a route's zod schema is the client's mistake (400): the message names each
 * wrong field and what it should be.
 */
function describeZodError(err: ZodError): string {
  const issues = err.issues.slice(0, 5).map((issue) => {
    const where = issue.path.length ? `"${issue.path.map(String).join(".")}"` : "the request";
    return `${where}: ${issue.message}`;
  });
  return `invalid request: ${issues.join("; ")}`;
}

export function errorHandler(
  thrown: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const err = toAppError(thrown);
  if (err.code === "internal") request.log.error({ err: thrown }, "request failed");
  void reply.status(statusOf(err.code)).headers(errorHeaders(err)).send(errorBody(err));
}

/**
 * Errors fastify's router raises before any route (fastify's `frameworkErrors`): a path segment
 * longer than a route parameter may be (a webhook token never is) is an unknown URL, a path that
 * cannot be percent-decoded a bad request; both answered like every other error.
 */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  if (error.code === "FST_ERR_MAX_PARAM_LENGTH") return notFoundHandler(request, reply);
  errorHandler(
    error.code === "FST_ERR_BAD_URL"
      ? new AppError("bad-request", "the URL cannot be read: percent-encode it as UTF-8", { cause: error })
      : error,
    request,
    reply,
  );
}

/** Unknown routes answer like every other error. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split("?")[0] ?? "";
  const err = new AppError(
    "not-found",
    `no route ${request.method} ${path.startsWith("/notebook/") ? "/notebook/<token>" : path}: ` +
      "webhooks are called at /notebook/<token>, the management API is under /api (docs/api.md)",
  );
  void reply.status(statusOf(err.code)).send(errorBody(err));
}
