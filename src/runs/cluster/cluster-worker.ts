/**
 * @module A cluster's worker (`nbhook worker`, or the worker half of `nbhook serve --database`):
 * graphile-worker takes `nbhook_call` jobs as they are added (LISTEN/NOTIFY, no polling delay), at
 * most `maxRuns` at once, and each is run here by the same RunEngine the embedded server uses
 * (pool, warm modes, limits, mails). Before a job runs, the worker claims its run (a call taken out
 * of the queue meanwhile is skipped); once it ran, the result goes to the API node waiting for it.
 *
 * Liveness: a heartbeat row every second (nbhook_workers); a worker whose heartbeat stops is taken
 * for dead by the reapers (reaper.ts). Kernels die with the worker (kernel/launch.ts), so a killed
 * worker leaves no kernel behind. `stop` drains: no new job is taken, the running ones finish.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Logger, run as runGraphileWorker, runMigrations, type Runner, type Job } from "graphile-worker";
import { coerceError } from "../../errors.js";
import { cachedKernelSpecs, chooseKernelSpec, type KernelSpec } from "../../kernel/index.js";
import { parseNotebook } from "../../notebook/read.js";
import type { Notebook, Parameters, ParamValue } from "../../notebook/types.js";
import type { Run } from "../../store/index.js";
import { CALL_TASK, WEBHOOKS_CHANNEL, type ClusterQueue } from "../../store/postgres/cluster-queue.js";
import { PgListener } from "../../store/postgres/listener.js";
import type { PgStore } from "../../store/postgres/pg-store.js";
import { kernelChoiceOf, paramLanguageOf } from "../kernel-choice.js";
import { releaseAnswerFiles } from "../answer-files.js";
import type { RunEngine } from "../run-engine.js";
import type { AnswerFn, CallResult, PreparedCall, RunLogger } from "../types.js";
import {
  callPayloadSchema,
  decodeParameters,
  outcomeToWire,
  resultToWire,
  type CallPayload,
} from "./call-wire.js";

export interface ClusterWorkerOptions {
  store: PgStore;
  queue: ClusterQueue;
  engine: RunEngine;
  databaseUrl: string;
  answerFor: AnswerFn;
  log: RunLogger;
  /** Calls this worker runs at once (graphile-worker's concurrency). */
  maxRuns: number;
  /** Where uploaded files are written for the runs (local). */
  uploadsRoot: string;
  /** @default cachedKernelSpecs */
  findSpecs?: () => Promise<KernelSpec[]>;
  /** @default 1000 */
  heartbeatMs?: number;
}

/** graphile-worker's schema, migrated once per process (nodes take turns: the queue's lock). */
export async function migrateGraphileWorker(queue: ClusterQueue, databaseUrl: string): Promise<void> {
  await queue.withGraphileMigrationLock(() =>
    runMigrations({ connectionString: databaseUrl, logger: quietLogger(undefined) }),
  );
}

export class ClusterWorker {
  readonly id = `${os.hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  private runner: Runner | undefined;
  private poolId: string | undefined;
  private draining = false;
  private stopped = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly listener: PgListener;
  private readonly findSpecs: () => Promise<KernelSpec[]>;
  private readonly notebooks = new Map<string, Notebook>();
  private running = 0;

  constructor(private readonly options: ClusterWorkerOptions) {
    this.findSpecs = options.findSpecs ?? (() => cachedKernelSpecs());
    this.listener = new PgListener({
      databaseUrl: options.databaseUrl,
      channels: [WEBHOOKS_CHANNEL],
      onNotification: (_channel, webhookId) => {
        options.engine.invalidate(webhookId);
        for (const key of this.notebooks.keys())
          if (key.startsWith(`${webhookId}/`)) this.notebooks.delete(key);
      },
      log: options.log,
    });
  }

  async start(): Promise<void> {
    const { queue, log } = this.options;
    await queue.registerWorker(this.me());
    await this.listener.start();
    this.heartbeat = setInterval(() => void this.beat(), this.options.heartbeatMs ?? 1000);
    this.heartbeat.unref();
    await this.startRunner();
    log.info({ worker: this.id, maxRuns: this.options.maxRuns }, "worker taking calls");
  }

  /** Drains: no new call is taken; resolves once the running ones finished and the kernels stopped. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.draining = true;
    await this.beat(); // the cluster's admission stops counting this worker's slots
    if (this.running > 0) {
      this.options.log.info(
        { running: this.running },
        "draining: the running calls finish, no new one is taken",
      );
    }
    await this.runner?.stop().catch((err: unknown) => this.options.log.warn({ err }, "graphile-worker stop"));
    clearInterval(this.heartbeat);
    await this.listener.close();
    await this.options.queue.unregisterWorker(this.id).catch(() => undefined);
  }

  private me() {
    return {
      id: this.id,
      host: os.hostname(),
      pid: process.pid,
      maxRuns: this.options.maxRuns,
      poolId: this.poolId,
      draining: this.draining,
    };
  }

  private async beat(): Promise<void> {
    try {
      const known = await this.options.queue.heartbeat(this.me());
      if (!known)
        this.options.log.warn(
          { worker: this.id },
          "this worker was taken for dead (no heartbeat): registered again",
        );
    } catch {
      // The database is away: graphile-worker and the listener reconnect; so does the next beat.
    }
  }

  private async startRunner(): Promise<void> {
    const { databaseUrl, maxRuns, log } = this.options;
    const runner = await runGraphileWorker({
      connectionString: databaseUrl,
      maxPoolSize: maxRuns + 2,
      concurrency: maxRuns,
      noHandleSignals: true,
      // Jobs are taken as they are added (LISTEN); polling only catches what a lost connection missed.
      pollInterval: 2000,
      logger: quietLogger(log),
      taskList: { [CALL_TASK]: (payload, helpers) => this.handle(payload, helpers.job) },
    });
    let pool: { nudge(count: number): unknown } | undefined;
    runner.events.on("pool:create", ({ workerPool }) => {
      pool = workerPool;
      this.poolId = workerPool.id;
      void this.options.queue.setWorkerPool(this.id, workerPool.id).catch(() => undefined);
    });
    // graphile-worker 0.17 looks for the next job before the finished one's completion (which
    // unlocks its job queue) has committed: the next call of a serial queue (reuse mode,
    // max_concurrency) would then wait for the next insert or the 2 s poll. Measured: 17 calls/s
    // of one reuse webhook with 16 clients, runs of 30 ms with gaps of up to 0.9 s between them.
    // So once a queued job completed, this worker looks again, and so does the cluster (NOTIFY).
    runner.events.on("job:complete", ({ job }) => {
      if (job.job_queue_id === null) return;
      setTimeout(() => pool?.nudge(1), 5).unref();
      setTimeout(() => void this.options.queue.nudgeWorkers().catch(() => undefined), 20).unref();
    });
    this.runner = runner;
    // A pool that stops by itself (it lost the database too long to complete a job) is replaced.
    runner.promise.then(
      () => this.restart("graphile-worker stopped"),
      (err: unknown) => this.restart(`graphile-worker failed: ${coerceError(err).message}`),
    );
  }

  private restart(why: string): void {
    if (this.stopped) return;
    this.options.log.error({ worker: this.id }, `${why}: starting it again in 1 s`);
    setTimeout(() => {
      if (this.stopped) return;
      this.startRunner().catch((err: unknown) =>
        this.restart(`graphile-worker could not start: ${coerceError(err).message}`),
      );
    }, 1000).unref();
  }

  /** One job: never throws (max_attempts is 1; a failure is recorded on the run instead). */
  private async handle(payload: unknown, job: Job): Promise<void> {
    const log = this.options.log;
    let parsed: CallPayload;
    try {
      parsed = callPayloadSchema.parse(payload);
    } catch (err) {
      log.error({ err, job: job.id }, "a call job with a payload this nbhook cannot read: skipped");
      return;
    }
    if (this.poolId === undefined && job.locked_by) {
      this.poolId = job.locked_by;
      await this.options.queue.setWorkerPool(this.id, job.locked_by).catch(() => undefined);
    }
    this.running++;
    try {
      await this.runJob(parsed);
    } catch (err) {
      log.error({ err, run: parsed.runId }, "a call failed inside the worker");
    } finally {
      this.running--;
    }
  }

  private async runJob(payload: CallPayload): Promise<void> {
    const { queue, engine, store, log } = this.options;
    const run = await queue.claim(payload.runId, this.id);
    if (!run) return; // it left the queue meanwhile
    const options = { keepAnswer: payload.keepAnswer, log };
    const webhook = await store.getWebhook(run.webhookId);
    if (!webhook) throw new Error(`run ${run.id} names a webhook that does not exist`);
    let result: CallResult | undefined;
    let uploadsDir: string | undefined;
    try {
      if (Date.now() > payload.queueDeadline) {
        const why = {
          reason: "queue-timeout" as const,
          message: "the call waited in the queue longer than the webhook's time limit",
          retryAfterS: 2,
        };
        result = await engine.cancelled(webhook, run, why, options);
      } else {
        let call: PreparedCall | undefined;
        try {
          uploadsDir = await this.uploads(run, payload);
          call = await this.prepared(run, webhook, payload, uploadsDir);
        } catch (err) {
          result = await engine.failed({ webhook }, run, err, options);
        }
        result ??= await engine.run(call!, run, options);
      }
      await this.publish(run.id, result, payload.keepAnswer);
    } finally {
      if (uploadsDir) await rm(uploadsDir, { recursive: true, force: true }).catch(() => undefined);
      if (result) await releaseAnswerFiles(result, log); // read into the result already
    }
  }

  private async publish(runId: string, result: CallResult, keepAnswer: boolean): Promise<void> {
    const { outcome, answer } = result;
    const stored = keepAnswer
      ? { outcome: outcomeToWire(outcome), status: answer.status, headers: answer.headers, body: null }
      : await resultToWire(outcome, answer, (file) => readFile(file));
    await this.options.queue.publishResult(runId, { ...stored, run: result.run });
  }

  /** The uploaded files, written under this worker's own folder for the run. */
  private async uploads(run: Run, payload: CallPayload): Promise<string | undefined> {
    if (!payload.uploadsDir) return undefined;
    const files = await this.options.queue.takeUploads(run.id);
    const dir = path.join(this.options.uploadsRoot, run.outputHisto);
    await mkdir(dir, { recursive: true });
    for (const file of files) await writeFile(path.join(dir, path.basename(file.name)), file.data);
    return dir;
  }

  /** The call as the API node prepared it, rebuilt here: the version, this worker's kernel, the parameters. */
  private async prepared(
    run: Run,
    webhook: PreparedCall["webhook"],
    payload: CallPayload,
    uploadsDir: string | undefined,
  ): Promise<PreparedCall> {
    const key = `${webhook.id}/${run.versionHisto}`;
    let notebook = this.notebooks.get(key);
    if (!notebook) {
      const bytes = await this.options.store.readVersion(webhook.id, run.versionHisto);
      if (!bytes) throw new Error(`version ${run.versionHisto} of ${webhook.name} is gone`);
      notebook = parseNotebook(bytes.toString("utf8"), `${webhook.fileName} (version ${run.versionHisto})`);
      if (this.notebooks.size > 200) this.notebooks.clear();
      this.notebooks.set(key, notebook);
    }
    const specs = await this.findSpecs();
    const spec = chooseKernelSpec(specs, kernelChoiceOf(notebook));
    const moved = (params: Parameters) =>
      payload.uploadsDir && uploadsDir ? movePaths(params, payload.uploadsDir, uploadsDir) : params;
    const language = paramLanguageOf(spec.language);
    return {
      webhook,
      versionHisto: run.versionHisto,
      notebook,
      spec,
      specs,
      language,
      parameters: language ? moved(decodeParameters(payload.parameters)) : {},
      redacted: language ? moved(decodeParameters(payload.redacted)) : {},
      uploadsDir,
    };
  }
}

/** Paths of uploaded files under the API node's folder, moved to this worker's copy. */
function movePaths(params: Parameters, from: string, to: string): Parameters {
  const prefix = from.endsWith(path.sep) ? from : from + path.sep;
  const move = (value: ParamValue): ParamValue => {
    if (typeof value === "string")
      return value.startsWith(prefix) ? path.join(to, value.slice(prefix.length)) : value;
    if (Array.isArray(value)) return value.map(move);
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, move(v)]));
    }
    return value;
  };
  return move(params as ParamValue) as Parameters;
}

/** graphile-worker's log, into nbhook's at warning and above (its info lines are per job). */
function quietLogger(log: RunLogger | undefined): Logger {
  return new Logger(() => (level, message, meta) => {
    if (!log) return;
    if (level === "error") log.error({ graphileWorker: meta }, message);
    else if (level === "warning") log.warn({ graphileWorker: meta }, message);
  });
}
