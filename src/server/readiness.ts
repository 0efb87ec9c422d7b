/**
 * @module What `GET /readyz` checks (docs/operations.md, "Health"): whether this node can take a
 * webhook call now. Each check is cheap (one indexed query, the pool's counters, the kernelspec
 * scan that is cached for 10 s) and bounded in time, so a load balancer may ask every second.
 *
 * - store: one read of the database (SQLite or Postgres);
 * - kernels (where calls run in this process): a pooled kernel is ready, or a kernelspec is
 *   installed and the last start of at least one tried kernelspec did not fail;
 * - workers (a cluster's API node without a worker, `serve --no-worker`): at least one worker of
 *   the cluster is alive (heartbeat within seconds) and not draining.
 */
import type { KernelSpec, PoolStats } from "../kernel/index.js";
import { coerceError } from "../errors.js";
import type { Store } from "../store/index.js";

export interface ReadinessCheck {
  name: "store" | "kernels" | "workers" | "server";
  ok: boolean;
  /** What was found; when not ok, what is wrong and what to do. */
  message: string;
}

export interface Readiness {
  ready: boolean;
  checks: ReadinessCheck[];
}

export interface ReadinessSources {
  store: Pick<Store, "isSessionRevoked">;
  /** Where calls run in this process: its kernels. */
  kernels?: { pool: () => PoolStats[]; findSpecs: () => Promise<KernelSpec[]> };
  /** A cluster's API node without a worker: the cluster's live workers. */
  liveWorkers?: () => Promise<number>;
  /** Set while the server stops: not ready, whatever the rest says. */
  stopping?: () => boolean;
}

/** How long one check may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 3000;

export async function checkReadiness(sources: ReadinessSources): Promise<Readiness> {
  const checks = await Promise.all([
    timed("store", () => storeCheck(sources.store)),
    ...(sources.kernels ? [timed("kernels", () => kernelCheck(sources.kernels!))] : []),
    ...(sources.liveWorkers ? [timed("workers", () => workerCheck(sources.liveWorkers!))] : []),
  ]);
  if (sources.stopping?.()) {
    checks.unshift({
      name: "server",
      ok: false,
      message: "the server is stopping: send calls to another node",
    });
  }
  return { ready: checks.every((check) => check.ok), checks };
}

async function storeCheck(store: ReadinessSources["store"]): Promise<ReadinessCheck> {
  try {
    // A read by primary key, in both stores: the cheapest query the Store interface has.
    await store.isSessionRevoked("readyz");
    return { name: "store", ok: true, message: "the database answers" };
  } catch (err) {
    return {
      name: "store",
      ok: false,
      message:
        `the database does not answer: ${coerceError(err).message}; check that it is running and ` +
        "reachable (Postgres: the --database URL; SQLite: the home's disk), then see the server log",
    };
  }
}

async function kernelCheck(kernels: NonNullable<ReadinessSources["kernels"]>): Promise<ReadinessCheck> {
  const pools = kernels.pool();
  const ready = pools.reduce((n, pool) => n + pool.ready, 0);
  if (ready > 0) return { name: "kernels", ok: true, message: `${ready} kernels ready` };
  const specs = await kernels.findSpecs();
  if (specs.length === 0) {
    return {
      name: "kernels",
      ok: false,
      message:
        "no Jupyter kernel is installed: install one (python3 -m pip install ipykernel && " +
        "python3 -m ipykernel install --user), or put its kernelspec folder on JUPYTER_PATH",
    };
  }
  const tried = pools.filter((pool) => specs.some((spec) => spec.name === pool.kernel));
  if (tried.length > 0 && tried.every((pool) => pool.lastStartError !== undefined)) {
    const failures = tried.map((pool) => `${pool.kernel}: ${pool.lastStartError}`).join("; ");
    return {
      name: "kernels",
      ok: false,
      message: `kernels fail to start (${failures}): fix the kernelspec or install the kernel's package, see the server log`,
    };
  }
  return {
    name: "kernels",
    ok: true,
    message: `kernels can be started (${specs.map((spec) => spec.name).join(", ")})`,
  };
}

async function workerCheck(liveWorkers: () => Promise<number>): Promise<ReadinessCheck> {
  try {
    const alive = await liveWorkers();
    return alive > 0
      ? { name: "workers", ok: true, message: `${alive} workers alive` }
      : {
          name: "workers",
          ok: false,
          message:
            "no worker of the cluster is alive: calls would wait in the queue; start `nbhook worker --database …` " +
            "on a machine with kernels",
        };
  } catch (err) {
    return {
      name: "workers",
      ok: false,
      message: `the workers' heartbeats cannot be read: ${coerceError(err).message}`,
    };
  }
}

/** Runs a check, failed when it throws or takes longer than CHECK_TIMEOUT_MS. */
async function timed(
  name: ReadinessCheck["name"],
  check: () => Promise<ReadinessCheck>,
): Promise<ReadinessCheck> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<ReadinessCheck>((resolve) => {
    timer = setTimeout(
      () => resolve({ name, ok: false, message: `no answer within ${CHECK_TIMEOUT_MS / 1000} s` }),
      CHECK_TIMEOUT_MS,
    );
    timer.unref();
  });
  try {
    return await Promise.race([
      check().catch((err: unknown) => ({ name, ok: false, message: coerceError(err).message })),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
