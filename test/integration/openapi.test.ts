/**
 * The generated OpenAPI documents over real HTTP on loopback: the server's (`/openapi.json`, and
 * Swagger UI at /docs), which must be valid OpenAPI 3.1 and list every route the server registers
 * but the ones deliberately hidden; each webhook's own (parameters read from its `parameters` cell)
 * and its parameter list; and a run's executed notebook as an HTML page. One call runs a real
 * ipykernel (for the run's output).
 */
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registeredRoutes } from "../../src/server/openapi.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { removeHome, startTestServer, type TestServer } from "../support/manage-server.js";
import { makeNotebook } from "../support/notebooks.js";

guardKernelLeaks();

type Json = Record<string, unknown>;
type Doc = {
  openapi: string;
  info: Json;
  paths: Record<string, Record<string, Json>>;
  components: Json;
} & Json;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
  if (server) removeHome(server);
});

async function get(route: string, token: string | null = server.token) {
  const response = await fetch(server.url + route, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    redirect: "manual",
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json: json as Json };
}

async function api(method: string, route: string, body?: unknown) {
  const response = await fetch(server.url + route, {
    method,
    headers: {
      authorization: `Bearer ${server.token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Json };
}

async function validate(doc: unknown): Promise<void> {
  const validator = new Validator();
  const result = await validator.validate(doc as Record<string, unknown>);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  expect(validator.version).toBe("3.1");
}

let deployed = 0;
/** Deploys the cells at a fresh path through the API; answers the webhook JSON. */
async function deploy(cells: Parameters<typeof makeNotebook>[0]): Promise<Json> {
  const { status, json } = await api("POST", "/api/webhooks", {
    path: `/work/openapi${++deployed}/report.ipynb`,
    notebook: makeNotebook(cells),
  });
  expect(status).toBe(201);
  return json.webhook as Json;
}

/** Routes whose schema hides them from /openapi.json, on purpose: they are no API. */
const HIDDEN = [
  // Swagger UI (its JSON is /openapi.json's).
  "GET /docs",
  "GET /docs/static/index.html",
  "GET /docs/static/swagger-initializer.js",
  "GET /docs/json",
  "GET /docs/yaml",
  "GET /docs/static/*",
  "GET /openapi.json",
  // A webhook URL answers 405 to these.
  "PUT /notebook/:token",
  "DELETE /notebook/:token",
  "PATCH /notebook/:token",
  "OPTIONS /notebook/:token",
  // @fastify/cors's preflight route, in the webhook URLs' scope (src/server/webhook-cors.ts).
  "OPTIONS /notebook*",
  // The dashboard's pages (src/server/routes/dashboard.ts).
  "GET /",
  "GET /signin",
  "GET /webhooks",
  "GET /webhooks/*",
  "GET /runs",
  "GET /runs/*",
];
/**
 * Routes in the document without a summary and tags yet (their modules give no `schema`): each
 * should get one with routeSchema (src/server/openapi.ts), and leave this list.
 */
const UNDESCRIBED: string[] = [];

/** Hidden routes registered only in some set-ups: the dashboard's files, once it is built. */
const HIDDEN_IF_PRESENT = ["GET /assets/*"];

describe("GET /openapi.json", () => {
  let doc: Doc;
  beforeAll(async () => {
    const { status, json } = await get("/openapi.json");
    expect(status).toBe(200);
    doc = json as Doc;
  });

  it("is valid OpenAPI 3.1 with nbhook's version, the bearer scheme and the server's URL", async () => {
    await validate(doc);
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as Json;
    expect(doc.info).toMatchObject({ title: "nbhook", version: pkg.version });
    expect(doc.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: "http", scheme: "bearer" }),
    });
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.servers).toEqual([{ url: server.url }]);
  });

  it("needs the API token", async () => {
    expect((await get("/openapi.json", null)).status).toBe(401);
  });

  it("lists every route the server registers, but the ones hidden on purpose", () => {
    const documented = new Set<string>();
    for (const [url, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${url}`);
    }
    const routes = registeredRoutes(server.app).filter((r) => r.method !== "HEAD");
    expect(routes.length).toBeGreaterThan(20);
    const missing: string[] = [];
    const hidden: string[] = [];
    for (const route of routes) {
      const name = `${route.method} ${route.url}`;
      if (route.hidden) hidden.push(name);
      else if (!documented.has(`${route.method} ${route.url.replace(/:(\w+)/g, "{$1}")}`)) missing.push(name);
    }
    expect(missing).toEqual([]);
    expect(hidden.filter((name) => !HIDDEN_IF_PRESENT.includes(name)).sort()).toEqual([...HIDDEN].sort());
  });

  it("documents each management route with its tag, parameters, answers and errors", () => {
    const add = doc.paths["/api/webhooks"]!.post!;
    expect(add).toMatchObject({ summary: expect.any(String), tags: ["webhooks"] });
    const addBody = (add.requestBody as Json & { content: Record<string, { schema: Json }> }).content[
      "application/json"
    ]!.schema;
    expect(addBody.required).toEqual(["path", "notebook"]);
    expect(Object.keys(addBody.properties as Json)).toEqual(
      expect.arrayContaining(["mode", "max_concurrency", "reuse_calls", "timeout_s", "files"]),
    );
    expect(Object.keys(add.responses as Json)).toEqual(
      expect.arrayContaining(["200", "201", "400", "401", "409", "413", "422"]),
    );
    const error = (add.responses as Record<string, { content: Record<string, { schema: Json }> }>)["422"]!
      .content["application/json"]!.schema;
    expect(error).toMatchObject({ type: "object", required: ["error", "message"] });

    const runs = doc.paths["/api/runs"]!.get!;
    expect(runs.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          in: "query",
          name: "limit",
          schema: expect.objectContaining({ default: 50 }),
        }),
      ]),
    );
    const webhook = doc.paths["/api/webhooks/{id}"]!.get!;
    expect(webhook.parameters).toEqual([expect.objectContaining({ in: "path", name: "id", required: true })]);
    const undescribed: string[] = [];
    for (const [url, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const name = `${method.toUpperCase()} ${url}`;
        if (!operation.summary || !operation.tags) undescribed.push(name);
        else if (url.startsWith("/api/")) expect(operation.responses, name).toHaveProperty("401");
      }
    }
    expect(undescribed.sort()).toEqual([...UNDESCRIBED].sort());
  });

  it("documents the webhook URL as open, its answers, and a POST body that may be left out", () => {
    const call = doc.paths["/notebook/{token}"]!;
    expect(call.get!.security).toEqual([]);
    expect(doc.paths["/health"]!.get!.security).toEqual([]);
    expect(Object.keys(call.get!.responses as Json)).toEqual(
      expect.arrayContaining(["200", "202", "302", "404", "422", "500", "503", "504"]),
    );
    const body = call.post!.requestBody as Json & { content: Json };
    expect(body.required).toBe(false);
    expect(Object.keys(body.content)).toEqual([
      "application/json",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
    ]);
    expect(call.post).not.toHaveProperty("x-nbhook-optional-body");
  });
});

describe("/docs", () => {
  it("answers Swagger UI's page, which loads scripts from this server only, under a policy without inline scripts", async () => {
    const page = await get("/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1];
    expect(scriptSrc).toBe("'self'");
    expect(csp).toContain("default-src 'none'");
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, inline] of scripts) {
      expect(inline!.trim()).toBe("");
      const src = /\bsrc="([^"]+)"/.exec(attributes!)?.[1];
      expect(src).toMatch(/^\/docs\/static\//);
      const script = await get(src!);
      expect(script.status, src).toBe(200);
      expect(script.headers.get("content-type")).toMatch(/javascript/);
    }
    expect(page.text).not.toMatch(/https?:\/\//);
  });

  it("shows the same document as /openapi.json", async () => {
    expect((await get("/docs/json")).json).toEqual((await get("/openapi.json")).json);
  });
});

const FIXTURE = [
  "import json",
  {
    source: [
      "n = 3  # how many",
      "rate = 0.5",
      "flag = True",
      'name = "Ada"',
      "items = [1, 2]",
      'opts = {"a": 1, "b": [True, None]}',
      "big = 123456789012345678901234567890",
      "when = None",
    ].join("\n"),
    tags: ["parameters"],
  },
  "print(json.dumps({'n': n, 'name': name}))",
];

describe("GET /api/webhooks/{id}/parameters", () => {
  it("lists the parameters cell's names with their types and JSON defaults, and their JSON Schema", async () => {
    const webhook = await deploy(FIXTURE);
    const { status, json } = await api("GET", `/api/webhooks/${webhook.id}/parameters`);
    expect(status).toBe(200);
    expect(json).toEqual({
      histo: webhook.live_histo,
      language: "python",
      parameters: [
        { name: "n", type: "int", default: 3, help: "how many" },
        { name: "rate", type: "float", default: 0.5 },
        { name: "flag", type: "bool", default: true },
        { name: "name", type: "str", default: "Ada" },
        { name: "items", type: "list", default: [1, 2] },
        { name: "opts", type: "dict", default: { a: 1, b: [true, null] } },
        { name: "big", type: "int", default: "123456789012345678901234567890" },
        { name: "when", type: "none", default: null },
      ],
      schema: {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        type: "object",
        properties: {
          n: { type: "integer", default: 3, description: "how many" },
          rate: { type: "number", default: 0.5 },
          flag: { type: "boolean", default: true },
          name: { type: "string", default: "Ada" },
          items: { type: "array", default: [1, 2] },
          opts: { type: "object", default: { a: 1, b: [true, null] } },
          big: { type: "integer", default: "123456789012345678901234567890" },
          when: { default: null },
        },
        additionalProperties: true,
      },
    });
  });

  it("answers no parameters once every version was cleared, and a deleted webhook's kept version", async () => {
    const webhook = await deploy(FIXTURE);
    await api("DELETE", `/api/webhooks/${webhook.id}`);
    const deleted = await api("GET", `/api/webhooks/${webhook.id}/parameters`);
    expect(deleted.status).toBe(200);
    expect((deleted.json.parameters as unknown[]).length).toBe(8);
    expect((await api("DELETE", `/api/webhooks/${webhook.id}/versions?force=true`)).status).toBe(200);
    const cleared = await api("GET", `/api/webhooks/${webhook.id}/parameters`);
    expect(cleared.json).toMatchObject({ histo: null, language: null, parameters: [] });
    expect((await api("GET", "/api/webhooks/nope/parameters")).status).toBe(404);
  });
});

describe("GET /api/webhooks/{id}/openapi.json", () => {
  it("is valid OpenAPI 3.1 of calling the webhook's URL, with the parameters typed", async () => {
    const webhook = await deploy(FIXTURE);
    const { status, json } = await get(`/api/webhooks/${webhook.id}/openapi.json`);
    expect(status).toBe(200);
    await validate(json);
    const doc = json as Doc;
    expect(doc.info).toMatchObject({ title: "report.ipynb", version: webhook.live_histo });
    const [path] = Object.keys(doc.paths);
    expect(`${(doc.servers as [{ url: string }])[0].url}${path}`).toBe(webhook.url);

    const query = doc.paths[path!]!.get!.parameters as Json[];
    const byName = Object.fromEntries(query.map((p) => [p.name, p]));
    expect(byName.n).toEqual({
      name: "n",
      in: "query",
      required: false,
      description: "how many",
      schema: { type: "integer", default: 3, description: "how many" },
    });
    expect(byName.rate!.schema).toEqual({ type: "number", default: 0.5 });
    expect(byName.flag!.schema).toEqual({ type: "boolean", default: true });
    expect(byName.name!.schema).toEqual({ type: "string", default: "Ada" });
    expect(byName.items!.content).toEqual({
      "application/json": { schema: { type: "array", default: [1, 2] } },
    });
    expect(byName.opts!.content).toEqual({
      "application/json": { schema: { type: "object", default: { a: 1, b: [true, null] } } },
    });

    const post = doc.paths[path!]!.post!;
    const content = (post.requestBody as { content: Record<string, Json> }).content;
    expect(Object.keys(content)).toEqual([
      "application/json",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
    ]);
    expect(content["application/x-www-form-urlencoded"]!.encoding).toEqual({
      items: { contentType: "application/json" },
      opts: { contentType: "application/json" },
    });
    const parameters = (doc.components.schemas as Record<string, Json>).Parameters!;
    expect(parameters).toMatchObject({ type: "object", additionalProperties: true });
    expect(Object.keys(parameters.properties as Json)).toEqual([
      "n",
      "rate",
      "flag",
      "name",
      "items",
      "opts",
      "big",
      "when",
    ]);
    const responses = post.responses as Record<string, { content?: Record<string, { schema: Json }> }>;
    expect(Object.keys(responses)).toEqual(
      expect.arrayContaining(["200", "302", "422", "500", "503", "504"]),
    );
    expect(responses["302"]!.content).toBeUndefined();
    expect(responses["500"]!.content!["application/json"]!.schema).toMatchObject({
      required: expect.arrayContaining(["id", "status", "ename", "evalue"]),
    });
  });

  it("needs the API token, and answers 409 for a deleted webhook and 404 without a version", async () => {
    const webhook = await deploy(FIXTURE);
    expect((await get(`/api/webhooks/${webhook.id}/openapi.json`, null)).status).toBe(401);
    expect((await api("DELETE", `/api/webhooks/${webhook.id}/versions?force=true`)).status).toBe(200);
    const none = await get(`/api/webhooks/${webhook.id}/openapi.json`);
    expect(none.status).toBe(404);
    expect(none.json).toMatchObject({ error: "not-found", message: expect.stringMatching(/nbhook add/) });
    await api("DELETE", `/api/webhooks/${webhook.id}`);
    expect((await get(`/api/webhooks/${webhook.id}/openapi.json`)).json).toMatchObject({ error: "conflict" });
  });
});

describe("GET /api/runs/{id}/output?format=html", () => {
  it("renders the run's executed notebook as a sandboxed HTML page; without format, the notebook as before", async () => {
    const webhook = await deploy(FIXTURE);
    const call = await fetch(`${webhook.url as string}?name=Grace`);
    expect(call.status).toBe(200);
    const runId = call.headers.get("x-nbhook-run-id")!;

    const page = await get(`/api/runs/${runId}/output?format=html`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toBe(
      "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'",
    );
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.text).toMatch(/^<!DOCTYPE html>/);
    expect(page.text).toContain("Grace");

    const notebook = await get(`/api/runs/${runId}/output`);
    expect(notebook.status).toBe(200);
    expect(notebook.headers.get("content-type")).toBe("application/x-ipynb+json");
    expect(notebook.headers.get("content-security-policy")).toBeNull();
    expect(notebook.json).toMatchObject({ nbformat: 4 });

    const wrong = await get(`/api/runs/${runId}/output?format=pdf`);
    expect(wrong.status).toBe(400);
    expect(wrong.json).toMatchObject({ error: "usage", message: expect.stringMatching(/"format"/) });
  });
});
