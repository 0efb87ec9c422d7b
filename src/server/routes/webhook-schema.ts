/**
 * What one webhook takes, read from its live version's `parameters` cell (DESIGN.md, "Dashboard"):
 * `GET /api/webhooks/{id}/parameters` (each name with its type and default, and their JSON Schema)
 * and `GET /api/webhooks/{id}/openapi.json`, an OpenAPI 3.1 document of calling its URL, for client
 * generators. It holds the webhook's URL: it is an /api route (API token or session).
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  webhookParametersSchema,
  type WebhookParameterJson,
  type WebhookParametersJson,
} from "../../api/schemas.js";
import { AppError } from "../../errors.js";
import {
  jsonDefault,
  parameterJsonSchema,
  parametersJsonSchema,
  readParameterDefaults,
  type JsonSchema,
  type ParameterDefault,
} from "../../notebook/parameters/index.js";
import { parseNotebook } from "../../notebook/read.js";
import { kernelChoiceOf, paramLanguageOf } from "../../runs/index.js";
import type { Webhook } from "../../store/index.js";
import { parseRequest } from "../http-errors.js";
import {
  CALL_ERRORS,
  CALL_RESPONSES,
  nbhookVersion,
  openApiResponses,
  routeSchema,
  type JsonObject,
} from "../openapi.js";
import type { ServerDeps } from "../types.js";
import { webhookOr404 } from "./lookup.js";
import { addCommandFor } from "./add-command-for.js";
import { webhookTitleOf } from "../representations.js";

const idParams = z.object({ id: z.string().min(1) });

interface LiveParameters {
  histo: string | null;
  /** The parameter language nbhook writes for the kernel, else the kernel's own language. */
  language: string | null;
  parameters: ParameterDefault[];
}

/**
 * The parameters of the live version. None without a version, or for a kernel whose language
 * nbhook cannot read (it injects nothing there either).
 */
async function liveParameters(deps: ServerDeps, webhook: Webhook): Promise<LiveParameters> {
  const histo = webhook.liveHisto;
  const bytes = histo ? await deps.store.readVersion(webhook.id, histo) : undefined;
  if (!histo || !bytes) return { histo: null, language: null, parameters: [] };
  const notebook = parseNotebook(bytes.toString("utf8"), `${webhook.fileName} (version ${histo})`);
  const choice = kernelChoiceOf(notebook);
  // As a call chooses: the notebook's language, else its kernel's name (`python3`).
  const language = paramLanguageOf(choice.language ?? choice.name ?? "");
  return {
    histo,
    language: language ?? choice.language ?? null,
    parameters: language ? readParameterDefaults(notebook, language) : [],
  };
}

function parameterJson(parameter: ParameterDefault): WebhookParameterJson {
  const out: WebhookParameterJson = { name: parameter.name, type: parameter.type };
  if (parameter.default !== undefined) out.default = jsonDefault(parameter.default);
  if (parameter.annotation !== undefined) out.annotation = parameter.annotation;
  if (parameter.help !== undefined) out.help = parameter.help;
  return out;
}

const isStructured = (parameter: ParameterDefault) => parameter.type === "list" || parameter.type === "dict";

/** Each parameter as a query parameter: lists and dicts are JSON text, as the server reads them. */
function queryParameter(parameter: ParameterDefault): JsonObject {
  const schema = parameterJsonSchema(parameter);
  const out: JsonObject = { name: parameter.name, in: "query", required: false };
  if (parameter.help) out.description = parameter.help;
  if (isStructured(parameter)) out.content = { "application/json": { schema } };
  else out.schema = schema;
  return out;
}

/** The OpenAPI 3.1 document of calling `webhook` (GET with a query, POST with a body). */
export function webhookOpenApi(
  webhook: Webhook,
  live: LiveParameters & { histo: string },
  url: string,
  version: string,
): JsonObject {
  const path = `/notebook/${webhook.token}`;
  const server = url.endsWith(path) ? url.slice(0, -path.length) : url;
  const parameters: JsonSchema = parametersJsonSchema(live.parameters);
  delete parameters.$schema; // OpenAPI 3.1's dialect is draft 2020-12 already
  const responses = openApiResponses({ responses: CALL_RESPONSES, errors: CALL_ERRORS, open: true });
  const ref = { $ref: "#/components/schemas/Parameters" };
  // A form carries lists and dicts as JSON text.
  const encoding = Object.fromEntries(
    live.parameters.filter(isStructured).map((p) => [p.name, { contentType: "application/json" }]),
  );
  const form = Object.keys(encoding).length ? { schema: ref, encoding } : { schema: ref };
  const described = live.language
    ? `Its parameters are those of the \`parameters\` cell of version ${live.histo} (${live.language}).`
    : `nbhook cannot read the parameters of this notebook's kernel language: none are listed.`;
  return {
    openapi: "3.1.0",
    info: {
      title: webhookTitleOf(webhook),
      version: live.histo,
      description:
        `Calls the notebook ${webhook.path} deployed on nbhook ${version}: each call runs its live ` +
        `version with the request's parameters and answers what the notebook returned. ${described} ` +
        "Query and form values are converted to each parameter's type (422 when they cannot be); a JSON " +
        "body keeps its JSON types. Other names still reach the notebook, in `params` and `body`.",
    },
    servers: [{ url: server }],
    paths: {
      [path]: {
        get: {
          operationId: "callWebhook",
          summary: `Run ${webhookTitleOf(webhook)} with query parameters`,
          parameters: live.parameters.map(queryParameter),
          responses,
        },
        post: {
          operationId: "callWebhookWithBody",
          summary: `Run ${webhookTitleOf(webhook)} with a body`,
          requestBody: {
            required: false,
            content: {
              "application/json": { schema: ref },
              "application/x-www-form-urlencoded": form,
              "multipart/form-data": form,
            },
          },
          responses,
        },
      },
    },
    components: { schemas: { Parameters: parameters } },
  };
}

export async function registerWebhookSchemaRoutes(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  const parametersSchema = routeSchema({
    summary: "A webhook's parameters",
    description:
      "The names its live version's `parameters` cell defines, with their types and defaults, and their " +
      "JSON Schema (draft 2020-12) as a call's JSON body. Ints beyond ±(2^53 − 1) are given as their " +
      "decimal text. Without a version left, `histo` and `language` are null and there are no " +
      "parameters; a deleted webhook answers for the version it kept.",
    tags: ["webhooks"],
    params: idParams,
    responses: { 200: webhookParametersSchema },
    errors: [404, 422],
  });
  app.get("/api/webhooks/:id/parameters", { schema: parametersSchema }, async (request) => {
    const webhook = await webhookOr404(deps, parseRequest(idParams, request.params).id);
    const live = await liveParameters(deps, webhook);
    return {
      histo: live.histo,
      language: live.language,
      parameters: live.parameters.map(parameterJson),
      schema: parametersJsonSchema(live.parameters),
    } satisfies WebhookParametersJson;
  });

  const openApiSchema = routeSchema({
    summary: "A webhook's own OpenAPI document",
    description:
      "OpenAPI 3.1 of calling this webhook's URL (it holds the URL: keep it as secret): GET with each " +
      "parameter as a query parameter, POST with a JSON, form or multipart body. 404 when no version " +
      "is left, 409 for a deleted webhook (its URL answers 404).",
    tags: ["webhooks"],
    params: idParams,
    responses: { 200: { description: "An OpenAPI 3.1 document", schema: { type: "object" } } },
    errors: [404, 409, 422],
  });
  app.get("/api/webhooks/:id/openapi.json", { schema: openApiSchema }, async (request) => {
    const webhook = await webhookOr404(deps, parseRequest(idParams, request.params).id);
    if (webhook.deletedAt) {
      throw new AppError(
        "conflict",
        `the webhook for ${webhook.path} was deleted, and its URL answers 404: deploy it again with ` +
          `\`${addCommandFor(webhook)}\``,
      );
    }
    const live = await liveParameters(deps, webhook);
    if (live.histo === null) {
      throw new AppError(
        "not-found",
        `${webhook.path} has no deployed version left: deploy one with \`${addCommandFor(webhook)}\``,
      );
    }
    const url = deps.links.webhook(webhook.token);
    return webhookOpenApi(webhook, { ...live, histo: live.histo }, url, await nbhookVersion());
  });
}
