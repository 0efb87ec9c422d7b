/**
 * @module Webhook calls run in this process (the `Calls` of a single server; docs/architecture.md).
 * Built once at start-up, it owns what calls share: the kernel pool, the warm kernels of `setup`
 * and `reuse` webhooks, the admission (run limits and the bounded queue) and the mailer.
 *
 * A call's life (docs/api.md, "Load" and "Asynchronous calls"):
 * - `submit` enters the admission: the call runs at once, waits in the queue, or is refused
 *   (queue full, stopping) before anything is recorded.
 * - Its run record is created then: `running`, or `queued` while it waits (`startedAt` is set again
 *   when it starts). A queued call whose caller went away, that waited longer than the webhook's
 *   time limit, or that is still waiting when the server stops never runs: its record ends
 *   `cancelled`. Time in the queue does not count against the run's time limit.
 * - Admitted, it runs (run-call.ts), and its uploaded files are removed.
 * Every call is tracked until it is over, answered or not, so `close` waits for them.
 */
import { rm } from "node:fs/promises";
import { cachedKernelSpecs, type KernelSpec } from "../kernel/index.js";
import { toJsonValue } from "../notebook/parameters/index.js";
import type { Run, Webhook, WebhookSettings } from "../store/index.js";
import { Admission, AdmissionRefused, type Slot, type Ticket } from "./admission.js";
import { prepareCall } from "./prepare-call.js";
import { RunEngine, type RunEngineOptions } from "./run-engine.js";
import type {
  CallResult,
  Calls,
  CallStats,
  PreparedCall,
  RunLogger,
  SubmitOptions,
  Submission,
} from "./types.js";
import type { RequestInput } from "./webhook-parameters.js";

export interface EmbeddedCallsOptions extends RunEngineOptions {
  /** Calls running at once. */
  maxRuns: number;
  /** Calls waiting at once. */
  maxQueue: number;
  /** @default cachedKernelSpecs */
  findSpecs?: () => Promise<KernelSpec[]>;
}

/**
 * Runs of one webhook at once: its `max_concurrency`; a reuse-mode webhook has one kernel serving
 * calls in turn, so more than one of its calls holding a run slot would only keep others waiting.
 */
export function concurrencyOf(settings: WebhookSettings): number | null {
  return settings.mode === "reuse" ? 1 : settings.maxConcurrency;
}

export class EmbeddedCalls implements Calls {
  private readonly engine: RunEngine;
  private readonly admission: Admission;
  private readonly findSpecs: () => Promise<KernelSpec[]>;
  private readonly log: RunLogger;
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly options: EmbeddedCallsOptions) {
    this.log = options.log;
    this.findSpecs = options.findSpecs ?? (() => cachedKernelSpecs());
    this.engine = new RunEngine(options);
    this.admission = new Admission({ maxRuns: options.maxRuns, maxQueue: options.maxQueue });
  }

  /** Starts the kernels most calls need (Python's) ahead of the first call. */
  async warmUp(): Promise<void> {
    await this.engine.warmUp(this.findSpecs);
  }

  prepare(webhook: Webhook, input: RequestInput, log: RunLogger = this.log): Promise<PreparedCall> {
    return prepareCall({ store: this.options.store, findSpecs: this.findSpecs, log }, webhook, input);
  }

  async submit(call: PreparedCall, options: SubmitOptions): Promise<Submission> {
    const log = options.log ?? this.log;
    let ticket: Ticket;
    try {
      ticket = this.admission.enter({
        key: call.webhook.id,
        limit: concurrencyOf(call.webhook.settings),
        maxWaitMs: call.webhook.timeoutMs,
      });
    } catch (err) {
      await this.discard(call, log);
      if (!(err instanceof AdmissionRefused)) throw err;
      const reason = err.reason === "queue-full" ? "queue-full" : "closing"; // what enter() refuses with
      return { kind: "refused", reason, message: err.message, retryAfterS: err.retryAfterS };
    }
    // Tracked from here, so that close() waits for this call even while its record is created.
    const accepting = this.accept(call, ticket, options.keepAnswer, log);
    this.track(accepting.then((accepted) => accepted.result));
    return accepting;
  }

  webhookChanged(webhookId: string): void {
    this.engine.invalidate(webhookId);
  }

  stats(): CallStats {
    return {
      running: this.admission.running,
      queued: this.admission.queued,
      kernels: this.engine.kernelStats(),
    };
  }

  stopAdmitting(): void {
    this.admission.close();
  }

  async close(): Promise<void> {
    const { running, queued } = this.admission;
    this.stopAdmitting();
    if (running + queued > 0) {
      this.log.info({ running, queued }, "stopping: queued calls are refused, running ones finish first");
    }
    try {
      while (this.running.size) await Promise.allSettled([...this.running]);
    } finally {
      await this.engine.close();
    }
  }

  /** Creates the record of an admitted or queued call, and starts waiting for its slot. */
  private async accept(
    call: PreparedCall,
    ticket: Ticket,
    keepAnswer: boolean,
    log: RunLogger,
  ): Promise<Extract<Submission, { kind: "accepted" }>> {
    let run: Run;
    try {
      run = await this.options.store.createRun({
        webhookId: call.webhook.id,
        versionHisto: call.versionHisto,
        parameters: toJsonValue(call.redacted) as Record<string, unknown>,
        queued: ticket.state === "queued",
      });
    } catch (err) {
      ticket.cancel();
      void ticket.slot.then(
        (slot) => slot.release(),
        () => undefined,
      );
      await this.discard(call, log);
      throw err;
    }
    const result = this.whenAdmitted(call, ticket, run, keepAnswer, log);
    const state = () =>
      ticket.state === "queued" ? "queued" : ticket.state === "running" ? "running" : "over";
    return { kind: "accepted", run, state, result, cancel: () => ticket.cancel() };
  }

  /** Keeps `job` in `running` until it settles (close() waits for it). */
  private track(job: Promise<unknown>): void {
    const tracked: Promise<unknown> = job.catch(() => undefined).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  /** Waits for the slot, runs, records; a call that never gets a slot ends `cancelled`. */
  private async whenAdmitted(
    call: PreparedCall,
    ticket: Ticket,
    run: Run,
    keepAnswer: boolean,
    log: RunLogger,
  ): Promise<CallResult> {
    let slot: Slot;
    try {
      slot = await ticket.slot;
    } catch (err) {
      await this.discard(call, log);
      if (err instanceof AdmissionRefused && err.reason !== "queue-full") {
        const why = { reason: err.reason, message: err.message, retryAfterS: err.retryAfterS };
        return this.engine.cancelled(call.webhook, run, why, { keepAnswer, log });
      }
      return this.engine.failed(call, run, err, { keepAnswer, log });
    }
    try {
      const started = run.status === "queued" ? await this.options.store.startRun(run.id) : run;
      return await this.engine.run(call, started, { keepAnswer, log });
    } catch (err) {
      return this.engine.failed(call, run, err, { keepAnswer, log }); // startRun failed
    } finally {
      slot.release();
      // Uploaded files were the run's input; the answer (even one made of them) is in memory now.
      await this.discard(call, log);
    }
  }

  /** Removes what the call brought (uploaded files). */
  private async discard(call: PreparedCall, log: RunLogger): Promise<void> {
    if (!call.uploadsDir) return;
    await rm(call.uploadsDir, { recursive: true, force: true }).catch((err: unknown) =>
      log.warn({ err }, "could not remove a run's uploaded files"),
    );
  }
}
