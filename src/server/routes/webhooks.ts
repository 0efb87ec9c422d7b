/**
 * Management routes for webhooks (docs/api.md): deploy (`add`), look up (`find`, `currents`),
 * `delete`, `rotate`. Versions and outputs of a webhook are in webhook-history.ts.
 */
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  addResultSchema,
  deletedWebhookSchema,
  webhookListSchema,
  webhookSchema,
  type AddResultJson,
  type DeletedWebhookJson,
  type WebhookListJson,
} from "../../api/schemas.js";
import { AppError } from "../../errors.js";
import { checkNesting, isNestedDeeper, validateName } from "../../notebook/parameters/index.js";
import { parseNotebook } from "../../notebook/read.js";
import type { Notebook } from "../../notebook/types.js";
import { kernelChoiceOf, paramLanguageOf } from "../../runs/index.js";
import { RUN_MODES, type Webhook, type WebhookParams } from "../../store/index.js";
import { versionJson, webhookJson } from "../representations.js";
import { parseRequest } from "../http-errors.js";
import { routeSchema } from "../openapi.js";
import type { ServerDeps } from "../types.js";
import { webhookFilterOf } from "../auth.js";
import { webhookOr404 } from "./lookup.js";
import { addCommandFor } from "./add-command-for.js";
import { nameProblem } from "../../api/webhook-names.js";
import { registerWebhookHistoryRoutes } from "./webhook-history.js";
import { registerWebhookSchemaRoutes } from "./webhook-schema.js";
import { redirectTarget } from "../call-answer.js";

/** `add` carries the notebook and its dependency files (base64): allow more than a trigger body. */
const ADD_BODY_LIMIT = 100 * 1024 * 1024;

// A deliberately loose check (something@something, no spaces or list separators): the mail server
// is the judge of what it can deliver to.
const EMAIL = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+$/;

const addresses = z
  .union([z.string(), z.array(z.string())], {
    error: "must be an email address or a list of email addresses",
  })
  .transform((value) =>
    (Array.isArray(value) ? value : value.split(/[,;]/)).map((a) => a.trim()).filter(Boolean),
  )
  .pipe(
    z.array(
      z
        .string()
        .refine((a) => EMAIL.test(a), { error: (i) => `${JSON.stringify(i.input)} is not an email address` }),
    ),
  );

const paramsSchema = z
  .object({
    notif_up: addresses.optional(),
    notif_down: addresses.optional(),
    next_url: z
      .string({ error: "must be a URL string" })
      .refine((text) => redirectTarget(text) !== undefined, {
        error: (i) =>
          `must be an absolute http or https URL such as "https://example.com/done" (got ${JSON.stringify(i.input)})`,
      })
      .optional(),
    inline: z.boolean({ error: "must be true or false" }).optional(),
  })
  .catchall(z.unknown());

const absolutePath = z
  .string({ error: "must be the notebook's absolute path" })
  .refine((p) => path.isAbsolute(p), {
    error: (i) => `must be an absolute path such as "/home/me/report.ipynb" (got ${JSON.stringify(i.input)})`,
  })
  .transform((p) => path.normalize(p));

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** A name given at add (webhook-names.ts); the notebook's own path is also accepted (the default). */
const nameField = z.string({ error: "must be the webhook's name, a string" }).optional();

/** A CORS origin: `*`, or scheme://host[:port] of http(s), normalized as browsers send it. */
const corsOrigin = z
  .string({ error: 'must be an origin such as "https://example.com", or "*"' })
  .transform((text, ctx) => {
    if (text === "*") return text;
    const url = URL.canParse(text) ? new URL(text) : undefined;
    if (
      !url ||
      (url.protocol !== "http:" && url.protocol !== "https:") ||
      url.pathname !== "/" ||
      url.search !== "" ||
      url.hash !== "" ||
      url.username !== "" ||
      url.password !== "" ||
      /[?#@]/.test(text)
    ) {
      ctx.issues.push({
        code: "custom",
        input: text,
        message:
          `${JSON.stringify(text.slice(0, 200))} is not an origin: give scheme://host[:port] without a path, such as ` +
          `"https://example.com" or "http://localhost:8080", or "*" for any page`,
      });
      return z.NEVER;
    }
    return url.origin;
  });

const addBody = z.object({
  path: absolutePath,
  name: nameField,
  source_host: z
    .string({ error: "must be the deploying machine's host name" })
    .max(255, { error: "must be at most 255 characters" })
    .nullable()
    .optional(),
  cors: z
    .array(corsOrigin, { error: 'must be a list of origins, such as ["https://example.com"]' })
    .max(100, { error: "at most 100 origins" })
    .default([]),
  notebook: z.union([z.string(), z.record(z.string(), z.unknown())], {
    error: "must be the notebook: its nbformat JSON as an object, or that JSON text as a string",
  }),
  params: paramsSchema.default({}),
  debug: z.boolean({ error: "must be true or false" }).default(false),
  timeout_s: z
    .number({ error: "must be a number of seconds" })
    .positive({ error: "must be a positive number of seconds" })
    .max(7 * 24 * 3600, { error: "must be at most a week (604800 s)" })
    .optional(),
  mode: z
    .enum(RUN_MODES, { error: `must be one of ${RUN_MODES.map((m) => JSON.stringify(m)).join(", ")}` })
    .default("isolated"),
  max_concurrency: z
    .number({ error: "must be a whole number of calls" })
    .int({ error: "must be a whole number of calls" })
    .min(1, { error: "must be at least 1" })
    .max(1000, { error: "must be at most 1000" })
    .nullable()
    .default(null),
  reuse_calls: z
    .number({ error: "must be a whole number of calls" })
    .int({ error: "must be a whole number of calls" })
    .min(1, { error: "must be at least 1" })
    .max(1_000_000, { error: "must be at most 1000000" })
    .default(100),
  files: z
    .array(
      z.object({
        path: z.string().min(1, { error: "must be a relative file path" }),
        data: z.string().refine((d) => BASE64.test(d), { error: "must be the file's bytes in base64" }),
      }),
    )
    .max(500, { error: "at most 500 files per add" })
    .default([]),
});

const listQuery = z.object({
  name: z.string().min(1, { error: "must be a webhook's name" }).optional(),
  path: absolutePath.optional(),
  include_deleted: z.enum(["true", "false", "1", "0"], { error: "must be true or false" }).optional(),
});

const idParams = z.object({ id: z.string().min(1) });

/**
 * Deepest nesting of a deployed notebook's JSON. No real notebook comes near it; far deeper, copying
 * or writing the notebook (structuredClone, JSON.stringify) overflows the stack.
 */
export const MAX_NOTEBOOK_DEPTH = 1000;

/** Refuses a notebook (object, or parsed from its text) nested deeper than MAX_NOTEBOOK_DEPTH. */
function checkNotebookDepth(notebook: unknown, notebookPath: string): void {
  if (typeof notebook === "string" || !isNestedDeeper(notebook, MAX_NOTEBOOK_DEPTH)) return;
  throw new AppError(
    "notebook-invalid",
    `${notebookPath}: the notebook's JSON is nested more than ${MAX_NOTEBOOK_DEPTH} levels deep ` +
      `(in its metadata or outputs): remove the deeply nested value and deploy it again`,
  );
}

/** Longest folder or file name in a dependency path, in UTF-8 bytes (see dependencyPath). */
export const MAX_PATH_SEGMENT_BYTES = 240;
/** Longest dependency path, in UTF-8 bytes. */
export const MAX_DEPENDENCY_PATH_BYTES = 1024;

/**
 * A dependency path: relative, staying inside the webhook's files folder once normalized, naming a
 * file, without control characters, each name in it at most MAX_PATH_SEGMENT_BYTES (file systems
 * allow 255; the atomic write's temporary name adds 14) and the whole at most
 * MAX_DEPENDENCY_PATH_BYTES. Checked before anything is written: a path the file system would
 * refuse is the caller's mistake (400), not a failure half-way through the deployment.
 */
function dependencyPath(given: string): string {
  const normalized = path.posix.normalize(given.replaceAll("\\", "/"));
  const problem = dependencyPathProblem(normalized);
  if (problem) {
    const shown = given.length > 100 ? `${given.slice(0, 99)}…` : given;
    throw new AppError("usage", `dependency file path ${JSON.stringify(shown)} ${problem}`);
  }
  return normalized;
}

/** What is wrong with a normalized dependency path, completing "dependency file path P …". */
function dependencyPathProblem(normalized: string): string | undefined {
  if (
    path.posix.isAbsolute(normalized) ||
    normalized === ".." ||
    normalized.startsWith("../") ||
    normalized === "."
  ) {
    return `must be relative to the notebook's folder and stay inside it (e.g. "data/cities.csv")`;
  }
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(normalized))
    return "must not contain control characters (NUL, newlines, …)";
  if (normalized.endsWith("/")) return `must name a file, not a folder (e.g. "data/cities.csv")`;
  const bytes = Buffer.byteLength(normalized);
  if (bytes > MAX_DEPENDENCY_PATH_BYTES) {
    return `is ${bytes} bytes long (UTF-8): a dependency path may have at most ${MAX_DEPENDENCY_PATH_BYTES}`;
  }
  const long = normalized.split("/").find((name) => Buffer.byteLength(name) > MAX_PATH_SEGMENT_BYTES);
  if (long !== undefined) {
    return (
      `has a folder or file name of ${Buffer.byteLength(long)} bytes (UTF-8): each name in a dependency ` +
      `path may have at most ${MAX_PATH_SEGMENT_BYTES}`
    );
  }
  return undefined;
}

/** Refuses one add's paths that need a file and a folder at the same place (`a` and `a/b`). */
function checkPathsFit(paths: string[]): void {
  const files = new Set(paths);
  for (const file of paths) {
    const parts = file.split("/");
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join("/");
      if (files.has(folder)) {
        throw new AppError(
          "usage",
          `dependency files ${JSON.stringify(folder)} and ${JSON.stringify(file)} cannot both exist: ` +
            `the first would have to be a file and a folder; rename one of them`,
        );
      }
    }
  }
}

/**
 * Writes one dependency file. A path that meets a file or folder of an earlier deployment where it
 * needs the other (`a` was a file, now `a/b`) is a 409 naming it, not a 500.
 */
async function writeDependency(deps: ServerDeps, webhookId: string, file: DependencyFile): Promise<void> {
  try {
    await deps.store.writeFile(webhookId, file.path, file.data);
  } catch (err) {
    const code = (err as { code?: unknown } | undefined)?.code;
    if (code !== "ENOTDIR" && code !== "EISDIR" && code !== "EEXIST") throw err;
    throw new AppError(
      "conflict",
      `dependency file path ${JSON.stringify(file.path)} meets a file or folder deployed before where it ` +
        `needs the other (a file where a folder is, or the reverse): deploy it under another path`,
      { cause: err },
    );
  }
}

interface DependencyFile {
  path: string;
  data: Buffer;
}

/**
 * Add-time params are injected into every run: refuse now what no kernel could read (nesting over
 * the limit; values nested thousands of levels deep would also overflow the stack while stored).
 */
function checkParamValues(params: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(params)) checkNesting(value, `params.${name}`);
}

/** Add-time parameters become variables in every run: refuse names the notebook's language can't have. */
function checkParamNames(nb: Notebook, params: Record<string, unknown>): void {
  const kernelLanguage = kernelChoiceOf(nb).language;
  const language = kernelLanguage ? paramLanguageOf(kernelLanguage) : undefined;
  if (!language) return;
  for (const name of Object.keys(params)) validateName(language, name);
}

/** Drops settings given as empty lists, so a webhook's params show only what was set. */
function cleanParams(params: z.infer<typeof paramsSchema>): WebhookParams {
  const out: WebhookParams = {};
  for (const [name, value] of Object.entries(params)) {
    if (
      value === undefined ||
      (Array.isArray(value) && value.length === 0 && (name === "notif_up" || name === "notif_down"))
    )
      continue;
    out[name] = value;
  }
  return out;
}

/** Whether a webhook's last deploy came from another machine (both known) or another path. */
function deployedElsewhere(existing: Webhook, notebookPath: string, host: string | null): boolean {
  if (existing.path !== notebookPath) return true;
  return existing.sourceHost !== null && host !== null && existing.sourceHost !== host;
}

/**
 * The name an add deploys to: the one given (checked: webhook-names.ts), else the path when a
 * webhook has it as name, else the only webhook deployed from the path under another name (a
 * deleted one only when none is live), else the path (a new webhook). Several webhooks from the
 * path and none named by it: 409 naming them.
 */
async function nameForAdd(
  deps: ServerDeps,
  given: string | undefined,
  notebookPath: string,
): Promise<string> {
  if (given !== undefined && given !== notebookPath) {
    const problem = nameProblem(given);
    if (problem) {
      throw new AppError("name-invalid", `name ${JSON.stringify(given.slice(0, 250))} ${problem}`);
    }
    return given;
  }
  if (given === notebookPath || (await deps.store.findWebhookByName(notebookPath))) return notebookPath;
  const all = await deps.store.listWebhooksByPath(notebookPath);
  const live = all.filter((w) => !w.deletedAt);
  // A deleted one comes back (same URL) when it is the only one that came from the path.
  const from = live.length > 0 ? live : all;
  if (from.length === 1) return from[0]!.name;
  if (from.length > 1) {
    throw new AppError(
      "conflict",
      `${notebookPath} is deployed under several names (${from.map((w) => w.name).join(", ")}): ` +
        `say which with --name (name in the API), e.g. \`nbhook add ${notebookPath} --name ${from[0]!.name}\``,
    );
  }
  return notebookPath;
}

export async function registerWebhookRoutes(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  const json = (w: Webhook) => webhookJson(w, deps.links);

  const addSchema = routeSchema({
    summary: "Deploy a notebook (add)",
    description:
      "Creates the webhook named `name` (201), or makes the notebook a new version of the existing (or " +
      "deleted) one of that name, at the same URL (200). Without `name`: the webhook named `path`, else the " +
      "only one deployed from `path` under another name, else a new one named `path` (409 when several " +
      "were deployed from it: give `name`). `previous` says when the webhook's last deploy came from another " +
      "machine (`source_host`) or path. `params`, `debug`, `timeout_s`, `mode`, `max_concurrency`, " +
      "`reuse_calls` and `cors` are set anew each time (left out: back to the defaults). The body may be up to 100 MiB.",
    tags: ["webhooks"],
    body: addBody,
    responses: {
      200: { description: "A new version of an existing webhook", schema: addResultSchema },
      201: { description: "A new webhook", schema: addResultSchema },
    },
    errors: [400, 409, 413, 415, 422, 507],
  });
  app.post("/api/webhooks", { bodyLimit: ADD_BODY_LIMIT, schema: addSchema }, async (request, reply) => {
    const body = parseRequest(addBody, request.body);
    checkNotebookDepth(body.notebook, body.path);
    const text =
      typeof body.notebook === "string" ? body.notebook : JSON.stringify(body.notebook, null, 1) + "\n";
    const notebook = parseNotebook(text, body.path);
    checkNotebookDepth(notebook, body.path);
    checkParamNames(notebook, body.params);
    checkParamValues(body.params);
    const files: DependencyFile[] = body.files.map((f) => ({
      path: dependencyPath(f.path),
      data: Buffer.from(f.data, "base64"),
    }));
    checkPathsFit(files.map((f) => f.path));

    const name = await nameForAdd(deps, body.name, body.path);
    const existing = await deps.store.findWebhookByName(name);
    const sourceHost = body.source_host ?? null;
    const saved = await deps.store.upsertWebhook({
      name,
      path: body.path,
      sourceHost,
      params: cleanParams(body.params),
      debug: body.debug,
      timeoutMs:
        // At least a millisecond: a positive number of seconds never becomes "no time at all".
        body.timeout_s === undefined
          ? deps.config.defaultTimeoutMs
          : Math.max(1, Math.round(body.timeout_s * 1000)),
      settings: {
        mode: body.mode,
        maxConcurrency: body.max_concurrency,
        reuseCalls: body.reuse_calls,
        cors: [...new Set(body.cors)],
      },
    });
    // Files first: the new version may read them as soon as it is live.
    for (const file of files) await writeDependency(deps, saved.id, file);
    const version = await deps.store.addVersion(saved.id, Buffer.from(text, "utf8"));
    deps.calls.webhookChanged(saved.id); // prepared kernels of the previous version are retired
    const webhook = await webhookOr404(deps, saved.id);
    const versions = (await deps.store.listVersions(webhook.id)).length;
    const answer: AddResultJson = {
      created: !existing,
      webhook: json(webhook),
      version: versionJson(version, webhook.liveHisto),
      versions,
      files: files.map((f) => f.path),
    };
    if (existing && deployedElsewhere(existing, body.path, sourceHost)) {
      answer.previous = { host: existing.sourceHost, path: existing.path };
      request.log.warn(
        { webhook: webhook.id, name, previousHost: existing.sourceHost, host: sourceHost },
        "a deploy became a new version of a webhook deployed from another machine or path",
      );
    }
    return reply.status(existing ? 200 : 201).send(answer);
  });

  const listSchema = routeSchema({
    summary: "List webhooks (currents), or find one by name or path",
    description:
      "Sorted by name; with `name`, zero or one; with `path`, those whose newest deploy came from that " +
      "path (zero or more: a path deployed under several names gives several). Deleted webhooks only " +
      "with `include_deleted`.",
    tags: ["webhooks"],
    querystring: listQuery,
    responses: { 200: webhookListSchema },
    errors: [400],
  });
  app.get("/api/webhooks", { schema: listSchema }, async (request) => {
    const query = parseRequest(listQuery, request.query);
    const includeDeleted = query.include_deleted === "true" || query.include_deleted === "1";
    if (query.name !== undefined && query.path !== undefined) {
      throw new AppError("usage", "give either name or path, not both");
    }
    let webhooks: Webhook[];
    if (query.name !== undefined) {
      const found = await deps.store.findWebhookByName(query.name);
      webhooks = found && (includeDeleted || !found.deletedAt) ? [found] : [];
    } else if (query.path !== undefined) {
      webhooks = (await deps.store.listWebhooksByPath(query.path)).filter(
        (w) => includeDeleted || !w.deletedAt,
      );
    } else {
      webhooks = await deps.store.listWebhooks({ includeDeleted });
    }
    const visible = webhookFilterOf(request); // a token limited to some webhooks lists those only
    if (visible) webhooks = webhooks.filter((w) => visible(w.id));
    return { webhooks: webhooks.map(json) } satisfies WebhookListJson;
  });

  const getSchema = routeSchema({
    summary: "One webhook",
    description: "Deleted ones too (`deleted_at` is set).",
    tags: ["webhooks"],
    params: idParams,
    responses: { 200: webhookSchema },
    errors: [404],
  });
  app.get("/api/webhooks/:id", { schema: getSchema }, async (request) => {
    const { id } = parseRequest(idParams, request.params);
    return json(await webhookOr404(deps, id));
  });

  const deleteSchema = routeSchema({
    summary: "Delete a webhook",
    description:
      "Its URL answers 404 afterwards; versions, outputs and runs are kept, and adding it again (same " +
      "name) brings it back at the same URL. Deleting twice is harmless.",
    tags: ["webhooks"],
    params: idParams,
    responses: { 200: deletedWebhookSchema },
    errors: [404],
  });
  app.delete("/api/webhooks/:id", { schema: deleteSchema }, async (request) => {
    const { id } = parseRequest(idParams, request.params);
    const webhook = await webhookOr404(deps, id);
    if (!webhook.deletedAt) await deps.store.deleteWebhook(id);
    deps.calls.webhookChanged(id);
    return { deleted: true, webhook: json(await webhookOr404(deps, id)) } satisfies DeletedWebhookJson;
  });

  const rotateSchema = routeSchema({
    summary: "Give a webhook a new URL",
    description: "The old URL answers 404 from now on.",
    tags: ["webhooks"],
    params: idParams,
    responses: { 200: webhookSchema },
    errors: [404, 409],
  });
  app.post("/api/webhooks/:id/rotate", { schema: rotateSchema }, async (request) => {
    const { id } = parseRequest(idParams, request.params);
    const webhook = await webhookOr404(deps, id);
    if (webhook.deletedAt) {
      throw new AppError(
        "conflict",
        `the webhook ${webhook.name} was deleted: deploy it again with \`${addCommandFor(webhook)}\`, then rotate its URL`,
      );
    }
    return json(await deps.store.rotateToken(id));
  });

  await registerWebhookHistoryRoutes(app, deps);
  await registerWebhookSchemaRoutes(app, deps);
}
