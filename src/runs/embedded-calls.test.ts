/**
 * EmbeddedCalls end to end against scripted fake kernels (test/support/fake-kernel.ts) and the real
 * SqliteStore on a temporary home: admission (run now, queue, refuse), the run record from
 * `queued`/`running` to its end, the outcome and the server's answer for it, kept answers, the
 * saved output notebook, redaction, uploaded files, store failures, stopping, and the warm kernels
 * a redeploy retires. The server's own `answerFor` and `createLinks` are used, as app.ts does.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  fakeKernelSpec,
  fakeKernelStarter,
  type ExecuteScript,
  type FakeKernel,
} from "../../test/support/fake-kernel.js";
import { makeNotebook, type CellSpec } from "../../test/support/notebooks.js";
import { sourceText } from "../notebook/read.js";
import type { CodeCell, Notebook } from "../notebook/types.js";
import { answerFor } from "../server/call-answer.js";
import { createLinks } from "../server/links.js";
import { newHisto, SqliteStore, type Store, type Webhook, type WebhookSettings } from "../store/index.js";
import { EmbeddedCalls } from "./embedded-calls.js";
import type { CallResult, RunLogger, Submission } from "./types.js";
import type { RequestInput } from "./webhook-parameters.js";

// Fake kernels answer in milliseconds: a test that waits longer is stuck, not slow.
vi.setConfig({ testTimeout: 5_000, hookTimeout: 5_000 });

/** makeNotebook's notebooks name the kernelspec "python3". */
const SPEC = fakeKernelSpec({ name: "python3" });

type Accepted = Extract<Submission, { kind: "accepted" }>;

interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  fields: Record<string, unknown>;
  msg: string;
}

/** Resolves when `open()` is called: holds a scripted cell (and its run slot) while the test looks. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Polls until `condition` holds (fake kernels answer in milliseconds). */
async function until(condition: () => boolean, what: string, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The code of every execute_request a fake received, in order. */
const executed = (fake: FakeKernel) =>
  fake.requests
    .filter((r) => r.msgType === "execute_request")
    .map((r) => (r.content as { code: string }).code);

/** The code of the cells a fake ran, without the silent preamble that moves it into the webhook's folder. */
const cellsRun = (fake: FakeKernel) => executed(fake).filter((code) => !code.includes("__nbhook_os"));

/** The silent execute of a pooled (or warm) kernel that moves it into the webhook's folder and environment. */
const isPreamble = (code: string) => code.startsWith("import os as __nbhook_os");

const injectedCell = (nb: Notebook) =>
  nb.cells.find(
    (c) =>
      c.cell_type === "code" && (c.metadata.tags as string[] | undefined)?.includes("injected-parameters"),
  ) as CodeCell | undefined;

/** A cell that raises: its error output, the error reply, idle. */
const raise =
  (ename: string, evalue: string): ExecuteScript =>
  (_code, k) => {
    void k.busy();
    void k.error(ename, evalue, [`\u001b[31m${ename}\u001b[0m: ${evalue}`]);
    void k.reply({
      status: "error",
      execution_count: k.count,
      ename,
      evalue,
      traceback: [`${ename}: ${evalue}`],
    });
    return k.idle();
  };

/** A store that is the real one for every method, with the given methods replaced. */
function storeWith(real: Store, replaced: Partial<Store>): Store {
  const store: Store = {
    upsertWebhook: (input) => real.upsertWebhook(input),
    getWebhook: (id) => real.getWebhook(id),
    findWebhookByPath: (p) => real.findWebhookByPath(p),
    findWebhookByToken: (token) => real.findWebhookByToken(token),
    listWebhooks: (options) => real.listWebhooks(options),
    rotateToken: (id) => real.rotateToken(id),
    deleteWebhook: (id) => real.deleteWebhook(id),
    addVersion: (id, notebook) => real.addVersion(id, notebook),
    listVersions: (id) => real.listVersions(id),
    readVersion: (id, histo) => real.readVersion(id, histo),
    deleteVersion: (id, histo) => real.deleteVersion(id, histo),
    writeFile: (id, relative, data) => real.writeFile(id, relative, data),
    filesDir: (id) => real.filesDir(id),
    uploadsDir: (id, histo) => real.uploadsDir(id, histo),
    createRun: (input) => real.createRun(input),
    startRun: (id) => real.startRun(id),
    finishRun: (id, result) => real.finishRun(id, result),
    closeInterruptedRuns: () => real.closeInterruptedRuns(),
    readAnswer: (id) => real.readAnswer(id),
    getRun: (id) => real.getRun(id),
    listRuns: (options) => real.listRuns(options),
    writeOutput: (id, histo, notebook, runId) => real.writeOutput(id, histo, notebook, runId),
    readOutput: (id, histo) => real.readOutput(id, histo),
    listOutputs: (id) => real.listOutputs(id),
    deleteOutput: (id, histo) => real.deleteOutput(id, histo),
    close: () => real.close(),
  };
  return { ...store, ...replaced };
}

/** The store's own error, thrown by a method made to fail. */
class StoreDown extends Error {
  constructor(method: string) {
    super(`the store is down (${method})`);
    this.name = "StoreDown";
  }
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface HarnessOptions {
  maxRuns?: number;
  maxQueue?: number;
  /** Wraps the real store (to make one of its methods fail). */
  store?: (real: Store) => Store;
}

/**
 * An EmbeddedCalls over the real store on a fresh home and fake kernels started one per call
 * (poolSize 0). Every fake runs `cells[code]` for that code, else a plain ok cell. After the test:
 * the calls are closed, no fake may be left running or with open sockets, and the home is removed.
 */
async function harness(options: HarnessOptions = {}) {
  const home = await mkdtemp(path.join(os.tmpdir(), "nbhook-calls-"));
  const real = new SqliteStore(home);
  const store = options.store ? options.store(real) : real;
  const cells: Record<string, ExecuteScript> = {};
  const starter = fakeKernelStarter((fake) =>
    fake.onExecute((code, k) => (cells[code] ? cells[code](code, k) : k.ok())),
  );
  const logs: LogLine[] = [];
  const line =
    (level: LogLine["level"]) =>
    (fields: object, msg = "") =>
      void logs.push({ level, fields: fields as Record<string, unknown>, msg });
  const log: RunLogger = {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
  };
  const calls = new EmbeddedCalls({
    store,
    links: createLinks(() => "http://nbhook.test"),
    answerFor,
    log,
    poolSize: 0,
    maxRuns: options.maxRuns ?? 4,
    maxQueue: options.maxQueue ?? 4,
    startKernel: starter.start,
    findSpecs: async () => [SPEC],
  });
  const gates: ReturnType<typeof gate>[] = [];
  cleanups.push(async () => {
    for (const g of gates) g.open(); // a failed test must not leave a cell holding close()
    await calls.close();
    const running = starter.fakes.filter((f) => f.alive).length;
    const sockets = starter.fakes.map((f) => f.openSockets);
    const problems = starter.fakes.flatMap((f) => f.requests.filter((r) => r.problem));
    await starter.closeAll();
    await real.close();
    await rm(home, { recursive: true, force: true });
    expect(running, "fake kernels left running after close()").toBe(0);
    expect(
      sockets.every((n) => n === 0),
      "fake kernels with open sockets after close()",
    ).toBe(true);
    expect(problems, "requests that fail their schema, or scripts that threw").toEqual([]);
  });

  let deployed = 0;
  /** Deploys a notebook of `cellSpecs` as a new webhook and returns it with its live version. */
  async function deploy(
    cellSpecs: CellSpec[],
    settings: {
      debug?: boolean;
      timeoutMs?: number;
      mode?: WebhookSettings["mode"];
      params?: Record<string, unknown>;
    } = {},
  ): Promise<Webhook> {
    const webhook = await real.upsertWebhook({
      path: `/work/nb-${++deployed}.ipynb`,
      params: settings.params ?? {},
      debug: settings.debug ?? false,
      timeoutMs: settings.timeoutMs ?? 30_000,
      settings: settings.mode ? { mode: settings.mode } : undefined,
    });
    await real.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cellSpecs))));
    return (await real.getWebhook(webhook.id))!;
  }

  /** Prepares and submits a call of `webhook`. */
  async function submit(
    webhook: Webhook,
    input: Partial<RequestInput> = {},
    keepAnswer = false,
  ): Promise<Submission> {
    const call = await calls.prepare(webhook, { query: {}, headers: {}, body: { kind: "none" }, ...input });
    return calls.submit(call, { keepAnswer });
  }

  /** submit, expecting the call to be accepted. */
  async function accepted(
    webhook: Webhook,
    input: Partial<RequestInput> = {},
    keepAnswer = false,
  ): Promise<Accepted> {
    const submission = await submit(webhook, input, keepAnswer);
    if (submission.kind !== "accepted") throw new Error(`the call was refused: ${submission.message}`);
    return submission;
  }

  /** A cell `code` that waits for the returned gate to open, then ends ok. */
  function holdingCell(code: string) {
    const g = gate();
    gates.push(g);
    cells[code] = async (_code, k) => {
      void k.busy();
      await g.opened;
      void k.reply({ status: "ok", execution_count: k.count });
      await k.idle();
    };
    return g;
  }

  /** A real uploads folder of a webhook's run, holding one file. */
  async function uploads(webhook: Webhook): Promise<{ dir: string; file: string }> {
    const dir = await real.uploadsDir(webhook.id, newHisto());
    const file = path.join(dir, "upload.csv");
    await writeFile(file, "a,b\n1,2\n");
    return { dir, file };
  }

  const readOutput = async (webhook: Webhook, result: CallResult) => {
    const bytes = await real.readOutput(webhook.id, result.run.outputHisto);
    return bytes && (JSON.parse(bytes.toString("utf8")) as Notebook);
  };

  return {
    calls,
    store: real,
    starter,
    cells,
    logs,
    deploy,
    submit,
    accepted,
    holdingCell,
    uploads,
    readOutput,
  };
}

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
    expect(JSON.parse(result.answer.body.toString("utf8"))).toMatchObject({ id: call.run.id, status: "ok" });
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

  it("writeOutput fails: the run still ends ok, and the failure is logged", async () => {
    const h = await harness({
      store: (real) => storeWith(real, { writeOutput: () => Promise.reject(new StoreDown("writeOutput")) }),
    });
    const webhook = await h.deploy(["x = 1"]);
    const result = await (await h.accepted(webhook)).result;
    expect(result.outcome).toMatchObject({ kind: "ran", status: "ok" });
    expect(result.run).toMatchObject({ status: "ok", httpStatus: 200 });
    expect(await h.readOutput(webhook, result)).toBeUndefined();
    expect(h.logs.filter((l) => l.msg === "could not save the output notebook").map((l) => l.level)).toEqual([
      "error",
    ]);
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
