/**
 * @module Calls of dead workers, closed within seconds (docs/scaling.md, "Faults"). Every node
 * runs a reaper; once a second one of them (a lock the others skip) asks the queue for the runs
 * of workers whose heartbeat stopped, which frees their jobs, and closes each as `died` with a
 * 500 its caller receives at once: not after graphile-worker's lock timeout, hours later.
 *
 * A node that itself lost the database for a while does not reap until it has been connected
 * again for longer than a heartbeat's age: the heartbeats it would read are stale because the
 * database was away, not because the workers are.
 */
import { coerceError } from "../../errors.js";
import { WORKER_STALE_MS, type ClusterQueue, type DeadRun } from "../../store/postgres/cluster-queue.js";
import type { PgStore } from "../../store/postgres/pg-store.js";
import type { AnswerFn, CallOutcome, RunLogger } from "../types.js";
import { outcomeToWire } from "./call-wire.js";

export interface ReaperOptions {
  store: PgStore;
  queue: ClusterQueue;
  answerFor: AnswerFn;
  log: RunLogger;
  /** @default 1000 */
  intervalMs?: number;
}

export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<number> | undefined;
  /** Since when the database has answered without a break (undefined: it does not now). */
  private connectedSince: number | undefined = Date.now();

  constructor(private readonly options: ReaperOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.ticking ??= this.tick().finally(() => (this.ticking = undefined));
    }, this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
  }

  /** One round: the dead workers' runs closed; how many. */
  async tick(): Promise<number> {
    let dead: DeadRun[];
    try {
      const connectedSince = this.connectedSince;
      if (connectedSince === undefined || Date.now() - connectedSince < WORKER_STALE_MS + 1000) {
        await this.options.store.pool.query("SELECT 1");
        this.connectedSince ??= Date.now();
        return 0;
      }
      dead = await this.options.queue.reap();
    } catch {
      this.connectedSince = undefined;
      return 0;
    }
    for (const run of dead) await this.close(run);
    return dead.length;
  }

  private async close(dead: DeadRun): Promise<void> {
    const { store, queue, answerFor, log } = this.options;
    try {
      const webhook = await store.getWebhook(dead.webhookId);
      if (!webhook) return;
      const durationMs = Math.max(0, Date.now() - Date.parse(dead.startedAt));
      const outcome: CallOutcome = {
        kind: "ran",
        runId: dead.id,
        status: "died",
        durationMs,
        error: {
          ename: "WorkerDied",
          evalue: "the worker running this call stopped (its process or machine died) before the call ended",
          traceback: [],
        },
      };
      const answer = answerFor(outcome, webhook);
      await store.finishRun(dead.id, {
        status: "died",
        durationMs,
        error: { ename: "WorkerDied", evalue: outcome.error!.evalue },
        httpStatus: answer.status,
        answer: dead.keepAnswer
          ? { status: answer.status, headers: answer.headers, body: answer.body }
          : undefined,
      });
      await queue.publishResult(dead.id, {
        outcome: outcomeToWire(outcome),
        status: answer.status,
        headers: answer.headers,
        body: dead.keepAnswer ? null : answer.body,
      });
      log.warn(
        { webhook: webhook.path, run: dead.id },
        "the worker of a call died: the run is closed as died",
      );
    } catch (err) {
      log.error({ err: coerceError(err), run: dead.id }, "could not close the run of a dead worker");
    }
  }
}
