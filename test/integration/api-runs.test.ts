/**
 * The run history API over real HTTP through the SDK. Runs are recorded through the store, as the
 * trigger route records them, so no kernel is needed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NbhookApiError, NbhookClient } from "../../src/client/index.js";
import type { Run } from "../../src/store/index.js";
import { makeNotebook } from "../support/notebooks.js";
import { removeHome, startTestServer, type TestServer } from "../support/manage-server.js";

let server: TestServer;
let client: NbhookClient;
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-runs-"));

async function deploy(name: string) {
  const file = path.join(work, name);
  writeFileSync(file, JSON.stringify(makeNotebook(["1 + 1"])));
  return (await client.add(file)).webhook;
}

/** Records a finished run (with an output notebook unless `output` is false). */
async function recordRun(
  webhookId: string,
  histo: string,
  result: { status: "ok" | "error"; ms: number; output?: boolean; parameters?: Record<string, unknown> },
): Promise<Run> {
  const { store } = server.deps;
  const run = await store.createRun({ webhookId, versionHisto: histo, parameters: result.parameters ?? {} });
  if (result.output !== false)
    await store.writeOutput(
      webhookId,
      run.outputHisto,
      JSON.stringify(makeNotebook([`# run ${run.id}`])),
      run.id,
    );
  const error =
    result.status === "error"
      ? {
          ename: "ValueError",
          evalue: "bad city",
          traceback: ["Traceback", "ValueError: bad city"],
          cellIndex: 1,
        }
      : null;
  // started_at has millisecond resolution: keep runs apart so "newest first" is well defined.
  await new Promise((resolve) => setTimeout(resolve, 5));
  return store.finishRun(run.id, {
    status: result.status,
    durationMs: result.ms,
    error,
    httpStatus: result.status === "ok" ? 200 : 500,
  });
}

async function rejection(promise: Promise<unknown>): Promise<NbhookApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NbhookApiError);
  return err as NbhookApiError;
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

describe("run history", () => {
  it("lists a notebook's runs newest first, by path or webhook id, with a limit", async () => {
    const a = await deploy("a.ipynb");
    const b = await deploy("b.ipynb");
    const first = await recordRun(a.id, a.live_histo!, {
      status: "ok",
      ms: 120,
      parameters: { city: "Paris" },
    });
    const second = await recordRun(a.id, a.live_histo!, { status: "error", ms: 80 });
    const other = await recordRun(b.id, b.live_histo!, { status: "ok", ms: 5 });

    const runs = await client.runs(a.path);
    expect(runs.map((r) => r.id)).toEqual([second.id, first.id]);
    expect(runs[1]).toMatchObject({
      webhook_id: a.id,
      path: a.path,
      version_histo: a.live_histo,
      status: "ok",
      duration_ms: 120,
      http_status: 200,
      error: null,
      parameters: { city: "Paris" },
      url: `${server.url}/api/runs/${first.id}`,
      output_url: `${server.url}/api/runs/${first.id}/output`,
    });
    expect(runs[0]!.error).toEqual({
      ename: "ValueError",
      evalue: "bad city",
      traceback: ["Traceback", "ValueError: bad city"],
      cell_index: 1,
    });

    expect((await client.runs(undefined, { webhookId: a.id })).map((r) => r.id)).toEqual([
      second.id,
      first.id,
    ]);
    expect((await client.runs(a.path, { limit: 1 })).map((r) => r.id)).toEqual([second.id]);
    const all = await client.runs();
    expect(all.map((r) => r.id).slice(0, 3)).toEqual([other.id, second.id, first.id]);
    expect(all[0]!.path).toBe(b.path);

    // The webhook shows its last run.
    expect((await client.webhook(a.path)).last_run_status).toBe("error");
  });

  it("shows one run and its executed notebook", async () => {
    const w = await deploy("one.ipynb");
    const run = await recordRun(w.id, w.live_histo!, { status: "ok", ms: 42 });
    expect(await client.run(run.id)).toMatchObject({
      id: run.id,
      status: "ok",
      duration_ms: 42,
      path: w.path,
    });
    const output = await client.runOutput(run.id);
    expect(output.histo).toBe(run.outputHisto);
    expect(output.text).toContain(`# run ${run.id}`);

    const response = await fetch(`${server.url}/api/runs/${run.id}/output`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(response.headers.get("content-type")).toMatch(/^application\/x-ipynb\+json/);
  });

  it("answers 404 for unknown runs, paths and webhooks, and for a run without an output", async () => {
    expect((await rejection(client.run("no-such-run"))).message).toMatch(/no run with id no-such-run/);
    expect((await rejection(client.runOutput("no-such-run"))).status).toBe(404);
    const missing = path.join(work, "missing.ipynb");
    expect((await rejection(client.runs(missing))).message).toMatch(
      `no webhook for ${missing}: deploy it with`,
    );
    expect((await rejection(client.runs(undefined, { webhookId: "nope" }))).status).toBe(404);

    const w = await deploy("running.ipynb");
    const running = await server.deps.store.createRun({
      webhookId: w.id,
      versionHisto: w.live_histo!,
      parameters: {},
    });
    const noOutput = await rejection(client.runOutput(running.id));
    expect(noOutput.status).toBe(404);
    expect(noOutput.message).toMatch(/still running/);
    expect((await client.run(running.id)).status).toBe("running");
  });

  it("refuses bad queries with 400 naming the parameter", async () => {
    const get = async (query: string) => {
      const response = await fetch(`${server.url}/api/runs?${query}`, {
        headers: { authorization: `Bearer ${server.token}` },
      });
      return { status: response.status, body: (await response.json()) as { message: string } };
    };
    for (const [query, message] of [
      ["limit=0", /"limit": must be at least 1/],
      ["limit=many", /"limit"/],
      ["limit=5000", /"limit": must be at most 1000/],
      ["path=relative.ipynb", /"path": must be an absolute notebook path/],
      ["path=/x.ipynb&webhook=abc", /either path or webhook/],
    ] as const) {
      const reply = await get(query);
      expect(reply.status, query).toBe(400);
      expect(reply.body.message).toMatch(message);
    }
  });
});
