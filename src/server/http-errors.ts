/**
 * The one place that maps errors to HTTP statuses. Every error answer is JSON:
 * `{"error": <code>, "message": <what to do>}`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { ZodError } from "zod";
import { AppError, type ErrorCode } from "../errors.js";

const STATUS: Record<ErrorCode, number> = {
  usage: 400,
  "notebook-invalid": 422,
  "parameter-invalid": 422,
  "kernel-not-found": 500,
  "kernel-launch": 500,
  "kernel-died": 500,
  timeout: 504,
  protocol: 500,
  "not-found": 404,
  conflict: 409,
  busy: 503,
};

export function statusOf(err: AppError): number {
  return STATUS[err.code];
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

export function errorHandler(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof AppError) {
    void reply.status(statusOf(err)).send({ error: err.code, message: err.message });
    return;
  }
  if (err instanceof ZodError) {
    void reply.status(STATUS.usage).send({ error: "usage", message: describeZodError(err) });
    return;
  }
  const fastifyErr = err as FastifyError;
  const status = fastifyErr.statusCode ?? 500;
  if (status >= 500) request.log.error({ err }, "request failed");
  const code =
    status === 413 ? "body-too-large" : status === 415 ? "unsupported-media-type" : status < 500 ? "bad-request" : "internal";
  const message =
    status === 413
      ? `the request body is larger than the limit (${err.message.replace(/^.*?: /, "")})`
      : status >= 500
        ? "internal error: see the server log"
        : err.message;
  void reply.status(status).send({ error: code, message });
}
