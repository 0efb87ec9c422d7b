/**
 * `GET|POST /notebook/:token`: run the webhook's live version with the request's parameters and
 * answer what the notebook returned (DESIGN.md, "Webhook URL", "Request → parameters",
 * "Response"). This route reads the request (request-input.ts) and hands the call to runs/
 * (`deps.calls`); deliver-call.ts answers it. Errors before the run (404, 405, 413, 400, 415,
 * 422, 503) are thrown for http-errors.ts.
 */
import { rm } from "node:fs/promises";
import cors, { type FastifyCorsOptionsDelegatePromise } from "@fastify/cors";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { AppError } from "../../errors.js";
import type { PreparedCall } from "../../runs/index.js";
import { newHisto } from "../../store/index.js";
import { deliverCall } from "../deliver-call.js";
import { parsePrefer } from "../prefer.js";
import { announcesTooMuch, bodyTooLarge, readRequestInput, registerBodyParsers } from "../request-input.js";
import { parseRequest } from "../http-errors.js";
import { CALL_ERRORS, CALL_RESPONSES, routeSchema, type RouteDoc } from "../openapi.js";
import type { ServerDeps } from "../types.js";
import { webhookCorsOptions } from "../webhook-cors.js";

/** The routes' scope: @fastify/cors's own `OPTIONS *` route then stays under /notebook/. */
const PREFIX = "/notebook";
const ROUTE = "/:token";
const METHODS = ["GET", "POST"];
const routeParams = z.object({ token: z.string() });

const CALL_DOC = {
  tags: ["trigger"],
  open: true,
  params: routeParams,
  responses: CALL_RESPONSES,
  errors: CALL_ERRORS,
} satisfies Partial<RouteDoc>;

const PARAMETERS_NOTE =
  "Each query key (and, for POST, each key of a JSON object body, form or multipart field) that is a " +
  "valid variable name becomes a variable in the notebook's `injected-parameters` cell; strings from " +
  "the query or a form are converted to the type of that name's default in the `parameters` cell " +
  "(422 when they cannot be). A webhook's own document, `GET /api/webhooks/{id}/openapi.json`, lists " +
  "its parameters with their types.";

const getSchema = routeSchema({
  ...CALL_DOC,
  summary: "Call a webhook",
  description: `Runs the webhook's live version and answers what the notebook returned. ${PARAMETERS_NOTE}`,
});

const postSchema = routeSchema({
  ...CALL_DOC,
  summary: "Call a webhook with a body",
  description:
    `Runs the webhook's live version and answers what the notebook returned. ${PARAMETERS_NOTE} ` +
    "Uploaded files are saved for the run and passed as their paths. Any other content type reaches the " +
    'notebook as `body = {"str": <the text>}`.',
  body: {
    required: false,
    content: {
      "application/json": {
        description: "Any JSON value; an object's keys are the parameters",
        type: "object",
        additionalProperties: true,
      },
      "application/x-www-form-urlencoded": { type: "object", additionalProperties: { type: "string" } },
      "multipart/form-data": {
        type: "object",
        description: "Fields are values; each file is saved and passed as its path",
        additionalProperties: true,
      },
    },
  },
});

export async function registerTriggerRoutes(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  const maxBodyBytes = deps.config.maxBodyBytes;

  await app.register(
    async (scope) => {
      registerBodyParsers(scope, maxBodyBytes);
      // Per-webhook CORS (webhook-cors.ts): answers the preflight of an allowed origin before the route.
      const delegator: FastifyCorsOptionsDelegatePromise = (request) =>
        webhookCorsOptions(deps.store, request);
      await scope.register(cors, { delegator });
      // Two routes for one handler: only a POST may document a body.
      scope.route({ method: "GET", url: ROUTE, exposeHeadRoute: false, schema: getSchema, handler: trigger });
      scope.route({ method: "POST", url: ROUTE, schema: postSchema, handler: trigger });
      scope.route({
        method: ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"],
        url: ROUTE,
        schema: { hide: true }, // 405 only: nothing for a client to call
        handler: async () => {
          throw new AppError("method-not-allowed", "a webhook URL runs its notebook on GET or POST only", {
            allow: METHODS,
          });
        },
      });
    },
    { prefix: PREFIX },
  );

  async function trigger(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { token } = parseRequest(routeParams, request.params);
    const webhook = await deps.store.findWebhookByToken(token);
    if (!webhook) {
      throw new AppError(
        "not-found",
        "no webhook at this URL: its token is unknown, was rotated, or the webhook was deleted",
      );
    }
    if (!webhook.liveHisto) {
      // Before reading a body that would only be thrown away (prepare checks again, authoritatively).
      throw new AppError(
        "not-found",
        `the webhook for ${webhook.name} has no deployed version: deploy one with \`nbhook add\``,
      );
    }
    deps.disk?.check(); // before anything is written: the uploads, the record, the outputs
    const multipart = request.isMultipart();
    if (multipart && announcesTooMuch(request, maxBodyBytes)) {
      reply.header("connection", "close");
      throw bodyTooLarge(maxBodyBytes);
    }
    let uploads: string | undefined;
    let call: PreparedCall;
    try {
      const input = await readRequestInput(request, {
        maxBodyBytes,
        uploadsDir: async () => (uploads ??= await deps.store.uploadsDir(webhook.id, newHisto())),
      });
      call = await deps.calls.prepare(webhook, { ...input, uploadsDir: uploads }, request.log);
    } catch (err) {
      // Until runs/ has the call, its uploaded files are ours to remove.
      if (uploads) await rm(uploads, { recursive: true, force: true });
      if (multipart) reply.header("connection", "close"); // the rest of the body may be unread
      throw err;
    }
    const { waitMs } = parsePrefer(request.headers.prefer);
    const submission = await deps.calls.submit(call, { keepAnswer: waitMs !== undefined, log: request.log });
    if (submission.kind === "refused") {
      throw new AppError("busy", `${submission.message}: try again in ${submission.retryAfterS} s`, {
        retryAfterS: submission.retryAfterS,
      });
    }
    return deliverCall(submission, waitMs, reply, deps.links, request.log);
  }
}
