import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isHisto, newHisto } from "./histo.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";

const homes: string[] = [];
function freshStore(home = mkdtempSync(path.join(os.tmpdir(), "nbhook-store-"))) {
  homes.push(home);
  return new SqliteStore(home);
}
afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

const nb = (n: number) => Buffer.from(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [], n }));
const hook = { path: "/home/u/report.ipynb", params: { inline: true }, debug: false, timeoutMs: 300_000 };

describe("newHisto", () => {
  it("makes 20-digit, strictly increasing ids in Naas's format", () => {
    const ids = Array.from({ length: 1000 }, () => newHisto());
    expect(ids.every(isHisto)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
    expect(newHisto(new Date(2020, 9, 8, 10, 12, 21, 879).getTime() + 10_000_000_000)).toMatch(/^\d{20}$/);
  });
});

describe("SqliteStore", () => {
  it("keeps the token when the same path is added again, and finds by token and path", async () => {
    const store = freshStore();
    const first = await store.upsertWebhook(hook);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.name).toBe("report.ipynb");
    const again = await store.upsertWebhook({ ...hook, params: { inline: false } });
    expect(again.id).toBe(first.id);
    expect(again.token).toBe(first.token);
    expect(again.params).toEqual({ inline: false });
    expect((await store.findWebhookByToken(first.token))?.id).toBe(first.id);
    expect(await store.findWebhookByToken(first.token.slice(0, -1) + "x")).toBeUndefined();
    expect((await store.findWebhookByPath(hook.path))?.id).toBe(first.id);
    await store.close();
  });

  it("versions a webhook: the newest is live, files are written atomically", async () => {
    const store = freshStore();
    const w = await store.upsertWebhook(hook);
    const v1 = await store.addVersion(w.id, nb(1));
    const v2 = await store.addVersion(w.id, nb(2));
    expect(v2.histo > v1.histo).toBe(true);
    expect((await store.getWebhook(w.id))?.liveHisto).toBe(v2.histo);
    expect((await store.listVersions(w.id)).map((v) => v.histo)).toEqual([v2.histo, v1.histo]);
    expect((await store.readVersion(w.id, v1.histo))?.toString()).toBe(nb(1).toString());
    expect(readdirSync(path.join(store.home, "webhooks", w.id, "versions")).sort()).toEqual(
      [`${v1.histo}.ipynb`, `${v2.histo}.ipynb`].sort(),
    );
    expect(await store.deleteVersion(w.id, v1.histo)).toBe(true);
    expect(await store.readVersion(w.id, v1.histo)).toBeUndefined();
    expect(await store.deleteVersion(w.id, v1.histo)).toBe(false);
    await store.close();
  });

  it("soft-deletes: the token stops working, and a re-add revives the same URL", async () => {
    const store = freshStore();
    const w = await store.upsertWebhook(hook);
    await store.deleteWebhook(w.id);
    expect(await store.findWebhookByToken(w.token)).toBeUndefined();
    expect(await store.listWebhooks()).toEqual([]);
    expect(await store.listWebhooks({ includeDeleted: true })).toHaveLength(1);
    const revived = await store.upsertWebhook(hook);
    expect(revived.token).toBe(w.token);
    expect(revived.deletedAt).toBeNull();
    await store.close();
  });

  it("rotates a token: the old one stops working", async () => {
    const store = freshStore();
    const w = await store.upsertWebhook(hook);
    const rotated = await store.rotateToken(w.id);
    expect(rotated.token).not.toBe(w.token);
    expect(await store.findWebhookByToken(w.token)).toBeUndefined();
    expect((await store.findWebhookByToken(rotated.token))?.id).toBe(w.id);
    await store.close();
  });

  it("records runs and outputs, and keeps everything across a restart", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), "nbhook-store-"));
    const store = freshStore(home);
    const w = await store.upsertWebhook(hook);
    const v = await store.addVersion(w.id, nb(1));
    const run = await store.createRun({ webhookId: w.id, versionHisto: v.histo, parameters: { city: "Paris" } });
    expect(run.status).toBe("running");
    await store.writeOutput(w.id, run.outputHisto, '{"out": 1}', run.id);
    await store.finishRun(run.id, { status: "error", durationMs: 12.4, error: { ename: "E", evalue: "v" }, httpStatus: 500 });
    await store.close();

    const reopened = new SqliteStore(home);
    const back = await reopened.getRun(run.id);
    expect(back).toMatchObject({ status: "error", durationMs: 12, error: { ename: "E", evalue: "v" }, httpStatus: 500 });
    expect((await reopened.getWebhook(w.id))).toMatchObject({ token: w.token, liveHisto: v.histo, lastRunStatus: "error" });
    expect((await reopened.readOutput(w.id, run.outputHisto))?.toString()).toBe('{"out": 1}');
    expect((await reopened.listOutputs(w.id)).map((o) => o.runId)).toEqual([run.id]);
    expect((await reopened.listRuns({ webhookId: w.id })).map((r) => r.id)).toEqual([run.id]);
    await reopened.close();
  });

  it("records a queued run's start, and keeps a run's answer (body in a file) across a restart", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), "nbhook-store-"));
    const store = freshStore(home);
    const w = await store.upsertWebhook(hook);
    const v = await store.addVersion(w.id, nb(1));
    const queued = await store.createRun({ webhookId: w.id, versionHisto: v.histo, parameters: {}, queued: true });
    expect(queued).toMatchObject({ status: "queued", queuedAt: queued.startedAt, hasResponse: false });
    await new Promise((r) => setTimeout(r, 5));
    const started = await store.startRun(queued.id);
    expect(started.status).toBe("running");
    expect(started.startedAt > queued.startedAt).toBe(true);
    expect(started.queuedAt).toBe(queued.queuedAt);
    const body = Buffer.from([0, 1, 2, 255]);
    const headers = { "content-type": "application/octet-stream", "x-kind": "bytes" };
    const finished = await store.finishRun(queued.id, {
      status: "ok",
      durationMs: 3,
      error: null,
      httpStatus: 201,
      response: { status: 201, headers, body },
    });
    expect(finished.hasResponse).toBe(true);
    const plain = await store.createRun({ webhookId: w.id, versionHisto: v.histo, parameters: {} });
    expect(plain.queuedAt).toBeNull();
    await store.finishRun(plain.id, { status: "ok", durationMs: 1, error: null, httpStatus: 200 });
    await store.close();

    const reopened = new SqliteStore(home);
    expect(await reopened.readResponse(queued.id)).toEqual({ status: 201, headers, body });
    expect(await reopened.readResponse(plain.id)).toBeUndefined();
    expect(readdirSync(path.join(home, "webhooks", w.id, "responses"))).toEqual([queued.id]);
    await reopened.close();
  });

  it("closes runs a stopped server left queued or running, so pollers get an answer", async () => {
    const store = freshStore();
    const w = await store.upsertWebhook(hook);
    const v = await store.addVersion(w.id, nb(1));
    const stuck = await store.createRun({ webhookId: w.id, versionHisto: v.histo, parameters: {} });
    const done = await store.createRun({ webhookId: w.id, versionHisto: v.histo, parameters: {} });
    await store.finishRun(done.id, { status: "ok", durationMs: 5, error: null, httpStatus: 200 });
    expect(await store.closeInterruptedRuns()).toBe(1);
    expect(await store.getRun(stuck.id)).toMatchObject({ status: "died", httpStatus: 500, error: { ename: "ServerStopped" } });
    expect((await store.getRun(done.id))?.status).toBe("ok");
    await store.close();
  });

  it("keeps dependency files inside the webhook's folder", async () => {
    const store = freshStore();
    const w = await store.upsertWebhook(hook);
    await store.writeFile(w.id, "data/table.csv", Buffer.from("a,b\n"));
    expect(readdirSync(path.join(await store.filesDir(w.id), "data"))).toEqual(["table.csv"]);
    await expect(store.writeFile(w.id, "../escape.txt", Buffer.from("x"))).rejects.toThrow(/must be relative and stay inside/);
    await expect(store.writeFile(w.id, "/etc/passwd", Buffer.from("x"))).rejects.toThrow(/must be relative/);
    await store.close();
  });
});
