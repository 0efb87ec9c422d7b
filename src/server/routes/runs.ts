/**
 * Run history (docs/api.md): the runs of one webhook (by path or id) or of all, one run, the
 * executed notebook a run left, and the kept answer of an asynchronous call (a large one streamed
 * from the store's file). One run and its answer also take the run's webhook token (run-auth.ts).
 */
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { RunListJson } from "../../api/schemas.js";
import { AppError } from "../../errors.js";
import type { Run } from "../../store/index.js";
import { openAnswerFile } from "../deliver-call.js";
import { HISTO_HEADER, IPYNB_CONTENT_TYPE, runJson } from "../representations.js";
import { parseRequest } from "../http-errors.js";
import type { ServerDeps } from "../types.js";
import { runOr404, webhookOr404 } from "./lookup.js";

const listQuery = z.object({
  path: z
    .string()
    .refine((p) => path.isAbsolute(p), {
      error: (i) => `must be an absolute notebook path (got ${JSON.stringify(i.input)})`,
    })
    .transform((p) => path.normalize(p))
    .optional(),
  webhook: z.string().min(1).optional(),
  limit: z.coerce
    .number({ error: "must be a whole number" })
    .int({ error: "must be a whole number" })
    .min(1, { error: "must be at least 1" })
    .max(1000, { error: "must be at most 1000" })
    .default(50),
});
const idParams = z.object({ id: z.string().min(1) });

export async function registerRunRoutes(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  const { store } = deps;
  /** Paths of the runs' webhooks, read once per webhook. */
  const withPaths = async (runs: Run[]) => {
    const paths = new Map<string, string | undefined>();
    for (const run of runs) {
      if (!paths.has(run.webhookId)) paths.set(run.webhookId, (await store.getWebhook(run.webhookId))?.path);
    }
    return runs.map((run) => runJson(run, deps.links, paths.get(run.webhookId)));
  };

  app.get("/api/runs", async (request) => {
    const query = parseRequest(listQuery, request.query);
    if (query.path !== undefined && query.webhook !== undefined) {
      throw new AppError("usage", "give either path or webhook, not both");
    }
    let webhookId = query.webhook;
    if (query.path !== undefined) {
      const webhook = await store.findWebhookByPath(query.path);
      if (!webhook)
        throw new AppError(
          "not-found",
          `no webhook for ${query.path}: deploy it with \`nbhook add ${query.path}\``,
        );
      webhookId = webhook.id;
    } else if (webhookId !== undefined) {
      await webhookOr404(deps, webhookId);
    }
    return {
      runs: await withPaths(await store.listRuns({ webhookId, limit: query.limit })),
    } satisfies RunListJson;
  });

  app.get("/api/runs/:id", async (request) => {
    const run = await runOr404(deps, parseRequest(idParams, request.params).id);
    return (await withPaths([run]))[0];
  });

  app.get("/api/runs/:id/output", async (request, reply) => {
    const run = await runOr404(deps, parseRequest(idParams, request.params).id);
    const data = await store.readOutput(run.webhookId, run.outputHisto);
    if (!data) {
      const why =
        run.status === "running" || run.status === "queued"
          ? `it is still ${run.status}`
          : "it was cleared, or the run ended before saving one";
      throw new AppError("not-found", `run ${run.id} has no output notebook: ${why}`);
    }
    return reply.type(IPYNB_CONTENT_TYPE).header(HISTO_HEADER, run.outputHisto).send(data);
  });

  // The answer the call would have had synchronously: same status, headers and bytes (a 302 for
  // next_url). 409 with Retry-After while the run is queued or running.
  app.get("/api/runs/:id/response", async (request, reply) => {
    const run = await runOr404(deps, parseRequest(idParams, request.params).id);
    if (run.status === "queued" || run.status === "running") {
      throw new AppError(
        "conflict",
        `run ${run.id} is still ${run.status}: ask again once GET /api/runs/${run.id} shows it finished`,
        { retryAfterS: 1 },
      );
    }
    const answer = await store.readAnswer(run.id);
    if (!answer) {
      throw new AppError(
        "not-found",
        `run ${run.id} kept no answer: only calls made with \`Prefer: respond-async\` or \`Prefer: wait=N\` keep theirs`,
      );
    }
    if (!answer.file) return reply.status(answer.status).headers(answer.headers).send(answer.body);
    // The store's own file: streamed, and left where it is.
    const opened = await openAnswerFile(answer.file);
    return reply
      .status(answer.status)
      .headers(answer.headers)
      .header("content-length", String(opened.size))
      .send(opened.stream);
  });
}
