/**
 * Asynchronous webhook calls over real HTTP with a real ipykernel: `Prefer: respond-async` (202
 * with the run to poll), `Prefer: wait=N` (the answer within N seconds, else 202), polling
 * `GET /api/runs/{id}` and `/response` with the webhook's own token, and the kept answer byte for
 * byte the same as a synchronous call's (headers, attachment name, redirect, error JSON).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.js";
import type { CellSpec } from "../support/notebooks.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { call, deploy, sleeping, startLoadServer, type Answer } from "../support/load-server.js";

guardKernelLeaks();

let server: RunningServer;
beforeAll(async () => {
  server = await startLoadServer({ maxRuns: 2, maxQueue: 4 });
});
afterAll(async () => server?.close());

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

interface Accepted {
  id: string;
  status: string;
  url: string;
  response_url: string;
}

/** Polls the run with `token` until it is over; returns its JSON. */
async function pollUntilDone(id: string, token: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 400; i++) {
    const answer = await call(`${server.url}/api/runs/${id}`, bearer(token));
    expect(answer.status).toBe(200);
    const run = answer.json();
    if (run.status !== "queued" && run.status !== "running") return run;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${id} did not finish`);
}

/** Headers that differ between two answers of the same notebook whatever it does. */
const PER_ANSWER = new Set([
  "date",
  "connection",
  "keep-alive",
  "x-nbhook-run-id",
  "server-timing",
  "x-request-id",
  // The trigger route's (its CORS answers vary by Origin); the kept answer is served by /api.
  "vary",
]);
const stableHeaders = (answer: Answer) =>
  Object.fromEntries([...answer.headers.entries()].filter(([name]) => !PER_ANSWER.has(name)));

/** Calls with respond-async, polls until done, and returns the kept answer. */
async function asyncCall(webhook: { url: string; token: string }) {
  const accepted = await call(webhook.url, { headers: { prefer: "respond-async" } });
  expect(accepted.status).toBe(202);
  const { id } = accepted.json<Accepted>();
  const run = await pollUntilDone(id, webhook.token);
  const kept = await call(`${server.url}/api/runs/${id}/response`, bearer(webhook.token));
  return { accepted, id, run, kept };
}

describe("Prefer: respond-async", () => {
  const csv: CellSpec[] = [
    "import time\ntime.sleep(1)",
    'import naas\nnaas.webhook.respond_csv("a,b\\n1,Zoë\\n", status=201, headers={"X-Kind": "csv"})',
  ];

  it("answers 202 with the run's URL at once, then keeps byte for byte the answer a synchronous call gets", async () => {
    const webhook = await deploy(server, csv);
    const started = Date.now();
    const accepted = await call(webhook.url, { headers: { prefer: "respond-async" } });
    expect(Date.now() - started).toBeLessThan(900); // not waiting for the 1 s cell
    expect(accepted.status).toBe(202);
    const body = accepted.json<Accepted>();
    const runUrl = `${server.url}/api/runs/${body.id}`;
    expect(body).toEqual({
      id: body.id,
      status: expect.stringMatching(/^(queued|running)$/),
      url: runUrl,
      response_url: `${runUrl}/response`,
    });
    expect(accepted.headers.get("location")).toBe(runUrl);
    expect(accepted.headers.get("preference-applied")).toBe("respond-async");
    expect(accepted.headers.get("x-nbhook-run-id")).toBe(body.id);

    const early = await call(`${runUrl}/response`, bearer(webhook.token));
    expect(early.status).toBe(409);
    expect(early.headers.get("retry-after")).toBe("1");
    expect(early.json()).toMatchObject({ error: "conflict", message: expect.stringContaining("still") });

    const run = await pollUntilDone(body.id, webhook.token);
    expect(run).toMatchObject({
      id: body.id,
      status: "ok",
      http_status: 201,
      response_url: `${runUrl}/response`,
    });
    const kept = await call(`${runUrl}/response`, bearer(webhook.token));
    const direct = await call(webhook.url);
    expect(direct.status).toBe(201);
    expect(kept.status).toBe(201);
    expect(kept.body.equals(direct.body)).toBe(true);
    expect(stableHeaders(kept)).toEqual(stableHeaders(direct));
    expect(kept.headers.get("content-disposition")).toBe('attachment; filename="report.csv"');
    expect(kept.headers.get("x-kind")).toBe("csv");
    expect(kept.headers.get("x-nbhook-run-id")).toBe(body.id);
  });

  it("keeps a next_url redirect as the 302 the call would have had", async () => {
    const webhook = await deploy(server, ["x = 1"], { params: { next_url: "https://example.com/thanks" } });
    const { kept, run } = await asyncCall(webhook);
    expect(run).toMatchObject({ status: "ok", http_status: 302 });
    expect(kept.status).toBe(302);
    expect(kept.headers.get("location")).toBe("https://example.com/thanks");
    expect(kept.body.length).toBe(0);
  });

  it("keeps a failed run's error JSON with its 500", async () => {
    const webhook = await deploy(server, ["raise ValueError('no luck')"]);
    const { kept, id } = await asyncCall(webhook);
    expect(kept.status).toBe(500);
    expect(kept.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(kept.json()).toMatchObject({ id, status: "error", ename: "ValueError", evalue: "no luck" });
  });
});

describe("Prefer: wait=N", () => {
  it("falls back to 202 when the run outlasts the wait, and the run goes on to the end", async () => {
    const webhook = await deploy(server, sleeping(3, "slow"));
    const started = Date.now();
    const answer = await call(webhook.url, { headers: { prefer: "wait=1" } });
    const waited = Date.now() - started;
    expect(answer.status).toBe(202);
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(2500);
    const { id, status } = answer.json<Accepted>();
    expect(status).toBe("running");
    expect(await pollUntilDone(id, webhook.token)).toMatchObject({ status: "ok", http_status: 200 });
    const kept = await call(`${server.url}/api/runs/${id}/response`, bearer(webhook.token));
    expect([kept.status, kept.text]).toEqual([200, "slow"]);
  });

  it("gives the ordinary answer when the run ends within the wait", async () => {
    const webhook = await deploy(server, ["import naas\nnaas.webhook.respond_json({'fast': True})"]);
    const answer = await call(webhook.url, { headers: { prefer: "respond-async, wait=10" } });
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({ fast: true });
    expect(answer.headers.get("preference-applied")).toBeNull();
    const id = answer.headers.get("x-nbhook-run-id")!;
    const kept = await call(`${server.url}/api/runs/${id}/response`, bearer(server.deps.apiToken));
    expect(kept.body.equals(answer.body)).toBe(true);
  });
});

describe("polling with the webhook's token", () => {
  it("opens the run and its answer to the run's own webhook token, and nothing else", async () => {
    const webhook = await deploy(server, ["import naas\nnaas.webhook.respond_text('mine')"]);
    const other = await deploy(server, ["x = 1"]);
    const { id } = await asyncCall(webhook);
    const run = `${server.url}/api/runs/${id}`;

    expect((await call(run, bearer(webhook.token))).status).toBe(200);
    expect((await call(run, bearer(server.deps.apiToken))).status).toBe(200);
    expect((await call(`${run}/response`, bearer(server.deps.apiToken))).text).toBe("mine");
    const refused = await call(`${run}/response`, bearer(other.token));
    expect(refused.status).toBe(401);
    expect(refused.json()).toMatchObject({ error: "unauthorized" });
    expect((await call(run)).status).toBe(401);
    expect((await call(`${run}/output`, bearer(webhook.token))).status).toBe(401);
    expect((await call(`${server.url}/api/runs`, bearer(webhook.token))).status).toBe(401);
    expect((await call(`${server.url}/api/webhooks/${webhook.id}`, bearer(webhook.token))).status).toBe(401);
    expect((await call(`${server.url}/api/runs/no-such-run`, bearer(webhook.token))).status).toBe(401);

    const rotated = await server.deps.store.rotateToken(webhook.id);
    expect((await call(run, bearer(webhook.token))).status).toBe(401);
    expect((await call(run, bearer(rotated.token))).status).toBe(200);
    await server.deps.store.deleteWebhook(webhook.id);
    expect((await call(run, bearer(rotated.token))).status).toBe(401);
  });

  it("answers 404 for the answer of a synchronous call, which is not kept", async () => {
    const webhook = await deploy(server, ["x = 1"]);
    const direct = await call(webhook.url);
    expect(direct.status).toBe(200);
    const id = direct.headers.get("x-nbhook-run-id")!;
    const kept = await call(`${server.url}/api/runs/${id}/response`, bearer(webhook.token));
    expect(kept.status).toBe(404);
    expect(kept.json()).toMatchObject({
      error: "not-found",
      message: expect.stringContaining("respond-async"),
    });
  });
});
