/** @module Conformance cases: run records, kept answers, and the newest run shown on its webhook. */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect } from "vitest";
import { isHisto } from "../histo.js";
import type { KeptAnswer } from "../types.js";
import {
  ALL_BYTES,
  type DeclareCase,
  deployed,
  expectAppError,
  finishOk,
  isTime,
  later,
  newRun,
} from "./harness.conformance.js";

export function runCases(test: DeclareCase): void {
  test("creates a running run with its parameters, a fresh output histo and no answer yet", async (store) => {
    const { webhook, version } = await deployed(store);
    const parameters = { city: "Paris", n: 3, list: [1, "a"], deep: { x: null, y: true } };
    const before = Date.now();
    const run = await store.createRun({ webhookId: webhook.id, versionHisto: version.histo, parameters });
    expect(run).toMatchObject({
      webhookId: webhook.id,
      versionHisto: version.histo,
      status: "running",
      queuedAt: null,
      durationMs: null,
      error: null,
      httpStatus: null,
      hasAnswer: false,
    });
    expect(run.parameters).toEqual(parameters);
    expect(isHisto(run.outputHisto)).toBe(true);
    expect(Date.parse(run.startedAt)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(run.startedAt)).toBeLessThanOrEqual(Date.now() + 1);
    expect(await store.getRun(run.id)).toEqual(run);
    const next = await newRun(store, webhook, version);
    expect(next.id).not.toBe(run.id);
    expect(next.outputHisto > run.outputHisto).toBe(true);
  });

  test("creates a queued run whose startedAt is its queuedAt until it starts", async (store) => {
    const { webhook, version } = await deployed(store);
    const queued = await newRun(store, webhook, version, true);
    expect(queued).toMatchObject({ status: "queued", queuedAt: queued.startedAt, hasAnswer: false });
    expect(isTime(queued.queuedAt)).toBe(true);
  });

  test("starting a queued run makes it running, with a later startedAt and its queuedAt kept", async (store) => {
    const { webhook, version } = await deployed(store);
    const queued = await newRun(store, webhook, version, true);
    await later();
    const started = await store.startRun(queued.id);
    expect(started).toMatchObject({ id: queued.id, status: "running", queuedAt: queued.queuedAt });
    expect(Date.parse(started.startedAt)).toBeGreaterThan(Date.parse(queued.startedAt));
    expect(await store.getRun(queued.id)).toEqual(started);
  });

  test("starting a run that is not queued leaves it as it is", async (store) => {
    const { webhook, version } = await deployed(store);
    const running = await newRun(store, webhook, version);
    await later();
    expect(await store.startRun(running.id)).toEqual(running);
    const finished = await finishOk(store, running.id);
    expect(await store.startRun(running.id)).toEqual(finished);
  });

  test("answers not-found for a run or an output of an unknown webhook, and records neither", async (store) => {
    const { webhook, version } = await deployed(store);
    const unknown = "0123456789abcdef";
    await expectAppError(
      store.createRun({ webhookId: unknown, versionHisto: version.histo, parameters: {} }),
      "not-found",
    );
    await expectAppError(store.writeOutput(unknown, version.histo, "{}"), "not-found");
    expect(await store.listRuns({})).toEqual([]);
    expect(await store.listOutputs(unknown)).toEqual([]);
    expect(await store.listRuns({ webhookId: webhook.id })).toEqual([]);
  });

  test("answers not-found when starting or finishing an unknown run", async (store) => {
    await expectAppError(store.startRun("no-such-run"), "not-found");
    await expectAppError(finishOk(store, "no-such-run"), "not-found");
    await expectAppError(
      finishOk(store, "no-such-run", { status: 200, headers: {}, body: Buffer.from("x") }),
      "not-found",
    );
  });

  test("finishes a run without keeping its answer", async (store) => {
    const { webhook, version } = await deployed(store);
    const run = await newRun(store, webhook, version);
    const error = { ename: "ValueError", evalue: "bad", traceback: ["line 1", "line 2"], cellIndex: 2 };
    const finished = await store.finishRun(run.id, {
      status: "error",
      durationMs: 12.4,
      error,
      httpStatus: 500,
    });
    expect(finished).toMatchObject({
      ...run,
      status: "error",
      durationMs: 12,
      error,
      httpStatus: 500,
      hasAnswer: false,
    });
    expect(await store.getRun(run.id)).toEqual(finished);
    expect(await store.readAnswer(run.id)).toBeUndefined();
  });

  test("finishes a run keeping its answer, every byte value intact, an empty body too", async (store) => {
    const { webhook, version } = await deployed(store);
    const run = await newRun(store, webhook, version);
    const headers = {
      "content-type": "application/octet-stream",
      "content-disposition": 'attachment; filename="b.bin"',
      "x-empty": "",
    };
    const finished = await store.finishRun(run.id, {
      status: "ok",
      durationMs: 3,
      error: null,
      httpStatus: 201,
      answer: { status: 201, headers, body: ALL_BYTES },
    });
    expect(finished).toMatchObject({ status: "ok", httpStatus: 201, hasAnswer: true });
    const answer = await store.readAnswer(run.id);
    expect(answer).toEqual({ status: 201, headers, body: ALL_BYTES });
    expect((await bytesOf(answer!)).equals(ALL_BYTES)).toBe(true);

    const empty = await newRun(store, webhook, version);
    await finishOk(store, empty.id, { status: 204, headers: {}, body: Buffer.alloc(0) });
    expect(await store.readAnswer(empty.id)).toEqual({ status: 204, headers: {}, body: Buffer.alloc(0) });
  });

  test("keeps an answer given as a file without taking the file, and reads it back byte for byte", async (store) => {
    const { webhook, version } = await deployed(store);
    const folder = await mkdtemp(path.join(os.tmpdir(), "nbhook-answer-"));
    try {
      const source = path.join(folder, "answer");
      await writeFile(source, ALL_BYTES);
      const run = await newRun(store, webhook, version);
      const headers = { "content-type": "application/pdf" };
      const file = { path: source, size: ALL_BYTES.length };
      await finishOk(store, run.id, { status: 200, headers, body: Buffer.alloc(0), file });
      // The call's copy is still there for the caller who waits (its owner removes it) …
      expect((await readFile(source)).equals(ALL_BYTES)).toBe(true);
      await rm(folder, { recursive: true, force: true });
      // … and the kept answer outlives it.
      const answer = await store.readAnswer(run.id);
      expect(answer).toMatchObject({ status: 200, headers });
      expect((await bytesOf(answer!)).equals(ALL_BYTES)).toBe(true);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test("reads a large kept answer back as a file to stream, not into memory", async (store) => {
    const { webhook, version } = await deployed(store);
    const folder = await mkdtemp(path.join(os.tmpdir(), "nbhook-answer-"));
    try {
      const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0xa5);
      const source = path.join(folder, "answer");
      await writeFile(source, big);
      const run = await newRun(store, webhook, version);
      await finishOk(store, run.id, {
        status: 200,
        headers: {},
        body: Buffer.alloc(0),
        file: { path: source, size: big.length },
      });
      const answer = await store.readAnswer(run.id);
      expect(answer?.file?.size).toBe(big.length);
      expect(answer?.body.length).toBe(0);
      expect(await sha256Of(answer!.file!.path)).toBe(createHash("sha256").update(big).digest("hex"));
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test("answers undefined for the answer of a run that kept none, running or finished, or of an unknown run", async (store) => {
    const { webhook, version } = await deployed(store);
    const running = await newRun(store, webhook, version);
    const queued = await newRun(store, webhook, version, true);
    const finished = await finishOk(store, (await newRun(store, webhook, version)).id);
    for (const run of [running, queued, finished]) expect(await store.readAnswer(run.id)).toBeUndefined();
    expect(await store.readAnswer("no-such-run")).toBeUndefined();
  });

  test("closes runs left queued or running as died and counts them, leaving finished runs alone", async (store, harness) => {
    const { webhook, version } = await deployed(store);
    const running = await newRun(store, webhook, version);
    const queued = await newRun(store, webhook, version, true);
    const done = await finishOk(store, (await newRun(store, webhook, version)).id);
    const restarted = await harness.reopen();
    expect(await restarted.closeInterruptedRuns()).toBe(2);
    for (const run of [running, queued]) {
      expect(await restarted.getRun(run.id)).toMatchObject({
        status: "died",
        httpStatus: 500,
        error: { ename: "ServerStopped" },
      });
    }
    expect(await restarted.getRun(done.id)).toEqual(done);
    expect(await restarted.closeInterruptedRuns()).toBe(0);
  });

  test("answers undefined for an unknown run id", async (store) => {
    expect(await store.getRun("no-such-run")).toBeUndefined();
  });

  test("lists runs newest first, of every webhook or of one", async (store) => {
    const one = await deployed(store);
    const two = await deployed(store, { path: "/home/u/two.ipynb" });
    const r1 = await newRun(store, one.webhook, one.version);
    const r2 = await newRun(store, two.webhook, two.version);
    const r3 = await newRun(store, one.webhook, one.version);
    const ids = async (options: { webhookId?: string; limit?: number }) =>
      (await store.listRuns(options)).map((r) => r.id);
    expect(await ids({})).toEqual([r3.id, r2.id, r1.id]);
    expect(await ids({ webhookId: one.webhook.id })).toEqual([r3.id, r1.id]);
    expect(await ids({ webhookId: one.webhook.id, limit: 1 })).toEqual([r3.id]);
    expect(await ids({ webhookId: "no-such-webhook" })).toEqual([]);
    expect((await store.listRuns({}))[0]).toEqual(await store.getRun(r3.id));
    // A queued run counts from when it starts.
    const queued = await newRun(store, two.webhook, two.version, true);
    const r4 = await newRun(store, one.webhook, one.version);
    await later();
    await store.startRun(queued.id);
    expect((await ids({})).slice(0, 2)).toEqual([queued.id, r4.id]);
  });

  test("lists 50 runs when no limit is given, and clamps a limit to 1..1000", async (store) => {
    const { webhook, version } = await deployed(store);
    for (let i = 0; i < 1001; i++) await newRun(store, webhook, version);
    const count = async (limit?: number) => (await store.listRuns({ limit })).length;
    expect(await count()).toBe(50);
    expect(await count(0)).toBe(1);
    expect(await count(-5)).toBe(1);
    expect(await count(7)).toBe(7);
    expect(await count(1000)).toBe(1000);
    expect(await count(5000)).toBe(1000);
  });

  test("shows the newest run's start and status on its webhook", async (store) => {
    const { webhook, version } = await deployed(store);
    const other = await deployed(store, { path: "/home/u/other.ipynb" });
    expect(webhook).toMatchObject({ lastRunAt: null, lastRunStatus: null });
    const first = await newRun(store, webhook, version);
    expect(await store.getWebhook(webhook.id)).toMatchObject({
      lastRunAt: first.startedAt,
      lastRunStatus: "running",
    });
    await store.finishRun(first.id, { status: "timeout", durationMs: 9, error: null, httpStatus: 504 });
    expect(await store.getWebhook(webhook.id)).toMatchObject({
      lastRunAt: first.startedAt,
      lastRunStatus: "timeout",
    });
    await later();
    const second = await newRun(store, webhook, version, true);
    await newRun(store, other.webhook, other.version);
    expect(await store.getWebhook(webhook.id)).toMatchObject({
      lastRunAt: second.startedAt,
      lastRunStatus: "queued",
    });
    expect((await store.listWebhooks()).find((w) => w.id === webhook.id)).toMatchObject({
      lastRunStatus: "queued",
    });
    expect(await store.findWebhookByToken(webhook.token)).toMatchObject({ lastRunStatus: "queued" });
  });
}

/** A kept answer's bytes, from memory or from its file. */
async function bytesOf(answer: KeptAnswer): Promise<Buffer> {
  return answer.file ? readFile(answer.file.path) : answer.body;
}

/** The SHA-256 of a file, read as a stream. */
async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
