/**
 * EmbeddedCalls when things go wrong and around the run (test/support/calls-harness.ts): uploaded
 * files removed on every path, a store that fails, a failing run, debug logging and redaction,
 * and the warm kernels a redeploy retires.
 */
import { existsSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import {
  cellsRun,
  harness,
  injectedCell,
  raise,
  StoreDown,
  storeWith,
  until,
} from "../../test/support/calls-harness.js";
import { sourceText } from "../notebook/read.js";
import type { Notebook } from "../notebook/types.js";
import { answerFor } from "../server/call-answer.js";

// Fake kernels answer in milliseconds: a test that waits longer is stuck, not slow.
vi.setConfig({ testTimeout: 5_000, hookTimeout: 5_000 });

describe("EmbeddedCalls: uploaded files", () => {
  it("are there while the run runs, and removed after it", async () => {
    const h = await harness();
    const webhook = await h.deploy(["look"]);
    const { dir, file } = await h.uploads(webhook);
    let seen: boolean | undefined;
    h.cells.look = (_code, k) => {
      seen = existsSync(file);
      return k.ok();
    };
    const result = await (await h.accepted(webhook, { uploadsDir: dir })).result;
    expect(result.run.status).toBe("ok");
    expect(seen, "the upload existed while the cell ran").toBe(true);
    expect(existsSync(dir)).toBe(false);
  });

  it("are removed when the run fails in a cell", async () => {
    const h = await harness();
    h.cells.boom = raise("ValueError", "bad");
    const webhook = await h.deploy(["boom"]);
    const { dir } = await h.uploads(webhook);
    const result = await (await h.accepted(webhook, { uploadsDir: dir })).result;
    expect(result.run.status).toBe("error");
    expect(existsSync(dir)).toBe(false);
  });

  it("are removed when the call leaves the queue at shutdown", async () => {
    const h = await harness({ maxRuns: 1, maxQueue: 1 });
    const hold = h.holdingCell("hold");
    const webhook = await h.deploy(["hold"]);
    const first = await h.accepted(webhook);
    const { dir } = await h.uploads(webhook);
    const second = await h.accepted(webhook, { uploadsDir: dir });
    expect(existsSync(dir)).toBe(true);
    h.calls.stopAdmitting();
    expect((await second.result).run.status).toBe("cancelled");
    expect(existsSync(dir)).toBe(false);
    hold.open();
    await first.result;
  });
});

describe("EmbeddedCalls: when the store fails", () => {
  it("createRun fails: submit rejects, the uploads are removed, and the run slot is free again", async () => {
    let failures = 1;
    const h = await harness({
      maxRuns: 1,
      maxQueue: 0,
      store: (real) =>
        storeWith(real, {
          createRun: (input) =>
            failures-- > 0 ? Promise.reject(new StoreDown("createRun")) : real.createRun(input),
        }),
    });
    const webhook = await h.deploy(["x = 1"]);
    const { dir } = await h.uploads(webhook);
    await expect(h.submit(webhook, { uploadsDir: dir })).rejects.toThrow(StoreDown);
    expect(existsSync(dir)).toBe(false);
    expect(await h.store.listRuns({ webhookId: webhook.id })).toEqual([]);
    expect(h.calls.stats()).toMatchObject({ running: 0, queued: 0 });

    // maxRuns 1, no queue: had the slot leaked, this call would be refused.
    const next = await h.submit(webhook);
    expect(next.kind).toBe("accepted");
    if (next.kind === "accepted") expect((await next.result).run.status).toBe("ok");
    expect(h.starter.starts).toHaveLength(1);
  });

  it("createRun fails for a call that would have been queued: it leaves the queue", async () => {
    let fail = false;
    const h = await harness({
      maxRuns: 1,
      maxQueue: 1,
      store: (real) =>
        storeWith(real, {
          createRun: (input) => (fail ? Promise.reject(new StoreDown("createRun")) : real.createRun(input)),
        }),
    });
    const hold = h.holdingCell("hold");
    const webhook = await h.deploy(["hold"]);
    const first = await h.accepted(webhook);
    fail = true;
    await expect(h.submit(webhook)).rejects.toThrow(StoreDown);
    fail = false;
    expect(h.calls.stats()).toMatchObject({ running: 1, queued: 0 });
    const third = await h.accepted(webhook);
    expect(third.state()).toBe("queued");
    hold.open();
    expect((await first.result).run.status).toBe("ok");
    expect((await third.result).run.status).toBe("ok");
  });

  it("startRun fails for a queued call: a failed outcome, 500 internal, the record closed as InternalError", async () => {
    const h = await harness({
      maxRuns: 1,
      maxQueue: 1,
      store: (real) => storeWith(real, { startRun: () => Promise.reject(new StoreDown("startRun")) }),
    });
    const hold = h.holdingCell("hold");
    const webhook = await h.deploy(["hold"]);
    const first = await h.accepted(webhook);
    const { dir } = await h.uploads(webhook);
    const second = await h.accepted(webhook, { uploadsDir: dir }, true);
    expect(second.run.status).toBe("queued");

    hold.open();
    const failed = await second.result;
    expect(failed.outcome).toEqual({
      kind: "failed",
      runId: second.run.id,
      message: "the store is down (startRun)",
    });
    expect(failed.answer.status).toBe(500);
    expect(JSON.parse(failed.answer.body.toString("utf8"))).toMatchObject({
      error: "internal",
      id: second.run.id,
    });
    expect(failed.answer).toEqual(answerFor(failed.outcome, webhook));
    const record = await h.store.getRun(second.run.id);
    expect(record).toMatchObject({
      status: "error",
      httpStatus: 500,
      error: { ename: "InternalError", evalue: "the store is down (startRun)" },
    });
    expect((await h.store.readAnswer(second.run.id))?.status).toBe(500);
    expect(existsSync(dir)).toBe(false);
    expect((await first.result).run.status).toBe("ok");
    expect(h.logs.some((l) => l.level === "error" && l.msg === "the call failed inside nbhook")).toBe(true);
    expect(h.calls.stats()).toMatchObject({ running: 0, queued: 0 });
    expect(h.starter.starts, "no kernel for the call that could not start").toHaveLength(1);
  });

  it("finishRun fails once: a failed outcome, and the record is then closed as an error with 500", async () => {
    let calls = 0;
    const h = await harness({
      store: (real) =>
        storeWith(real, {
          finishRun: (id, result) =>
            ++calls === 1 ? Promise.reject(new StoreDown("finishRun")) : real.finishRun(id, result),
        }),
    });
    const webhook = await h.deploy(["x = 1"]);
    const call = await h.accepted(webhook, {}, true);
    const result = await call.result;
    expect(calls).toBe(2);
    expect(result.outcome).toMatchObject({ kind: "failed", runId: call.run.id });
    expect(result.answer.status).toBe(500);
    expect(JSON.parse(result.answer.body.toString("utf8"))).toMatchObject({
      error: "internal",
      id: call.run.id,
    });
    expect(result.run).toMatchObject({ status: "error", httpStatus: 500, error: { ename: "InternalError" } });
    expect(await h.store.getRun(call.run.id)).toMatchObject({
      status: "error",
      httpStatus: 500,
      error: { ename: "InternalError", evalue: "the store is down (finishRun)" },
    });
    expect((await h.store.readAnswer(call.run.id))?.status).toBe(500);
  });

  it("writeOutput fails: the run is not ok (no output link to a missing notebook), answered 500 and recorded", async () => {
    const h = await harness({
      store: (real) => storeWith(real, { writeOutput: () => Promise.reject(new StoreDown("writeOutput")) }),
    });
    const webhook = await h.deploy(["x = 1"]);
    const result = await (await h.accepted(webhook)).result;
    expect(result.outcome).toMatchObject({ kind: "failed", storage: undefined });
    expect(result.outcome).toMatchObject({
      message: expect.stringMatching(/^the executed notebook could not be saved: the store is down/),
    });
    expect(result.answer.status).toBe(500);
    expect(result.run).toMatchObject({ status: "error", httpStatus: 500, error: { ename: "InternalError" } });
    expect(await h.readOutput(webhook, result)).toBeUndefined();
  });

  it("a full disk while saving the output: 507 with the reason, recorded as InsufficientStorage", async () => {
    const full = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    const h = await harness({
      store: (real) => storeWith(real, { writeOutput: () => Promise.reject(full) }),
    });
    const webhook = await h.deploy(["x = 1"]);
    const result = await (await h.accepted(webhook)).result;
    expect(result.outcome).toMatchObject({ kind: "failed", storage: "no space left on the device" });
    expect(result.answer.status).toBe(507);
    expect(JSON.parse(result.answer.body.toString())).toMatchObject({
      error: "insufficient-storage",
      message: expect.stringContaining(
        "the executed notebook could not be saved: no space left on the device",
      ),
    });
    expect(result.run).toMatchObject({
      status: "error",
      httpStatus: 507,
      error: { ename: "InsufficientStorage" },
    });
  });

  it("a record the store cannot close is closed by the retries once it can, never left running", async () => {
    let refusals = 2;
    const h = await harness({
      store: (real) =>
        storeWith(real, {
          finishRun: (...args: Parameters<typeof real.finishRun>) =>
            refusals-- > 0 ? Promise.reject(new StoreDown("finishRun")) : real.finishRun(...args),
        }),
    });
    const webhook = await h.deploy(["x = 1"]);
    const result = await (await h.accepted(webhook)).result;
    expect(result.outcome.kind).toBe("failed");
    expect(result.run.status).toBe("running"); // as the store last said
    await h.calls.close(); // its last try closes the record
    expect(await h.store.getRun(result.run.id)).toMatchObject({
      status: "error",
      error: { ename: "InternalError" },
    });
  });
});

describe("EmbeddedCalls: a run that fails, and isolated kernels", () => {
  it("a cell error ends the record error with its ename, evalue and cell, answers 500 run-failed, and the kernel is not reused", async () => {
    const h = await harness();
    h.cells.boom = raise("ValueError", "bad value");
    const webhook = await h.deploy(["x = 1", "boom", "never = 1"]);

    const result = await (await h.accepted(webhook)).result;
    const output = await h.readOutput(webhook, result);
    const boomIndex = output!.cells.findIndex((c) => sourceText(c.source) === "boom");
    expect(boomIndex).toBe(2); // after the injected cell and "x = 1"
    expect(result.outcome).toMatchObject({
      kind: "ran",
      status: "error",
      error: { ename: "ValueError", evalue: "bad value", cellIndex: boomIndex },
    });
    expect(result.run).toMatchObject({
      status: "error",
      httpStatus: 500,
      // The traceback as the kernel printed it, without its ANSI colours.
      error: {
        ename: "ValueError",
        evalue: "bad value",
        cellIndex: boomIndex,
        traceback: ["ValueError: bad value"],
      },
    });
    expect(result.answer).toEqual(answerFor(result.outcome, webhook));
    const body = JSON.parse(result.answer.body.toString("utf8")) as Record<string, unknown>;
    expect(body).toMatchObject({
      error: "run-failed",
      id: result.run.id,
      status: "error",
      ename: "ValueError",
      evalue: "bad value",
      traceback: ["ValueError: bad value"],
    });
    expect(cellsRun(h.starter.fakes[0]!)).not.toContain("never = 1");

    // The failed run's kernel is shut down; the next call gets a kernel of its own.
    await h.starter.fakes[0]!.waitFor("shutdown_request");
    await until(() => !h.starter.fakes[0]!.alive, "the first kernel's exit");
    const next = await (await h.accepted(webhook)).result;
    expect(next.run.status).toBe("error");
    expect(h.starter.fakes).toHaveLength(2);
    expect(cellsRun(h.starter.fakes[0]!).filter((c) => c === "boom")).toHaveLength(1);
    expect(cellsRun(h.starter.fakes[1]!).filter((c) => c === "boom")).toHaveLength(1);
  });

  it("isolated calls each get a fresh kernel, shut down after the call", async () => {
    const h = await harness();
    const webhook = await h.deploy(["x = 1"]);
    for (let i = 0; i < 3; i++) expect((await (await h.accepted(webhook)).result).run.status).toBe("ok");
    expect(h.starter.fakes).toHaveLength(3);
    await Promise.all(h.starter.fakes.map((f) => f.waitFor("shutdown_request")));
    for (const fake of h.starter.fakes) expect(cellsRun(fake).filter((c) => c === "x = 1")).toHaveLength(1);
  });
});

describe("EmbeddedCalls: debug and redaction", () => {
  it("logs the parameters of a debug webhook redacted, saves them redacted, and gives the kernel the real values", async () => {
    const h = await harness();
    const webhook = await h.deploy(["x = 1"], { debug: true });
    const query = { password: "hunter2", name: "ann" };

    const headers = { authorization: "Bearer s3cret-bearer", "x-trace": "t-1" };
    const result = await (await h.accepted(webhook, { query, headers })).result;
    expect(result.run.status).toBe("ok");

    const debugLine = h.logs.find((l) => l.msg === "debug: run parameters");
    expect(debugLine, "the debug log of the parameters").toBeDefined();
    expect(debugLine!.fields.parameters).toMatchObject({
      password: "<redacted>",
      name: "ann",
      params: { password: "<redacted>", name: "ann" },
      headers: { authorization: "<redacted>", "x-trace": "t-1" },
    });
    expect(
      h.logs.some((l) => l.msg.startsWith("debug: cell-done")),
      "debug progress lines",
    ).toBe(true);
    const logged = JSON.stringify(h.logs, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
    expect(logged).not.toContain("hunter2");
    expect(logged).not.toContain("s3cret");

    // The record and the saved notebook show "<redacted>"; the kernel ran the real value.
    expect(result.run.parameters).toMatchObject({
      password: "<redacted>",
      params: { password: "<redacted>" },
    });
    const saved = await h.store.readOutput(webhook.id, result.run.outputHisto);
    const text = saved!.toString("utf8");
    expect(text).not.toContain("hunter2");
    const output = JSON.parse(text) as Notebook;
    expect(sourceText(injectedCell(output)!.source)).toContain("<redacted>");
    expect(output.metadata.papermill).toMatchObject({ parameters: { password: "<redacted>" } });
    const injectedCode = cellsRun(h.starter.fakes[0]!)[0]!;
    expect(injectedCode).toContain("hunter2");
    // Secret-looking headers are redacted even for the kernel; the other values are real.
    expect(injectedCode).not.toContain("s3cret");
    expect(injectedCode).toContain("t-1");
    expect(text).not.toContain("s3cret");
  });

  it("logs no parameters for a webhook without debug", async () => {
    const h = await harness();
    const webhook = await h.deploy(["x = 1"]);
    await (
      await h.accepted(webhook, { query: { name: "ann" } })
    ).result;
    expect(h.logs.filter((l) => l.msg.startsWith("debug:"))).toEqual([]);
    expect(h.logs.some((l) => l.msg === "webhook run finished")).toBe(true);
  });
});

describe("EmbeddedCalls: warm kernels", () => {
  it("webhookChanged retires the kernel a reuse-mode webhook keeps", async () => {
    const h = await harness();
    const webhook = await h.deploy(["x = 1"], { mode: "reuse" });
    expect((await (await h.accepted(webhook)).result).run.status).toBe("ok");
    expect((await (await h.accepted(webhook)).result).run.status).toBe("ok");
    expect(h.starter.fakes, "one kernel serving both calls").toHaveLength(1);
    const kept = h.starter.fakes[0]!;
    expect(cellsRun(kept).filter((c) => c === "x = 1")).toHaveLength(2);
    expect(kept.alive).toBe(true);
    expect(kept.requests.some((r) => r.msgType === "shutdown_request")).toBe(false);
    expect(h.calls.stats().kernels?.warm).toMatchObject([{ webhookId: webhook.id, mode: "reuse", ready: 1 }]);

    h.calls.webhookChanged(webhook.id);
    await kept.waitFor("shutdown_request");
    await until(() => !kept.alive, "the kept kernel's exit");
    expect(h.calls.stats().kernels?.warm).toEqual([]);

    // The next call prepares a new kernel.
    expect((await (await h.accepted(webhook)).result).run.status).toBe("ok");
    expect(h.starter.fakes).toHaveLength(2);
  });

  it("a reuse-mode webhook runs one call at a time, whatever the server's run limit", async () => {
    const h = await harness({ maxRuns: 4, maxQueue: 4 });
    const hold = h.holdingCell("hold");
    const webhook = await h.deploy(["hold"], { mode: "reuse" });
    const first = await h.accepted(webhook);
    const second = await h.accepted(webhook);
    expect(second.run.status).toBe("queued");
    expect(h.calls.stats()).toMatchObject({ running: 1, queued: 1 });
    hold.open();
    expect((await first.result).run.status).toBe("ok");
    expect((await second.result).run.status).toBe("ok");
    expect(h.starter.fakes).toHaveLength(1);
  });

  it("a reuse-mode kernel whose call failed is shut down, and the next call runs on a new one", async () => {
    const h = await harness();
    h.cells.boom = raise("ValueError", "bad");
    const webhook = await h.deploy(["boom"], { mode: "reuse" });
    expect((await (await h.accepted(webhook)).result).run.status).toBe("error");
    await h.starter.fakes[0]!.waitFor("shutdown_request");
    expect((await (await h.accepted(webhook)).result).run.status).toBe("error");
    // Each failed call's kernel is replaced in the background: the second call ran on the replacement.
    const booms = h.starter.fakes.map((f) => cellsRun(f).filter((c) => c === "boom").length);
    expect(booms.slice(0, 2)).toEqual([1, 1]);
    expect(h.starter.fakes[0]!.alive).toBe(false);
  });

  it("webhookChanged leaves other webhooks' kept kernels alone", async () => {
    const h = await harness();
    const a = await h.deploy(["x = 1"], { mode: "reuse" });
    const b = await h.deploy(["y = 1"], { mode: "reuse" });
    await (
      await h.accepted(a)
    ).result;
    await (
      await h.accepted(b)
    ).result;
    const [kernelA, kernelB] = h.starter.fakes;
    h.calls.webhookChanged(a.id);
    await kernelA!.waitFor("shutdown_request");
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(kernelB!.alive).toBe(true);
    expect(kernelB!.requests.some((r) => r.msgType === "shutdown_request")).toBe(false);
  });
});
