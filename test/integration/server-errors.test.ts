/**
 * Every error answer of a real server over loopback has one shape, `{"error", "message", …}` as
 * JSON: unknown routes, 401, 405, 413, 400, 415, 422, 503, and the 500/504 of failed runs, each
 * with the headers it needs (Allow, Retry-After, WWW-Authenticate).
 */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { until } from "../support/load-server.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();

let server: RunningServer;
beforeAll(async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "errors-home-"));
  // One run at once and no queue: a second call while one runs is refused at once (503).
  const config = resolveServerConfig(
    { host: "127.0.0.1", port: 0, home, poolSize: 1, maxRuns: 1, maxQueue: 0, maxBodyBytes: 1024 },
    {},
  );
  server = await startServer(config);
});
afterAll(async () => server?.close());

let deployed = 0;
async function deploy(cells: CellSpec[], timeoutMs = 60_000): Promise<string> {
  const store = server.deps.store;
  const webhook = await store.upsertWebhook({
    path: `/work/e${++deployed}/nb.ipynb`,
    params: {},
    debug: false,
    timeoutMs,
  });
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cells))));
  return `${server.url}/notebook/${webhook.token}`;
}

interface ErrorAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** Fetches, and checks the answer is an nbhook error: JSON with string `error` and `message`. */
async function error(url: string, init?: RequestInit): Promise<ErrorAnswer> {
  const res = await fetch(url, init);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ error: expect.any(String), message: expect.any(String) });
  expect(String(body.message).length).toBeGreaterThan(10);
  return { status: res.status, headers: res.headers, body };
}

describe("error answers", () => {
  it("answers an unknown route 404 not-found in nbhook's shape (/ is the dashboard)", async () => {
    for (const route of ["/favicon.ico", "/nope", "/api/nope?secret=1", "/assets/nope.js"]) {
      const answer = await error(server.url + route, {
        headers: { authorization: `Bearer ${server.deps.apiToken}` },
      });
      expect([answer.status, answer.body.error]).toEqual([404, "not-found"]);
      expect(Object.keys(answer.body).sort()).toEqual(["error", "message"]);
      expect(answer.body.message).not.toContain("secret");
    }
  });

  it("answers /api without the token 401 unauthorized with WWW-Authenticate", async () => {
    const answer = await error(`${server.url}/api/webhooks`);
    expect([answer.status, answer.body.error]).toEqual([401, "unauthorized"]);
    expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="nbhook"');
  });

  it("answers another method on a webhook URL 405 method-not-allowed with Allow", async () => {
    const url = await deploy(["1"]);
    const answer = await error(url, { method: "PUT" });
    expect([answer.status, answer.body.error]).toEqual([405, "method-not-allowed"]);
    expect(answer.headers.get("allow")).toBe("GET, POST");
  });

  it("answers 413 body-too-large, 400 bad-request for malformed JSON, 415 for a type /api does not read", async () => {
    const url = await deploy(["1"]);
    const json = { "content-type": "application/json" };
    const big = await error(url, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ x: "y".repeat(4096) }),
    });
    expect([big.status, big.body.error]).toEqual([413, "body-too-large"]);
    const malformed = await error(url, { method: "POST", headers: json, body: "{not json" });
    expect([malformed.status, malformed.body.error]).toEqual([400, "bad-request"]);
    const xml = await error(`${server.url}/api/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/xml", authorization: `Bearer ${server.deps.apiToken}` },
      body: "<nb/>",
    });
    expect([xml.status, xml.body.error]).toEqual([415, "unsupported-media-type"]);
  });

  it("answers a malformed multipart body 400 bad-request, not 500", async () => {
    const url = await deploy(["1"]);
    const truncated = await error(url, {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=XYZ" },
      body: '--XYZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue',
    });
    expect([truncated.status, truncated.body.error]).toEqual([400, "bad-request"]);
    const noBoundary = await error(url, {
      method: "POST",
      headers: { "content-type": "multipart/form-data" },
      body: "--XYZ\r\n\r\n",
    });
    expect([noBoundary.status, noBoundary.body.error]).toEqual([400, "bad-request"]);
  });

  it("answers 400 usage for a wrong API field and 422 for a parameter that cannot be converted", async () => {
    const bad = await error(`${server.url}/api/runs?limit=0`, {
      headers: { authorization: `Bearer ${server.deps.apiToken}` },
    });
    expect([bad.status, bad.body.error]).toEqual([400, "usage"]);
    const url = await deploy([{ source: "n = 1", tags: ["parameters"] }, "n"]);
    const invalid = await error(`${url}?n=abc`);
    expect([invalid.status, invalid.body.error]).toEqual([422, "parameter-invalid"]);
  });

  it("answers a failed run 500 run-failed and a timed-out one 504, with the run's fields", async () => {
    const failing = await error(await deploy(["x = 1", "raise ValueError('bad value')"]));
    expect(failing.status).toBe(500);
    expect(failing.body).toMatchObject({
      error: "run-failed",
      message: "the run failed in cell 3 of the executed notebook: ValueError: bad value",
      status: "error",
      ename: "ValueError",
      evalue: "bad value",
      id: expect.any(String),
    });
    expect((failing.body.traceback as string[]).join("\n")).toContain("ValueError");
    const slow = await error(await deploy(["import time; time.sleep(30)"], 1500));
    expect(slow.status).toBe(504);
    expect(slow.body).toMatchObject({ error: "timeout", status: "timeout" });
    expect(slow.body.message).toMatch(/^the run timed out in cell 2 of the executed notebook/);
  });

  it("answers a call beyond the run limit and the queue 503 busy with Retry-After", async () => {
    const sleeper = await deploy(["import time; time.sleep(2)"]);
    const first = fetch(sleeper);
    await until(() => server.deps.calls.stats().running === 1);
    const busy = await error(await deploy(["1"]));
    expect([busy.status, busy.body.error]).toEqual([503, "busy"]);
    expect(Number(busy.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await first).status).toBe(200);
  });
});
