/**
 * Named API tokens (docs/api.md, "Tokens"; docs/tokens.md): create (the token is in that answer
 * only), list (never the token), revoke (at once: bearer requests and sessions opened with it are
 * refused from the next request on). Admin only, like everything server-wide.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  createdTokenSchema,
  revokedTokenSchema,
  tokenListSchema,
  tokenScopeSchema,
  type ApiTokenJson,
  type CreatedTokenJson,
  type RevokedTokenJson,
  type TokenListJson,
} from "../../api/token-schemas.js";
import { AppError } from "../../errors.js";
import type { ApiToken } from "../../store/index.js";
import { tokenOf } from "../auth.js";
import { parseRequest } from "../http-errors.js";
import { routeSchema } from "../openapi.js";
import { hashApiToken, newApiToken } from "../tokens.js";
import type { ServerDeps } from "../types.js";

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const nameSchema = z.string({ error: "must be the token's name" }).regex(TOKEN_NAME, {
  error: "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
});

const createBody = z.object({
  name: nameSchema,
  scope: z.enum(tokenScopeSchema.options, { error: 'must be "read", "deploy" or "admin"' }),
  webhooks: z.array(z.string().min(1), { error: "must be a list of webhook ids" }).max(1000).default([]),
});
const nameParams = z.object({ name: z.string().min(1) });

export async function registerTokenRoutes(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  const { store } = deps;
  const json = async (token: ApiToken): Promise<ApiTokenJson> => ({
    id: token.id,
    name: token.name,
    scope: token.scope,
    webhooks: await Promise.all(
      token.webhookIds.map(async (id) => {
        const webhook = await store.getWebhook(id);
        return { id, name: webhook?.name ?? null, path: webhook?.path ?? null };
      }),
    ),
    created_at: token.createdAt,
    last_used_at: token.lastUsedAt,
  });

  const createSchema = routeSchema({
    summary: "Create an API token",
    description:
      "`scope`: `read` (list and read), `deploy` (also add, update and delete webhooks: versions, files, " +
      "rotate), `admin` (everything, tokens included). `webhooks`: ids of the webhooks a `read` or `deploy` " +
      "token is limited to (others are 404 to it, and it cannot create webhooks). The answer carries the " +
      "token itself, this once: the server keeps its SHA-256 only.",
    tags: ["tokens"],
    body: createBody,
    responses: { 201: createdTokenSchema },
    errors: [400, 404, 409],
  });
  app.post("/api/tokens", { config: { scope: "admin" }, schema: createSchema }, async (request, reply) => {
    const body = parseRequest(createBody, request.body);
    const webhookIds = [...new Set(body.webhooks)];
    if (body.scope === "admin" && webhookIds.length > 0) {
      throw new AppError(
        "usage",
        "an admin token may do everything and cannot be limited to webhooks: limit a deploy or read token instead",
      );
    }
    for (const id of webhookIds) {
      const webhook = await store.getWebhook(id);
      if (!webhook || webhook.deletedAt !== null) {
        throw new AppError(
          "not-found",
          `no webhook with id ${id}: list them with \`nbhook currents\` (GET /api/webhooks)`,
        );
      }
    }
    const token = newApiToken();
    const made = await store.createApiToken({
      name: body.name,
      scope: body.scope,
      webhookIds,
      hash: hashApiToken(token),
    });
    request.log.info(
      { token: body.name, scope: body.scope, by: tokenOf(request)?.name },
      "API token created",
    );
    return reply.status(201).send({ ...(await json(made!)), token } satisfies CreatedTokenJson);
  });

  const listSchema = routeSchema({
    summary: "List API tokens",
    description:
      "Live tokens by name: scope, webhooks, created and last used (to within a minute); never the token.",
    tags: ["tokens"],
    responses: { 200: tokenListSchema },
  });
  app.get("/api/tokens", { config: { scope: "admin" }, schema: listSchema }, async () => {
    const tokens = await store.listApiTokens();
    return { tokens: await Promise.all(tokens.map(json)) } satisfies TokenListJson;
  });

  const revokeSchema = routeSchema({
    summary: "Revoke an API token",
    description:
      "At once: requests with it and dashboard sessions opened with it are refused from now on. The last " +
      "admin token cannot be revoked (409): create another admin token first.",
    tags: ["tokens"],
    params: nameParams,
    responses: { 200: revokedTokenSchema },
    errors: [404, 409],
  });
  app.delete("/api/tokens/:name", { config: { scope: "admin" }, schema: revokeSchema }, async (request) => {
    const { name } = parseRequest(nameParams, request.params);
    const live = await store.listApiTokens();
    const target = live.find((t) => t.name === name);
    if (!target) {
      throw new AppError(
        "not-found",
        `no live token named ${JSON.stringify(name)}: list them with \`nbhook tokens list\``,
      );
    }
    if (target.scope === "admin" && live.filter((t) => t.scope === "admin").length === 1) {
      throw new AppError(
        "conflict",
        `${JSON.stringify(name)} is the last admin token: nobody could manage tokens without it; create another ` +
          "(`nbhook tokens create NAME --scope admin`) first, then revoke this one",
      );
    }
    const revoked = await store.revokeApiToken(name);
    if (!revoked)
      throw new AppError("not-found", `no live token named ${JSON.stringify(name)}: it was just revoked`);
    request.log.info({ token: name, by: tokenOf(request)?.name }, "API token revoked");
    return { revoked: true, token: await json(revoked) } satisfies RevokedTokenJson;
  });
}
