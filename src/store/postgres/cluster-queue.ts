/**
 * @module The SQL of the cluster (docs/scaling.md): calls enqueued as graphile-worker jobs in the
 * transaction that records their run, the admission that holds across nodes (the queue bound,
 * per-webhook concurrency through job queues), worker heartbeats, the reaper's view of dead
 * workers, and the results that travel from a worker to the API node that waits for them.
 * runs/cluster/ holds the logic; this file holds only what touches tables.
 *
 * Its tables are migration 2 (cluster-schema.ts).
 *
 * Channels (LISTEN/NOTIFY): `nbhook_calls` carries `start:<run id>` and `done:<run id>`;
 * `nbhook_webhooks` carries the id of a webhook that was redeployed or deleted.
 */
import type pg from "pg";
import type { Run } from "../types.js";
import type { PgStore } from "./pg-store.js";

export const CALLS_CHANNEL = "nbhook_calls";
export const WEBHOOKS_CHANNEL = "nbhook_webhooks";
/** graphile-worker's task name for a webhook call. */
export const CALL_TASK = "nbhook_call";

/** Advisory lock keys (arbitrary constants, distinct from the migration lock's). */
const ADMIT_LOCK = 0x6e62_0002;
const REAP_LOCK = 0x6e62_0003;
const GRAPHILE_MIGRATE_LOCK = 0x6e62_0004;

/** A worker counts as alive while its heartbeat is younger than this. */
export const WORKER_STALE_MS = 3500;

const ACTIVE = "status IN ('queued', 'running')";
const LIVE_WORKER = `heartbeat_at > now() - make_interval(secs => ${WORKER_STALE_MS / 1000})`;

export interface EnqueueInput {
  run: { webhookId: string; versionHisto: string; parameters: Record<string, unknown> };
  /** Runs of this webhook at once across the cluster (null: no own limit). */
  concurrency: number | null;
  /** Calls waiting beyond what the live workers can run at once. */
  maxQueue: number;
  keepAnswer: boolean;
  /** The job's payload, once the run's id is known. */
  payload(run: Run): object;
  uploads: { name: string; data: Buffer }[];
}

export type Enqueued =
  { kind: "queued"; run: Run } | { kind: "refused"; active: number; capacity: number; maxQueue: number };

export interface DeadRun {
  id: string;
  webhookId: string;
  keepAnswer: boolean;
  startedAt: string;
}

export interface StoredResult {
  outcome: unknown;
  status: number;
  headers: Record<string, string>;
  body: Buffer | null;
  /** The finished run record, as the worker's store returned it (saves the API node a read). */
  run?: Run;
}

export class ClusterQueue {
  constructor(private readonly store: PgStore) {}

  private get pool(): pg.Pool {
    return this.store.pool;
  }

  /**
   * graphile-worker's schema, migrated under nbhook's own lock: nodes starting at once take turns
   * (graphile-worker's migrations are not meant to race).
   */
  async withGraphileMigrationLock<T>(fn: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("SELECT pg_advisory_lock($1)", [GRAPHILE_MIGRATE_LOCK]);
      try {
        return await fn();
      } finally {
        await client.query("SELECT pg_advisory_unlock($1)", [GRAPHILE_MIGRATE_LOCK]);
      }
    } finally {
      client.release();
    }
  }

  /**
   * Records a call's run (`queued`) and adds its job, in one transaction, or refuses it when the
   * cluster's queue is full: more calls queued or running than the live workers can run at once
   * plus `maxQueue`. A webhook with a concurrency limit N has its calls spread over N serial job
   * queues (`nbhook:<id>:<k>`, the least loaded taken), so at most N of them run at once.
   */
  async enqueue(input: EnqueueInput): Promise<Enqueued> {
    return this.store.transaction(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1)", [ADMIT_LOCK]);
      const load = await client.query<{ active: string; capacity: string }>(
        `SELECT (SELECT count(*) FROM runs WHERE ${ACTIVE}) AS active,
                (SELECT coalesce(sum(max_runs), 0) FROM nbhook_workers WHERE NOT draining AND ${LIVE_WORKER}) AS capacity`,
      );
      const active = Number(load.rows[0]!.active);
      const capacity = Number(load.rows[0]!.capacity);
      if (active >= capacity + input.maxQueue) {
        return { kind: "refused", active, capacity, maxQueue: input.maxQueue };
      }
      let slot: number | null = null;
      if (input.concurrency !== null) {
        const counts = await client.query<{ slot: number; n: string }>(
          `SELECT queue_slot AS slot, count(*) AS n FROM runs
            WHERE webhook_id = $1 AND ${ACTIVE} AND queue_slot IS NOT NULL GROUP BY queue_slot`,
          [input.run.webhookId],
        );
        const load = new Map(counts.rows.map((r) => [r.slot, Number(r.n)]));
        slot = 0;
        for (let k = 1; k < input.concurrency; k++) {
          if ((load.get(k) ?? 0) < (load.get(slot) ?? 0)) slot = k;
        }
      }
      const run = await this.store.createRunWith(client, { ...input.run, queued: true });

      for (const upload of input.uploads) {
        await client.query("INSERT INTO nbhook_call_uploads (run_id, name, data) VALUES ($1, $2, $3)", [
          run.id,
          upload.name,
          upload.data,
        ]);
      }
      await client.query(
        `WITH u AS (UPDATE runs SET queue_slot = $5, keep_answer = $6 WHERE id = $4)
         SELECT graphile_worker.add_job($1, $2::json, queue_name => $3, max_attempts => 1, job_key => $4)`,
        [
          CALL_TASK,
          JSON.stringify(input.payload(run)),
          slot === null ? null : `nbhook:${input.run.webhookId}:${slot}`,
          run.id,
          slot,
          input.keepAnswer,
        ],
      );
      return { kind: "queued", run };
    });
  }

  /**
   * A worker takes a queued run: true when it was still queued (it is now the worker's, and
   * `running`), false when it left the queue meanwhile (cancelled).
   */
  async claim(runId: string, workerId: string): Promise<Run | undefined> {
    // One round trip: the claim, and the news to the API node waiting (sent at its commit).
    const claimed = await this.pool.query(
      `WITH c AS (UPDATE runs SET worker_id = $2 WHERE id = $1 AND status = 'queued' RETURNING id)
       SELECT pg_notify($3, 'start:' || id) FROM c`,
      [runId, workerId, CALLS_CHANNEL],
    );
    if (claimed.rowCount !== 1) return undefined;
    return this.store.startRun(runId);
  }

  /** Takes a run out of the queue if it is still there (true); its job goes too. */
  async unqueue(runId: string): Promise<boolean> {
    const left = await this.pool.query(
      `UPDATE runs SET status = 'cancelled' WHERE id = $1 AND status = 'queued' AND worker_id IS NULL RETURNING id`,
      [runId],
    );
    if (left.rowCount !== 1) return false;
    await this.pool.query("SELECT graphile_worker.remove_job($1)", [runId]);
    await this.pool.query("DELETE FROM nbhook_call_uploads WHERE run_id = $1", [runId]);
    return true;
  }

  /** The files a call uploaded, taken (removed from the database) by the worker that runs it. */
  async takeUploads(runId: string): Promise<{ name: string; data: Buffer }[]> {
    const rows = await this.pool.query<{ name: string; data: Buffer }>(
      "DELETE FROM nbhook_call_uploads WHERE run_id = $1 RETURNING name, data",
      [runId],
    );
    return rows.rows;
  }

  /** A call is over: its result for the waiting API node (unless it is kept), and the news. */
  async publishResult(runId: string, result: StoredResult | undefined): Promise<void> {
    if (!result) {
      await this.pool.query("SELECT pg_notify($1, $2)", [CALLS_CHANNEL, `done:${runId}`]);
      return;
    }
    // One round trip: the result, then (at its commit) the news.
    await this.pool.query(
      `WITH r AS (
         INSERT INTO nbhook_call_results (run_id, outcome, status, headers, body, run) VALUES ($1, $2, $3, $4, $5, $7)
           ON CONFLICT (run_id) DO NOTHING
       )
       SELECT pg_notify($6, 'done:' || $1::text)`,
      [
        runId,
        JSON.stringify(result.outcome),
        result.status,
        JSON.stringify(result.headers),
        result.body,
        CALLS_CHANNEL,
        result.run === undefined ? null : JSON.stringify(result.run),
      ],
    );
  }

  /** The result a worker published for `runId`, removed as it is read (one waiter per call). */
  async takeResult(runId: string): Promise<StoredResult | undefined> {
    const rows = await this.pool.query<{
      outcome: unknown;
      status: number;
      headers: Record<string, string>;
      body: Buffer | null;
      run: Run | null;
    }>("DELETE FROM nbhook_call_results WHERE run_id = $1 RETURNING outcome, status, headers, body, run", [
      runId,
    ]);
    const row = rows.rows[0];
    return row && { ...row, run: row.run ?? undefined };
  }

  /** The cluster's value of a shared setting: the first node's `candidate` wins, later ones read it. */
  async sharedSetting(name: string, candidate: string): Promise<string> {
    await this.pool.query(
      "INSERT INTO nbhook_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
      [name, candidate],
    );
    const rows = await this.pool.query<{ value: string }>(
      "SELECT value FROM nbhook_settings WHERE name = $1",
      [name],
    );
    return rows.rows[0]!.value;
  }

  /** Wakes graphile-worker's idle workers on every node, as a new job does. */
  async nudgeWorkers(): Promise<void> {
    await this.pool.query(`SELECT pg_notify('jobs:insert', '{"count":1}')`);
  }

  /** Tells every node that a webhook changed (its prepared kernels are retired). */
  async webhookChanged(webhookId: string): Promise<void> {
    await this.pool.query("SELECT pg_notify($1, $2)", [WEBHOOKS_CHANNEL, webhookId]);
  }

  /** Workers alive (fresh heartbeat) and taking calls (not draining): readiness and metrics. */
  async liveWorkers(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM nbhook_workers WHERE NOT draining AND ${LIVE_WORKER}`,
    );
    return Number(rows[0]?.n ?? 0);
  }

  async registerWorker(worker: { id: string; host: string; pid: number; maxRuns: number }): Promise<void> {
    await this.pool.query(
      `INSERT INTO nbhook_workers (id, host, pid, max_runs) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), draining = false`,
      [worker.id, worker.host, worker.pid, worker.maxRuns],
    );
  }

  /** Records graphile-worker's pool id for the worker (its jobs' locked_by). */
  async setWorkerPool(workerId: string, poolId: string): Promise<void> {
    await this.pool.query("UPDATE nbhook_workers SET pool_id = $2 WHERE id = $1", [workerId, poolId]);
  }

  /** The worker is alive; false when its row was gone (it was taken for dead, and is re-registered). */
  async heartbeat(worker: {
    id: string;
    host: string;
    pid: number;
    maxRuns: number;
    poolId?: string;
    draining: boolean;
  }): Promise<boolean> {
    const beat = await this.pool.query(
      "UPDATE nbhook_workers SET heartbeat_at = now(), draining = $2 WHERE id = $1",
      [worker.id, worker.draining],
    );
    if (beat.rowCount === 1) return true;
    await this.registerWorker(worker);
    if (worker.poolId) await this.setWorkerPool(worker.id, worker.poolId);
    return false;
  }

  async unregisterWorker(workerId: string): Promise<void> {
    await this.pool.query("DELETE FROM nbhook_workers WHERE id = $1", [workerId]);
  }

  /**
   * Finds the calls of workers that stopped heartbeating (SIGKILL, a lost machine), and frees
   * what they held: their graphile-worker jobs are unlocked and removed (a job queue they held
   * would block its webhook for the engine's 4-hour lock timeout), their runs returned to be
   * closed as died. One node at a time does this (a lock others skip).
   *
   * A run is a dead worker's when it is queued or running and names a worker that is not alive,
   * or when its job is locked by a graphile-worker pool that no live worker owns (taken, not yet
   * claimed) for longer than a heartbeat's age.
   */
  async reap(): Promise<DeadRun[]> {
    return this.store.transaction(async (client) => {
      const locked = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock($1) AS ok", [
        REAP_LOCK,
      ]);
      if (!locked.rows[0]!.ok) return [];
      const live = `SELECT id FROM nbhook_workers WHERE ${LIVE_WORKER}`;
      const livePools = `SELECT pool_id FROM nbhook_workers WHERE ${LIVE_WORKER} AND pool_id IS NOT NULL`;
      const orphanJobs = await client.query<{ key: string | null; locked_by: string }>(
        `SELECT key, locked_by FROM graphile_worker.jobs
          WHERE task_identifier = $1 AND locked_by IS NOT NULL
            AND locked_at < now() - make_interval(secs => ${WORKER_STALE_MS / 1000})
            AND locked_by NOT IN (${livePools})`,
        [CALL_TASK],
      );
      const jobRuns = orphanJobs.rows.flatMap((r) => (r.key ? [r.key] : []));
      const dead = await client.query<{
        id: string;
        webhook_id: string;
        keep_answer: boolean;
        started_at: unknown;
      }>(
        `SELECT id, webhook_id, keep_answer, started_at FROM runs
          WHERE ${ACTIVE} AND ((worker_id IS NOT NULL AND worker_id NOT IN (${live})) OR id = ANY($1::text[]))
          FOR UPDATE SKIP LOCKED`,
        [jobRuns],
      );
      const pools = [...new Set(orphanJobs.rows.map((r) => r.locked_by))];
      if (pools.length)
        await client.query("SELECT graphile_worker.force_unlock_workers($1::text[])", [pools]);
      for (const run of dead.rows) {
        await client.query("SELECT graphile_worker.remove_job($1)", [run.id]);
        await client.query("DELETE FROM nbhook_call_uploads WHERE run_id = $1", [run.id]);
      }
      // Rows of workers gone for a minute: nobody will claim to be them again.
      await client.query("DELETE FROM nbhook_workers WHERE heartbeat_at < now() - interval '60 seconds'");
      // Results nobody took (the API node that waited stopped): kept ones are in the runs.
      await client.query("DELETE FROM nbhook_call_results WHERE created_at < now() - interval '10 minutes'");
      return dead.rows.map((r) => ({
        id: r.id,
        webhookId: r.webhook_id,
        keepAnswer: r.keep_answer,
        startedAt: r.started_at instanceof Date ? r.started_at.toISOString() : String(r.started_at),
      }));
    });
  }
}
