/**
 * Faults of a cluster (docs/scaling.md, "Faults"), each against real processes on a real Postgres:
 * - a worker SIGKILLed mid-run: its caller gets a JSON 5xx within seconds (not at graphile-worker's
 *   4-hour lock timeout), the run is `died`, its kernels die with it, the other worker takes the
 *   queued calls, and a restarted worker takes new ones;
 * - an API node SIGKILLed while its asynchronous calls are queued and running: they still run, and
 *   their answers are fetched from the other API node;
 * - the database going away (every connection of the cluster's database cut, new ones refused for
 *   3 s, as a Postgres restart does to them): the calls waited for fail with a JSON 503, the nodes
 *   reconnect by themselves, later calls work.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, stopCluster, type TestCluster } from "../support/cluster.js";
import { alive, type FaultServer } from "../support/fault-server.js";
import { ADMIN_URL } from "../support/postgres.js";

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ apis: 2, workers: 2, workerArgs: ["--pool", "1", "--max-runs", "2"] });
}, 120_000);

afterAll(async () => {
  await stopCluster();
}, 60_000);

async function call(url: string, init: RequestInit = {}) {
  const started = Date.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(90_000) });
  const text = await res.text();
  return {
    status: res.status,
    text,
    ms: Date.now() - started,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

const on = (node: FaultServer, url: string) => `${node.url}${new URL(url).pathname}${new URL(url).search}`;

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("a worker SIGKILLed mid-run", () => {
  it("answers its caller with a JSON 5xx within seconds, records the run died, and the other worker goes on", async () => {
    const [api] = cluster.apis as [FaultServer];
    const hook = await api.deploy("sleepy", [
      { source: "s = 0.0", tags: ["parameters"] },
      { source: "import time, nbhook\ntime.sleep(s)\nnbhook.webhook.respond_json({'slept': s})" },
    ]);
    const pending = call(on(api, `${hook.url}?s=60`));
    const running = await until("the run to start", async () => {
      const runs = await api.runs(hook.id);
      return runs.find((r) => r.status === "running");
    });
    // The run's record names its worker (host-pid-random): that process is the one to kill.
    const workerId = await until("the run's worker", () => workerOf(running.id));
    const victim = cluster.workers.find((w) => workerId.includes(`-${w.pid}-`))!;
    expect(victim, workerId).toBeDefined();
    const kernels = victim.descendants();
    const killedAt = Date.now();
    await victim.kill("SIGKILL");
    const answer = await pending;
    const waited = Date.now() - killedAt;
    expect(answer.status).toBe(500);
    expect(answer.json()).toMatchObject({ id: running.id, status: "died", ename: "WorkerDied" });
    console.info(`worker SIGKILL → caller answered in ${waited} ms`);
    expect(waited).toBeLessThan(8000);
    expect((await api.run(running.id)).status).toBe("died");
    await until(
      "the dead worker's kernels to exit",
      async () => (kernels.some(alive) ? undefined : true),
      10_000,
    );
    // The other worker takes calls (one queued behind, and new ones); a restarted worker too.
    const after = await Promise.all([call(on(api, `${hook.url}?s=0.2`)), call(on(api, `${hook.url}?s=0.1`))]);
    expect(after.map((r) => r.status)).toEqual([200, 200]);
    const restarted = await cluster.addWorker(["--pool", "1", "--max-runs", "2"]);
    const later = await Promise.all(Array.from({ length: 6 }, () => call(on(api, `${hook.url}?s=0.3`))));
    expect(later.map((r) => r.status)).toEqual(Array(6).fill(200));
    expect(restarted.stderr()).toContain("nbhook: worker");
    const stuck = (await api.runs(hook.id)).filter((r) => r.status === "queued" || r.status === "running");
    expect(stuck).toEqual([]);
  });
});

describe("an API node SIGKILLed with calls queued and running", () => {
  it("the calls still run and their answers are fetched from the other node", async () => {
    const [first, second] = cluster.apis as [FaultServer, FaultServer];
    const hook = await first.deploy("async-after-kill", [
      { source: "n = 0", tags: ["parameters"] },
      { source: "import time, nbhook\ntime.sleep(0.8)\nnbhook.webhook.respond_json({'n': n})" },
    ]);
    const ids: string[] = [];
    for (let n = 0; n < 8; n++) {
      const accepted = await call(on(first, `${hook.url}?n=${n}`), { headers: { prefer: "respond-async" } });
      expect(accepted.status).toBe(202);
      ids.push(String(accepted.json().id));
    }
    await first.kill("SIGKILL");
    for (const [n, id] of ids.entries()) {
      const done = await until(
        `run ${id} to finish`,
        async () => {
          const run = await second.run(id);
          return run.status === "queued" || run.status === "running" ? undefined : run;
        },
        60_000,
      );
      expect(done.status).toBe("ok");
      const answer = await call(`${second.url}/api/runs/${id}/response`, {
        headers: { authorization: `Bearer ${second.token}` },
      });
      expect(answer.json()).toEqual({ n });
    }
  });
});

describe("the database going away", () => {
  it("fails the calls waited for with a JSON 503, and the nodes reconnect by themselves", async () => {
    const api = cluster.anyApi();
    const hook = await api.deploy("during-restart", [
      { source: "s = 0.0", tags: ["parameters"] },
      { source: "import time, nbhook\ntime.sleep(s)\nnbhook.webhook.respond_json({'ok': True})" },
    ]);
    expect((await call(on(api, hook.url))).status).toBe(200);
    const inFlight = call(on(api, `${hook.url}?s=2`));
    await new Promise((r) => setTimeout(r, 500));
    await cutDatabase(cluster.databaseName, 3000);
    const failed = await inFlight;
    expect(failed.status).toBe(503);
    expect(failed.json()).toMatchObject({ error: "busy" });
    // Later calls work again once the database is back (the nodes reconnect without help).
    const later = await until(
      "calls to work again",
      async () => {
        const answer = await call(on(api, hook.url));
        return answer.status === 200 ? answer : undefined;
      },
      30_000,
    );
    expect(later.json()).toEqual({ ok: true });
    const again = await Promise.all(Array.from({ length: 4 }, () => call(on(cluster.anyApi(), hook.url))));
    expect(again.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });
});

/** What a Postgres restart does to the cluster's connections: all cut, none taken for `ms`. */
async function cutDatabase(name: string, ms: number): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  admin.on("error", () => undefined);
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [name]);
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    await admin.end();
  }
}

/** The worker id recorded on a run (not part of the API: read from the database). */
async function workerOf(runId: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: cluster.databaseUrl });
  await client.connect();
  try {
    const rows = await client.query<{ worker_id: string | null }>(
      "SELECT worker_id FROM runs WHERE id = $1",
      [runId],
    );
    return rows.rows[0]?.worker_id ?? undefined;
  } finally {
    await client.end();
  }
}
