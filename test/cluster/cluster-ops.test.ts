/**
 * Operations on a cluster (docs/operations.md): an API node without a worker is ready only while
 * a worker of the cluster is alive; its /metrics counts the calls it answered and the live
 * workers; a worker serves its kernels' metrics on `--metrics-listen`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, stopCluster, type TestCluster } from "../support/cluster.js";
import type { FaultServer } from "../support/fault-server.js";
import { parsePrometheusText, sampleValue } from "../support/prometheus-text.js";

let cluster: TestCluster;
let api: FaultServer;

beforeAll(async () => {
  cluster = await startCluster({ apis: 1, workers: 0 });
  api = cluster.apis[0]!;
}, 120_000);

afterAll(async () => stopCluster(), 60_000);

const readyz = async () => {
  const res = await fetch(`${api.url}/readyz`);
  return {
    status: res.status,
    body: (await res.json()) as { checks: { name: string; ok: boolean; message: string }[] },
  };
};

const scrape = async (url: string, token?: string) => {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  expect(res.status).toBe(200);
  return parsePrometheusText(await res.text());
};

describe("a cluster's API node without a worker", () => {
  it("is not ready without a live worker, ready with one, and counts what it answers", async () => {
    const before = await readyz();
    expect(before.status).toBe(503);
    expect(before.body.checks.find((c) => c.name === "workers")).toMatchObject({ ok: false });
    expect(before.body.checks.find((c) => c.name === "workers")!.message).toContain(
      "nbhook worker --database",
    );
    expect(before.body.checks.some((c) => c.name === "kernels")).toBe(false);

    const worker = await cluster.addWorker(["--pool", "1", "--metrics-listen", "127.0.0.1:0"]);
    await expect.poll(async () => (await readyz()).status, { timeout: 15_000 }).toBe(200);

    const hook = await api.deploy("ok", ["import naas\nnaas.webhook.respond_json({'ok': True})"]);
    for (let i = 0; i < 2; i++) expect((await fetch(hook.url)).status).toBe(200);
    const metrics = await scrape(`${api.url}/metrics`, api.token);
    expect(sampleValue(metrics, "nbhook_calls_total", { webhook: hook.id, status: "ok" })).toBe(2);
    expect(sampleValue(metrics, "nbhook_run_duration_seconds_count", { webhook: hook.id })).toBe(2);
    expect(sampleValue(metrics, "nbhook_queue_wait_seconds_count")).toBe(2);
    expect(sampleValue(metrics, "nbhook_cluster_workers_alive")).toBe(1);

    const url = /metrics on (http:\/\/\S+\/metrics)/.exec(worker.stderr())?.[1];
    expect(url).toBeDefined();
    const own = await scrape(url!);
    expect(
      sampleValue(own, "nbhook_kernel_starts_total", { kernel: "python3", result: "ok" }),
    ).toBeGreaterThanOrEqual(2);
    expect(sampleValue(own, "nbhook_kernels", { kernel: "python3", state: "ready" })).toBeGreaterThanOrEqual(
      0,
    );
  }, 120_000);
});
