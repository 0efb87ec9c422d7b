/**
 * Concurrency and load over real HTTP with a real ipykernel: the server's run limit and bounded
 * queue (503 busy with Retry-After when full), a webhook's own max_concurrency, a caller leaving
 * the queue, and a shutdown with calls still queued.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { call, closeOrExplain, deploy, sleeping, startLoadServer, until } from "../support/load-server.js";

guardKernelLeaks();

describe("one run at once and a queue of one", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startLoadServer({ maxRuns: 1, maxQueue: 1 });
  });
  afterAll(async () => closeOrExplain(server));

  it("answers 503 busy with Retry-After to the call that finds the queue full, and runs the other two in turn", async () => {
    const webhook = await deploy(server, sleeping(1.5));
    const answers = await Promise.all([1, 2, 3].map(() => call(webhook.url)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 200, 503]);
    const busy = answers.find((a) => a.status === 503)!;
    expect(busy.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(busy.json()).toMatchObject({ error: "busy", message: expect.stringContaining("busy") });
    const retryAfter = busy.headers.get("retry-after");
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    for (const ok of answers.filter((a) => a.status === 200)) expect(ok.text).toBe("done");

    const runs = await server.deps.store.listRuns({ webhookId: webhook.id });
    expect(runs).toHaveLength(2); // the refused call left no record
    const [second, first] = runs;
    expect(first!.queuedAt).toBeNull();
    expect(second!.queuedAt).not.toBeNull();
    expect(Date.parse(second!.startedAt)).toBeGreaterThanOrEqual(
      Date.parse(first!.startedAt) + first!.durationMs! - 50,
    );
    expect([server.deps.calls.stats().running, server.deps.calls.stats().queued]).toEqual([0, 0]);
  });

  it("estimates Retry-After from the runs' recent durations", async () => {
    const webhook = await deploy(server, sleeping(3));
    const first = call(webhook.url);
    await until(() => server.deps.calls.stats().running === 1);
    const second = call(webhook.url);
    await until(() => server.deps.calls.stats().queued === 1);
    const busy = await call(webhook.url);
    expect(busy.status).toBe(503);
    // Recent runs took about 1.5 s each and this one has just started: 1 or 2 s, not a made-up minute.
    expect(Number(busy.headers.get("retry-after"))).toBeLessThanOrEqual(3);
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
  });

  it("frees the queue place of a caller that disconnects while queued, and records its call as cancelled", async () => {
    const webhook = await deploy(server, sleeping(1.5));
    const first = call(webhook.url);
    await until(() => server.deps.calls.stats().running === 1);
    const leaving = new AbortController();
    const second = call(webhook.url, { signal: leaving.signal }).catch((err: Error) => err);
    await until(() => server.deps.calls.stats().queued === 1);
    leaving.abort();
    expect(await second).toBeInstanceOf(Error);
    await until(() => server.deps.calls.stats().queued === 0);
    const third = call(webhook.url); // the queue has room again
    await until(() => server.deps.calls.stats().queued === 1);
    expect((await first).status).toBe(200);
    expect((await third).status).toBe(200);

    const runs = await server.deps.store.listRuns({ webhookId: webhook.id });
    expect(runs.map((r) => r.status).sort()).toEqual(["cancelled", "ok", "ok"]);
    expect(runs.find((r) => r.status === "cancelled")).toMatchObject({
      httpStatus: 499,
      error: { ename: "CallerGone" },
      hasAnswer: false,
    });
  });
});

describe("a webhook's own max_concurrency", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startLoadServer({ maxRuns: 4, maxQueue: 8 });
  });
  afterAll(async () => closeOrExplain(server));

  it("runs two calls of a webhook limited to 1 one after the other while another webhook runs beside them", async () => {
    const limited = await deploy(server, sleeping(1.5, "limited"), { settings: { maxConcurrency: 1 } });
    const free = await deploy(server, sleeping(1.5, "free"));
    const started = Date.now();
    const ended: Record<string, number> = {};
    const timed = (name: string, url: string) =>
      call(url).then((answer) => {
        ended[name] = Date.now() - started;
        return answer;
      });
    const answers = await Promise.all([
      timed("a1", limited.url),
      timed("a2", limited.url),
      timed("b", free.url),
    ]);
    expect(answers.map((a) => [a.status, a.text])).toEqual([
      [200, "limited"],
      [200, "limited"],
      [200, "free"],
    ]);
    const [a1, a2] = [ended.a1!, ended.a2!].sort((x, y) => x - y) as [number, number];
    expect(a2 - a1).toBeGreaterThanOrEqual(1400); // the second waited for the first
    expect(ended.b!).toBeLessThan(a2); // the other webhook did not wait behind them

    const runs = await server.deps.store.listRuns({ webhookId: limited.id });
    const [later, earlier] = runs;
    expect(later!.queuedAt).not.toBeNull();
    expect(Date.parse(later!.startedAt)).toBeGreaterThanOrEqual(
      Date.parse(earlier!.startedAt) + earlier!.durationMs! - 50,
    );
    expect((await server.deps.store.listRuns({ webhookId: free.id }))[0]!.queuedAt).toBeNull();
  });
});

describe("shutting down with calls queued", () => {
  it("answers the queued calls 503, lets the running one finish, and leaves no kernel behind", async () => {
    const server = await startLoadServer({ maxRuns: 1, maxQueue: 4 });
    const webhook = await deploy(server, sleeping(1.5));
    const running = call(webhook.url);
    await until(() => server.deps.calls.stats().running === 1);
    const queued = [call(webhook.url), call(webhook.url, { headers: { prefer: "respond-async" } })];
    await until(() => server.deps.calls.stats().queued === 2);
    const asyncAnswer = await queued[1]!;
    expect(asyncAnswer.status).toBe(202);
    const asyncRun = asyncAnswer.json<{ id: string }>().id;

    const closing = server.close();
    const waiting = await queued[0]!;
    expect(waiting.status).toBe(503);
    expect(waiting.json()).toMatchObject({
      error: "busy",
      message: expect.stringContaining("shutting down"),
    });
    expect(Number(waiting.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const finished = await running;
    expect([finished.status, finished.text]).toEqual([200, "done"]);
    await closing;

    // The record of the background call says why it never ran (read from the closed store's files).
    const reopened = await startLoadServer({ home: server.deps.config.home, poolSize: 0 });
    try {
      expect(await reopened.deps.store.getRun(asyncRun)).toMatchObject({
        status: "cancelled",
        httpStatus: 503,
        error: { ename: "ServerStopping" },
        hasAnswer: true,
      });
      expect((await reopened.deps.store.readAnswer(asyncRun))?.status).toBe(503);
    } finally {
      await reopened.close();
    }
  });
});
