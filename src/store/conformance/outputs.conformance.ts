/** @module Conformance cases: output notebooks, and everything kept across a restart. */
import { expect } from "vitest";
import { newHisto } from "../histo.js";
import {
  ALL_BYTES,
  type DeclareCase,
  deployed,
  isTime,
  newHook,
  newRun,
  notebook,
} from "./harness.conformance.js";

const OUTPUT = '{"cells": [], "note": "café ☕"}';

export function outputCases(test: DeclareCase): void {
  test("keeps an output notebook with its size in bytes and its run id, readable back", async (store) => {
    const { webhook, version } = await deployed(store);
    const run = await newRun(store, webhook, version);
    await store.writeOutput(webhook.id, run.outputHisto, OUTPUT, run.id);
    expect((await store.readOutput(webhook.id, run.outputHisto))?.toString("utf8")).toBe(OUTPUT);
    const [info, ...rest] = await store.listOutputs(webhook.id);
    expect(rest).toEqual([]);
    expect(info).toMatchObject({
      webhookId: webhook.id,
      histo: run.outputHisto,
      size: Buffer.byteLength(OUTPUT),
      runId: run.id,
    });
    expect(isTime(info?.createdAt ?? null)).toBe(true);
    const loose = newHisto();
    await store.writeOutput(webhook.id, loose, "{}");
    expect((await store.listOutputs(webhook.id)).find((o) => o.histo === loose)?.runId).toBeNull();
  });

  test("lists outputs newest first, whatever order they were written in", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    const [h1, h2, h3] = [newHisto(), newHisto(), newHisto()];
    for (const histo of [h2, h3, h1]) await store.writeOutput(webhook.id, histo!, "{}");
    expect((await store.listOutputs(webhook.id)).map((o) => o.histo)).toEqual([h3, h2, h1]);
  });

  test("writing an output again under the same histo replaces it", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    const histo = newHisto();
    await store.writeOutput(webhook.id, histo, "{}");
    await store.writeOutput(webhook.id, histo, OUTPUT, "run-2");
    expect((await store.readOutput(webhook.id, histo))?.toString("utf8")).toBe(OUTPUT);
    expect(await store.listOutputs(webhook.id)).toMatchObject([
      { histo, size: Buffer.byteLength(OUTPUT), runId: "run-2" },
    ]);
  });

  test("deletes an output: it is no longer read or listed, and deleting it again answers false", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    const [keep, drop] = [newHisto(), newHisto()];
    await store.writeOutput(webhook.id, keep, "{}");
    await store.writeOutput(webhook.id, drop, OUTPUT);
    expect(await store.deleteOutput(webhook.id, drop)).toBe(true);
    expect(await store.readOutput(webhook.id, drop)).toBeUndefined();
    expect((await store.listOutputs(webhook.id)).map((o) => o.histo)).toEqual([keep]);
    expect(await store.deleteOutput(webhook.id, drop)).toBe(false);
  });

  test("answers undefined, false or nothing for unknown outputs", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    expect(await store.listOutputs(webhook.id)).toEqual([]);
    expect(await store.listOutputs("no-such-webhook")).toEqual([]);
    expect(await store.readOutput(webhook.id, newHisto())).toBeUndefined();
    expect(await store.deleteOutput(webhook.id, newHisto())).toBe(false);
  });
}

export function restartCases(test: DeclareCase): void {
  test("keeps webhooks, versions, runs, answers and outputs across a restart", async (store, harness) => {
    const { webhook, version } = await deployed(store, { settings: { mode: "reuse", maxConcurrency: 2 } });
    const run = await newRun(store, webhook, version);
    await store.writeOutput(webhook.id, run.outputHisto, OUTPUT, run.id);
    const finished = await store.finishRun(run.id, {
      status: "ok",
      durationMs: 7,
      error: null,
      httpStatus: 200,
      answer: { status: 200, headers: { "content-type": "image/png" }, body: ALL_BYTES },
    });
    await store.writeFile(webhook.id, "data.bin", ALL_BYTES);
    const before = await store.getWebhook(webhook.id);

    const reopened = await harness.reopen();
    expect(await reopened.getWebhook(webhook.id)).toEqual(before);
    expect(await reopened.findWebhookByToken(webhook.token)).toEqual(before);
    expect(await reopened.listVersions(webhook.id)).toEqual([version]);
    expect(await reopened.readVersion(webhook.id, version.histo)).toEqual(notebook(1));
    expect(await reopened.getRun(run.id)).toEqual(finished);
    expect(await reopened.readAnswer(run.id)).toEqual({
      status: 200,
      headers: { "content-type": "image/png" },
      body: ALL_BYTES,
    });
    expect((await reopened.readOutput(webhook.id, run.outputHisto))?.toString("utf8")).toBe(OUTPUT);
    expect((await reopened.listOutputs(webhook.id)).map((o) => o.runId)).toEqual([run.id]);
  });
}
