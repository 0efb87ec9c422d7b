/**
 * The harness of the EmbeddedCalls unit tests (src/runs/embedded-calls*.test.ts): calls over the
 * real SqliteStore on a temporary home and scripted fake kernels (test/support/fake-kernel.ts),
 * with the server's own `answerFor` and `createLinks`, as app.ts builds them.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, expect } from "vitest";
import type { CodeCell, Notebook } from "../../src/notebook/types.js";
import {
  EmbeddedCalls,
  type CallResult,
  type RequestInput,
  type RunLogger,
  type Submission,
} from "../../src/runs/index.js";
import { answerFor } from "../../src/server/call-answer.js";
import { createLinks } from "../../src/server/links.js";
import {
  newHisto,
  SqliteStore,
  type Store,
  type Webhook,
  type WebhookSettings,
} from "../../src/store/index.js";
import { fakeKernelSpec, fakeKernelStarter, type ExecuteScript, type FakeKernel } from "./fake-kernel.js";
import { makeNotebook, type CellSpec } from "./notebooks.js";

/** makeNotebook's notebooks name the kernelspec "python3". */
export const SPEC = fakeKernelSpec({ name: "python3" });

export type Accepted = Extract<Submission, { kind: "accepted" }>;

export interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  fields: Record<string, unknown>;
  msg: string;
}

/** Resolves when `open()` is called: holds a scripted cell (and its run slot) while the test looks. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Polls until `condition` holds (fake kernels answer in milliseconds). */
export async function until(condition: () => boolean, what: string, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The code of every execute_request a fake received, in order. */
export const executed = (fake: FakeKernel) =>
  fake.requests
    .filter((r) => r.msgType === "execute_request")
    .map((r) => (r.content as { code: string }).code);

/** The code of the cells a fake ran, without the silent preamble that moves it into the webhook's folder. */
export const cellsRun = (fake: FakeKernel) => executed(fake).filter((code) => !code.includes("__nbhook_os"));

/** The silent execute of a pooled (or warm) kernel that moves it into the webhook's folder and environment. */
export const isPreamble = (code: string) => code.startsWith("import os as __nbhook_os");

export const injectedCell = (nb: Notebook) =>
  nb.cells.find(
    (c) =>
      c.cell_type === "code" && (c.metadata.tags as string[] | undefined)?.includes("injected-parameters"),
  ) as CodeCell | undefined;

/** A cell that raises: its error output, the error reply, idle. */
export const raise =
  (ename: string, evalue: string): ExecuteScript =>
  (_code, k) => {
    void k.busy();
    return k.raise(ename, evalue, [`\u001b[31m${ename}\u001b[0m: ${evalue}`]); // coloured, as ipykernel's
  };

/** A store that is the real one for every method, with the given methods replaced. */
export function storeWith(real: Store, replaced: Partial<Store>): Store {
  const store: Store = {
    upsertWebhook: (input) => real.upsertWebhook(input),
    getWebhook: (id) => real.getWebhook(id),
    findWebhookByPath: (p) => real.findWebhookByPath(p),
    findWebhookByName: (name) => real.findWebhookByName(name),
    listWebhooksByPath: (p) => real.listWebhooksByPath(p),
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
    revokeSession: (id, expiresAt) => real.revokeSession(id, expiresAt),
    isSessionRevoked: (id) => real.isSessionRevoked(id),
    putSecret: (input) => real.putSecret(input),
    listSecrets: () => real.listSecrets(),
    secretsFor: (id) => real.secretsFor(id),
    deleteSecret: (name, id) => real.deleteSecret(name, id),
    createApiToken: (input, options) => real.createApiToken(input, options),
    putApiToken: (input) => real.putApiToken(input),
    findApiTokenByHash: (hash) => real.findApiTokenByHash(hash),
    getApiToken: (id) => real.getApiToken(id),
    listApiTokens: () => real.listApiTokens(),
    revokeApiToken: (name) => real.revokeApiToken(name),
    touchApiToken: (id, at) => real.touchApiToken(id, at),
    serverKey: (name, candidate) => real.serverKey(name, candidate),
    close: () => real.close(),
  };
  return { ...store, ...replaced };
}

/** The store's own error, thrown by a method made to fail. */
export class StoreDown extends Error {
  constructor(method: string) {
    super(`the store is down (${method})`);
    this.name = "StoreDown";
  }
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

export interface HarnessOptions {
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
export async function harness(options: HarnessOptions = {}) {
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
