/**
 * Warm modes over real HTTP with a real ipykernel (docs/modes.md): `setup` cells run once per
 * prepared kernel and calls stay isolated; `reuse` keeps one kernel (and its state) between calls
 * until an error or `reuse_calls`; concurrent reuse calls take turns; a new version or a delete
 * retires prepared kernels; a failing setup cell fails calls with its error and is retried.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseNotebook } from "../../src/notebook/read.js";
import type { CodeCell } from "../../src/notebook/types.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import type { NewWebhook, WebhookSettings } from "../../src/store/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

const warmStats = (server: RunningServer) => server.deps.calls.stats().kernels?.warm ?? [];
const poolStats = (server: RunningServer) => server.deps.calls.stats().kernels?.pool ?? [];

guardKernelLeaks();

let server: RunningServer;
let home: string;
beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), "warm-modes-home-"));
  server = await startServer(resolveServerConfig({ host: "127.0.0.1", port: 0, home, poolSize: 1 }, {}));
});
afterAll(async () => {
  await server?.close();
  rmSync(home, { recursive: true, force: true });
});

let deployed = 0;
async function deploy(cells: CellSpec[], settings: Partial<WebhookSettings>, more: Partial<NewWebhook> = {}) {
  const store = server.deps.store;
  const webhook = await store.upsertWebhook({
    path: `/work/warm${++deployed}/nb.ipynb`,
    params: {},
    debug: false,
    timeoutMs: 60_000,
    settings,
    ...more,
  });
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cells))));
  return {
    ...webhook,
    url: `${server.url}/notebook/${webhook.token}`,
    files: await store.filesDir(webhook.id),
  };
}

async function call(url: string) {
  const res = await fetch(url);
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: the test looks at `text`
  }
  return { status: res.status, text, json, runId: res.headers.get("x-nbhook-run-id")! };
}

async function savedOutput(webhookId: string, runId: string) {
  const run = (await server.deps.store.getRun(runId))!;
  const bytes = await server.deps.store.readOutput(webhookId, run.outputHisto);
  return parseNotebook(bytes!.toString("utf8"));
}

async function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const lines = (file: string) =>
  existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];

const SETUP_CELL = {
  source:
    "import json, os, time\n" +
    "SETUP_PID = os.getpid()\n" +
    "SETUP_RUN = json.loads(os.environ['NBHOOK_RUN'])\n" +
    "open('setup-log.txt', 'a').write(f'{SETUP_PID}\\n')\n" +
    "print('setup ran')",
  tags: ["setup"],
};
const ANSWER_CELL =
  "from nbhook import webhook\n" +
  "webhook.respond_json({'pid': os.getpid(), 'setup_pid': SETUP_PID, 'seen': 'leaked' in globals(),\n" +
  "  'setup_run': SETUP_RUN, 'run': json.loads(os.environ['NBHOOK_RUN'])})";

describe("setup mode", () => {
  it("runs setup cells once per prepared kernel, not per call, and never lets one call's state reach the next", async () => {
    // Kernels that run the setup cells themselves (with a setup template they run once per
    // version: test/integration/setup-template.test.ts).
    process.env.NBHOOK_SETUP_TEMPLATE = "0";
    const hook = await deploy([SETUP_CELL, ANSWER_CELL, "leaked = 'secret'"], { mode: "setup" });
    const answers: Record<string, unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      const { status, json, runId } = await call(hook.url);
      expect(status).toBe(200);
      answers.push({ ...json, runId });
    }
    const pids = answers.map((a) => a.pid as number);
    expect(new Set(pids).size).toBe(3); // a kernel per call
    for (const a of answers) {
      expect(a.setup_pid).toBe(a.pid); // its setup ran on that very kernel, before the call
      expect(a.seen).toBe(false); // the previous call's global is not there
      expect(a.run).toMatchObject({ webhook_id: hook.id }); // the call's environment…
      expect(a.run).not.toHaveProperty("setup"); // …not the setup one
      expect(a.setup_run).toMatchObject({ webhook_id: hook.id, setup: true });
      expect(a.setup_run).not.toHaveProperty("run_id");
    }
    // One setup per kernel: every kernel that served a call ran it exactly once; the one kept
    // ready for the next call ran it too, and nothing else did.
    await until(() => warmStats(server).some((s) => s.webhookId === hook.id && s.ready === 1));
    const log = lines(path.join(hook.files, "setup-log.txt")).map(Number);
    expect(log.length).toBe(4);
    expect(new Set(log).size).toBe(4);
    expect(log.slice(0, 3).sort()).toEqual([...pids].sort());
    // Served kernels are shut down after their call.
    await until(() => pids.every((pid) => !alive(pid)));
    delete process.env.NBHOOK_SETUP_TEMPLATE;
  });

  it("shows the setup cells' outputs in the saved output notebook", async () => {
    const hook = await deploy([SETUP_CELL, ANSWER_CELL], { mode: "setup" });
    const { status, runId } = await call(hook.url);
    expect(status).toBe(200);
    const nb = await savedOutput(hook.id, runId);
    const [injected, setup, answer] = nb.cells as CodeCell[]; // the injected cell goes first (no parameters cell)
    expect(injected!.metadata.tags).toEqual(["injected-parameters"]);
    expect(setup!.outputs).toMatchObject([{ output_type: "stream", name: "stdout" }]);
    expect(JSON.stringify(setup!.outputs)).toContain("setup ran");
    expect(setup!.execution_count).toBe(1); // it ran first, when the kernel was prepared
    expect([injected!.execution_count, answer!.execution_count]).toEqual([2, 3]);
  });

  it("fails calls with the setup cell's error (500), fails fast while backing off, then retries and recovers", async () => {
    const hook = await deploy(
      [
        {
          source: "import os\nif os.path.exists('broken'):\n    raise RuntimeError('setup broke')",
          tags: ["setup"],
        },
        "import json\n" + ANSWER_CELL.replace(/SETUP_\w+/g, "None"),
      ],
      { mode: "setup" },
    );
    writeFileSync(path.join(hook.files, "broken"), "");
    const first = await call(hook.url);
    expect(first.status).toBe(500);
    expect(first.json).toMatchObject({ status: "error", ename: "RuntimeError", evalue: "setup broke" });
    expect((first.json.traceback as string[]).join("\n")).toContain("RuntimeError: setup broke");
    const run = (await server.deps.store.getRun(first.runId))!;
    expect(run).toMatchObject({
      status: "error",
      httpStatus: 500,
      error: { ename: "RuntimeError", cellIndex: 0 },
    });
    const nb = await savedOutput(hook.id, first.runId);
    expect((nb.cells[0] as CodeCell).outputs[0]).toMatchObject({
      output_type: "error",
      ename: "RuntimeError",
    });
    expect((nb.cells[1] as CodeCell).outputs).toEqual([]); // no other cell ran

    const t0 = Date.now();
    const second = await call(hook.url); // within the backoff: no new kernel, the same error
    expect(Date.now() - t0).toBeLessThan(400);
    expect(second.status).toBe(500);
    expect(second.json).toMatchObject({ ename: "RuntimeError", evalue: "setup broke" });

    rmSync(path.join(hook.files, "broken"));
    // The background retry (after 2 s) prepares a kernel; calls work again.
    await until(() => warmStats(server).some((s) => s.webhookId === hook.id && s.ready === 1), 20_000);
    const third = await call(hook.url);
    expect(third.status, third.text).toBe(200);
  });
});

describe("isolated mode", () => {
  it("never lets one call's state reach the next", async () => {
    const hook = await deploy(
      [
        "import os\nfrom nbhook import webhook\nwebhook.respond_json({'seen': 'leaked' in globals(), 'pid': os.getpid()})",
        "leaked = 1",
      ],
      { mode: "isolated" },
    );
    const a = await call(hook.url);
    const b = await call(hook.url);
    expect([a.json.seen, b.json.seen]).toEqual([false, false]);
    expect(a.json.pid).not.toBe(b.json.pid);
    expect(warmStats(server).some((s) => s.webhookId === hook.id)).toBe(false);
  });
});

const COUNTER = [
  {
    source: "import os, time\nfrom nbhook import webhook\nopen('setup-log.txt', 'a').write('x\\n')",
    tags: ["setup"],
  },
  { source: "fail = False\nnap = 0.0", tags: ["parameters"] },
  "counter = globals().get('counter', 0) + 1\n" +
    "start = time.time(); time.sleep(nap); end = time.time()\n" +
    "if fail:\n    raise ValueError('asked to fail')\n" +
    "webhook.respond_json({'counter': counter, 'pid': os.getpid(), 'start': start, 'end': end})",
];

describe("reuse mode", () => {
  it("keeps the kernel and its state between calls (the documented leak), setup cells run once", async () => {
    const hook = await deploy(COUNTER, { mode: "reuse", reuseCalls: 100 });
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await call(hook.url)).json);
    expect(got.map((g) => g.counter)).toEqual([1, 2, 3]);
    expect(new Set(got.map((g) => g.pid)).size).toBe(1);
    expect(lines(path.join(hook.files, "setup-log.txt"))).toHaveLength(1);
  });

  it("replaces the kernel after a call that fails: the next call sees fresh state", async () => {
    const hook = await deploy(COUNTER, { mode: "reuse", reuseCalls: 100 });
    const one = await call(hook.url);
    const two = await call(hook.url);
    expect([one.json.counter, two.json.counter]).toEqual([1, 2]);
    const failed = await call(`${hook.url}?fail=true`);
    expect(failed.status).toBe(500);
    expect(failed.json).toMatchObject({ ename: "ValueError" });
    const after = await call(hook.url);
    expect(after.json.counter).toBe(1);
    expect(after.json.pid).not.toBe(one.json.pid);
    await until(() => !alive(one.json.pid as number));
  });

  it("replaces the kernel after reuse_calls calls", async () => {
    const hook = await deploy(COUNTER, { mode: "reuse", reuseCalls: 2 });
    const got = [];
    for (let i = 0; i < 5; i++) got.push((await call(hook.url)).json);
    expect(got.map((g) => g.counter)).toEqual([1, 2, 1, 2, 1]);
    expect(new Set(got.map((g) => g.pid)).size).toBe(3);
  });

  it("serves concurrent calls one after another on the one kernel", async () => {
    const hook = await deploy(COUNTER, { mode: "reuse", reuseCalls: 100 });
    await call(hook.url); // the kernel is prepared
    const got = (await Promise.all([1, 2, 3].map(() => call(`${hook.url}?nap=0.3`)))).map((r) => r.json);
    expect(new Set(got.map((g) => g.pid)).size).toBe(1);
    expect(got.map((g) => g.counter).sort()).toEqual([2, 3, 4]);
    const spans = got.map((g) => [g.start as number, g.end as number]).sort((x, y) => x[0]! - y[0]!);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]!);
  });
});

describe("deploying and deleting", () => {
  const versioned = (v: string) =>
    makeNotebook([
      { source: `import os\nVERSION = '${v}'\nSETUP_PID = os.getpid()`, tags: ["setup"] },
      "from nbhook import webhook\nwebhook.respond_json({'version': VERSION, 'pid': os.getpid()})",
    ]);
  const api = (method: string, route: string, body?: unknown) =>
    fetch(`${server.url}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${server.deps.apiToken}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (res) => ({
      status: res.status,
      json: (await res.json()) as { webhook: { id: string; url: string } },
    }));

  it("rebuilds prepared kernels when a new version is deployed, and shuts them down when the webhook is deleted", async () => {
    const nbPath = "/work/warm-deploy/nb.ipynb";
    const added = await api("POST", "/api/webhooks", {
      path: nbPath,
      notebook: versioned("v1"),
      mode: "reuse",
    });
    expect(added.status).toBe(201);
    const { url, id } = added.json.webhook;
    const v1 = await call(url);
    expect(v1.json.version).toBe("v1");
    expect(warmStats(server).find((s) => s.webhookId === id)?.pids).toEqual([v1.json.pid]);

    expect(
      (await api("POST", "/api/webhooks", { path: nbPath, notebook: versioned("v2"), mode: "reuse" })).status,
    ).toBe(200);
    expect(warmStats(server).some((s) => s.webhookId === id)).toBe(false);
    await until(() => !alive(v1.json.pid as number));
    const v2 = await call(url);
    expect(v2.json).toMatchObject({ version: "v2" });
    expect(v2.json.pid).not.toBe(v1.json.pid);

    expect((await api("DELETE", `/api/webhooks/${id}`)).status).toBe(200);
    expect(warmStats(server).some((s) => s.webhookId === id)).toBe(false);
    await until(() => !alive(v2.json.pid as number));
  });
});

describe("closing the server", () => {
  it("stops every kernel it started, prepared ones included", async () => {
    const own = await startServer(
      resolveServerConfig(
        { host: "127.0.0.1", port: 0, home: mkdtempSync(path.join(os.tmpdir(), "warm-close-")), poolSize: 1 },
        {},
      ),
    );
    const store = own.deps.store;
    const pids: number[] = [];
    for (const mode of ["setup", "reuse"] as const) {
      const webhook = await store.upsertWebhook({
        path: `/work/close-${mode}/nb.ipynb`,
        params: {},
        debug: false,
        timeoutMs: 60_000,
        settings: { mode },
      });
      await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(COUNTER))));
      const { json } = await call(`${own.url}/notebook/${webhook.token}`);
      pids.push(json.pid as number);
    }
    await until(() => warmStats(own).every((s) => s.ready === 1));
    pids.push(...warmStats(own).flatMap((s) => s.pids), ...poolStats(own).flatMap((s) => s.pids));
    await own.close();
    expect(warmStats(own)).toEqual([]);
    await until(() => pids.every((pid) => !alive(pid)), 5000);
    rmSync(own.deps.config.home, { recursive: true, force: true });
  });
});
