/**
 * Run history (docs/api.md): the runs of one webhook (by path or id) or of all, one run, the
 * executed notebook a run left, and the kept answer of an asynchronous call (a large one streamed
 * from the store's file). One run and its answer also take the run's webhook token (run-auth.ts).
 * The executed notebook is also answered as an HTML page (`?format=html`), for the dashboard's
 * sandboxed frame.
 */
import path from "node:path";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { runListSchema, runSchema, type RunListJson } from "../../api/schemas.js";
import { AppError } from "../../errors.js";
import { parseNotebook } from "../../notebook/read.js";
import { renderNotebookHtml } from "../../notebook/render-html.js";
import type { Run } from "../../store/index.js";
import { openAnswerFile } from "../deliver-call.js";
import { HISTO_HEADER, IPYNB_CONTENT_TYPE, runJson, webhookTitleOf } from "../representations.js";
import { parseRequest } from "../http-errors.js";
import { routeSchema } from "../openapi.js";
import type { ServerDeps } from "../types.js";
import { tokenOf, webhookFilterOf } from "../auth.js";
import { noWebhook, runOr404, webhookOfPathOr404, webhookOr404 } from "./lookup.js";

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
const outputQuery = z.object({
  format: z.enum(["ipynb", "html"], { error: 'must be "ipynb" (the default) or "html"' }).optional(),
});

/**
 * The policy of a run's output page: the notebook author's HTML (scripts included, as nbconvert
 * keeps them), so a sandbox without scripts, same-origin or forms; inline styles and data: images
 * only (render-html.ts inlines everything); framed by the dashboard only.
 */
export const OUTPUT_PAGE_CSP =
  "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'";

export async function registerRunRoutes(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  const { store } = deps;
  /** Paths and names of the runs' webhooks, read once per webhook. */
  const withPaths = async (runs: Run[]) => {
    const owners = new Map<string, { path: string; name: string } | undefined>();
    for (const run of runs) {
      if (!owners.has(run.webhookId)) owners.set(run.webhookId, await store.getWebhook(run.webhookId));
    }
    return runs.map((run) => {
      const owner = owners.get(run.webhookId);
      return runJson(run, deps.links, owner?.path, owner?.name);
    });
  };

  /** The newest runs of the webhooks a limited token may see, newest first. */
  const visibleRuns = async (request: FastifyRequest, limit: number): Promise<Run[]> => {
    const runs: Run[] = [];
    for (const id of tokenOf(request)?.webhookIds ?? [])
      runs.push(...(await store.listRuns({ webhookId: id, limit })));
    return runs
      .sort((a, b) =>
        a.startedAt === b.startedAt
          ? b.outputHisto.localeCompare(a.outputHisto)
          : b.startedAt.localeCompare(a.startedAt),
      )
      .slice(0, limit);
  };

  const listSchema = routeSchema({
    summary: "Run records",
    description:
      "Newest first: of one webhook (`path` or `webhook`, not both), or of all; `limit` 1–1000, default 50.",
    tags: ["runs"],
    querystring: listQuery,
    responses: { 200: runListSchema },
    errors: [400, 404],
  });
  app.get("/api/runs", { schema: listSchema }, async (request) => {
    const query = parseRequest(listQuery, request.query);
    if (query.path !== undefined && query.webhook !== undefined) {
      throw new AppError("usage", "give either path or webhook, not both");
    }
    let webhookId = query.webhook;
    const visible = webhookFilterOf(request); // a token limited to some webhooks: theirs only
    if (query.path !== undefined) {
      const webhook = await webhookOfPathOr404(deps, query.path);
      // A token limited to other webhooks is told what an unknown path is told.
      if (visible && !visible(webhook.id))
        throw new AppError(
          "not-found",
          `no webhook for ${query.path}: deploy it with \`nbhook add ${query.path}\``,
        );
      webhookId = webhook.id;
    } else if (webhookId !== undefined) {
      if (visible && !visible(webhookId)) throw noWebhook(webhookId);
      await webhookOr404(deps, webhookId);
    } else if (visible) {
      return { runs: await withPaths(await visibleRuns(request, query.limit)) } satisfies RunListJson;
    }
    return {
      runs: await withPaths(await store.listRuns({ webhookId, limit: query.limit })),
    } satisfies RunListJson;
  });

  const getSchema = routeSchema({
    summary: "One run record",
    description: "Also takes `Authorization: Bearer <webhook token>` for the runs of that webhook (polling).",
    tags: ["runs"],
    params: idParams,
    responses: { 200: runSchema },
    errors: [404],
  });
  app.get("/api/runs/:id", { schema: getSchema }, async (request) => {
    const run = await runOr404(deps, parseRequest(idParams, request.params).id);
    return (await withPaths([run]))[0];
  });

  const outputSchema = routeSchema({
    summary: "A run's executed notebook",
    description:
      "nbformat JSON as stored; `format=html` renders it as one self-contained HTML page (inline CSS, " +
      "images as data: URIs) served with `Content-Security-Policy: " +
      OUTPUT_PAGE_CSP +
      "` and `X-Content-Type-Options: nosniff`: it holds the notebook author's HTML, to be shown in a " +
      "sandboxed frame. 404 while the run is queued or running, or once its output was cleared.",
    tags: ["runs"],
    params: idParams,
    querystring: outputQuery,
    responses: {
      200: {
        description: "The executed notebook (`Nbhook-Histo` names its output histo)",
        contentTypes: [IPYNB_CONTENT_TYPE, "text/html"],
        schema: {},
        headers: {
          [HISTO_HEADER]: { description: "The run's output histo", schema: { type: "string" } },
        },
      },
    },
    errors: [400, 404, 422],
  });
  app.get("/api/runs/:id/output", { schema: outputSchema }, async (request, reply) => {
    const run = await runOr404(deps, parseRequest(idParams, request.params).id);
    const { format } = parseRequest(outputQuery, request.query);
    const data = await store.readOutput(run.webhookId, run.outputHisto);
    if (!data) {
      const why =
        run.status === "running" || run.status === "queued"
          ? `it is still ${run.status}`
          : "it was cleared, or the run ended before saving one";
      throw new AppError("not-found", `run ${run.id} has no output notebook: ${why}`);
    }
    if (format === "html") {
      const owner = await store.getWebhook(run.webhookId);
      const name = owner ? webhookTitleOf(owner) : "Notebook";
      const notebook = parseNotebook(data.toString("utf8"), `the output of run ${run.id}`);
      return reply
        .type("text/html; charset=utf-8")
        .header(HISTO_HEADER, run.outputHisto)
        .header("content-security-policy", OUTPUT_PAGE_CSP)
        .header("x-content-type-options", "nosniff")
        .send(renderNotebookHtml(notebook, { title: `${name} — run ${run.id}` }));
    }
    return reply.type(IPYNB_CONTENT_TYPE).header(HISTO_HEADER, run.outputHisto).send(data);
  });

  // The answer the call would have had synchronously: same status, headers and bytes (a 302 for
  // next_url). 409 with Retry-After while the run is queued or running.
  const responseSchema = routeSchema({
    summary: "The kept answer of an asynchronous call",
    description:
      "Exactly as the call would have had it: status, headers and body (a 302 for a webhook with " +
      "`next_url`, the error JSON of a failed run). 409 with `Retry-After: 1` while the run is queued or " +
      "running; 404 for a call made without `Prefer: respond-async` or `wait`. Also takes the run's " +
      "webhook token.",
    tags: ["runs"],
    params: idParams,
    responses: {
      200: { description: "The notebook's answer, of the type it chose", contentTypes: ["*/*"] },
    },
    errors: [404, 409],
  });
  app.get("/api/runs/:id/response", { schema: responseSchema }, async (request, reply) => {
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
