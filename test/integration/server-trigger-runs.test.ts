/**
 * How webhook runs end, over real HTTP with a real ipykernel: failures (500 JSON with the
 * traceback), timeouts (504), a dead kernel, cells after a response, what the kernel is told about
 * its run, the run record and output notebook of every run, debug logging, and a server restart.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseNotebook } from "../../src/notebook/read.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig, type ServerConfig } from "../../src/server/config.js";
import type { NewWebhook } from "../../src/store/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { captureLog } from "../support/log-capture.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();

const { lines: logLines, stream: logStream } = captureLog();
const start = (config: ServerConfig) => startServer(config, { logger: { level: "info", stream: logStream } });

let server: RunningServer;
let config: ServerConfig;
beforeAll(async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "trigger-runs-home-"));
  config = resolveServerConfig({ host: "127.0.0.1", port: 0, home }, {});
  server = await start(config);
});
afterAll(async () => server?.close());

let deployed = 0;
async function deploy(cells: CellSpec[], settings: Partial<NewWebhook> = {}) {
  const store = server.deps.store;
  const webhook = await store.upsertWebhook({
    path: `/work/r${++deployed}/report.ipynb`,
    params: {},
    debug: false,
    timeoutMs: 60_000,
    ...settings,
  });
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cells))));
  return { ...webhook, url: `${server.url}/notebook/${webhook.token}` };
}

async function call(url: string, init?: RequestInit) {
  const res = await fetch(url, init);
  const text = await res.text();
  return {
    res,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
    runId: res.headers.get("x-nbhook-run-id")!,
  };
}

async function savedOutput(webhookId: string, runId: string) {
  const run = (await server.deps.store.getRun(runId))!;
  const bytes = await server.deps.store.readOutput(webhookId, run.outputHisto);
  return { run, notebook: parseNotebook(bytes!.toString("utf8")) };
}

describe("failed runs", () => {
  it("answers 500 JSON with ename, evalue and the ANSI-free traceback, and records the run with its output", async () => {
    const webhook = await deploy([
      "x = 1",
      "def check(v):\n    raise ValueError(f'bad value {v}')\ncheck(x)",
      "print('never')",
    ]);
    const { res, json, runId } = await call(webhook.url);
    expect(res.status).toBe(500);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const body = json() as { id: string; status: string; ename: string; evalue: string; traceback: string[] };
    expect(body).toMatchObject({ id: runId, status: "error", ename: "ValueError", evalue: "bad value 1" });
    const traceback = body.traceback.join("\n");
    expect(traceback).toContain("ValueError: bad value 1");
    expect(traceback).toContain("check(x)");
    expect(traceback).not.toContain("\u001b[");
    const { run, notebook } = await savedOutput(webhook.id, runId);
    expect(run).toMatchObject({
      status: "error",
      httpStatus: 500,
      error: { ename: "ValueError", evalue: "bad value 1" },
    });
    expect(run.durationMs).toBeGreaterThan(0);
    expect(JSON.stringify(notebook)).toContain("bad value 1");
  });

  it("answers 504 with status timeout when the run exceeds the webhook's time limit, and keeps its output", async () => {
    const webhook = await deploy(["print('started')", "while True:\n    pass"], { timeoutMs: 1500 });
    const started = Date.now();
    const { res, json, runId } = await call(webhook.url);
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(json()).toMatchObject({
      id: runId,
      status: "timeout",
      ename: "TimeoutError",
      evalue: expect.stringContaining("timed out"),
    });
    const { run, notebook } = await savedOutput(webhook.id, runId);
    expect(run).toMatchObject({ status: "timeout", httpStatus: 504 });
    expect(notebook.cells.length).toBeGreaterThanOrEqual(2);
  });

  it("answers 500 with status died when the kernel process exits", async () => {
    const webhook = await deploy(["import os\nos._exit(1)"]);
    const { res, json, runId } = await call(webhook.url);
    expect(res.status).toBe(500);
    expect(json()).toMatchObject({ id: runId, status: "died" });
    expect((await server.deps.store.getRun(runId))!.status).toBe("died");
  });

  it("drops the response when a later cell fails, as Naas did", async () => {
    const webhook = await deploy([
      "import naas\nnaas.webhook.respond_text('early')",
      "raise KeyError('late')",
    ]);
    const { res, json } = await call(webhook.url);
    expect(res.status).toBe(500);
    expect(json()).toMatchObject({ status: "error", ename: "KeyError" });
  });
});

describe("successful runs", () => {
  it("still runs the cells after a respond_* call", async () => {
    const webhook = await deploy([
      "import naas\nnaas.webhook.respond_text('answered')",
      "open('after.txt', 'w').write('ran after')",
    ]);
    const { res, text } = await call(webhook.url);
    expect(res.status).toBe(200);
    expect(text).toBe("answered");
    const files = await server.deps.store.filesDir(webhook.id);
    expect(readFileSync(path.join(files, "after.txt"), "utf8")).toBe("ran after");
  });

  it("tells the kernel about its run: NBHOOK_RUN, the webhook URL for naas.webhook.add(), cwd = the files folder", async () => {
    const webhook = await deploy([
      "import json, os, naas\n" +
        "url = naas.webhook.add()\n" +
        "naas.webhook.respond_json({'url': url, 'find': naas.webhook.find(), 'run': json.loads(os.environ['NBHOOK_RUN']), " +
        "'env_url': os.environ['NBHOOK_WEBHOOK_URL'], 'cwd': os.getcwd()})",
    ]);
    const { json } = await call(webhook.url);
    expect(json()).toEqual({
      url: webhook.url,
      find: webhook.url,
      env_url: webhook.url,
      // Nothing per call (no run id): a reused kernel keeps its environment from call to call.
      run: { path: webhook.path, url: webhook.url, webhook_id: webhook.id },
      cwd: await server.deps.store.filesDir(webhook.id),
    });
  });

  it("records the run (version, redacted parameters, status, duration, HTTP status) and keeps its output", async () => {
    const webhook = await deploy([{ source: "n = 1", tags: ["parameters"] }, "print(n * 2)"]);
    const { res, runId } = await call(`${webhook.url}?n=21`);
    expect(res.status).toBe(200);
    const { run, notebook } = await savedOutput(webhook.id, runId);
    expect(run).toMatchObject({
      webhookId: webhook.id,
      status: "ok",
      httpStatus: 200,
      error: null,
      parameters: { n: 21, params: { n: "21" } },
    });
    expect(run.versionHisto).toMatch(/^\d{20}$/);
    expect(JSON.stringify(notebook.cells)).toContain("42");
    const listed = await server.deps.store.listOutputs(webhook.id);
    expect(listed.map((o) => o.runId)).toContain(runId);
  });
});

describe("debug", () => {
  it("logs the redacted parameters, each cell's progress and timing, and the traceback", async () => {
    const webhook = await deploy(
      [{ source: "token = ''", tags: ["parameters"] }, "x = 1", "raise RuntimeError('debug me')"],
      { debug: true },
    );
    const { runId } = await call(`${webhook.url}?token=TOPSECRET&x=1`);
    const mine = logLines.filter((line) => line.run === runId);
    const messages = mine.map((line) => line.msg);
    expect(messages).toContain("debug: run parameters");
    expect(messages).toContain("debug: kernel-ready");
    // The parameters cell, the injected cell, `x = 1` and the failing cell.
    expect(messages.filter((m) => m === "debug: cell-done").length).toBe(4);
    expect(mine.find((line) => line.msg === "debug: cell-done")).toMatchObject({
      ms: expect.any(Number),
      status: "ok",
    });
    expect(mine.find((line) => line.msg === "debug: traceback")?.traceback).toContain(
      "RuntimeError: debug me",
    );
    // app.ts's access-log line ("request") prints the query string as sent: not checked here.
    const runLines = JSON.stringify(logLines.filter((line) => line.msg !== "request"));
    expect(runLines).not.toContain("TOPSECRET");
    expect(JSON.stringify(logLines)).not.toContain(webhook.token);
  });

  it("logs only one line per run when the webhook is not in debug mode", async () => {
    const webhook = await deploy(["x = 1"]);
    const { runId } = await call(webhook.url);
    expect(logLines.filter((line) => line.run === runId).map((line) => line.msg)).toEqual([
      "webhook run finished",
    ]);
  });
});

describe("restart", () => {
  it("keeps answering at the same URL, with its versions and outputs, after the server restarts", async () => {
    const webhook = await deploy(["import naas\nnaas.webhook.respond_text('still here')"]);
    const first = await call(webhook.url);
    expect(first.text).toBe("still here");
    const port = Number(new URL(server.url).port);
    await server.close();
    server = await start({ ...config, port });
    expect(server.url).toBe(new URL(webhook.url).origin);
    const second = await call(webhook.url);
    expect(second.res.status).toBe(200);
    expect(second.text).toBe("still here");
    const outputs = await server.deps.store.listOutputs(webhook.id);
    expect(outputs.map((o) => o.runId).sort()).toEqual([first.runId, second.runId].sort());
    expect(existsSync(path.join(config.home, "webhooks", webhook.id, "versions"))).toBe(true);
  });
});
