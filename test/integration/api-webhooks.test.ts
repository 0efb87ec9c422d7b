/**
 * The management API over real HTTP on loopback, through the TypeScript SDK (every management
 * call) and raw fetch (statuses, headers, validation messages). No kernel: nothing is triggered.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { NbhookApiError, NbhookClient } from "../../src/client/index.js";
import { makeNotebook } from "../support/notebooks.js";
import { removeHome, startTestServer, type TestServer } from "../support/manage-server.js";

let server: TestServer;
let client: NbhookClient;
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-api-"));

/** Writes a small Python notebook into the work folder; `n` makes versions differ. */
function notebookFile(name: string, n = 0): string {
  const file = path.join(work, name);
  writeFileSync(
    file,
    JSON.stringify(makeNotebook([{ source: `n = ${n}`, tags: ["parameters"] }, "print(n)"])),
  );
  return file;
}

async function api(method: string, route: string, body?: unknown, token: string | null = server.token) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(server.url + route, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: json as { error?: string; message?: string } & Record<string, unknown>,
  };
}

const notebookJson = (n = 0) => makeNotebook([`x = ${n}`]);

async function expectApiError(promise: Promise<unknown>, status: number, message: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NbhookApiError);
  expect((err as NbhookApiError).status).toBe(status);
  expect((err as NbhookApiError).message).toMatch(message);
}

beforeAll(async () => {
  server = await startTestServer();
  client = new NbhookClient({ url: server.url, token: server.token });
});
afterAll(async () => {
  await server.close();
  removeHome(server);
  rmSync(work, { recursive: true, force: true });
});

describe("authentication", () => {
  it("refuses every /api call without the bearer token with 401 saying where the token is", async () => {
    for (const [method, route] of [
      ["GET", "/api/webhooks"],
      ["POST", "/api/webhooks"],
      ["GET", "/api/runs"],
      ["DELETE", "/api/webhooks/x"],
    ] as const) {
      const reply = await api(method, route, undefined, null);
      expect(reply.status).toBe(401);
      expect(reply.json.message).toMatch(/api-token/);
    }
    expect((await api("GET", "/api/webhooks", undefined, "wrong")).status).toBe(401);
    // The router decodes percent-escapes: an encoded path reaches the same routes, and needs the token too.
    expect((await api("GET", "/%61pi/webhooks", undefined, null)).status).toBe(401);
    expect((await api("GET", "/%61pi/runs/x", undefined, null)).status).toBe(401);
    await expectApiError(
      new NbhookClient({ url: server.url, token: "wrong" }).currents(),
      401,
      /NBHOOK_TOKEN/,
    );
  });
});

describe("add", () => {
  it("creates a webhook (201), and a re-add of the same path keeps its URL and adds a live version (200)", async () => {
    const file = notebookFile("report.ipynb", 1);
    const first = await client.add(file, {
      params: { inline: true, notif_up: "ops@example.com, dev@example.com", city: "Paris" },
    });
    expect(first.created).toBe(true);
    expect(first.webhook.path).toBe(file);
    expect(first.webhook.name).toBe(file); // named by its path by default
    expect(first.webhook.file_name).toBe("report.ipynb");
    expect(first.webhook.source_host).toBe(os.hostname());
    expect(first.previous).toBeUndefined();
    expect(first.webhook.url).toMatch(new RegExp(`^${server.url}/notebook/[A-Za-z0-9_-]{43}$`));
    expect(first.webhook.params).toEqual({
      inline: true,
      notif_up: ["ops@example.com", "dev@example.com"],
      city: "Paris",
    });
    expect(first.webhook.timeout_ms).toBe(300_000);
    expect(first.version.live).toBe(true);

    notebookFile("report.ipynb", 2);
    const second = await client.add(file, { debug: true, timeoutS: 12.5 });
    expect(second.created).toBe(false);
    expect(second.webhook.url).toBe(first.webhook.url);
    expect(second.webhook.params).toEqual({});
    expect(second.webhook.debug).toBe(true);
    expect(second.webhook.timeout_ms).toBe(12_500);
    expect(second.version.histo > first.version.histo).toBe(true);
    expect(await client.find(file)).toBe(first.webhook.url);

    const versions = await client.list(file);
    expect(versions.map((v) => [v.histo, v.live])).toEqual([
      [second.version.histo, true],
      [first.version.histo, false],
    ]);
    const live = await client.get(file);
    expect(live.histo).toBe(second.version.histo);
    expect(live.text).toBe(readFileSync(file, "utf8"));
    expect((await client.get(file, { histo: first.version.histo })).text).toContain("n = 1");
  });

  it("answers 201 and 200 over raw HTTP and accepts the notebook as a JSON object", async () => {
    const body = { path: path.join(work, "raw.ipynb"), notebook: notebookJson(1) };
    const created = await api("POST", "/api/webhooks", body);
    expect(created.status).toBe(201);
    const again = await api("POST", "/api/webhooks", body);
    expect(again.status).toBe(200);
    expect((again.json.webhook as { url: string }).url).toBe((created.json.webhook as { url: string }).url);
  });

  it("refuses malformed settings with 400 naming the field and what it should be", async () => {
    const p = path.join(work, "bad.ipynb");
    const cases: [unknown, RegExp][] = [
      [{ notebook: notebookJson() }, /"path"/],
      [{ path: "relative/nb.ipynb", notebook: notebookJson() }, /"path": must be an absolute path/],
      [{ path: p }, /"notebook": must be the notebook/],
      [
        { path: p, notebook: notebookJson(), params: { next_url: "ftp://example.com/x" } },
        /"params.next_url": must be an absolute http or https URL/,
      ],
      [{ path: p, notebook: notebookJson(), params: { next_url: "/relative" } }, /"params.next_url"/],
      [
        { path: p, notebook: notebookJson(), params: { notif_down: ["ops@example.com", "nobody"] } },
        /"params.notif_down.1": "nobody" is not an email address/,
      ],
      [
        { path: p, notebook: notebookJson(), params: { notif_up: 3 } },
        /"params.notif_up": must be an email address or a list/,
      ],
      [
        { path: p, notebook: notebookJson(), params: { inline: "yes" } },
        /"params.inline": must be true or false/,
      ],
      [
        { path: p, notebook: notebookJson(), timeout_s: 0 },
        /"timeout_s": must be a positive number of seconds/,
      ],
      [
        { path: p, notebook: notebookJson(), files: [{ path: "a.csv", data: "not base64!" }] },
        /"files.0.data": must be the file's bytes in base64/,
      ],
      [
        { path: p, notebook: notebookJson(), files: [{ path: "../escape.csv", data: "" }] },
        /must be relative to the notebook's folder/,
      ],
      [{ path: p, notebook: notebookJson(), files: [{ path: "/etc/x", data: "" }] }, /must be relative/],
    ];
    for (const [body, message] of cases) {
      const reply = await api("POST", "/api/webhooks", body);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.json.message).toMatch(message);
    }
    const malformed = await fetch(server.url + "/api/webhooks", {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      body: '{"path": "/x.ipynb", ',
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: string }).error).toBe("bad-request");
    expect(await client.lookup(p)).toBeUndefined();
  });

  it("refuses an invalid notebook with 422 naming the cell and field", async () => {
    const nb = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [
        { cell_type: "code", source: "1", outputs: [] },
        { cell_type: "code", source: 5 },
      ],
    };
    const reply = await api("POST", "/api/webhooks", { path: path.join(work, "broken.ipynb"), notebook: nb });
    expect(reply.status).toBe(422);
    expect(reply.json.error).toBe("notebook-invalid");
    expect(reply.json.message).toMatch(/code cell 2, field "source"/);
    const old = await api("POST", "/api/webhooks", {
      path: path.join(work, "old.ipynb"),
      notebook: '{"nbformat": 3, "cells": []}',
    });
    expect(old.status).toBe(422);
    expect(old.json.message).toMatch(/nbformat 4/);
  });

  it("refuses an add-time parameter the notebook's language cannot name, with 422", async () => {
    const file = notebookFile("names.ipynb");
    await expectApiError(
      client.add(file, { params: { "my-city": "Paris" } }),
      422,
      /"my-city" cannot be set in a python notebook/,
    );
    await expectApiError(client.add(file, { params: { class: 1 } }), 422, /reserved word/);
  });

  it("writes dependency files beside the notebook, keeping paths relative to its folder", async () => {
    const file = notebookFile("deps.ipynb");
    writeFileSync(path.join(work, "cities.csv"), "city\nParis\n");
    const outsideDir = mkdtempSync(path.join(os.tmpdir(), "nbhook-dep-"));
    onTestFinished(() => rmSync(outsideDir, { recursive: true, force: true }));
    const outside = path.join(outsideDir, "lookup.json");
    writeFileSync(outside, "{}");
    const result = await client.add(file, {
      files: [
        path.join(work, "cities.csv"),
        outside,
        { path: "data/bytes.bin", data: Buffer.from([0, 1, 2, 255]) },
      ],
    });
    expect(result.files).toEqual(["cities.csv", "lookup.json", "data/bytes.bin"]);
    const filesDir = await server.deps.store.filesDir(result.webhook.id);
    expect(readFileSync(path.join(filesDir, "cities.csv"), "utf8")).toBe("city\nParis\n");
    expect(readFileSync(path.join(filesDir, "lookup.json"), "utf8")).toBe("{}");
    expect([...readFileSync(path.join(filesDir, "data/bytes.bin"))]).toEqual([0, 1, 2, 255]);
  });

  it("accepts a body larger than the trigger limit (notebook plus dependencies)", async () => {
    const big = Buffer.alloc(server.deps.config.maxBodyBytes + 1024, 7);
    const result = await client.add(notebookFile("big.ipynb"), { files: [{ path: "big.bin", data: big }] });
    expect(result.files).toEqual(["big.bin"]);
  });
});

describe("lookups", () => {
  it("answers 404 JSON for unknown ids, paths, versions and outputs", async () => {
    expect((await api("GET", "/api/webhooks/nope")).status).toBe(404);
    expect((await api("GET", "/api/webhooks/nope")).json.message).toMatch(/nbhook currents/);
    expect((await api("GET", "/api/webhooks?path=/no/such.ipynb")).json).toEqual({ webhooks: [] });
    expect((await api("GET", "/api/webhooks?path=relative.ipynb")).status).toBe(400);
    const missing = path.join(work, "missing.ipynb");
    await expectApiError(
      client.list(missing),
      404,
      new RegExp(`no webhook for ${missing}: deploy it with \`nbhook add ${missing}\``),
    );
    expect(await client.find(missing)).toBeUndefined();

    const { webhook } = await client.add(notebookFile("lookups.ipynb"));
    const version404 = await api("GET", `/api/webhooks/${webhook.id}/versions/20000101000000000000`);
    expect(version404.status).toBe(404);
    expect(version404.json.message).toMatch(/nbhook list/);
    expect((await api("GET", `/api/webhooks/${webhook.id}/versions/12`)).status).toBe(400);
    expect((await api("GET", `/api/webhooks/${webhook.id}/outputs/latest`)).status).toBe(404);
  });

  it("lists current webhooks sorted by path, and deleted ones only when asked", async () => {
    const a = await client.add(notebookFile("currents-a.ipynb"));
    const b = await client.add(notebookFile("currents-b.ipynb"));
    await client.delete(b.webhook.path);
    const current = await client.currents();
    const paths = current.map((w) => w.path);
    expect(paths).toContain(a.webhook.path);
    expect(paths).not.toContain(b.webhook.path);
    expect([...paths].sort()).toEqual(paths);
    const all = await client.currents({ includeDeleted: true });
    expect(all.find((w) => w.id === b.webhook.id)?.deleted_at).toBeTruthy();
    expect((await client.webhookById(b.webhook.id)).deleted_at).toBeTruthy();
  });
});
