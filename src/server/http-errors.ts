/**
 * The one place that maps errors to HTTP statuses. Every error answer is JSON:
 * `{"error": <code>, "message": <what to do>}`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
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
};

export function statusOf(err: AppError): number {
  return STATUS[err.code];
}

export function errorHandler(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof AppError) {
    void reply.status(statusOf(err)).send({ error: err.code, message: err.message });
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
