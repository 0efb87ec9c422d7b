/**
 * @module The cluster's own tables (migration 2; the SQL that uses them is cluster-queue.ts):
 * worker heartbeats, results on their way to the API node that waits, uploaded files on their way
 * to the worker, and settings the nodes share (the API token).
 */

export const CLUSTER_MIGRATION = `
  CREATE TABLE nbhook_workers (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    max_runs integer NOT NULL,
    -- graphile-worker's pool id: what its jobs' locked_by say while this worker runs them.
    pool_id text,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    draining boolean NOT NULL DEFAULT false
  );
  ALTER TABLE runs ADD COLUMN keep_answer boolean NOT NULL DEFAULT false;
  CREATE TABLE nbhook_call_results (
    run_id text PRIMARY KEY,
    outcome json NOT NULL,
    status integer NOT NULL,
    headers json NOT NULL,
    body bytea,
    run json,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE nbhook_settings (
    name text PRIMARY KEY,
    value text NOT NULL
  );
  CREATE TABLE nbhook_call_uploads (
    run_id text NOT NULL,
    name text NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (run_id, name)
  );
`;
