/**
 * Kernels started ahead of demand, per kernelspec. A run takes a ready kernel (never one that
 * another run has), the pool starts a replacement in the background, and the taker shuts the
 * kernel down after its run, so no state survives between calls. Idle kernels are pinged on
 * their heartbeat and replaced when dead. Ready plus starting kernels never exceed `size` per
 * kernelspec, whatever the load: under a burst, callers beyond the ready ones start their own
 * kernel (what `--pool 0` does for every call).
 */
import { coerceError } from "../errors.js";
import { KernelClient, type StartOptions } from "./client.js";
import { warmupCode } from "./in-kernel-helpers.js";
import type { KernelSpec } from "./kernelspec.js";

export interface PoolOptions {
  /** Kernels kept ready per kernelspec; 0 disables pooling. */
  size: number;
  /** How often idle kernels are pinged (ms); default 5 s. */
  healthIntervalMs?: number;
  /** How kernels start (tests and warm modes pass their own); default KernelClient.start. */
  start?: (spec: KernelSpec, options: StartOptions) => Promise<KernelClient>;
  /** Where background start failures are reported. */
  onError?: (err: Error, spec: KernelSpec) => void;
  /** Start options every kernel of the pool gets (a take()'s own options win). */
  defaults?: StartOptions;
  /** Told of kernel starts and deaths (the server's metrics). */
  observer?: KernelObserver;
}

/** What happens to the pool's kernels, for whoever counts (server/metrics.ts); names are kernelspecs. */
export interface KernelObserver {
  /** A kernel started (and answered), in `ms`. */
  started?(kernel: string, ms: number): void;
  /** A kernel could not be started. */
  startFailed?(kernel: string, err: Error): void;
  /**
   * A kernel's process ended without nbhook asking (it crashed, was killed from outside, ran out
   * of memory), or an idle one stopped answering its heartbeat and was killed.
   */
  died?(kernel: string): void;
}

interface SpecPool {
  spec: KernelSpec;
  ready: KernelClient[];
  starting: number;
  /** Kernels handed out by take() whose process is still running. */
  busy: Set<KernelClient>;
  /** Consecutive start failures; refills back off while this grows. */
  failures: number;
  /** Why the last start failed, while no start has succeeded since. */
  lastError?: string;
}

export interface PoolStats {
  kernel: string;
  ready: number;
  starting: number;
  /** Handed out (running a call, or prepared for a warm webhook) and still running. */
  busy: number;
  pids: number[];
  /** Why the last start of this kernelspec failed, when none has succeeded since. */
  lastStartError?: string;
}

/**
 * Starts a kernel and runs its warm-up (see warmupCode); a failing warm-up leaves it usable as is.
 * A kernel forked from a prewarmed fork server has what the warm-up would give it already.
 */
async function startWarm(spec: KernelSpec, options: StartOptions): Promise<KernelClient> {
  const kernel = await KernelClient.start(spec, options);
  if (kernel.prewarmed) return kernel;
  const code = warmupCode(spec);
  if (code) await kernel.execute(code, { silent: true, timeoutMs: 30_000 }).catch(() => undefined);
  return kernel;
}

/** How long a refill waits while the pool still has a ready kernel (see take()). */
const REFILL_DELAY_MS = 150;

export class KernelPool {
  private readonly pools = new Map<string, SpecPool>();
  private readonly start: (spec: KernelSpec, options: StartOptions) => Promise<KernelClient>;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly retiring = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly options: PoolOptions) {
    const start = options.start ?? startWarm;
    this.start = async (spec, startOptions) => {
      const began = Date.now();
      const observer = options.observer;
      let kernel: KernelClient;
      try {
        kernel = await start(spec, { ...options.defaults, ...startOptions });
      } catch (err) {
        const pool = this.poolOf(spec);
        pool.lastError = coerceError(err).message;
        observer?.startFailed?.(spec.name, coerceError(err));
        throw err;
      }
      this.poolOf(spec).lastError = undefined;
      observer?.started?.(spec.name, Date.now() - began);
      void kernel.exited.then(() => {
        if (!kernel.stopRequested) observer?.died?.(spec.name);
      });
      return kernel;
    };
    if (options.size > 0) {
      this.timer = setInterval(() => void this.checkHealth(), options.healthIntervalMs ?? 5000);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.options.size;
  }

  /** Starts filling the pool of `spec` (the first take() does it too). */
  warm(spec: KernelSpec): void {
    this.refill(this.poolOf(spec));
  }

  /**
   * A kernel for one run, for the caller alone: a ready one when there is one, else a newly
   * started one. The caller must shut it down (or kill it) when done.
   */
  async take(spec: KernelSpec, startOptions: StartOptions = {}): Promise<KernelClient> {
    if (this.closed) throw new Error("the kernel pool is closed");
    const pool = this.poolOf(spec);
    if (this.options.size <= 0) return this.handOut(pool, await this.start(spec, startOptions));
    let kernel: KernelClient | undefined;
    while ((kernel = pool.ready.shift())) {
      if (kernel.isAlive) break;
    }
    if (pool.ready.length === 0) this.refill(pool);
    else {
      // Another kernel is ready: start the replacement a little later, so that its start (CPU
      // bound) does not compete with the call that just took this kernel on a small machine.
      setTimeout(() => this.refill(pool), REFILL_DELAY_MS).unref();
    }
    return this.handOut(pool, kernel ?? (await this.start(spec, startOptions)));
  }

  /** Counted busy until its process ends. */
  private handOut(pool: SpecPool, kernel: KernelClient): KernelClient {
    pool.busy.add(kernel);
    void kernel.exited.then(() => pool.busy.delete(kernel));
    return kernel;
  }

  /**
   * Shuts a used kernel down in the background, so the caller's answer does not wait for the
   * process to exit (100–300 ms for ipykernel); close() waits for these shutdowns.
   */
  retire(kernel: KernelClient): void {
    const done = kernel.shutdown().finally(() => this.retiring.delete(done));
    this.retiring.add(done);
  }

  stats(): PoolStats[] {
    return [...this.pools.values()].map((p) => ({
      kernel: p.spec.name,
      ready: p.ready.length,
      starting: p.starting,
      busy: p.busy.size,
      pids: p.ready.map((k) => k.pid ?? -1),
      ...(p.lastError !== undefined ? { lastStartError: p.lastError } : {}),
    }));
  }

  /** Shuts every idle kernel down; kernels still starting are shut down as they arrive. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const idle = [...this.pools.values()].flatMap((p) => p.ready.splice(0));
    await Promise.all([...idle.map((k) => k.shutdown()), ...this.retiring]);
    // Wait for in-flight starts so none outlives the pool.
    for (let i = 0; i < 600 && [...this.pools.values()].some((p) => p.starting > 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private poolOf(spec: KernelSpec): SpecPool {
    let pool = this.pools.get(spec.name);
    if (!pool) {
      pool = { spec, ready: [], starting: 0, busy: new Set(), failures: 0 };
      this.pools.set(spec.name, pool);
    }
    return pool;
  }

  private refill(pool: SpecPool): void {
    while (!this.closed && pool.ready.length + pool.starting < this.options.size) {
      pool.starting++;
      const backoff = Math.min(30_000, pool.failures ? 500 * 2 ** pool.failures : 0);
      void new Promise((resolve) => setTimeout(resolve, backoff).unref())
        // Closed during the backoff: start nothing (close() waits for `starting` to drop).
        .then(() => (this.closed ? undefined : this.start(pool.spec, {})))
        .then(
          async (kernel) => {
            if (kernel && this.closed) {
              // Still "starting" until it is shut down and its folder removed: close() waits for it.
              await kernel.shutdown().finally(() => pool.starting--);
              return;
            }
            pool.starting--;
            if (!kernel) return;
            pool.failures = 0;
            pool.ready.push(kernel);
            void kernel.exited.then(() => this.drop(pool, kernel));
          },
          (err: unknown) => {
            pool.starting--;
            pool.failures++;
            this.options.onError?.(coerceError(err), pool.spec);
            if (!this.closed && pool.failures < 8) this.refill(pool);
          },
        );
    }
  }

  /** A ready kernel died on its own: forget it and start another. */
  private drop(pool: SpecPool, kernel: KernelClient): void {
    const at = pool.ready.indexOf(kernel);
    if (at >= 0) {
      pool.ready.splice(at, 1);
      this.refill(pool);
    }
  }

  private async checkHealth(): Promise<void> {
    for (const pool of this.pools.values()) {
      for (const kernel of [...pool.ready]) {
        if (!(await kernel.ping(2000)) && pool.ready.includes(kernel)) {
          pool.ready.splice(pool.ready.indexOf(kernel), 1);
          this.options.observer?.died?.(pool.spec.name); // hung: as good as dead
          await kernel.kill();
          this.refill(pool);
        }
      }
    }
  }
}
