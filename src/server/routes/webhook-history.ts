/**
 * What a webhook keeps (docs/api.md): its deployed versions (`list`, `get`, `clear`) and the
 * output notebooks of its runs (`get_output`, `clear_output`). The live version (the newest, the
 * one calls run) is never cleared without `force`.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import {
  deletedSchema,
  outputListSchema,
  versionListSchema,
  type DeletedJson,
  type OutputListJson,
  type VersionListJson,
} from "../../api/schemas.js";
import { AppError } from "../../errors.js";
import type { Webhook } from "../../store/index.js";
import { HISTO_HEADER, IPYNB_CONTENT_TYPE, outputJson, versionJson } from "../representations.js";
import { parseRequest } from "../http-errors.js";
import { routeSchema, type ResponseDoc } from "../openapi.js";
import type { ServerDeps } from "../types.js";
import { webhookOr404 } from "./lookup.js";
import { addCommandFor } from "./add-command-for.js";

const histo = z.string().regex(/^(\d{20}|latest)$/, {
  error: (i) =>
    `must be a 20-digit history id such as 20201008101221879662, or "latest" (got ${JSON.stringify(i.input)})`,
});
const idParams = z.object({ id: z.string().min(1) });
const histoParams = z.object({ id: z.string().min(1), histo });
const forceQuery = z.object({
  force: z
    .enum(["true", "false", "1", "0"], { error: "must be true or false" })
    .optional()
    .transform((v) => v === "true" || v === "1"),
});

/** A version or output download (sendNotebook). */
const NOTEBOOK_DOWNLOAD: ResponseDoc = {
  description:
    "The notebook as stored, as a download (`Content-Disposition: attachment`), with `Nbhook-Histo` naming its histo",
  contentTypes: [IPYNB_CONTENT_TYPE],
  schema: { type: "object", description: "nbformat v4 JSON" },
  headers: { [HISTO_HEADER]: { description: "The histo of the notebook sent", schema: { type: "string" } } },
};

function sendNotebook(reply: FastifyReply, webhook: Webhook, which: string, data: Buffer): FastifyReply {
  const stem = webhook.fileName.replace(/\.ipynb$/i, "");
  return reply
    .type(IPYNB_CONTENT_TYPE)
    .header(HISTO_HEADER, which)
    .header("content-disposition", `attachment; filename="${stem}.${which}.ipynb"`)
    .send(data);
}

function liveOf(webhook: Webhook): string {
  if (!webhook.liveHisto) {
    throw new AppError(
      "not-found",
      `${webhook.path} has no deployed version left: deploy one with \`${addCommandFor(webhook)}\``,
    );
  }
  return webhook.liveHisto;
}

function liveConflict(webhook: Webhook, which: string): AppError {
  return new AppError(
    "conflict",
    `${which} is the live version of ${webhook.path} (the one its URL runs): it is cleared only with force ` +
      `(\`nbhook clear ${webhook.name} --histo ${which} --force\`, or ?force=true); deploying a newer version first makes it clearable`,
  );
}

export async function registerWebhookHistoryRoutes(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  const { store } = deps;

  const listVersions = routeSchema({
    summary: "A webhook's deployed versions (list)",
    description: "Newest first; the live one (the one its URL runs) has `live: true`.",
    tags: ["history"],
    params: idParams,
    responses: { 200: versionListSchema },
    errors: [404],
  });
  app.get("/api/webhooks/:id/versions", { schema: listVersions }, async (request) => {
    const webhook = await webhookOr404(deps, parseRequest(idParams, request.params).id);
    const versions = await store.listVersions(webhook.id);
    return { versions: versions.map((v) => versionJson(v, webhook.liveHisto)) } satisfies VersionListJson;
  });

  const getVersion = routeSchema({
    summary: "One deployed version (get)",
    description: "`latest` names the live version.",
    tags: ["history"],
    params: histoParams,
    responses: { 200: NOTEBOOK_DOWNLOAD },
    errors: [400, 404],
  });
  app.get("/api/webhooks/:id/versions/:histo", { schema: getVersion }, async (request, reply) => {
    const params = parseRequest(histoParams, request.params);
    const webhook = await webhookOr404(deps, params.id);
    const which = params.histo === "latest" ? liveOf(webhook) : params.histo;
    const data = await store.readVersion(webhook.id, which);
    if (!data)
      throw new AppError(
        "not-found",
        `no version ${which} of ${webhook.path}: see \`nbhook list ${webhook.name}\``,
      );
    return sendNotebook(reply, webhook, which, data);
  });

  const clearVersion = routeSchema({
    summary: "Clear one version (clear)",
    description: "The live version only with `force` (else 409).",
    tags: ["history"],
    params: histoParams,
    querystring: forceQuery,
    responses: { 200: deletedSchema },
    errors: [400, 404, 409],
  });
  app.delete("/api/webhooks/:id/versions/:histo", { schema: clearVersion }, async (request) => {
    const params = parseRequest(histoParams, request.params);
    const { force } = parseRequest(forceQuery, request.query);
    const webhook = await webhookOr404(deps, params.id);
    const which = params.histo === "latest" ? liveOf(webhook) : params.histo;
    if (which === webhook.liveHisto && !force) throw liveConflict(webhook, which);
    if (!(await store.deleteVersion(webhook.id, which))) {
      throw new AppError(
        "not-found",
        `no version ${which} of ${webhook.path}: see \`nbhook list ${webhook.name}\``,
      );
    }
    return { deleted: [which] } satisfies DeletedJson;
  });

  const clearVersions = routeSchema({
    summary: "Clear every version but the live one (clear all)",
    description: "With `force`, the live one too.",
    tags: ["history"],
    params: idParams,
    querystring: forceQuery,
    responses: { 200: deletedSchema },
    errors: [400, 404],
  });
  app.delete("/api/webhooks/:id/versions", { schema: clearVersions }, async (request) => {
    const { force } = parseRequest(forceQuery, request.query);
    const webhook = await webhookOr404(deps, parseRequest(idParams, request.params).id);
    const deleted: string[] = [];
    for (const version of await store.listVersions(webhook.id)) {
      if (version.histo === webhook.liveHisto && !force) continue;
      if (await store.deleteVersion(webhook.id, version.histo)) deleted.push(version.histo);
    }
    return { deleted } satisfies DeletedJson;
  });

  const listOutputs = routeSchema({
    summary: "The executed notebooks of a webhook's runs (list outputs)",
    description: "Newest first.",
    tags: ["history"],
    params: idParams,
    responses: { 200: outputListSchema },
    errors: [404],
  });
  app.get("/api/webhooks/:id/outputs", { schema: listOutputs }, async (request) => {
    const webhook = await webhookOr404(deps, parseRequest(idParams, request.params).id);
    return { outputs: (await store.listOutputs(webhook.id)).map(outputJson) } satisfies OutputListJson;
  });

  const getOutput = routeSchema({
    summary: "One executed notebook (get_output)",
    description: "`latest` names the newest output.",
    tags: ["history"],
    params: histoParams,
    responses: { 200: NOTEBOOK_DOWNLOAD },
    errors: [400, 404],
  });
  app.get("/api/webhooks/:id/outputs/:histo", { schema: getOutput }, async (request, reply) => {
    const params = parseRequest(histoParams, request.params);
    const webhook = await webhookOr404(deps, params.id);
    let which = params.histo;
    if (which === "latest") {
      const newest = (await store.listOutputs(webhook.id))[0];
      if (!newest) {
        throw new AppError(
          "not-found",
          `${webhook.path} has no output yet: call its URL (see \`nbhook find ${webhook.name}\`) to run it`,
        );
      }
      which = newest.histo;
    }
    const data = await store.readOutput(webhook.id, which);
    if (!data)
      throw new AppError(
        "not-found",
        `no output ${which} of ${webhook.path}: see GET /api/webhooks/${webhook.id}/outputs`,
      );
    return sendNotebook(reply, webhook, which, data);
  });

  const clearOutput = routeSchema({
    summary: "Clear one executed notebook (clear_output)",
    description: "`latest` names the newest output.",
    tags: ["history"],
    params: histoParams,
    responses: { 200: deletedSchema },
    errors: [400, 404],
  });
  app.delete("/api/webhooks/:id/outputs/:histo", { schema: clearOutput }, async (request) => {
    const params = parseRequest(histoParams, request.params);
    const webhook = await webhookOr404(deps, params.id);
    const which = params.histo === "latest" ? (await store.listOutputs(webhook.id))[0]?.histo : params.histo;
    if (!which || !(await store.deleteOutput(webhook.id, which))) {
      throw new AppError(
        "not-found",
        `no output ${params.histo} of ${webhook.path}: see GET /api/webhooks/${webhook.id}/outputs`,
      );
    }
    return { deleted: [which] } satisfies DeletedJson;
  });

  const clearOutputs = routeSchema({
    summary: "Clear every executed notebook of a webhook (clear_output all)",
    tags: ["history"],
    params: idParams,
    responses: { 200: deletedSchema },
    errors: [404],
  });
  app.delete("/api/webhooks/:id/outputs", { schema: clearOutputs }, async (request) => {
    const webhook = await webhookOr404(deps, parseRequest(idParams, request.params).id);
    const deleted: string[] = [];
    for (const output of await store.listOutputs(webhook.id)) {
      if (await store.deleteOutput(webhook.id, output.histo)) deleted.push(output.histo);
    }
    return { deleted } satisfies DeletedJson;
  });
}
