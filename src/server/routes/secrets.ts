/**
 * Secrets for notebooks (docs/secrets.md): set (PUT /api/secrets/{name}, global or for one
 * webhook by id), list (names, webhook, times — never values) and delete. Values are encrypted
 * here, before the store sees them (runs/secret-box.ts), and decrypted only by whoever runs a call.
 * Every route is for admin tokens only (`config.scope`, honoured by the auth of scoped tokens).
 *
 * A change retires the prepared kernels of the webhooks it concerns (all of them for a global
 * secret), so the next call's kernel has the new value; a call also compares its secrets with
 * those its prepared kernel was given (runs/warm-kernels.ts), on every node.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  secretDeletedSchema,
  secretListSchema,
  secretSchema,
  type SecretDeletedJson,
  type SecretJson,
  type SecretListJson,
} from "../../api/schemas.js";
import { AppError } from "../../errors.js";
import { checkSecretName } from "../../runs/run-secrets.js";
import { SecretBox } from "../../runs/secret-box.js";
import type { SecretInfo } from "../../store/index.js";
import { parseRequest } from "../http-errors.js";
import { routeSchema } from "../openapi.js";
import type { ServerDeps } from "../types.js";
import { webhookOr404 } from "./lookup.js";

/** The largest value kept: a secret is a key, a password, a connection string — not a file. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** For the auth of scoped tokens: these routes need an admin token. */
const ADMIN_ONLY = { scope: "admin" } as const;

const nameParams = z.object({ name: z.string().min(1) });
const setBody = z.object({
  value: z.string({ error: "must be the secret's value, a string" }),
  webhook: z
    .string()
    .min(1)
    .optional()
    .describe("The id of the webhook the secret is for; omitted: every webhook's"),
});
const scopeQuery = z.object({
  webhook: z
    .string()
    .min(1)
    .optional()
    .describe("The webhook's id, for its own secret; omitted: the global one"),
});

export async function registerSecretRoutes(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  const { store } = deps;
  const box = SecretBox.fromEnv(deps.config.home, Boolean(deps.config.databaseUrl));

  type Known = { name: string; path: string } | undefined;
  const json = async (info: SecretInfo, known = new Map<string, Known>()): Promise<SecretJson> => {
    let webhook: Known;
    if (info.webhookId) {
      if (!known.has(info.webhookId)) known.set(info.webhookId, await store.getWebhook(info.webhookId));
      webhook = known.get(info.webhookId);
    }
    return {
      name: info.name,
      webhook: info.webhookId,
      webhook_name: webhook?.name ?? null,
      webhook_path: webhook?.path ?? null,
      created_at: info.createdAt,
      updated_at: info.updatedAt,
    };
  };

  /** Prepared kernels that may hold the secret go (every webhook's for a global one). */
  const changed = async (webhookId: string | null) => {
    if (webhookId) return deps.calls.webhookChanged(webhookId);
    for (const webhook of await store.listWebhooks({ includeDeleted: false }))
      deps.calls.webhookChanged(webhook.id);
  };

  const listSchema = routeSchema({
    summary: "Secrets (names only)",
    description:
      "Every stored secret: its name, the webhook it is for (null: every webhook), when it was set. Never a value.",
    tags: ["secrets"],
    responses: { 200: secretListSchema },
  });
  app.get("/api/secrets", { schema: listSchema, config: ADMIN_ONLY }, async () => {
    const known = new Map<string, { name: string; path: string } | undefined>();
    const secrets: SecretJson[] = [];
    for (const info of await store.listSecrets()) secrets.push(await json(info, known));
    return { secrets } satisfies SecretListJson;
  });

  const setSchema = routeSchema({
    summary: "Set a secret",
    description:
      "Encrypted (AES-256-GCM) before it is stored; runs get it as the environment variable `NBHOOK_SECRET_<NAME>` " +
      "(`nbhook.secret.get(NAME)`), and its value is replaced by `***` in what runs leave. With `webhook` (an id), " +
      "for that webhook only (it wins over a global secret of the same name). Setting it again replaces the value.",
    tags: ["secrets"],
    params: nameParams,
    body: setBody,
    responses: { 200: secretSchema },
    errors: [400, 404],
  });
  app.put("/api/secrets/:name", { schema: setSchema, config: ADMIN_ONLY }, async (request) => {
    const { name } = parseRequest(nameParams, request.params);
    checkSecretName(name);
    const body = parseRequest(setBody, request.body ?? {});
    if (body.value === "")
      throw new AppError("usage", "a secret's value cannot be empty: delete the secret instead");
    if (Buffer.byteLength(body.value) > MAX_SECRET_BYTES) {
      throw new AppError(
        "usage",
        `a secret's value is at most ${MAX_SECRET_BYTES / 1024} KiB: deploy a larger file with the notebook instead`,
      );
    }
    if (body.value.includes("\0")) {
      throw new AppError(
        "usage",
        "a secret's value cannot hold a NUL character: it becomes an environment variable",
      );
    }
    const webhookId = body.webhook ?? null;
    if (webhookId) await webhookOr404(deps, webhookId);
    await sameKeyAsStored(box, await store.listSecrets(), name, webhookId);
    const sealed = box.seal(name, webhookId, body.value);
    const info = await store.putSecret({ name, webhookId, ...sealed });
    await changed(webhookId);
    request.log.info({ secret: name, webhook: webhookId }, "secret set");
    return json(info);
  });

  const deleteSchema = routeSchema({
    summary: "Delete a secret",
    description:
      "The global one, or with `webhook` (an id) that webhook's own. Runs from now on do not get it (a reused kernel is replaced).",
    tags: ["secrets"],
    params: nameParams,
    querystring: scopeQuery,
    responses: { 200: secretDeletedSchema },
    errors: [400, 404],
  });
  app.delete("/api/secrets/:name", { schema: deleteSchema, config: ADMIN_ONLY }, async (request) => {
    const { name } = parseRequest(nameParams, request.params);
    const query = parseRequest(scopeQuery, request.query);
    const webhookId = query.webhook ?? null;
    if (!(await store.deleteSecret(name, webhookId))) {
      throw new AppError(
        "not-found",
        webhookId
          ? `no secret ${name} for webhook ${webhookId}: list secrets with \`nbhook secrets list\``
          : `no global secret ${name}: list secrets with \`nbhook secrets list\` (a webhook's own needs --webhook)`,
      );
    }
    await changed(webhookId);
    request.log.info({ secret: name, webhook: webhookId }, "secret deleted");
    return { deleted: true, name, webhook: webhookId } satisfies SecretDeletedJson;
  });
}

/**
 * Refuses to seal with a key other than the one the stored secrets were set with (another node's,
 * a changed NBHOOK_SECRET_KEY): the secrets would then be readable by some nodes only. The secret
 * being replaced does not count.
 */
async function sameKeyAsStored(
  box: SecretBox,
  stored: SecretInfo[],
  name: string,
  webhookId: string | null,
): Promise<void> {
  const mine = box.currentKeyId();
  const other = stored.find((s) => s.keyId !== mine && !(s.name === name && s.webhookId === webhookId));
  if (!other) return;
  throw new AppError(
    "secret-key",
    `the stored secrets were set with another secret key (key id ${other.keyId}, e.g. the secret ${other.name}) than ` +
      `this server's (key id ${mine}): give this server the key they were set with (the same NBHOOK_SECRET_KEY on ` +
      "every node), or delete them and set them again with this key",
  );
}
