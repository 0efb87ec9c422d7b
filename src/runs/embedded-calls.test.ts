/**
 * EmbeddedCalls end to end against scripted fake kernels and the real SqliteStore
 * (test/support/calls-harness.ts): a call that runs, its preparation, admission (run now, queue,
 * refuse), time limits and stopping. Failures, uploads, redaction and warm kernels:
 * embedded-calls.failures.test.ts.
 */
import { existsSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { executed, harness, injectedCell, isPreamble, until } from "../../test/support/calls-harness.js";
import { sourceText } from "../notebook/read.js";
import type { CodeCell } from "../notebook/types.js";
import { answerFor } from "../server/call-answer.js";
import type { RequestInput } from "./webhook-parameters.js";

// Fake kernels answer in milliseconds: a test that waits longer is stuck, not slow.
vi.setConfig({ testTimeout: 5_000, hookTimeout: 5_000 });

describe("EmbeddedCalls: a call that runs", () => {
  it("records the run running then ok with 200, saves the output with the injected cell, and keeps the answer only when asked", async () => {
    const h = await harness();
    const webhook = await h.deploy(["x = 1"]);

    const call = await h.accepted(webhook, { query: { name: "ann" } }, true);
    expect(call.run.status).toBe("running");
    expect(call.run.queuedAt).toBeNull();
    expect(call.run.parameters).toMatchObject({ name: "ann", params: { name: "ann" } });
    const result = await call.result;
    expect(call.state()).toBe("over");

    expect(result.outcome).toMatchObject({ kind: "ran", runId: call.run.id, status: "ok" });
    expect(result.answer).toEqual(answerFor(result.outcome, webhook));
    expect(result.answer.status).toBe(200);
    expect(JSON.parse(result.answer.body.toString("utf8"))).toMatchObject({
      id: call.run.id,
      status: "Done",
    });
    expect(result.run).toMatchObject({ id: call.run.id, status: "ok", httpStatus: 200, hasAnswer: true });
    expect(await h.store.getRun(call.run.id)).toMatchObject({ status: "ok", httpStatus: 200, error: null });
    const kept = await h.store.readAnswer(call.run.id);
    expect(kept).toEqual({ status: 200, headers: result.answer.headers, body: result.answer.body });

    // The kernel: moved into the webhook's folder first (silently), then the injected cell, then the notebook's cell.
    const fake = h.starter.fakes[0]!;
    const codes = executed(fake);
    expect(codes).toHaveLength(3);
    expect(isPreamble(codes[0]!)).toBe(true);
    expect(codes[0]).toContain(await h.store.filesDir(webhook.id));
    expect(codes[1]).toContain("ann");
    expect(codes[2]).toBe("x = 1");

    const output = await h.readOutput(webhook, result);
    expect(output, "the saved output notebook").toBeDefined();
    expect(output!.cells).toHaveLength(2);
    const injected = injectedCell(output!);
    expect(injected, "the injected parameters cell").toBe(output!.cells[0]);
    expect(sourceText(injected!.source)).toContain("ann");
    expect((output!.cells[1] as CodeCell).execution_count).toBe(2);

    // Without keepAnswer, nothing is kept.
    const again = await (await h.accepted(webhook)).result;
    expect(again.run).toMatchObject({ status: "ok", httpStatus: 200, hasAnswer: false });
    expect(await h.store.readAnswer(again.run.id)).toBeUndefined();
  });
});

describe("EmbeddedCalls: prepare", () => {
  it("refuses a webhook without a version (not-found) and a value that cannot be coerced (parameter-invalid), recording nothing", async () => {
    const h = await harness();
    const bare = await h.store.upsertWebhook({
      path: "/work/bare.ipynb",
      params: {},
      debug: false,
      timeoutMs: 30_000,
    });
    const input: RequestInput = { query: {}, headers: {}, body: { kind: "none" } };
    await expect(h.calls.prepare(bare, input)).rejects.toMatchObject({ name: "AppError", code: "not-found" });

    const webhook = await h.deploy([{ source: "n = 1", tags: ["parameters"] }]);
    await expect(h.calls.prepare(webhook, { ...input, query: { n: "many" } })).rejects.toMatchObject({
      code: "parameter-invalid",
    });
    expect(await h.store.listRuns({})).toEqual([]);
    expect(h.starter.starts).toEqual([]);
  });
});

describe("EmbeddedCalls: admission", () => {
  it("queues a call when the runs are taken, and starts it when the first one ends", async () => {
    const h = await harness({ maxRuns: 1, maxQueue: 1 });
    const hold = h.holdingCell("hold");
    const webhook = await h.deploy(["hold"]);

    const first = await h.accepted(webhook);
    expect(first.run.status).toBe("running");
    await until(
      () =>
        h.starter.fakes[0]?.requests.some((r) => (r.content as { code?: string })?.code === "hold") ?? false,
      "the first call's cell",
    );

    const second = await h.accepted(webhook);
    expect(second.run.status).toBe("queued");
    expect(second.run.queuedAt).not.toBeNull();
    expect(second.state()).toBe("queued");
    expect(h.calls.stats()).toMatchObject({ running: 1, queued: 1 });
    expect((await h.store.getRun(second.run.id))?.status).toBe("queued");
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(h.starter.starts, "a kernel started for the queued call").toHaveLength(1);

    const openedAt = Date.now();
    hold.open();
    const [one, two] = await Promise.all([first.result, second.result]);
    expect(one.run).toMatchObject({ status: "ok", httpStatus: 200 });
    expect(two.run).toMatchObject({ status: "ok", httpStatus: 200, queuedAt: second.run.queuedAt });
    // startRun moved startedAt to when it left the queue: after the first call ended.
    expect(Date.parse(two.run.startedAt)).toBeGreaterThanOrEqual(openedAt);
    expect(Date.parse(two.run.startedAt)).toBeGreaterThanOrEqual(
      Date.parse(one.run.startedAt) + one.run.durationMs!,
    );
    expect(Date.parse(two.run.queuedAt!)).toBeLessThanOrEqual(openedAt);
    expect(second.state()).toBe("over");
    expect(h.starter.starts).toHaveLength(2);
    expect(h.calls.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it("refuses a call at once when the queue is full, recording nothing and removing its uploads", async () => {
    const h = await harness({ maxRuns: 1, maxQueue: 0 });
    const hold = h.holdingCell("hold");
    const webhook = await h.deploy(["hold"]);
    const first = await h.accepted(webhook);

    const { dir } = await h.uploads(webhook);
    const refused = await h.submit(webhook, { uploadsDir: dir }, true);
    expect(refused).toMatchObject({ kind: "refused", reason: "queue-full" });
    if (refused.kind !== "refused") throw new Error("unreachable");
    expect(refused.retryAfterS).toBeGreaterThanOrEqual(1);
    expect(refused.message).toMatch(/busy/);
    expect(await h.store.listRuns({ webhookId: webhook.id })).toEqual([first.run]);
    expect(existsSync(dir), "the refused call's uploads folder").toBe(false);
    expect(h.calls.stats()).toMatchObject({ running: 1, queued: 0 });

    hold.open();
    expect((await first.result).run.status).toBe("ok");
    expect(await h.store.listRuns({ webhookId: webhook.id })).toHaveLength(1);
  });

  it("cancels a queued call whose caller went away: CallerGone, 499, no kept answer, its queue place freed", async () => {
    const h = await harness({ maxRuns: 1, maxQueue: 1 });
    const hold = h.holdingCell("hold");
    const webhook = await h.deploy(["hold"]);
    const first = await h.accepted(webhook);
    const { dir } = await h.uploads(webhook);
    const second = await h.accepted(webhook, { uploadsDir: dir }, true);
    expect(second.state()).toBe("queued");

    second.cancel();
    const gone = await second.result;
    expect(gone.outcome).toMatchObject({ kind: "cancelled", reason: "caller-gone", runId: second.run.id });
    expect(gone.answer.status).toBe(499);
    expect(gone.run).toMatchObject({
      status: "cancelled",
      httpStatus: 499,
      hasAnswer: false,
      error: { ename: "CallerGone" },
    });
    expect(await h.store.getRun(second.run.id)).toMatchObject({ status: "cancelled", httpStatus: 499 });
    expect(await h.store.readAnswer(second.run.id)).toBeUndefined();
    expect(second.state()).toBe("over");
    expect(existsSync(dir), "the cancelled call's uploads folder").toBe(false);
    expect(h.calls.stats()).toMatchObject({ running: 1, queued: 0 });

    // Its place in the queue is free again (maxQueue 1).
    const third = await h.accepted(webhook);
    expect(third.state()).toBe("queued");
    hold.open();
    expect((await first.result).run.status).toBe("ok");
    expect((await third.result).run.status).toBe("ok");
    expect(h.starter.starts, "kernels started: the first and third calls'").toHaveLength(2);
  });

  it("cancels a queued call that waited longer than the webhook's time limit: QueueTimeout, 503, the busy answer kept", async () => {
    const h = await harness({ maxRuns: 1, maxQueue: 1 });
    const hold = h.holdingCell("hold");
    const slow = await h.deploy(["hold"]);
    const quick = await h.deploy(["x = 1"], { timeoutMs: 150 });
    const first = await h.accepted(slow);

    const second = await h.accepted(quick, {}, true);
    expect(second.state()).toBe("queued");
    const late = await second.result;
    expect(first.state(), "the first call still runs").toBe("running");
    expect(late.outcome).toMatchObject({ kind: "cancelled", reason: "queue-timeout" });
    if (late.outcome.kind !== "cancelled") throw new Error("unreachable");
    expect(late.run).toMatchObject({
      status: "cancelled",
      httpStatus: 503,
      hasAnswer: true,
      error: { ename: "QueueTimeout" },
    });
    expect(late.run.durationMs).toBeGreaterThanOrEqual(100);
    const kept = await h.store.readAnswer(second.run.id);
    expect(kept?.status).toBe(503);
    expect(kept?.headers["retry-after"]).toBe(String(late.outcome.retryAfterS));
    expect(Number(kept?.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(kept!.body.toString("utf8"))).toMatchObject({ error: "busy" });
    expect(kept?.body).toEqual(late.answer.body);

    hold.open();
    expect((await first.result).run.status).toBe("ok");
    expect(h.starter.starts, "no kernel for the call that timed out in the queue").toHaveLength(1);
  });
});

describe("EmbeddedCalls: time limits", () => {
  it("does not count the time a call waited in the queue against its run's time limit", async () => {
    const h = await harness({ maxRuns: 1, maxQueue: 1 });
    const hold = h.holdingCell("hold");
    const other = await h.deploy(["hold"]);
    const webhook = await h.deploy(["slow"], { timeoutMs: 400 });
    h.cells.slow = async (_code, k) => {
      await k.sleep(250);
      await k.ok();
    };
    const first = await h.accepted(other);
    const second = await h.accepted(webhook);
    expect(second.state()).toBe("queued");
    await new Promise((resolve) => setTimeout(resolve, 250));
    hold.open();
    await first.result;
    // 250 ms queued + 250 ms running > 400 ms, but the run itself took 250 ms.
    const result = await second.result;
    expect(result.run).toMatchObject({ status: "ok", httpStatus: 200 });
  });
});

describe("EmbeddedCalls: stopping", () => {
  it("stopAdmitting cancels the queued call (ServerStopping, 503), lets the running one finish, and refuses later calls", async () => {
    const h = await harness({ maxRuns: 1, maxQueue: 2 });
    const hold = h.holdingCell("hold");
    const webhook = await h.deploy(["hold"]);
    const first = await h.accepted(webhook);
    const second = await h.accepted(webhook, {}, true);

    h.calls.stopAdmitting();
    const stopped = await second.result;
    expect(stopped.outcome).toMatchObject({ kind: "cancelled", reason: "closing" });
    expect(stopped.answer.status).toBe(503);
    expect(stopped.run).toMatchObject({
      status: "cancelled",
      httpStatus: 503,
      error: { ename: "ServerStopping" },
    });
    expect((await h.store.readAnswer(second.run.id))?.status).toBe(503);
    expect(first.state()).toBe("running");

    const later = await h.submit(webhook);
    expect(later).toMatchObject({ kind: "refused", reason: "closing" });

    hold.open();
    expect((await first.result).run).toMatchObject({ status: "ok", httpStatus: 200 });
  });

  it("close() resolves only after the running call finished, and every kernel is stopped", async () => {
    const h = await harness({ maxRuns: 1, maxQueue: 1 });
    const hold = h.holdingCell("hold");
    const webhook = await h.deploy(["hold"]);
    const first = await h.accepted(webhook);
    const second = await h.accepted(webhook);
    const order: string[] = [];
    void first.result.then((r) => order.push(`first ${r.run.status}`));
    void second.result.then((r) => order.push(`second ${r.run.status}`));

    const closing = h.calls.close().then(() => order.push("closed"));
    const stopped = await second.result;
    expect(stopped.run).toMatchObject({
      status: "cancelled",
      httpStatus: 503,
      error: { ename: "ServerStopping" },
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(order).toEqual(["second cancelled"]);
    expect(first.state()).toBe("running");
    const later = await h.submit(webhook);
    expect(later).toMatchObject({ kind: "refused", reason: "closing" });

    hold.open();
    await closing;
    expect(order).toEqual(["second cancelled", "first ok"].concat("closed"));
    expect(h.starter.fakes).toHaveLength(1);
    expect(
      h.starter.fakes.every((f) => !f.alive),
      "fake kernels running after close()",
    ).toBe(true);
  });
});
