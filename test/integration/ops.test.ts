/**
 * Operations over real HTTP on a real kernel (docs/operations.md): /healthz and /readyz without a
 * token, /metrics behind it and read as Prometheus reads it after real calls, X-Request-Id echoed
 * and in the request's log lines (the run's lines too), --metrics-listen and --no-metrics.
 */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import type { Webhook } from "../../src/store/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { captureLog } from "../support/log-capture.js";
import { makeNotebook } from "../support/notebooks.js";
import { parsePrometheusText, sampleValue } from "../support/prometheus-text.js";

guardKernelLeaks();

const { lines: logLines, stream: logStream } = captureLog();

let server: RunningServer;
let ok: Webhook;
let failing: Webhook;

async function deploy(name: string, cells: string[]): Promise<Webhook> {
  const store = server.deps.store;
  const webhook = await store.upsertWebhook({
    path: `/work/ops/${name}.ipynb`,
    params: {},
    debug: false,
    timeoutMs: 60_000,
  });
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cells))));
  return webhook;
}

const auth = () => ({ authorization: `Bearer ${server.deps.apiToken}` });

async function scrape(url = `${server.url}/metrics`, headers: Record<string, string> = auth()) {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

beforeAll(async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "ops-home-"));
  const config = resolveServerConfig({ host: "127.0.0.1", port: 0, home, poolSize: 1 }, {});
  server = await startServer(config, { logger: { level: "info", stream: logStream } });
  ok = await deploy("ok", ["import naas\nnaas.webhook.respond_json({'ok': True})"]);
  failing = await deploy("failing", ["raise ValueError('no')"]);
});
afterAll(async () => server?.close());

describe("health", () => {
  it("/healthz and /health answer without a token", async () => {
    for (const route of ["/healthz", "/health"]) {
      const res = await fetch(`${server.url}${route}`);
      expect([res.status, await res.json()]).toEqual([200, { status: "ok" }]);
    }
  });

  it("/readyz checks the store and the kernels, without a token", async () => {
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; checks: { name: string; ok: boolean }[] };
    expect(body.status).toBe("ready");
    expect(body.checks.map((c) => [c.name, c.ok])).toEqual([
      ["store", true],
      ["kernels", true],
    ]);
  });
});

describe("metrics after real calls", () => {
  it("needs the API token on the main port", async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe("unauthorized");
  });

  it("counts the calls by webhook id and status, with run and queue histograms and the gauges", async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/notebook/${ok.token}`)).status).toBe(200);
    for (let i = 0; i < 2; i++)
      expect((await fetch(`${server.url}/notebook/${failing.token}`)).status).toBe(500);

    const metrics = await scrape();
    expect(sampleValue(metrics, "nbhook_calls_total", { webhook: ok.id, status: "ok" })).toBe(3);
    expect(sampleValue(metrics, "nbhook_calls_total", { webhook: failing.id, status: "error" })).toBe(2);
    expect(sampleValue(metrics, "nbhook_calls_total", { webhook: ok.id, status: "error" })).toBeUndefined();

    const runs = metrics.get("nbhook_run_duration_seconds")!;
    expect(runs.type).toBe("histogram");
    const buckets = runs.samples.filter((s) => s.name.endsWith("_bucket") && s.labels.webhook === ok.id);
    expect(buckets.map((s) => s.labels.le)).toContain("+Inf");
    expect(buckets.length).toBeGreaterThan(5);
    expect(buckets.find((s) => s.labels.le === "+Inf")!.value).toBe(3);
    expect(sampleValue(metrics, "nbhook_run_duration_seconds_count", { webhook: ok.id })).toBe(3);
    expect(sampleValue(metrics, "nbhook_run_duration_seconds_count", { webhook: failing.id })).toBe(2);
    // Every call waited (0 s for one run at once): one observation each.
    expect(metrics.get("nbhook_queue_wait_seconds")!.type).toBe("histogram");
    expect(sampleValue(metrics, "nbhook_queue_wait_seconds_count")).toBe(5);
    expect(sampleValue(metrics, "nbhook_queue_wait_seconds_bucket", { le: "+Inf" })).toBe(5);

    expect(metrics.get("nbhook_queue_length")!.type).toBe("gauge");
    expect(sampleValue(metrics, "nbhook_queue_length")).toBe(0);
    expect(sampleValue(metrics, "nbhook_calls_running")).toBe(0);
    for (const state of ["ready", "starting", "busy"]) {
      expect(sampleValue(metrics, "nbhook_kernels", { kernel: "python3", state })).toBeGreaterThanOrEqual(0);
    }
    // The pool started one kernel ahead, then one replacement per call (five calls).
    expect(
      sampleValue(metrics, "nbhook_kernel_starts_total", { kernel: "python3", result: "ok" }),
    ).toBeGreaterThanOrEqual(5);
    expect(metrics.get("nbhook_kernel_deaths_total")!.type).toBe("counter");
    // prom-client's process metrics, in the server's own registry.
    expect(metrics.has("process_cpu_user_seconds_total")).toBe(true);
  });

  it("counts HTTP requests by route pattern, never by the URL (a webhook URL is a secret)", async () => {
    await expect
      .poll(async () =>
        sampleValue(await scrape(), "nbhook_http_requests_total", {
          route: "/notebook/:token",
          status: "200",
          method: "GET",
        }),
      )
      .toBe(3);
    const metrics = await scrape();
    expect(
      sampleValue(metrics, "nbhook_http_requests_total", { route: "/notebook/:token", status: "500" }),
    ).toBe(2);
    const text = await (await fetch(`${server.url}/metrics`, { headers: auth() })).text();
    expect(text).not.toContain(ok.token);
    expect(text).not.toContain(failing.token);
    await fetch(`${server.url}/no/such/${ok.token}`);
    await expect
      .poll(async () =>
        sampleValue(await scrape(), "nbhook_http_requests_total", { route: "<unmatched>", status: "404" }),
      )
      .toBe(1);
    expect(await (await fetch(`${server.url}/metrics`, { headers: auth() })).text()).not.toContain(ok.token);
  });

  it("counts a kernel that died on its own", async () => {
    await expect.poll(() => server.deps.calls.stats().kernels!.pool[0]!.ready).toBe(1);
    const pid = server.deps.calls.stats().kernels!.pool[0]!.pids[0]!;
    process.kill(pid, "SIGKILL");
    await expect
      .poll(async () => sampleValue(await scrape(), "nbhook_kernel_deaths_total", { kernel: "python3" }))
      .toBe(1);
    // The pool replaced it; calls still run.
    expect((await fetch(`${server.url}/notebook/${ok.token}`)).status).toBe(200);
  });
});

describe("X-Request-Id", () => {
  it("is taken from a sane request header, echoed, and in every log line of the request, the run's too", async () => {
    const res = await fetch(`${server.url}/notebook/${failing.token}`, {
      headers: { "x-request-id": "client-req-42" },
    });
    expect(res.status).toBe(500);
    expect(res.headers.get("x-request-id")).toBe("client-req-42");
    await expect
      .poll(() => logLines.filter((l) => l.reqId === "client-req-42").map((l) => l.msg))
      .toContain("request");
    const mine = logLines.filter((l) => l.reqId === "client-req-42");
    expect(mine.map((l) => l.msg)).toContain("webhook run failed");
    expect(mine.find((l) => l.msg === "request")).toMatchObject({ url: "/notebook/<token>", status: 500 });
  });

  it("is made when missing or not sane, and error answers carry it", async () => {
    for (const given of [undefined, "has spaces in it", "x".repeat(129), "<script>"]) {
      const res = await fetch(
        `${server.url}/api/webhooks`,
        given ? { headers: { "x-request-id": given } } : {},
      );
      expect(res.status).toBe(401);
      const id = res.headers.get("x-request-id")!;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      await expect.poll(() => logLines.some((l) => l.reqId === id && l.msg === "request")).toBe(true);
    }
  });
});

describe("where /metrics is served", () => {
  it("--metrics-listen: on its own address without a token, and not on the main port", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), "ops-listen-"));
    const config = resolveServerConfig(
      { host: "127.0.0.1", port: 0, home, poolSize: 0, metricsListen: "127.0.0.1:0" },
      {},
    );
    const other = await startServer(config);
    try {
      expect(other.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const metrics = await scrape(`${other.metricsUrl}/metrics`, {});
      expect(metrics.has("nbhook_calls_total")).toBe(true);
      expect((await fetch(`${other.metricsUrl}/other`)).status).toBe(404);
      const main = await fetch(`${other.url}/metrics`, {
        headers: { authorization: `Bearer ${other.deps.apiToken}` },
      });
      expect(main.status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it("--no-metrics: nowhere", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), "ops-nometrics-"));
    const config = resolveServerConfig({ host: "127.0.0.1", port: 0, home, poolSize: 0, metrics: false }, {});
    const other = await startServer(config);
    try {
      const res = await fetch(`${other.url}/metrics`, {
        headers: { authorization: `Bearer ${other.deps.apiToken}` },
      });
      expect(res.status).toBe(404);
      expect((await fetch(`${other.url}/readyz`)).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});
