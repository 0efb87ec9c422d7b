/**
 * Warm modes (docs/modes.md): kernels prepared ahead of calls, per webhook version, handed to runs
 * through the KernelLease seam. `isolated` webhooks keep the default lease (a fresh pooled kernel);
 * `setup` and `reuse` ones get theirs from a WarmVersion (warm-version.ts).
 *
 * Kernels are keyed by (webhook id, version histo), and only the version called last is kept warm
 * (a new deploy, or the live version cleared, moves calls to another histo); `invalidate` retires a
 * webhook's kernels at once on deploy and delete. Kernels kept ahead of calls (idle, preparing,
 * and reuse kernels) never exceed `maxKernels` all webhooks together: when one more is needed, the
 * idle kernel of the version called least recently is shut down, and when none can be, no more is
 * kept (calls are still served, by a kernel prepared for them). Kernels serving a setup call are
 * bounded by the server's run limits, like the pool's. Versions not called for `idleMs` are
 * retired. A version's kernels were prepared with its calls' environment (the webhook's secrets
 * included, so `setup` cells can use them): a call that brings another environment (a secret set,
 * changed or deleted, on this node or any other) retires them and gets kernels prepared anew, so a
 * deleted secret never lingers in a reused kernel.
 */
import type { KernelPool } from "../kernel/index.js";
import type { LeaseFn, PreparedCall, WarmStats } from "./types.js";
import { canApplyContext, setupEnvOf } from "./warm-prepare.js";
import { WarmVersion, type WarmHost, type WarmLog } from "./warm-version.js";

export type { WarmLog } from "./warm-version.js";

export interface WarmOptions {
  /** Where kernels come from. */
  pool: KernelPool;
  /** Kernels kept ahead of calls, all webhooks together (default 8). */
  maxKernels?: number;
  /** setup mode: prepared kernels kept ready per webhook version (default 1; the server: its pool size). */
  readyPerVersion?: number;
  /** Kernels of a version not called for this long are shut down (default 10 min). */
  idleMs?: number;
  /** How often kept kernels are pinged and idle versions expired (default 30 s). */
  sweepMs?: number;
  log?: WarmLog;
}

export class WarmKernels implements WarmHost {
  readonly pool: KernelPool;
  readonly readyPerVersion: number;
  readonly maxKernels: number;
  closed = false;
  private readonly versions = new Map<string, WarmVersion>();
  /** Preparations and shutdowns in flight; close() waits for them. */
  private readonly pending = new Set<Promise<unknown>>();
  private readonly warned = new Set<string>();
  private readonly idleMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: WarmOptions) {
    this.pool = options.pool;
    this.maxKernels = options.maxKernels ?? 8;
    this.readyPerVersion = options.readyPerVersion ?? 1;
    this.idleMs = options.idleMs ?? 10 * 60_000;
    this.sweeper = setInterval(() => this.sweep(), options.sweepMs ?? 30_000);
    this.sweeper.unref();
  }

  /** Where this call's kernel comes from; undefined for the default (a fresh pooled kernel). */
  leaseFor(prepared: PreparedCall): LeaseFn | undefined {
    const { webhook, spec } = prepared;
    const mode = webhook.settings.mode;
    if (mode === "isolated" || this.closed) return undefined;
    if (!canApplyContext(spec)) {
      // A kept kernel must be given each call's environment; nbhook can do that in Python and Deno.
      if (!this.warned.has(webhook.id)) {
        this.warned.add(webhook.id);
        this.log(
          "warn",
          { webhook: webhook.path, kernel: spec.name, mode },
          "warm mode not available for this kernel: calls run isolated",
        );
      }
      return undefined;
    }
    return (request) => {
      const key = `${webhook.id}/${prepared.versionHisto}`;
      let version = this.versions.get(key);
      const env = setupEnvOf(request.start.env);
      if (
        !version ||
        version.mode !== mode ||
        version.reuseCalls !== webhook.settings.reuseCalls ||
        !sameEnv(version.target.env, env)
      ) {
        this.invalidate(webhook.id); // only the version called last stays warm
        version = new WarmVersion(
          key,
          webhook.id,
          webhook.path,
          mode,
          webhook.settings.reuseCalls,
          {
            spec: request.spec,
            notebook: prepared.notebook,
            cwd: request.start.cwd,
            env,
            timeoutMs: webhook.timeoutMs,
          },
          this,
        );
        this.versions.set(key, version);
      }
      return version.lease(request);
    };
  }

  /** Retires a webhook's prepared kernels (new version deployed, or deleted); those in use finish their call first. */
  invalidate(webhookId: string): void {
    for (const version of [...this.versions.values()]) {
      if (version.webhookId === webhookId) this.retire(version);
    }
  }

  stats(): WarmStats[] {
    return [...this.versions.values()].map((v) => ({
      webhookId: v.webhookId,
      histo: v.key.slice(v.webhookId.length + 1),
      mode: v.mode,
      ready: v.ready.length,
      preparing: v.preparing,
      inUse: v.inUse,
      pids: v.ready.map((w) => w.kernel.pid ?? -1),
    }));
  }

  /** Shuts every kept kernel down, and waits for preparations in flight (their kernels are shut down too). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const version of [...this.versions.values()]) this.retire(version);
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  room(version: WarmVersion): boolean {
    let held = 0;
    for (const v of this.versions.values()) held += v.held;
    if (held < this.maxKernels) return true;
    let victim: WarmVersion | undefined;
    for (const v of this.versions.values()) {
      if (
        v !== version &&
        v.ready.length &&
        v.lastUsed < version.lastUsed &&
        (!victim || v.lastUsed < victim.lastUsed)
      )
        victim = v;
    }
    victim?.evictOne();
    return victim !== undefined;
  }

  track(job: Promise<unknown>): void {
    const done: Promise<unknown> = job.catch(() => undefined).finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  log(level: "debug" | "info" | "warn", fields: Record<string, unknown>, msg: string): void {
    this.options.log?.(level, fields, msg);
  }

  private retire(version: WarmVersion): void {
    if (this.versions.get(version.key) === version) this.versions.delete(version.key);
    version.retire();
  }

  private sweep(): void {
    const now = Date.now();
    for (const version of [...this.versions.values()]) {
      if (version.idle && now - version.lastUsed > this.idleMs) {
        this.log("debug", { webhook: version.path }, "warm kernels of a webhook not called lately shut down");
        this.retire(version);
      } else {
        version.checkHealth();
      }
    }
  }
}

function sameEnv(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}
