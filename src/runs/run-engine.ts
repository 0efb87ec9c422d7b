/**
 * @module The kernel side of webhook calls, shared by every `Calls`: the kernel pool, the warm
 * kernels of `setup` and `reuse` webhooks, the mailer and the finishes the store refused. An
 * admitted call is run here (run-call.ts); who admits it differs: `EmbeddedCalls` in this
 * process, a cluster worker (cluster/cluster-worker.ts) from graphile-worker's queue.
 */
import {
  KernelPool,
  onKernelWarning,
  type KernelObserver,
  type KernelSpec,
  type PoolOptions,
  type PoolStats,
} from "../kernel/index.js";
import type { AnswerLimits } from "../notebook/types.js";
import type { Run, Store, Webhook } from "../store/index.js";
import { FinishRetries } from "./finish-retries.js";
import { Notifier, type SmtpSettings } from "./notify.js";
import { cancelledCall, failedCall, runCall, type RunCallDeps } from "./run-call.js";
import type {
  AnswerFn,
  CallResult,
  CancelReason,
  Links,
  PreparedCall,
  RunLogger,
  WarmStats,
} from "./types.js";
import type { RunSecrets } from "./run-secrets.js";
import { WarmKernels } from "./warm-kernels.js";

export interface RunEngineOptions {
  store: Store;
  links: Links;
  /** The answer of an outcome (the server's: the HTTP status is chosen there). */
  answerFor: AnswerFn;
  log: RunLogger;
  /** Kernels started ahead per kernelspec (0: one start per call). */
  poolSize: number;
  /** Unset: notifications are logged, not sent. */
  smtp?: SmtpSettings;
  /** How the pool starts a kernel (tests give fake kernels). @default KernelClient.start */
  startKernel?: PoolOptions["start"];
  /** Where kernels' private folders are made (`<home>/kernels`). @default os.tmpdir() */
  kernelRuntimeDir?: string;
  /** Output and answer sizes, and the answer files' folder (`<home>/answers`). */
  limits?: AnswerLimits;
  /** Told of kernel starts and deaths (the server's metrics). */
  kernelObserver?: KernelObserver;
  /** The webhooks' stored secrets (docs/secrets.md); unset: none. */
  secrets?: RunSecrets;
}

export class RunEngine {
  readonly pool: KernelPool;
  private readonly warm: WarmKernels;
  private readonly notifier: Notifier;
  private readonly finishRetries: FinishRetries;
  private readonly deps: RunCallDeps;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: RunEngineOptions) {
    const log = options.log;
    this.pool = new KernelPool({
      size: options.poolSize,
      start: options.startKernel,
      defaults: options.kernelRuntimeDir ? { runtimeDir: options.kernelRuntimeDir } : undefined,
      onError: (err, spec) => log.error({ err, kernel: spec.name }, "could not start a pooled kernel"),
      observer: options.kernelObserver,
    });
    this.warm = new WarmKernels({
      pool: this.pool,
      // Two prepared kernels per setup version (one with --pool 0 or 1): back to back, a call then
      // finds one while the next is forked (one alone was replaced too late; three gained nothing,
      // and the 8 kept kernels of all versions are shared).
      readyPerVersion: Math.min(2, Math.max(1, options.poolSize)),
      log: (level, fields, msg) => (level === "debug" ? log.debug?.(fields, msg) : log[level](fields, msg)),
    });
    this.notifier = new Notifier(options.smtp, log);
    this.finishRetries = new FinishRetries(log);
    this.deps = {
      store: options.store,
      pool: this.pool,
      links: options.links,
      answerFor: options.answerFor,
      notifier: this.notifier,
      finishRetries: this.finishRetries,
      limits: options.limits,
      secrets: options.secrets,
      leaseFor: (call) => this.warm.leaseFor(call),
    };
    // A skipped kernel.json, the fork server falling back to spawning: the operator should know.
    this.unsubscribe = onKernelWarning((warning) =>
      log.warn({ code: warning.code, file: warning.file }, warning.message),
    );
  }

  /** Starts the kernels most calls need (Python's) ahead of the first call. */
  async warmUp(findSpecs: () => Promise<KernelSpec[]>): Promise<void> {
    const python = (await findSpecs()).find((spec) => spec.name === "python3");
    if (python) this.pool.warm(python);
  }

  /** Runs an admitted call on its `running` record; never rejects (see runCall). */
  run(call: PreparedCall, run: Run, options: { keepAnswer: boolean; log: RunLogger }): Promise<CallResult> {
    return runCall(this.deps, call, run, options);
  }

  /** Closes the record of a call nbhook itself failed, with its answer (see failedCall). */
  failed(
    call: Pick<PreparedCall, "webhook">,
    run: Run,
    err: unknown,
    options: { keepAnswer: boolean; log: RunLogger },
  ): Promise<CallResult> {
    return failedCall(this.deps, call, run, err, options);
  }

  /** Closes the record of a queued call that left the queue without running (see cancelledCall). */
  cancelled(
    webhook: Webhook,
    run: Run,
    why: { reason: CancelReason; message: string; retryAfterS: number },
    options: { keepAnswer: boolean; log: RunLogger },
  ): Promise<CallResult> {
    return cancelledCall(this.deps, webhook, run, why, options);
  }

  /** A webhook was redeployed or deleted: its prepared kernels go. */
  invalidate(webhookId: string): void {
    this.warm.invalidate(webhookId);
  }

  kernelStats(): { pool: PoolStats[]; warm: WarmStats[] } {
    return { pool: this.pool.stats(), warm: this.warm.stats() };
  }

  /** Every call must be over: stops the mailer (after its mails), the kernels, the retries. */
  async close(): Promise<void> {
    try {
      await this.notifier.close();
      await this.warm.close(); // before the pool: its kernels came from there
    } finally {
      await this.pool.close();
      await this.finishRetries.close();
      this.unsubscribe();
    }
  }
}
