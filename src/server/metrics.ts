/**
 * @module The server's Prometheus metrics (docs/operations.md, "Metrics"), with prom-client, in a
 * registry of the server's own (not prom-client's global one: tests run several servers in one
 * process). The only module that imports prom-client: runs/ and kernel/ know nothing of it.
 *
 * Where the numbers come from:
 * - calls, their run time and queue wait: the `Calls` seam, wrapped (`observeCalls`): what this
 *   node answered, refusals included, embedded or as a cluster's API node;
 * - kernels started and died: the kernel pool's observer (`kernelObserver`);
 * - queue length, running calls, kernels ready/starting/busy: read from `Calls.stats()` at scrape;
 * - HTTP requests: a hook of the app, by route pattern, never the raw URL (a webhook URL's token is
 *   a secret, and raw paths would make the label set unbounded);
 * - on a cluster node, the live workers of the cluster (read from Postgres at scrape).
 *
 * Webhooks are labelled by id: short, stable across redeploys and path changes, no secret (the
 * token is), and bounded by the number of webhooks. A path can be long and tells the server's file
 * layout; `GET /api/webhooks/{id}` maps an id to its path.
 */
import type { FastifyInstance } from "fastify";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { KernelObserver } from "../kernel/index.js";
import type { CallResult, Calls, Submission } from "../runs/index.js";

/** Run time: from a few ms (a reused kernel) to the default time limit (300 s) and beyond. */
const RUN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];
/** Queue wait: 0 for a call that ran at once, up to a webhook's time limit. */
const WAIT_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const KERNEL_START_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

export interface MetricsOptions {
  /** prom-client's process metrics (CPU, memory, event loop, GC). @default true */
  processMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  private readonly calls: Counter<"webhook" | "status">;
  private readonly runDuration: Histogram<"webhook">;
  private readonly queueWait: Histogram;
  private readonly kernelStarts: Counter<"kernel" | "result">;
  private readonly kernelStartDuration: Histogram<"kernel">;
  private readonly kernelDeaths: Counter<"kernel">;
  private readonly httpRequests: Counter<"method" | "route" | "status">;
  private readonly httpDuration: Histogram<"method" | "route">;
  private sources: { stats?: () => ReturnType<Calls["stats"]>; liveWorkers?: () => Promise<number> } = {};

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.calls = new Counter({
      name: "nbhook_calls_total",
      help: "Webhook calls answered by this node, by webhook id and how they ended (ok, error, timeout, died: the run's status; cancelled: left the queue; failed: nbhook itself failed; refused: queue full or stopping)",
      labelNames: ["webhook", "status"],
      registers,
    });
    this.runDuration = new Histogram({
      name: "nbhook_run_duration_seconds",
      help: "Run time of the calls that ran (kernel and cells, as recorded in the run), by webhook id",
      labelNames: ["webhook"],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.queueWait = new Histogram({
      name: "nbhook_queue_wait_seconds",
      help: "Time calls waited for a free slot before they ran (0 for a call run at once) or left the queue",
      buckets: WAIT_BUCKETS,
      registers,
    });
    // prom-client calls `collect` on the gauge (its `this`): the sources are read through this arrow.
    const read = () => this.sources;
    new Gauge({
      name: "nbhook_queue_length",
      help: "Calls waiting for a free slot now (on a cluster API node: this node's callers)",
      registers,
      collect() {
        this.set(read().stats?.().queued ?? 0);
      },
    });
    new Gauge({
      name: "nbhook_calls_running",
      help: "Calls running now (on a cluster API node: this node's callers whose call runs)",
      registers,
      collect() {
        this.set(read().stats?.().running ?? 0);
      },
    });
    new Gauge({
      name: "nbhook_kernels",
      help: "This process's kernels by kernelspec and state: ready (started ahead, idle), starting, busy (handed out: running a call or kept for a warm webhook)",
      labelNames: ["kernel", "state"],
      registers,
      collect() {
        this.reset();
        for (const pool of read().stats?.().kernels?.pool ?? []) {
          this.set({ kernel: pool.kernel, state: "ready" }, pool.ready);
          this.set({ kernel: pool.kernel, state: "starting" }, pool.starting);
          this.set({ kernel: pool.kernel, state: "busy" }, pool.busy);
        }
      },
    });
    new Gauge({
      name: "nbhook_warm_kernels",
      help: "Kernels of setup and reuse webhooks (counted busy in nbhook_kernels), by mode and state",
      labelNames: ["mode", "state"],
      registers,
      collect() {
        this.reset();
        for (const mode of ["setup", "reuse"] as const) {
          const of = (read().stats?.().kernels?.warm ?? []).filter((w) => w.mode === mode);
          const sum = (pick: (w: (typeof of)[number]) => number) => of.reduce((n, w) => n + pick(w), 0);
          this.set(
            { mode, state: "ready" },
            sum((w) => w.ready),
          );
          this.set(
            { mode, state: "preparing" },
            sum((w) => w.preparing),
          );
          this.set(
            { mode, state: "in_use" },
            sum((w) => w.inUse),
          );
        }
      },
    });
    this.kernelStarts = new Counter({
      name: "nbhook_kernel_starts_total",
      help: "Kernel starts by kernelspec and result (ok, failed)",
      labelNames: ["kernel", "result"],
      registers,
    });
    this.kernelStartDuration = new Histogram({
      name: "nbhook_kernel_start_duration_seconds",
      help: "Time from launch to a kernel that answers, by kernelspec",
      labelNames: ["kernel"],
      buckets: KERNEL_START_BUCKETS,
      registers,
    });
    this.kernelDeaths = new Counter({
      name: "nbhook_kernel_deaths_total",
      help: "Kernels that ended without nbhook asking (crash, out of memory, killed from outside) or stopped answering their heartbeat, by kernelspec",
      labelNames: ["kernel"],
      registers,
    });
    this.httpRequests = new Counter({
      name: "nbhook_http_requests_total",
      help: "HTTP requests by method, route pattern (e.g. /notebook/:token, never the URL) and status",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.httpDuration = new Histogram({
      name: "nbhook_http_request_duration_seconds",
      help: "Time to answer HTTP requests, by method and route pattern",
      labelNames: ["method", "route"],
      buckets: HTTP_BUCKETS,
      registers,
    });
  }

  /** Where the gauges read from at scrape: the calls' stats, and (cluster) the live workers. */
  watch(sources: { stats?: () => ReturnType<Calls["stats"]>; liveWorkers?: () => Promise<number> }): void {
    this.sources = { ...this.sources, ...sources };
    if (sources.liveWorkers && !this.registry.getSingleMetric("nbhook_cluster_workers_alive")) {
      const read = () => this.sources;
      new Gauge({
        name: "nbhook_cluster_workers_alive",
        help: "Workers of the cluster whose heartbeat is fresh and that are not draining (read from Postgres; absent when it cannot be reached)",
        registers: [this.registry],
        async collect() {
          this.reset();
          try {
            const alive = await read().liveWorkers?.();
            if (alive !== undefined) this.set(alive);
          } catch {
            // The database is away: no value rather than a wrong one (GET /readyz says why).
          }
        },
      });
    }
  }

  /** The pool's observer: kernel starts and deaths. */
  readonly kernelObserver: KernelObserver = {
    started: (kernel, ms) => {
      this.kernelStarts.inc({ kernel, result: "ok" });
      this.kernelStartDuration.observe({ kernel }, ms / 1000);
    },
    startFailed: (kernel) => this.kernelStarts.inc({ kernel, result: "failed" }),
    died: (kernel) => this.kernelDeaths.inc({ kernel }),
  };

  /** `calls`, counted: every call's end, run time and queue wait. */
  observeCalls(calls: Calls): Calls {
    const count = (submission: Submission, webhook: string): Submission => {
      if (submission.kind === "refused") {
        this.calls.inc({ webhook, status: "refused" });
        return submission;
      }
      void submission.result.then(
        (result) => this.ended(webhook, result),
        () => this.calls.inc({ webhook, status: "failed" }),
      );
      return submission;
    };
    return {
      prepare: (webhook, input, log) => calls.prepare(webhook, input, log),
      submit: async (call, options) => count(await calls.submit(call, options), call.webhook.id),
      webhookChanged: (id) => calls.webhookChanged(id),
      stats: () => calls.stats(),
      stopAdmitting: () => calls.stopAdmitting(),
      close: () => calls.close(),
    };
  }

  /** Counts HTTP requests by route pattern (the hook runs for every answer, 404s included). */
  registerHttpHook(app: FastifyInstance): void {
    app.addHook("onResponse", async (request, reply) => {
      const route = request.routeOptions.url ?? "<unmatched>";
      const method = request.method;
      this.httpRequests.inc({ method, route, status: String(reply.statusCode) });
      this.httpDuration.observe({ method, route }, reply.elapsedTime / 1000);
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  private ended(webhook: string, result: CallResult): void {
    const { outcome, run } = result;
    const status = outcome.kind === "ran" ? outcome.status : outcome.kind;
    this.calls.inc({ webhook, status });
    if (outcome.kind === "ran") this.runDuration.observe({ webhook }, outcome.durationMs / 1000);
    if (outcome.kind === "cancelled") {
      const waited = run.durationMs ?? Date.now() - Date.parse(run.queuedAt ?? run.startedAt);
      this.queueWait.observe(Math.max(0, waited) / 1000);
    } else if (outcome.kind === "ran") {
      const waited = run.queuedAt ? Date.parse(run.startedAt) - Date.parse(run.queuedAt) : 0;
      this.queueWait.observe(Math.max(0, waited) / 1000);
    }
  }
}
