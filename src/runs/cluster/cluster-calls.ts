/**
 * @module Webhook calls of a cluster's API node (docs/scaling.md): the `Calls` whose calls run on
 * workers. A call is prepared here (404 and 422 before anything is recorded), then its run record
 * and its graphile-worker job are written in one transaction (store/postgres/cluster-queue.ts),
 * refused with 503 when the cluster's queue is full. The caller's wait ends when the worker's
 * `done:<run id>` arrives on the LISTEN connection (no polling); the answer is read from the
 * result the worker left (or from the run's kept answer, for asynchronous calls).
 *
 * What the embedded calls do for a queued call is done here too: a caller who hangs up, or whose
 * call waited longer than the webhook's time limit, takes it out of the queue (its record ends
 * cancelled). A lost database connection ends every wait at once with a 503 (the call may still
 * run: its record tells); later calls work again once it is back.
 */
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { AppError, coerceError } from "../../errors.js";
import { cachedKernelSpecs, type KernelSpec } from "../../kernel/index.js";
import { toJsonValue } from "../../notebook/parameters/index.js";
import type { Run, Webhook } from "../../store/index.js";
import { CALLS_CHANNEL, type ClusterQueue } from "../../store/postgres/cluster-queue.js";
import { PgListener } from "../../store/postgres/listener.js";
import type { PgStore } from "../../store/postgres/pg-store.js";
import { concurrencyOf } from "../embedded-calls.js";
import { FinishRetries } from "../finish-retries.js";
import { cancelledCall } from "../run-call.js";
import { prepareCall } from "../prepare-call.js";
import type {
  AnswerFn,
  CallAnswer,
  CallOutcome,
  CallResult,
  Calls,
  CallStats,
  CancelReason,
  PreparedCall,
  RunLogger,
  SubmitOptions,
  Submission,
} from "../types.js";
import type { RequestInput } from "../webhook-parameters.js";
import { encodeParameters, outcomeFromWire, type CallPayload } from "./call-wire.js";

export interface ClusterCallsOptions {
  store: PgStore;
  queue: ClusterQueue;
  databaseUrl: string;
  answerFor: AnswerFn;
  log: RunLogger;
  /** Calls waiting beyond what the cluster's live workers run at once; beyond: 503. */
  maxQueue: number;
  /** Kernels installed here, if any (a worker in the same process); the workers choose their own. */
  findSpecs?: () => Promise<KernelSpec[]>;
}

interface Waiter {
  call: PreparedCall;
  run: Run;
  keepAnswer: boolean;
  log: RunLogger;
  state: "queued" | "running" | "over";
  settle(result: CallResult): void;
  result: Promise<CallResult>;
  timer?: NodeJS.Timeout;
}

/** How long a `done` that came before its waiter was registered is remembered. */
const EARLY_DONE_MS = 30_000;

export class ClusterCalls implements Calls {
  private readonly waiters = new Map<string, Waiter>();
  private readonly earlyDone = new Map<string, number>();
  private readonly listener: PgListener;
  /** Records of cancelled calls the store refused, closed later. */
  private readonly finishRetries: FinishRetries;
  private readonly findSpecs: () => Promise<KernelSpec[]>;
  private admitting = true;

  constructor(private readonly options: ClusterCallsOptions) {
    this.findSpecs = options.findSpecs ?? (() => cachedKernelSpecs());
    this.finishRetries = new FinishRetries(options.log);
    this.listener = new PgListener({
      databaseUrl: options.databaseUrl,
      channels: [CALLS_CHANNEL],
      onNotification: (_channel, payload) => this.notified(payload),
      onLost: () => this.connectionLost(),
      log: options.log,
    });
  }

  /** Listens for the workers' news; rejects when the database cannot be reached. */
  start(): Promise<void> {
    return this.listener.start();
  }

  prepare(webhook: Webhook, input: RequestInput, log: RunLogger = this.options.log): Promise<PreparedCall> {
    return prepareCall(
      { store: this.options.store, findSpecs: this.findSpecs, log, kernelsElsewhere: true },
      webhook,
      input,
    );
  }

  async submit(call: PreparedCall, options: SubmitOptions): Promise<Submission> {
    const log = options.log ?? this.options.log;
    try {
      if (!this.admitting) {
        return { kind: "refused", reason: "closing", message: "the server is shutting down", retryAfterS: 1 };
      }
      if (!this.listener.listening) throw unreachable(new Error("the notification connection is down"));
      const uploads = call.uploadsDir ? await readUploads(call.uploadsDir) : [];
      const { webhook } = call;
      const deadline = Date.now() + (webhook.timeoutMs > 0 ? webhook.timeoutMs : 24 * 3600_000);
      let enqueued;
      try {
        enqueued = await this.options.queue.enqueue({
          run: {
            webhookId: webhook.id,
            versionHisto: call.versionHisto,
            parameters: toJsonValue(call.redacted) as Record<string, unknown>,
          },
          concurrency: concurrencyOf(webhook.settings),
          maxQueue: this.options.maxQueue,
          keepAnswer: options.keepAnswer,
          uploads,
          payload: (run): CallPayload => ({
            runId: run.id,
            keepAnswer: options.keepAnswer,
            parameters: encodeParameters(call.parameters),
            redacted: encodeParameters(call.redacted),
            uploadsDir: call.uploadsDir,
            queueDeadline: deadline,
          }),
        });
      } catch (err) {
        if (err instanceof AppError) throw err;
        throw unreachable(err);
      }
      if (enqueued.kind === "refused") {
        const { active, capacity, maxQueue } = enqueued;
        return {
          kind: "refused",
          reason: "queue-full",
          message:
            capacity === 0
              ? `no worker is running and ${active} calls are waiting (the most the cluster queues): start \`nbhook worker\``
              : `the cluster is busy: ${active} calls queued or running for ${capacity} run slots and ${maxQueue} waiting places`,
          retryAfterS: 2,
        };
      }
      return this.wait(call, enqueued.run, options.keepAnswer, log);
    } finally {
      // The uploaded files are in the database now (or the call was refused): the worker gets its copy.
      if (call.uploadsDir) await rm(call.uploadsDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  webhookChanged(webhookId: string): void {
    this.options.queue
      .webhookChanged(webhookId)
      .catch((err: unknown) =>
        this.options.log.warn({ err }, "could not tell the workers of a changed webhook"),
      );
  }

  stats(): CallStats {
    let running = 0;
    let queued = 0;
    for (const waiter of this.waiters.values()) {
      if (waiter.state === "running") running++;
      else if (waiter.state === "queued") queued++;
    }
    return { running, queued };
  }

  /** Refuses new calls; this node's callers still queued are taken out of the queue (503). */
  stopAdmitting(): void {
    this.admitting = false;
    for (const [runId, waiter] of this.waiters) {
      // An asynchronous call goes on without its caller: a worker runs it, any node answers its polls.
      if (!waiter.keepAnswer) void this.leaveQueue(runId, "closing", "the server is shutting down");
    }
  }

  /** Waits for this node's synchronous callers' calls; asynchronous ones go on in the cluster. */
  async close(): Promise<void> {
    this.stopAdmitting();
    const pending = () => [...this.waiters.values()].filter((w) => !w.keepAnswer).map((w) => w.result);
    for (let left = pending(); left.length; left = pending()) await Promise.all(left);
    for (const [runId, waiter] of this.waiters) {
      this.waiters.delete(runId);
      clearTimeout(waiter.timer);
      waiter.settle(
        this.failedResult(
          waiter,
          "this API node stopped; the call goes on: poll GET /api/runs/" + runId,
          false,
        ),
      );
    }
    await this.listener.close();
    await this.finishRetries.close();
  }

  private wait(
    call: PreparedCall,
    run: Run,
    keepAnswer: boolean,
    log: RunLogger,
  ): Extract<Submission, { kind: "accepted" }> {
    let settle!: (result: CallResult) => void;
    const result = new Promise<CallResult>((resolve) => (settle = resolve));
    const waiter: Waiter = { call, run, keepAnswer, log, state: "queued", settle, result };
    this.waiters.set(run.id, waiter);
    const timeoutMs = call.webhook.timeoutMs;
    if (timeoutMs > 0) {
      const seconds = Math.round(timeoutMs / 100) / 10;
      waiter.timer = setTimeout(
        () =>
          void this.leaveQueue(
            run.id,
            "queue-timeout",
            `the call waited ${seconds} s in the queue (the webhook's time limit) without a free worker`,
          ),
        timeoutMs,
      );
      waiter.timer.unref();
    }
    if (this.earlyDone.delete(run.id)) void this.done(run.id);
    return {
      kind: "accepted",
      run,
      state: () => waiter.state,
      result,
      cancel: () => void this.leaveQueue(run.id, "caller-gone", "the caller went away"),
    };
  }

  private notified(payload: string): void {
    const [kind, runId] = splitOnce(payload, ":");
    if (!runId) return;
    const waiter = this.waiters.get(runId);
    if (kind === "start") {
      if (waiter && waiter.state === "queued") {
        waiter.state = "running";
        clearTimeout(waiter.timer); // the wait for a slot is over; the run's own limit holds now
      }
      return;
    }
    if (kind !== "done") return;
    if (!waiter) {
      // Possibly before its waiter exists (a very fast worker): kept for a while, then forgotten.
      const now = Date.now();
      this.earlyDone.set(runId, now);
      for (const [id, at] of this.earlyDone) if (now - at > EARLY_DONE_MS) this.earlyDone.delete(id);
      return;
    }
    void this.done(runId);
  }

  /** The worker (or the reaper) finished the call: its result, read once. */
  private async done(runId: string): Promise<void> {
    const waiter = this.waiters.get(runId);
    if (!waiter || waiter.state === "over") return;
    waiter.state = "over";
    clearTimeout(waiter.timer);
    this.waiters.delete(runId);
    const { store, queue } = this.options;
    try {
      const stored = await queue.takeResult(runId);
      if (!stored) throw new Error(`the result of run ${runId} is missing`);
      const outcome = outcomeFromWire(stored.outcome);
      let answer: CallAnswer = {
        status: stored.status,
        headers: stored.headers,
        body: stored.body ?? Buffer.alloc(0),
      };
      if (!stored.body) {
        const kept = await store.readAnswer(runId);
        if (kept) answer = { status: kept.status, headers: kept.headers, body: kept.body };
      }
      const run = stored.run ?? (await store.getRun(runId)) ?? waiter.run;
      waiter.settle({ run, outcome, answer });
    } catch (err) {
      waiter.log.error({ err, run: runId }, "could not read a call's result from the database");
      waiter.settle(
        this.failedResult(waiter, `could not read the call's result: ${coerceError(err).message}`, true),
      );
    }
  }

  /** Takes a call out of the queue if it is still there; its record ends cancelled. */
  private async leaveQueue(runId: string, reason: CancelReason, message: string): Promise<void> {
    const waiter = this.waiters.get(runId);
    if (!waiter || waiter.state !== "queued") return;
    let left: boolean;
    try {
      left = await this.options.queue.unqueue(runId);
    } catch (err) {
      waiter.log.warn({ err, run: runId }, "could not take a call out of the queue");
      return;
    }
    if (!left || waiter.state !== "queued") return; // a worker took it: the wait goes on
    waiter.state = "over";
    clearTimeout(waiter.timer);
    this.waiters.delete(runId);
    const why = { reason, message, retryAfterS: 2 };
    const { store, answerFor } = this.options;
    const deps = { store, answerFor, finishRetries: this.finishRetries };
    const options = { keepAnswer: waiter.keepAnswer, log: waiter.log };
    waiter.settle(await cancelledCall(deps, waiter.call.webhook, waiter.run, why, options));
  }

  /** Every wait ends: the news of its outcome may have been lost with the connection. */
  private connectionLost(): void {
    for (const [runId, waiter] of this.waiters) {
      this.waiters.delete(runId);
      waiter.state = "over";
      clearTimeout(waiter.timer);
      waiter.settle(
        this.failedResult(
          waiter,
          `the connection to the database was lost while waiting for the call's outcome; the call may still finish: see GET /api/runs/${runId}`,
          true,
        ),
      );
    }
  }

  private failedResult(waiter: Waiter, message: string, unreachable: boolean): CallResult {
    const outcome: CallOutcome = { kind: "failed", runId: waiter.run.id, message, unreachable };
    return { run: waiter.run, outcome, answer: this.options.answerFor(outcome, waiter.call.webhook) };
  }
}

/** A database that cannot be reached: the caller may try again (503). */
function unreachable(cause: unknown): AppError {
  return new AppError(
    "busy",
    `the database cannot be reached (${coerceError(cause).message}): try again in 5 s`,
    { retryAfterS: 5, cause },
  );
}

/** The files of a call's uploads folder (flat: request-input.ts writes each under a safe name). */
async function readUploads(dir: string): Promise<{ name: string; data: Buffer }[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return Promise.all(names.map(async (name) => ({ name, data: await readFile(path.join(dir, name)) })));
}

function splitOnce(text: string, sep: string): [string, string | undefined] {
  const at = text.indexOf(sep);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}
