/**
 * The prepared kernels of one webhook version (warm modes, docs/modes.md), and how its calls get
 * them. `setup`: a call takes a prepared kernel for itself alone; afterwards it is shut down and a
 * replacement prepared. `reuse`: one kernel serves the calls one at a time (the others wait their
 * turn, within their run time limit) and is kept, until `reuseCalls` calls, a call that did not
 * end "ok", or its death. A failed preparation fails the calls waiting for it with its error, and
 * later calls at once until a backoff has passed (2 s, doubling, at most 60 s); the first
 * retries run in the background, later ones on the next call.
 */
import { AppError, coerceError } from "../errors.js";
import { contextPreamble, helperPreamble, type KernelPool, type KernelSpec } from "../kernel/index.js";
import { secretValuesIn } from "./run-secrets.js";
import { scrubSecretText, secretValueTexts } from "./scrub-secrets.js";
import type { ExecutionStatus, KernelLease, LeaseRequest } from "./types.js";
import { WaitQueue } from "./wait-queue.js";
import { SetupTemplate } from "../kernel/forkserver.js";
import {
  applyCallContext,
  prepareFromTemplate,
  prepareWarmKernel,
  templateSetup,
  TemplateUnusable,
  SETUP_TAG,
  type WarmKernel,
  type WarmTarget,
} from "./warm-prepare.js";

export type WarmMode = "setup" | "reuse";
export type WarmLog = (
  level: "debug" | "info" | "warn",
  fields: Record<string, unknown>,
  msg: string,
) => void;

/** What a version needs from the manager: the pool, the global cap, and where kernels go to stop. */
export interface WarmHost {
  readonly pool: KernelPool;
  readonly closed: boolean;
  readonly readyPerVersion: number;
  /** Whether one more kernel may be kept for `version` (an idle one of another version may be evicted). */
  room(version: WarmVersion): boolean;
  /** Shuts a kernel down in the background; close() waits for it. */
  track(job: Promise<unknown>): void;
  log: WarmLog;
}

/** How long a replacement waits while the version still has a prepared kernel (KernelPool's). */
const REFILL_DELAY_MS = 150;
/** Background retries of a failed preparation before only calls trigger them. */
const BACKGROUND_RETRIES = 3;
const backoffMs = (failures: number) => Math.min(60_000, 1000 * 2 ** failures);

export class WarmVersion {
  /** Prepared kernels nobody uses (reuse: the resident kernel between calls). */
  readonly ready: WarmKernel[] = [];
  preparing = 0;
  /** Kernels lent to calls now. */
  inUse = 0;
  lastUsed = Date.now();
  /** Retired (new version, deleted, expired, closing): kernels are shut down after their call. */
  dead = false;
  /** Calls waiting for a preparation in flight; never more than `preparing`. */
  private readonly waiters = new WaitQueue<WarmKernel>();
  /** reuse: a call holds the turn; `turn` are the calls waiting for it. */
  private busy = false;
  private readonly turn = new WaitQueue<void>();
  private failure?: { error: Error; count: number; retryAt: number };
  private retryTimer?: NodeJS.Timeout;
  /** setup: the process the kernels are forked from (its setup cells run), or "off" (why logged). */
  private template?: SetupTemplate | "off";

  constructor(
    readonly key: string,
    readonly webhookId: string,
    readonly path: string,
    readonly mode: WarmMode,
    readonly reuseCalls: number,
    readonly target: WarmTarget,
    private readonly host: WarmHost,
  ) {}

  /** Kernels of this version counted against the global cap. */
  get held(): number {
    return this.ready.length + this.preparing + (this.mode === "reuse" ? this.inUse : 0);
  }

  get idle(): boolean {
    return this.inUse === 0 && this.waiters.length === 0 && !this.busy;
  }

  /** A prepared kernel for one call, given the call's folder and environment. */
  async lease(request: LeaseRequest): Promise<KernelLease> {
    this.lastUsed = Date.now();
    const deadline = request.start.startTimeoutMs ? Date.now() + request.start.startTimeoutMs : Infinity;
    if (this.mode === "reuse") await this.takeTurn(deadline);
    let warm: WarmKernel | undefined;
    // setup: a Python kernel's move into the call's folder and environment goes with the cells
    // (one request less); reuse gives it once per context, on its own request.
    const prelude =
      this.mode === "setup" && preludeCapable(request.spec)
        ? contextPreamble(request.spec, request.start.cwd, request.start.env ?? {})
        : undefined;
    try {
      warm = await this.take(deadline);
      const left = Math.min(30_000, deadline - Date.now());
      const context = JSON.stringify([request.start.cwd, request.start.env ?? {}]);
      if (prelude === undefined && warm.context !== context) {
        await applyCallContext(warm.kernel, request.spec, request.start.cwd, request.start.env ?? {}, left);
        warm.context = context;
      }
    } catch (err) {
      if (warm) this.giveBack(warm, "error");
      else if (this.mode === "reuse") this.passTurn();
      throw err;
    }
    const lent = warm;
    let released = false;
    return {
      kernel: lent.kernel,
      prelude,
      skipTag: SETUP_TAG,
      skippedOutputs: lent.setupOutputs,
      release: async (status) => {
        if (released) return;
        released = true;
        this.giveBack(lent, status);
      },
    };
  }

  /** Stops keeping kernels: idle ones are shut down now, the others after their call. */
  retire(): void {
    this.dead = true;
    clearTimeout(this.retryTimer);
    if (this.template instanceof SetupTemplate) this.template.retire(); // exits after its last kernel
    this.template = "off";
    for (const warm of this.ready.splice(0)) this.stop(warm);
    if (this.host.closed) {
      this.waiters.failAll(shuttingDown());
      this.turn.failAll(shuttingDown()); // reuse calls waiting for their turn get no kernel now
    }
  }

  /** Replaces kept kernels that no longer answer their heartbeat. */
  checkHealth(): void {
    for (const warm of this.ready) {
      void warm.kernel.ping(2000).then((alive) => {
        if (alive || !this.ready.includes(warm)) return;
        this.ready.splice(this.ready.indexOf(warm), 1);
        this.host.track(warm.kernel.kill());
        this.refill();
      });
    }
  }

  /** Starts the preparations this version lacks, within the global cap and the failure backoff. */
  refill(): void {
    if (this.dead || this.host.closed) return;
    if (this.failure && Date.now() < this.failure.retryAt) return; // the retry timer or a call tries again
    const unclaimed = this.preparing - this.waiters.length;
    const wanted =
      this.mode === "setup"
        ? this.host.readyPerVersion - this.ready.length - unclaimed
        : 1 - this.ready.length - this.inUse - this.preparing;
    for (let i = 0; i < wanted && this.host.room(this); i++) this.prepare();
  }

  /** Evicts one idle kernel (the manager keeps the global cap). */
  evictOne(): void {
    const warm = this.ready.shift();
    if (warm) this.stop(warm);
  }

  /** A ready kernel, else one being prepared (started now when none is in flight for this caller). */
  private take(deadline: number): Promise<WarmKernel> {
    let warm: WarmKernel | undefined;
    while ((warm = this.ready.shift())) {
      if (!warm.kernel.isAlive) continue;
      this.inUse++;
      // As the pool does: with another kernel ready, the replacement's fork (CPU bound) waits a
      // little, so that it does not compete with the call that just took this one.
      if (this.ready.length === 0) this.refill();
      else setTimeout(() => this.refill(), REFILL_DELAY_MS).unref();
      return Promise.resolve(warm);
    }
    if (this.failure && Date.now() < this.failure.retryAt && this.preparing <= this.waiters.length) {
      return Promise.reject(this.failure.error);
    }
    const waiting = this.waiters.wait(deadline, () => new AppError("timeout", "no prepared kernel in time"));
    if (this.preparing < this.waiters.length) {
      this.host.room(this); // best effort: a call is served even when the cap is reached
      this.prepare();
    }
    return waiting;
  }

  /** The end of a call: reuse keeps a healthy kernel; everything else is shut down and replaced. */
  private giveBack(warm: WarmKernel, status: ExecutionStatus): void {
    this.inUse--;
    warm.calls++;
    const keep =
      this.mode === "reuse" &&
      status === "ok" &&
      warm.calls < this.reuseCalls &&
      warm.kernel.isAlive &&
      !this.dead &&
      !this.host.closed &&
      this.host.room(this);
    if (keep) this.ready.push(warm);
    else {
      if (this.mode === "reuse")
        this.host.log("debug", { webhook: this.path, status, calls: warm.calls }, "reuse kernel replaced");
      this.stop(warm);
    }
    this.refill();
    if (this.mode === "reuse") this.passTurn();
  }

  private takeTurn(deadline: number): Promise<void> {
    if (!this.busy) {
      this.busy = true;
      return Promise.resolve();
    }
    // Handed on by passTurn: `busy` stays true.
    return this.turn.wait(
      deadline,
      () => new AppError("timeout", "the run timed out waiting for its turn on the reuse kernel"),
    );
  }

  private passTurn(): void {
    if (!this.turn.hand()) this.busy = false;
  }

  private prepare(): void {
    this.preparing++;
    const job = this.prepareOne().then(
      (warm) => {
        this.preparing--;
        this.prepared(warm);
      },
      (err: unknown) => {
        this.preparing--;
        this.failed(coerceError(err));
      },
    );
    this.host.track(job);
  }

  /** setup: a kernel forked from the version's template when it can be, else prepared on its own. */
  private async prepareOne(): Promise<WarmKernel> {
    if (this.mode === "setup" && this.template === undefined) {
      const setup = templateSetup(this.target);
      this.template = setup ? new SetupTemplate(this.target.spec, setup) : "off";
    }
    const template = this.template;
    if (template instanceof SetupTemplate) {
      try {
        return await prepareFromTemplate(template, this.target);
      } catch (err) {
        if (!(err instanceof TemplateUnusable)) throw err;
        if (this.template === template) {
          // One that served and died is replaced by the next preparation; else none for this version.
          this.template = template.died && !this.dead ? undefined : "off";
          template.retire();
          this.host.log(
            "info",
            {
              webhook: this.path,
              reason: scrubSecretText(err.message, secretValueTexts(secretValuesIn(this.target.env))),
            },
            "setup template not used: kernels are prepared by running the setup cells on each",
          );
        }
      }
    }
    return prepareWarmKernel(this.host.pool, this.target);
  }

  private prepared(warm: WarmKernel): void {
    if (this.failure)
      this.host.log("info", { webhook: this.path }, "warm kernel prepared again after a failure");
    this.failure = undefined;
    clearTimeout(this.retryTimer);
    void warm.kernel.exited.then(() => this.drop(warm));
    if (this.host.closed) {
      this.waiters.failAll(shuttingDown());
      this.stop(warm);
      return;
    }
    this.inUse++;
    if (this.waiters.hand(warm)) {
      this.refill(); // setup: the next call's kernel is prepared while this one runs
      return;
    }
    this.inUse--;
    if (this.dead || this.ready.length >= this.host.readyPerVersion || !this.host.room(this)) this.stop(warm);
    else this.ready.push(warm);
  }

  private failed(error: Error): void {
    const count = (this.failure?.count ?? 0) + 1;
    const wait = backoffMs(count);
    this.failure = { error, count, retryAt: Date.now() + wait };
    this.host.log(
      "warn",
      {
        webhook: this.path,
        // A setup cell's error may quote a secret it was given.
        err: scrubSecretText(error.message, secretValueTexts(secretValuesIn(this.target.env))),
        failures: count,
        retryInMs: wait,
      },
      "could not prepare a warm kernel",
    );
    this.waiters.failNext(error);
    clearTimeout(this.retryTimer);
    if (count <= BACKGROUND_RETRIES && !this.dead && !this.host.closed) {
      this.retryTimer = setTimeout(() => this.refill(), wait + 10);
      this.retryTimer.unref();
    }
  }

  /** A kept kernel died on its own: forget it, prepare another. */
  private drop(warm: WarmKernel): void {
    const at = this.ready.indexOf(warm);
    if (at < 0) return;
    this.ready.splice(at, 1);
    this.refill();
  }

  private stop(warm: WarmKernel): void {
    this.host.track(warm.kernel.shutdown());
  }
}

/** Kernels whose call context can ride with the cells as the lease's prelude (as freshKernelLease's). */
function preludeCapable(spec: KernelSpec): boolean {
  return helperPreamble(spec) === undefined && spec.language.toLowerCase() === "python";
}

function shuttingDown(): AppError {
  return new AppError("kernel-launch", "the server is shutting down");
}
