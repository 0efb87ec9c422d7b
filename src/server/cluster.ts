/**
 * @module A node of a cluster on Postgres (docs/scaling.md), as `nbhook serve --database` (API,
 * and a worker unless `--no-worker`) and `nbhook worker` start it: the Postgres store and its
 * migrations (nbhook's, then graphile-worker's, each under a lock so that nodes starting at once
 * take turns), the API node's calls, the worker, and the reaper every node runs.
 */
import path from "node:path";
import { cachedKernelSpecs, type KernelObserver } from "../kernel/index.js";
import { ClusterCalls } from "../runs/cluster/cluster-calls.js";
import { ClusterWorker, migrateGraphileWorker } from "../runs/cluster/cluster-worker.js";
import { Reaper } from "../runs/cluster/reaper.js";
import { RunEngine } from "../runs/run-engine.js";
import { SECRET_KEY_ENV } from "../runs/secret-box.js";
import type { Links, RunLogger } from "../runs/index.js";
import { ClusterQueue } from "../store/postgres/cluster-queue.js";
import { openPgStore, type PgStore } from "../store/postgres/pg-store.js";
import type { AdminTokenOptions } from "./api-token.js";
import { answerFor } from "./call-answer.js";
import { runEngineOptions } from "./run-engine-options.js";
import type { ServerConfig } from "./config.js";

export interface ClusterNode {
  store: PgStore;
  queue: ClusterQueue;
  /** The API side (serve); undefined on a worker-only node. */
  calls?: ClusterCalls;
  /** The worker side; undefined on an API node (`--no-worker`). */
  worker?: ClusterWorker;
  /** The worker's kernels; undefined on an API node. */
  engine?: RunEngine;
  /**
   * The API token an older nbhook shared through Postgres (nbhook_settings `api_token`, in plain
   * text): imported as the admin token at the first start of this version, then removed.
   */
  legacyApiToken: NonNullable<AdminTokenOptions["legacy"]>;
  /** Drains the worker (its runs finish), then stops everything. The API side is closed by the app first. */
  close(): Promise<void>;
}

export async function openClusterNode(
  config: ServerConfig & { databaseUrl: string },
  roles: { api: boolean; worker: boolean },
  links: Links,
  log: RunLogger,
  extras: { kernelObserver?: KernelObserver } = {},
): Promise<ClusterNode> {
  const databaseUrl = config.databaseUrl;
  const store = await openPgStore({ databaseUrl, cacheDir: path.join(config.home, "cache"), log });
  if (!process.env[SECRET_KEY_ENV]) {
    log.warn(
      { variable: SECRET_KEY_ENV },
      `${SECRET_KEY_ENV} is not set: this node cannot set or use stored secrets (docs/secrets.md). ` +
        "Set the same key on every node of the cluster (make one with `openssl rand -base64 32`)",
    );
  }
  const opened: { close(): Promise<void> }[] = [];
  try {
    const queue = new ClusterQueue(store);
    await migrateGraphileWorker(queue, databaseUrl);
    let calls: ClusterCalls | undefined;
    if (roles.api) {
      calls = new ClusterCalls({ store, queue, databaseUrl, answerFor, log, maxQueue: config.maxQueue });
      await calls.start();
      opened.push(calls);
    }
    let worker: ClusterWorker | undefined;
    let engine: RunEngine | undefined;
    if (roles.worker) {
      engine = new RunEngine(await runEngineOptions(config, store, links, log, extras.kernelObserver));
      worker = new ClusterWorker({
        store,
        queue,
        engine,
        databaseUrl,
        answerFor,
        log,
        maxRuns: config.maxRuns,
        uploadsRoot: path.join(config.home, "cache", "uploads"),
      });
      await engine.warmUp(() => cachedKernelSpecs());
      await worker.start();
    }
    const reaper = new Reaper({ store, queue, answerFor, log });
    reaper.start();
    return {
      store,
      queue,
      calls,
      worker,
      engine,
      legacyApiToken: {
        read: async () =>
          (
            await store.pool.query<{ value: string }>(
              "SELECT value FROM nbhook_settings WHERE name = 'api_token'",
            )
          ).rows[0]?.value,
        forget: async () => {
          await store.pool.query("DELETE FROM nbhook_settings WHERE name = 'api_token'");
        },
      },
      async close() {
        try {
          await worker?.stop();
          await engine?.close();
          await reaper.stop();
        } finally {
          await store.close();
        }
      },
    };
  } catch (err) {
    for (const part of opened) await part.close().catch(() => undefined);
    await store.close();
    throw err;
  }
}
