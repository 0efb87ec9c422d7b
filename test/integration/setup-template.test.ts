/**
 * `setup` mode over real HTTP with a real ipykernel: the call's folder and environment reach a
 * prepared kernel with the cells (the lease's prelude), on top of what the setup cells left
 * (their os.environ changes stay, their chdir is undone by the call's folder), and the call's
 * cells continue the setup cells' execution counts as they did with a request of its own.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseNotebook } from "../../src/notebook/read.js";
import type { CodeCell } from "../../src/notebook/types.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import type { WebhookSettings } from "../../src/store/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";

guardKernelLeaks();

let server: RunningServer;
let home: string;
beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), "setup-template-home-"));
  server = await startServer(resolveServerConfig({ host: "127.0.0.1", port: 0, home, poolSize: 1 }, {}));
});
afterAll(async () => {
  await server?.close();
  rmSync(home, { recursive: true, force: true });
});

let deployed = 0;
async function deploy(
  cells: CellSpec[],
  settings: Partial<WebhookSettings>,
  timeoutMs = 60_000,
  on = server,
) {
  const store = on.deps.store;
  const webhook = await store.upsertWebhook({
    path: `/work/template${++deployed}/nb.ipynb`,
    params: {},
    debug: false,
    timeoutMs,
    settings,
  });
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cells))));
  return {
    ...webhook,
    url: `${on.url}/notebook/${webhook.token}`,
    files: await store.filesDir(webhook.id),
  };
}

async function call(url: string) {
  const res = await fetch(url);
  const json = JSON.parse(await res.text()) as Record<string, unknown>;
  return { status: res.status, json, runId: res.headers.get("x-nbhook-run-id")! };
}

async function savedOutput(webhookId: string, runId: string) {
  const run = (await server.deps.store.getRun(runId))!;
  const bytes = await server.deps.store.readOutput(webhookId, run.outputHisto);
  return parseNotebook(bytes!.toString("utf8"));
}

const SETUP = {
  source:
    "import json, os, sys\n" +
    "os.environ['FROM_SETUP'] = 'yes'\n" +
    "os.chdir('/')\n" +
    "sys.path.append('/nbhook-setup-path')\n" +
    "print('setup', end='')",
  tags: ["setup"],
};
const ANSWER =
  "from nbhook import webhook\n" +
  "webhook.respond_json({'cwd': os.getcwd(), 'from_setup': os.environ.get('FROM_SETUP'),\n" +
  "  'run': json.loads(os.environ['NBHOOK_RUN']), 'path': '/nbhook-setup-path' in sys.path})";

describe("setup mode: the call's context with the cells", () => {
  it("gives each call its folder and environment on top of the setup state, counts continuing", async () => {
    const hook = await deploy([SETUP, ANSWER, "x = 1\nx"], { mode: "setup" });
    for (let i = 0; i < 2; i++) {
      const { status, json, runId } = await call(hook.url);
      expect(status).toBe(200);
      expect(json.cwd).toBe(hook.files); // the call's folder, not the setup cell's chdir
      expect(json.from_setup).toBe("yes");
      expect(json.path).toBe(true);
      expect(json.run).toMatchObject({ webhook_id: hook.id });
      expect(json.run).not.toHaveProperty("setup");
      const nb = await savedOutput(hook.id, runId);
      const code = nb.cells.filter((c) => c.cell_type === "code") as CodeCell[];
      // The injected parameters cell runs after the setup cell, then the call's cells.
      expect(code.map((c) => c.execution_count)).toEqual([2, 1, 3, 4]);
      expect(code[1]!.outputs).toMatchObject([{ output_type: "stream", name: "stdout", text: ["setup"] }]);
      expect(code[3]!.outputs).toMatchObject([
        { output_type: "execute_result", execution_count: 4, data: { "text/plain": ["1"] } },
      ]);
    }
  });
});

/** What a user sees of a saved notebook: each code cell's outputs and execution count. */
async function seen(webhookId: string, runId: string) {
  const nb = await savedOutput(webhookId, runId);
  const text = JSON.stringify(
    nb.cells
      .filter((c) => c.cell_type === "code")
      .map((c) => [(c as CodeCell).execution_count, (c as CodeCell).outputs]),
  );
  // The parameters cell quotes the request's headers (the port is the same server).
  return JSON.parse(text.replace(/\/tmp\/[^"\\]*/g, "<tmp>")) as unknown;
}

/** Deploys `cells` twice, with the template and without (NBHOOK_SETUP_TEMPLATE=0), calls each. */
async function bothWays(cells: CellSpec[], timeoutMs?: number) {
  const results = [];
  for (const off of [false, true]) {
    if (off) process.env.NBHOOK_SETUP_TEMPLATE = "0";
    try {
      const hook = await deploy(cells, { mode: "setup" }, timeoutMs);
      const first = await call(hook.url);
      const second = await call(hook.url);
      results.push({ hook, first, second, seen: await seen(hook.id, second.runId) });
    } finally {
      delete process.env.NBHOOK_SETUP_TEMPLATE;
    }
  }
  return results;
}

// Whether the kernel's parent is a setup template (started with a setup file), seen from inside.
const ANSWER_PID =
  "import os\nfrom nbhook import webhook\nwebhook.respond_json({'leaked': 'leaked' in globals(),\n" +
  "  'template': 'NBHOOK_SETUP_TEMPLATE_FILE=' in open(f'/proc/{os.getppid()}/environ').read()})";

describe("setup mode with a setup template", () => {
  it("saves the same notebooks as kernels that ran the setup cells themselves", async () => {
    const setup = {
      source:
        "import os, sys, subprocess\n" +
        "from IPython.display import display\n" +
        "print('out')\nprint('err', file=sys.stderr)\nprint('no newline', end='')\n" +
        "h = display('first', display_id='d1')\n" +
        "def double(x):\n    return 2 * x\n" +
        "os.environ['FROM_SETUP'] = 'yes'\nsys.path.append('/nbhook-setup-path')\n" +
        "subprocess.run(['echo', 'from a subprocess'])\n" +
        "41 + 1",
      tags: ["setup"],
    };
    const shell = { source: "!echo bang", tags: ["setup"] };
    const [tpl, plain] = await bothWays([
      setup,
      shell,
      "h.update('second')\ndouble(21)",
      "print(os.environ['FROM_SETUP'], '/nbhook-setup-path' in sys.path, os.getcwd() == os.environ.get('PWD', os.getcwd()) or True)",
      ANSWER_PID,
      "leaked = 1",
    ]);
    for (const r of [tpl!, plain!]) {
      expect(r.first.status).toBe(200);
      expect(r.second.status).toBe(200);
      expect(r.second.json.leaked).toBe(false); // call 1's global is not in call 2's kernel
    }
    expect(tpl!.second.json.template).toBe(true);
    expect(plain!.second.json.template).toBe(false);
    // All but the answer (it says where its kernel came from).
    const withoutAnswer = (seen: unknown) => (seen as unknown[]).filter((_, i) => i !== 5);
    expect(withoutAnswer(tpl!.seen)).toEqual(withoutAnswer(plain!.seen));
    expect((tpl!.seen as unknown[]).length).toBe(7);
  });

  // Debian's python3-matplotlib brings scipy and ~45 packages: not installed for CI; run where it is.
  const matplotlib =
    spawnSync("/usr/bin/python3", ["-c", "import matplotlib_inline, matplotlib"]).status === 0;
  it.skipIf(!matplotlib)(
    "saves the same notebooks for inline matplotlib figures made in setup cells and after them",
    async () => {
      const [tpl, plain] = await bothWays([
        {
          source: "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nprint('drawn')",
          tags: ["setup"],
        },
        "plt.figure(figsize=(2, 2))\nplt.bar([1, 2], [3, 4])\nplt.title('after')",
        ANSWER_PID,
      ]);
      for (const r of [tpl!, plain!]) expect(r.second.status, JSON.stringify(r.second.json)).toBe(200);
      expect(tpl!.second.json.template).toBe(true);
      // The figures' PNG bytes may differ (a renderer's timestamp-free but font-cache-dependent
      // output); their kinds, places and sizes must not.
      const shape = (seen: unknown) =>
        JSON.parse(
          JSON.stringify(seen, (key, value: unknown) =>
            key === "image/png" ? `png ${String(value).length > 100}` : value,
          ),
        ) as unknown[];
      expect(shape(tpl!.seen).slice(0, 3)).toEqual(shape(plain!.seen).slice(0, 3));
      const setupOutputs = (shape(tpl!.seen)[1] as [number, { output_type: string }[]])[1];
      expect(setupOutputs.map((o) => o.output_type)).toEqual(["stream", "display_data"]);
    },
  );

  it("forks kernels after a setup cell imported numpy, whose OpenBLAS started a pool of native threads", async () => {
    // What makes this test mean something: numpy's BLAS here starts threads at import, as pip's
    // numpy wheels do (scripts/install-system-deps.sh installs Debian's libopenblas0-pthread).
    const tasks = execFileSync("/usr/bin/python3", [
      "-c",
      "import numpy, os; print(len(os.listdir('/proc/self/task')))",
    ]);
    expect(Number(tasks), "numpy's BLAS is not threaded: run scripts/install-system-deps.sh").toBeGreaterThan(
      1,
    );
    const hook = await deploy(
      [
        {
          source: "import numpy as np\nA = np.ones((300, 300))\nfirst = float((A @ A).sum())",
          tags: ["setup"],
        },
        "import os\nfrom nbhook import webhook\nwebhook.respond_json({'template': " +
          "'NBHOOK_SETUP_TEMPLATE_FILE=' in open(f'/proc/{os.getppid()}/environ').read(),\n" +
          "  'again': float((A @ A).sum()), 'first': first, 'tasks': len(os.listdir('/proc/self/task'))})",
      ],
      { mode: "setup" },
    );
    for (let i = 0; i < 2; i++) {
      const { status, json } = await call(hook.url);
      expect(status, JSON.stringify(json)).toBe(200);
      expect(json).toMatchObject({ template: true, first: 300 ** 3, again: 300 ** 3 });
    }
  });

  it("fails calls with a setup cell's error as without the template", async () => {
    const [tpl, plain] = await bothWays([{ source: "print('before')\n1/0", tags: ["setup"] }, ANSWER_PID]);
    expect(tpl!.first.status).toBe(500);
    expect(tpl!.first.status).toBe(plain!.first.status);
    expect(tpl!.seen).toEqual(plain!.seen);
  });

  it("fails calls with a setup timeout as without the template", async () => {
    const [tpl, plain] = await bothWays(
      [{ source: "import time\nprint('waiting')\ntime.sleep(60)", tags: ["setup"] }, ANSWER_PID],
      2000,
    );
    expect(tpl!.first.status).toBe(504);
    expect(plain!.first.status).toBe(504);
    expect({ ...tpl!.first.json, id: "<run>" }).toEqual({ ...plain!.first.json, id: "<run>" });
    // KNOWN GAP (not yet equal): without the template the saved notebook shows what the setup
    // cell printed before the timeout; with it, the call times out while the template still runs
    // its setup, and the setup cell's outputs are missing. Asserted as it is, so that the gap is seen.
    expect(tpl!.seen).not.toEqual(plain!.seen);
  });

  it("falls back to running the setup cells on each kernel when a setup cell leaves a thread or needs await", async () => {
    for (const source of [
      "import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()",
      "import asyncio\nawait asyncio.sleep(0)\nimport os",
    ]) {
      const hook = await deploy([{ source, tags: ["setup"] }, ANSWER_PID], { mode: "setup" });
      const { status, json } = await call(hook.url);
      expect(status, JSON.stringify(json)).toBe(200);
      expect(json.template).toBe(false);
    }
  });
});

describe("a setup template's lifetime", () => {
  it("is gone, with its kernels, once the server is closed", async () => {
    const ownHome = mkdtempSync(path.join(os.tmpdir(), "setup-template-own-"));
    const own = await startServer(
      resolveServerConfig({ host: "127.0.0.1", port: 0, home: ownHome, poolSize: 1 }, {}),
    );
    let template = 0;
    try {
      const hook = await deploy(
        [
          { source: "X = 1", tags: ["setup"] },
          "import os\nfrom nbhook import webhook\nwebhook.respond_json({'ppid': os.getppid()})",
        ],
        { mode: "setup" },
        60_000,
        own,
      );
      const res = await fetch(`${hook.url}`);
      expect(res.status).toBe(200);
      template = ((await res.json()) as { ppid: number }).ppid;
      expect(readFileSync(`/proc/${template}/environ`, "utf8")).toContain("NBHOOK_SETUP_TEMPLATE_FILE=");
    } finally {
      await own.close();
      rmSync(ownHome, { recursive: true, force: true });
    }
    const deadline = Date.now() + 10_000;
    while (existsSync(`/proc/${template}`) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(`/proc/${template}`)).toBe(false);
  });
});
