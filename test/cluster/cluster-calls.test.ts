/**
 * A cluster of 2 API nodes and 2 workers, each its own process, on one Postgres database
 * (docs/scaling.md): every management call and webhook call gives the same results on any API
 * node; asynchronous calls are polled on another node than the one called; uploads reach the
 * worker; limits hold across the cluster (a webhook's max_concurrency, reuse mode one at a time,
 * the queue bound with 503); two workers never run the same call.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, stopCluster, type TestCluster } from "../support/cluster.js";
import type { FaultServer } from "../support/fault-server.js";
import type { CellSpec } from "../support/notebooks.js";

let cluster: TestCluster;
let a: FaultServer;
let b: FaultServer;
const shared = mkdtempSync(path.join(os.tmpdir(), "nbhook-cluster-shared-"));

beforeAll(async () => {
  cluster = await startCluster({ apis: 2, workers: 2, workerArgs: ["--pool", "1", "--max-runs", "2"] });
  [a, b] = cluster.apis as [FaultServer, FaultServer];
}, 120_000);

afterAll(async () => {
  await stopCluster();
  rmSync(shared, { recursive: true, force: true });
}, 60_000);

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
}

/** The same webhook URL on another API node (the token is the cluster's). */
function on(node: FaultServer, url: string): string {
  const u = new URL(url);
  return `${node.url}${u.pathname}${u.search}`;
}

async function deploy(
  node: FaultServer,
  name: string,
  cells: CellSpec[],
  more: Record<string, unknown> = {},
) {
  return node.deploy(name, cells, more as never);
}

const HELLO: CellSpec[] = [
  { source: "name = 'world'\ntimes = 1", tags: ["parameters"] },
  {
    source:
      "import os, nbhook\nnbhook.webhook.respond_json({'greeting': ' '.join(['hello ' + name] * times), 'pid': os.getpid()})",
  },
];

describe("one cluster, any API node", () => {
  it("the API nodes share the API token, and a webhook deployed on one is listed, found and called on the other", async () => {
    expect(a.token).toBe(b.token);
    const hook = await deploy(a, "hello", HELLO, { params: { inline: true } });
    const listed = await b.api<{ webhooks: { id: string }[] }>("GET", "/api/webhooks");
    expect(listed.webhooks.map((w) => w.id)).toContain(hook.id);
    for (const node of [a, b]) {
      const answer = await call(on(node, `${hook.url}?name=Ada&times=2`));
      expect(answer.status, answer.text).toBe(200);
      expect(answer.json()).toMatchObject({ greeting: "hello Ada hello Ada" });
      expect(answer.headers.get("x-nbhook-run-id")).toBeTruthy();
    }
    // A caller's mistake is refused on the API node, before a run is recorded.
    const before = (await b.runs(hook.id)).length;
    const bad = await call(on(b, `${hook.url}?times=abc`));
    expect(bad.status).toBe(422);
    expect(bad.json()).toMatchObject({ error: "parameter-invalid" });
    expect((await a.runs(hook.id)).length).toBe(before);
  });

  it("every management call gives the same result on both nodes", async () => {
    const hook = await deploy(a, "manage", HELLO);
    await deploy(b, "manage", [...HELLO, { source: "x = 2" }]); // a second version, through the other node
    const [va, vb] = await Promise.all([
      a.api<{ versions: { histo: string }[] }>("GET", `/api/webhooks/${hook.id}/versions`),
      b.api<{ versions: { histo: string }[] }>("GET", `/api/webhooks/${hook.id}/versions`),
    ]);
    expect(va.versions).toHaveLength(2);
    expect(vb).toEqual(va);
    const live = await call(on(b, hook.url));
    expect(live.status).toBe(200);
    const [ra, rb] = await Promise.all([a.runs(hook.id), b.runs(hook.id)]);
    expect(ra.map((r) => [r.id, r.status])).toEqual(rb.map((r) => [r.id, r.status]));
    const output = await fetch(`${b.url}/api/webhooks/${hook.id}/outputs/latest`, {
      headers: { authorization: `Bearer ${b.token}` },
    });
    expect(output.status).toBe(200);
    expect(await output.text()).toContain("hello world");
    // Clear the older version on B, see it gone on A; rotate on A, the old URL is dead on B.
    const older = va.versions[1]!.histo;
    await b.api("DELETE", `/api/webhooks/${hook.id}/versions/${older}`);
    const after = await a.api<{ versions: { histo: string }[] }>("GET", `/api/webhooks/${hook.id}/versions`);
    expect(after.versions.map((v) => v.histo)).not.toContain(older);
    const rotated = await a.api<{ url: string }>("POST", `/api/webhooks/${hook.id}/rotate`);
    expect((await call(on(b, hook.url))).status).toBe(404);
    expect((await call(on(b, rotated.url))).status).toBe(200);
    await b.api("DELETE", `/api/webhooks/${hook.id}`);
    expect((await call(on(a, rotated.url))).status).toBe(404);
  });

  it("a file uploaded to an API node reaches the worker that runs the call", async () => {
    const hook = await deploy(a, "upload", [
      { source: "doc = ''", tags: ["parameters"] },
      { source: "import nbhook\nnbhook.webhook.respond_text(open(doc, 'rb').read().decode()[::-1])" },
    ]);
    const form = new FormData();
    form.append("doc", new Blob(["stressed"]), "word.txt");
    const answer = await call(on(b, hook.url), { method: "POST", body: form });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.text).toBe("desserts");
  });

  it("an asynchronous call made on one node is polled and answered on the other", async () => {
    const hook = await deploy(a, "async", [
      { source: "n = 1", tags: ["parameters"] },
      { source: "import time, nbhook\ntime.sleep(0.5)\nnbhook.webhook.respond_json({'n': n * 2})" },
    ]);
    const accepted = await call(on(a, `${hook.url}?n=21`), { headers: { prefer: "respond-async" } });
    expect(accepted.status).toBe(202);
    const { id } = accepted.json<{ id: string }>();
    let status = "queued";
    for (let i = 0; i < 100 && (status === "queued" || status === "running"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await b.run(id)).status;
    }
    expect(status).toBe("ok");
    const answer = await call(`${b.url}/api/runs/${id}/response`, {
      headers: { authorization: `Bearer ${b.token}` },
    });
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({ n: 42 });
    // Prefer: wait=N on the other node answers in time.
    const waited = await call(on(b, `${hook.url}?n=5`), { headers: { prefer: "wait=20" } });
    expect(waited.status).toBe(200);
    expect(waited.json()).toEqual({ n: 10 });
  });
});

describe("limits and exclusivity across the cluster", () => {
  it("two workers never run the same call, and both take calls", async () => {
    const dir = path.join(shared, "once");
    const hook = await deploy(a, "once", [
      { source: "key = ''", tags: ["parameters"] },
      {
        source:
          `import os, nbhook\nos.makedirs(${JSON.stringify(dir)}, exist_ok=True)\n` +
          `open(os.path.join(${JSON.stringify(dir)}, key), 'x').write(str(os.getppid()))\n` +
          "nbhook.webhook.respond_json({'key': key})",
      },
    ]);
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => call(on(i % 2 ? a : b, `${hook.url}?key=k${i}`))),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(16).fill(200));
    const files = readdirSync(dir);
    expect(files.sort()).toEqual(Array.from({ length: 16 }, (_, i) => `k${i}`).sort());
    // Each call ran once (an 'x' open fails the second time) and the two workers shared them.
    const parents = new Set(files.map((f) => readFileSync(path.join(dir, f), "utf8")));
    expect(parents.size).toBeGreaterThanOrEqual(2);
  });

  it("a webhook's max_concurrency holds across workers and API nodes", async () => {
    const dir = path.join(shared, "spans");
    const hook = await deploy(
      a,
      "one-at-a-time",
      [
        { source: "key = ''", tags: ["parameters"] },
        {
          source:
            `import os, time, json, nbhook\nos.makedirs(${JSON.stringify(dir)}, exist_ok=True)\n` +
            "t0 = time.time(); time.sleep(0.3); t1 = time.time()\n" +
            `open(os.path.join(${JSON.stringify(dir)}, key), 'w').write(json.dumps([t0, t1]))\n` +
            "nbhook.webhook.respond_json({})",
        },
      ],
      { max_concurrency: 1 },
    );
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) => call(on(i % 2 ? a : b, `${hook.url}?key=s${i}`))),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(5).fill(200));
    const spans = readdirSync(dir)
      .map((f) => JSON.parse(readFileSync(path.join(dir, f), "utf8")) as [number, number])
      .sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
  });

  it("reuse-mode calls of one version run one at a time", async () => {
    const hook = await deploy(
      a,
      "reuse",
      [
        { source: "import threading, time\nbusy = threading.Lock()", tags: ["setup"] },
        {
          source:
            "import nbhook\nassert busy.acquire(blocking=False), 'two calls at once'\ntime.sleep(0.2)\nbusy.release()\nnbhook.webhook.respond_json({'ok': True})",
        },
      ],
      { mode: "reuse" },
    );
    const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => call(on(i % 2 ? a : b, hook.url))));
    expect(answers.map((r) => [r.status, r.text])).toEqual(Array(4).fill([200, '{"ok": true}']));
  });

  it("a full cluster queue answers 503 with Retry-After, and nothing is left queued", async () => {
    const node = await cluster.addApi(["--max-queue", "0"]);
    const hook = await deploy(node, "slow", [{ source: "import time\ntime.sleep(1.5)" }]);
    // Capacity: 2 workers × --max-runs 2 = 4 slots, no waiting place on this node.
    const answers = await Promise.all(Array.from({ length: 8 }, () => call(on(node, hook.url))));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(4);
    const refused = answers.filter((r) => r.status === 503);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused[0]!.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(refused[0]!.json()).toMatchObject({ error: "busy" });
    const runs = await a.runs(hook.id);
    expect(runs.filter((r) => r.status === "queued" || r.status === "running")).toEqual([]);
  });
});
