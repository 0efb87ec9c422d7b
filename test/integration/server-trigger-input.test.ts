import { existsSync } from "node:fs";
/**
 * What a webhook call passes to the notebook, over real HTTP with a real ipykernel: the query
 * string, JSON, form and multipart bodies (uploaded files as paths), coercion to the defaults'
 * types and the 422 before any kernel starts, Naas's `params`/`body`/`headers`, redaction of what
 * is stored, and the refusals (400, 404, 405, 413).
 */
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import type { WebhookParams } from "../../src/store/index.js";
import { ALL_BYTES } from "../support/images.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();

const LIMIT = 64 * 1024;
let server: RunningServer;
let home: string;
beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), "trigger-input-home-"));
  server = await startServer(
    resolveServerConfig({ host: "127.0.0.1", port: 0, home, maxBodyBytes: LIMIT }, {}),
  );
});
afterAll(async () => server?.close());

let deployed = 0;
async function deploy(cells: CellSpec[], params: WebhookParams = {}) {
  const store = server.deps.store;
  const webhook = await store.upsertWebhook({
    path: `/work/in${++deployed}/report.ipynb`,
    params,
    debug: false,
    timeoutMs: 60_000,
  });
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cells))));
  return { ...webhook, url: `${server.url}/notebook/${webhook.token}` };
}

async function call(url: string, init?: RequestInit) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { res, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

const postJson = (value: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(value),
});

/** A parameters cell with typed defaults, and a cell answering each name's value and Python type. */
const TYPED = [
  {
    source: 'days = 3\nrate = 0.5\nverbose = False\ncities = ["Lyon"]\nname = "x"\nlimit = None',
    tags: ["parameters"],
  },
  "import naas\n" +
    "show = lambda v: [v, type(v).__name__]\n" +
    "naas.webhook.respond_json({k: show(globals().get(k)) for k in " +
    "['days', 'rate', 'verbose', 'cities', 'name', 'limit', 'other', 'params', 'body']})",
];

describe("request → parameters", () => {
  it("coerces query strings to the types of the parameters cell's defaults", async () => {
    const { url } = await deploy(TYPED);
    const query = new URLSearchParams({
      days: "7",
      rate: "2",
      verbose: "yes",
      cities: '["Paris","Zoë"]',
      name: "42",
      limit: "",
      other: "z",
      "bad-key": "1",
    });
    const { res, json } = await call(`${url}?${query}`);
    expect(res.status).toBe(200);
    expect(json()).toMatchObject({
      days: [7, "int"],
      rate: [2.0, "float"],
      verbose: [true, "bool"],
      cities: [["Paris", "Zoë"], "list"],
      name: ["42", "str"],
      limit: [null, "NoneType"],
      other: ["z", "str"],
      params: [{ days: "7", rate: "2", "bad-key": "1", other: "z" }, "dict"],
      body: [{}, "dict"],
    });
  });

  it("answers 422 naming the parameter and the type before starting a kernel, and records no run", async () => {
    const webhook = await deploy(TYPED);
    const { res, json } = await call(`${webhook.url}?days=three`);
    expect(res.status).toBe(422);
    expect(json()).toEqual({
      error: "parameter-invalid",
      message: expect.stringMatching(/"days" expects int.*"three"/),
    });
    expect(await server.deps.store.listRuns({ webhookId: webhook.id })).toEqual([]);
  });

  it("keeps JSON types, lets the body win over the query, and never lets a key replace params/body", async () => {
    const { url } = await deploy(TYPED);
    const { json } = await call(
      `${url}?days=1&rate=9`,
      postJson({ days: 5, rate: 3, cities: "one", params: "spoof", nested: { a: [1, 2.5] } }),
    );
    expect(json()).toMatchObject({
      days: [5, "int"],
      rate: [3, "int"],
      cities: ["one", "str"],
      params: [{ days: "1", rate: "9" }, "dict"],
      body: [{ days: 5, rate: 3, cities: "one", params: "spoof", nested: { a: [1, 2.5] } }, "dict"],
    });
  });

  it("keeps a JSON body that is not an object as `body` only", async () => {
    const { url } = await deploy(TYPED);
    const { json } = await call(url, postJson([1, "two", 3.5]));
    expect(json()).toMatchObject({ days: [3, "int"], body: [[1, "two", 3.5], "list"] });
  });

  it("takes form-urlencoded fields as strings coerced like the query", async () => {
    const { url } = await deploy(TYPED);
    const { json } = await call(url, {
      method: "POST",
      body: new URLSearchParams({ days: "9", name: "Zoë", other: "a b" }),
    });
    expect(json()).toMatchObject({
      days: [9, "int"],
      name: ["Zoë", "str"],
      other: ["a b", "str"],
      body: [{ days: "9", name: "Zoë", other: "a b" }, "dict"],
    });
  });

  it("gives any other body as Naas's {str: text}", async () => {
    const { url } = await deploy(TYPED);
    const { json } = await call(url, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "hello Zoë",
    });
    expect(json()).toMatchObject({ body: [{ str: "hello Zoë" }, "dict"] });
  });

  it("saves multipart files in the run's uploads folder and passes their paths; fields are coerced", async () => {
    const webhook = await deploy([
      { source: "days = 1\nupload = None", tags: ["parameters"] },
      "import hashlib, os, naas\n" +
        "data = open(upload, 'rb').read()\n" +
        "naas.webhook.respond_json({'days': days, 'path': upload, 'isabs': os.path.isabs(upload), " +
        "'sha256': hashlib.sha256(data).hexdigest(), 'size': len(data), 'body_path': body['upload']})",
    ]);
    const bytes = Buffer.concat([ALL_BYTES, ALL_BYTES, Buffer.from("end")]);
    const form = new FormData();
    form.append("days", "4");
    form.append("upload", new Blob([bytes]), "../../evil name.bin");
    const { res, json } = await call(webhook.url, { method: "POST", body: form });
    expect(res.status).toBe(200);
    const answer = json();
    expect(answer).toMatchObject({
      days: 4,
      isabs: true,
      size: bytes.length,
      sha256: createHash("sha256").update(bytes).digest("hex"),
    });
    expect(answer.body_path).toBe(answer.path);
    expect(answer.path).toMatch(
      new RegExp(`^${home}/webhooks/${webhook.id}/uploads/\\d{20}/evil name\\.bin$`),
    );
    // The run's input is removed once it has run.
    expect(existsSync(answer.path as string)).toBe(false);
  });

  it("passes files named `.`, `..`, `../` or too long for a file system, under safe names", async () => {
    const webhook = await deploy([
      { source: "upload = None", tags: ["parameters"] },
      "import os, naas\n" +
        "paths = upload if isinstance(upload, list) else [upload]\n" +
        "naas.webhook.respond_json([[os.path.basename(p), os.path.getsize(p)] for p in paths])",
    ]);
    const form = new FormData();
    const names = [".", "..", "../", "é".repeat(200) + ".csv", "😀".repeat(70)];
    names.forEach((name, i) => form.append("upload", new Blob([Buffer.alloc(i + 1, 1)]), name));
    const { res, json } = await call(webhook.url, { method: "POST", body: form });
    expect(res.status).toBe(200);
    const saved = json() as unknown as Array<[string, number]>;
    expect(saved.map(([, size]) => size)).toEqual([1, 2, 3, 4, 5]);
    expect(saved.slice(0, 3).map(([name]) => name)).toEqual(["upload", "upload-2", "upload-3"]);
    expect(saved[3]![0]).toBe("é".repeat(118) + ".csv");
    expect(saved[4]![0]).toBe("😀".repeat(60));
  });

  it("gives the Naas names params, body and headers, with secret headers redacted even in the kernel", async () => {
    const { url } = await deploy([
      "import naas\n" +
        "naas.webhook.respond_json({'q': params['q'], 'k': body['k'], 'custom': headers['x-custom'], " +
        "'auth': headers['authorization'], 'cookie': headers['cookie'], 'key': headers['x-api-key'], 'ct': headers['content-type']})",
    ]);
    const { json } = await call(
      `${url}?q=query`,
      postJson(
        { k: "value" },
        { "X-Custom": "c", Authorization: "Bearer s3cret", Cookie: "sid=abc", "X-Api-Key": "k3y" },
      ),
    );
    expect(json()).toEqual({
      q: "query",
      k: "value",
      custom: "c",
      auth: "<redacted>",
      cookie: "<redacted>",
      key: "<redacted>",
      ct: "application/json",
    });
  });

  it("injects the webhook's add-time params, which a request cannot replace", async () => {
    const { url } = await deploy(
      ["import naas\nnaas.webhook.respond_json({'region': region, 'notif_down': notif_down})"],
      {
        region: "eu",
        notif_down: ["ops@example.com"],
      },
    );
    const { json } = await call(`${url}?region=us`);
    expect(json()).toEqual({ region: "eu", notif_down: ["ops@example.com"] });
  });
});

describe("what is stored has secrets redacted", () => {
  it("redacts the run record's parameters and the output notebook, while the kernel had the values", async () => {
    const webhook = await deploy([
      { source: 'password = ""\nuser = ""', tags: ["parameters"] },
      "import naas\nnaas.webhook.respond_json({'pw_len': len(password), 'user': user})",
    ]);
    const { res, json } = await call(
      `${webhook.url}?api_key=QUERYKEY123`,
      postJson(
        { password: "hunter2-PW", user: "bob", nested: { client_secret: "NESTED-SECRET" } },
        { Authorization: "Bearer AUTH-TOKEN-1", Cookie: "sid=COOKIE-1" },
      ),
    );
    expect(json()).toEqual({ pw_len: 10, user: "bob" });
    const run = (await server.deps.store.getRun(res.headers.get("x-nbhook-run-id")!))!;
    expect(run.parameters).toMatchObject({
      password: "<redacted>",
      user: "bob",
      api_key: "<redacted>",
      params: { api_key: "<redacted>" },
      body: { password: "<redacted>", user: "bob", nested: { client_secret: "<redacted>" } },
      headers: { authorization: "<redacted>", cookie: "<redacted>" },
    });
    const output = (await server.deps.store.readOutput(webhook.id, run.outputHisto))!.toString("utf8");
    for (const secret of ["hunter2-PW", "QUERYKEY123", "NESTED-SECRET", "AUTH-TOKEN-1", "COOKIE-1"]) {
      expect(JSON.stringify(run)).not.toContain(secret);
      expect(output).not.toContain(secret);
    }
    expect(output).toContain('password = \\"<redacted>\\"');
  });
});

describe("refusals", () => {
  it("answers 404 JSON for an unknown token and for a deleted webhook", async () => {
    const unknown = await call(`${server.url}/notebook/${"a".repeat(43)}`);
    expect(unknown.res.status).toBe(404);
    expect(unknown.json()).toEqual({
      error: "not-found",
      message: expect.stringContaining("no webhook at this URL"),
    });
    const webhook = await deploy(["x = 1"]);
    await server.deps.store.deleteWebhook(webhook.id);
    const deleted = await call(webhook.url, postJson({ a: 1 }));
    expect(deleted.res.status).toBe(404);
    expect(deleted.json()).toMatchObject({ error: "not-found" });
  });

  it("answers 404 JSON when the webhook has no version", async () => {
    const webhook = await server.deps.store.upsertWebhook({
      path: "/work/empty/none.ipynb",
      params: {},
      debug: false,
      timeoutMs: 60_000,
    });
    const { res, json } = await call(`${server.url}/notebook/${webhook.token}`);
    expect(res.status).toBe(404);
    expect(json().message).toMatch(/none\.ipynb has no deployed version/);
  });

  it("answers 400 JSON for malformed JSON", async () => {
    const { url } = await deploy(["x = 1"]);
    const { res, json } = await call(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"a": ',
    });
    expect(res.status).toBe(400);
    expect(json()).toEqual({ error: "bad-request", message: expect.stringContaining("not valid JSON") });
  });

  it("answers 422 naming the parameter for values the kernel could not compile, and records no run", async () => {
    const webhook = await deploy(TYPED);
    const lists = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
    const nines = "9".repeat(4301);
    const answers = [
      [
        await call(webhook.url, postJson({ deep: JSON.parse(lists(100)) })),
        '"body.deep" is nested more than 100',
      ],
      [await call(`${webhook.url}?days=${nines}`), '"days" is an int of more than 4300 digits'],
      [await call(`${webhook.url}?cities=${lists(101)}`), '"cities" is nested more than 100'],
      [
        await call(webhook.url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: `{"n": ${nines}}`,
        }),
        '"body.n" is an int of more than 4300 digits',
      ],
      [
        await call(webhook.url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: `{"deep": ${lists(8000)}}`,
        }),
        '"body.deep" is nested more than 100',
      ],
    ] as const;
    for (const [answer, message] of answers) {
      expect(answer.res.status).toBe(422);
      expect(answer.json()).toEqual({
        error: "parameter-invalid",
        message: expect.stringContaining(message),
      });
    }
    expect(await server.deps.store.listRuns({ webhookId: webhook.id })).toEqual([]);
  });

  it("runs values at the limits: 100 levels deep, ints of 4300 digits", async () => {
    const { url } = await deploy([
      { source: "days = 3", tags: ["parameters"] },
      "import naas\n" +
        "depth = lambda v: 1 + max(map(depth, v), default=0) if isinstance(v, list) else 0\n" +
        "naas.webhook.respond_json({'digits': len(str(days)), 'depth': depth(body['deep'])})",
    ]);
    const deep = "[".repeat(99) + "]".repeat(99);
    const { res, json } = await call(`${url}?days=${"9".repeat(4300)}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"deep": ${deep}}`,
    });
    expect(res.status).toBe(200);
    expect(json()).toEqual({ digits: 4300, depth: 99 });
  });

  it("answers 400 for bodies and query strings that are not UTF-8, and records no run", async () => {
    const webhook = await deploy(TYPED);
    const bad = Buffer.from([0xc3, 0x28]);
    const body = (type: string, before: string, after = "") => ({
      method: "POST",
      headers: { "content-type": type },
      body: Buffer.concat([Buffer.from(before), bad, Buffer.from(after)]),
    });
    const answers = [
      await call(webhook.url, body("application/json", '{"name": "', '"}')),
      await call(webhook.url, body("application/x-www-form-urlencoded", "name=")),
      await call(webhook.url, body("text/plain", "hello ")),
    ];
    for (const answer of answers) {
      expect(answer.res.status).toBe(400);
      expect(answer.json()).toEqual({
        error: "bad-request",
        message: expect.stringMatching(/^the request body is not valid UTF-8/),
      });
    }
    for (const query of ["name=%FF", "%C3%28=1"]) {
      const answer = await call(`${webhook.url}?${query}`);
      expect(answer.res.status).toBe(400);
      expect(answer.json().message).toMatch(/^the query string is not valid UTF-8 once percent-decoded/);
    }
    expect(await server.deps.store.listRuns({ webhookId: webhook.id })).toEqual([]);
  });

  it("answers 405 JSON for other methods", async () => {
    const { url } = await deploy(["x = 1"]);
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      const { res, json } = await call(url, {
        method,
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, POST");
      expect(json()).toMatchObject({ error: "method-not-allowed" });
    }
    expect((await fetch(url, { method: "HEAD" })).status).toBe(405);
  });

  it("answers 413 JSON for JSON, form and multipart bodies over the limit, and records no run", async () => {
    const webhook = await deploy(["x = 1"]);
    const big = "x".repeat(LIMIT + 10);
    const json = await call(webhook.url, postJson({ big }));
    const form = await call(webhook.url, { method: "POST", body: new URLSearchParams({ big }) });
    const data = new FormData();
    data.append("file", new Blob([Buffer.alloc(LIMIT + 10)]), "big.bin");
    const multipart = await call(webhook.url, { method: "POST", body: data });
    for (const answer of [json, form, multipart]) {
      expect(answer.res.status).toBe(413);
      expect(answer.json()).toMatchObject({ error: "body-too-large" });
    }
    expect(await server.deps.store.listRuns({ webhookId: webhook.id })).toEqual([]);
  });

  it("answers 413 for a chunked multipart body whose parts add up over the limit, and keeps none of its files", async () => {
    const webhook = await deploy(["x = 1"]);
    const boundary = "nbhookboundary";
    const part = (name: string, size: number) =>
      Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.bin"\r\n\r\n`,
        ),
        Buffer.alloc(size, 7),
        Buffer.from("\r\n"),
      ]);
    const payload = Buffer.concat([
      part("a", LIMIT / 2 + 100),
      part("b", LIMIT / 2 + 100),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(payload);
        controller.close();
      },
    });
    const { res, json } = await call(webhook.url, {
      method: "POST",
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(json()).toMatchObject({ error: "body-too-large" });
    const { readdir } = await import("node:fs/promises");
    const uploads = await readdir(path.join(home, "webhooks", webhook.id, "uploads")).catch(() => []);
    expect(uploads).toEqual([]);
  });
});
