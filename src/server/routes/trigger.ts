/**
 * `GET|POST /notebook/:token`: run the webhook's live version with the request's parameters and
 * answer what the notebook returned (DESIGN.md, "Webhook URL", "Request → parameters",
 * "Response"). Other methods: 405. Unknown, rotated or deleted token: 404. Errors before the run
 * (404, 413, 400, 422) are thrown for http-errors.ts; a run's own outcome (500/504 run JSON) is
 * shaped by webhook-response.ts. Run limits, the queue (503 busy when full) and `Prefer:
 * respond-async` / `wait=N` (202 with the run to poll) are admitted-call.ts's.
 */
import { rm } from "node:fs/promises";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AppError } from "../../errors.js";
import { cachedKernelSpecs } from "../../kernel/index.js";
import { executeNotebook } from "../../runs/index.js";
import { Notifier } from "../../runs/notify.js";
import { prepareWebhookRun, type PreparedRun, type WebhookRunDeps } from "../../runs/webhook-run.js";
import { newHisto } from "../../store/index.js";
import { answerCall } from "../admitted-call.js";
import { announcesTooMuch, bodyTooLarge, readRequestInput, registerBodyParsers } from "../request-input.js";
import type { ServerDeps } from "../types.js";

const ROUTE = "/notebook/:token";

export async function registerTriggerRoutes(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  const notifier = new Notifier(deps.config.smtp, app.log);
  app.addHook("onClose", async () => notifier.close());
  // Closing: queued calls get 503 before the server waits for requests in flight; then (onClose
  // hooks run last-added first) the runs still going, background ones too, end before the mailer.
  const jobs = new Set<Promise<unknown>>();
  app.addHook("preClose", async () => deps.admission.close());
  app.addHook("onClose", async () => {
    await Promise.allSettled([...jobs]);
  });
  const maxBodyBytes = deps.config.maxBodyBytes;

  await app.register(async (scope) => {
    registerBodyParsers(scope, maxBodyBytes);

    scope.route({
      method: ["GET", "POST"],
      url: ROUTE,
      exposeHeadRoute: false,
      handler: async (request, reply) => trigger(request, reply),
    });
    scope.route({
      method: ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"],
      url: ROUTE,
      handler: async (_request, reply) =>
        reply
          .status(405)
          .header("allow", "GET, POST")
          .send({
            error: "method-not-allowed",
            message: "a webhook URL runs its notebook on GET or POST only",
          }),
    });
  });

  async function trigger(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { token } = request.params as { token: string };
    const webhook = await deps.store.findWebhookByToken(token);
    if (!webhook) {
      throw new AppError(
        "not-found",
        "no webhook at this URL: its token is unknown, was rotated, or the webhook was deleted",
      );
    }
    if (!webhook.liveHisto) {
      throw new AppError(
        "not-found",
        `the webhook for ${webhook.name} has no deployed version: deploy one with \`nbhook add\``,
      );
    }
    const multipart = request.isMultipart();
    if (multipart && announcesTooMuch(request, maxBodyBytes)) {
      reply.header("connection", "close");
      throw bodyTooLarge(maxBodyBytes);
    }
    const runDeps: WebhookRunDeps = {
      store: deps.store,
      baseUrl: deps.baseUrl(),
      logger: request.log,
      notifier,
      execute: (notebook, options) => executeNotebook(notebook, { ...options, pool: deps.pool }),
      leaseFor: (prepared) => deps.warm.leaseFor(prepared),
      findSpecs: () => cachedKernelSpecs(),
    };
    let uploads: string | undefined;
    let prepared: PreparedRun;
    try {
      const input = await readRequestInput(request, {
        maxBodyBytes,
        uploadsDir: async () => (uploads ??= await deps.store.uploadsDir(webhook.id, newHisto())),
      });
      prepared = await prepareWebhookRun(runDeps, webhook, input);
    } catch (err) {
      if (uploads) await rm(uploads, { recursive: true, force: true });
      if (multipart) reply.header("connection", "close"); // the rest of the body may be unread
      throw err;
    }
    // Admission, the run record, Prefer (respond-async, wait=N) and the answer: admitted-call.ts.
    return answerCall({
      deps,
      runDeps,
      prepared,
      request,
      reply,
      jobs,
      discard: async () => {
        if (uploads) await rm(uploads, { recursive: true, force: true });
      },
    });
  }
}
