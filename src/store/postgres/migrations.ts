/**
 * @module The Postgres schema, as numbered migrations applied in order at start, each in its own
 * transaction, recorded in `nbhook_migrations`. Add an entry to change the schema; never edit an
 * applied one. Nodes of a cluster start at once: the whole check-and-apply holds an advisory lock,
 * so one node migrates and the others find the work done.
 *
 * Tables live in the connection's default schema (`public`); graphile-worker keeps its own in
 * `graphile_worker`. JSON values are `json`, not `jsonb`: `json` keeps the text as written, so
 * params and headers come back in their order (jsonb sorts keys by length) and a string holding
 * `\u0000` is kept (jsonb refuses it). Times are `timestamptz` to the millisecond, as they are
 * read back: what a run shows is what it is ordered by.
 */
import type pg from "pg";
import { z } from "zod";
import { CLUSTER_MIGRATION } from "./cluster-schema.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "store",
    sql: `
      CREATE TABLE webhooks (
        id text PRIMARY KEY,
        path text NOT NULL UNIQUE,
        name text NOT NULL,
        token text NOT NULL,
        token_sha256 text NOT NULL UNIQUE,
        params json NOT NULL,
        debug boolean NOT NULL DEFAULT false,
        timeout_ms integer NOT NULL,
        settings json NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        deleted_at timestamptz
      );
      CREATE TABLE versions (
        webhook_id text NOT NULL REFERENCES webhooks (id),
        histo text NOT NULL,
        created_at timestamptz NOT NULL,
        size integer NOT NULL,
        sha256 text NOT NULL,
        notebook bytea NOT NULL,
        PRIMARY KEY (webhook_id, histo)
      );
      CREATE TABLE webhook_files (
        webhook_id text NOT NULL REFERENCES webhooks (id),
        path text NOT NULL,
        sha256 text NOT NULL,
        size integer NOT NULL,
        data bytea NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (webhook_id, path)
      );
      CREATE TABLE runs (
        id text PRIMARY KEY,
        -- Creation order: runs started in the same millisecond are listed by it.
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        webhook_id text NOT NULL REFERENCES webhooks (id),
        version_histo text NOT NULL,
        output_histo text NOT NULL,
        status text NOT NULL,
        queued_at timestamptz,
        started_at timestamptz NOT NULL,
        duration_ms integer,
        error json,
        parameters json NOT NULL,
        http_status integer,
        -- The cluster's: the worker running it and the concurrency slot it holds.
        worker_id text,
        queue_slot integer,
        -- Two nodes could draw the same histo in the same microsecond: the insert retries.
        UNIQUE (webhook_id, output_histo)
      );
      CREATE INDEX runs_newest ON runs (started_at DESC, seq DESC);
      CREATE INDEX runs_newest_by_webhook ON runs (webhook_id, started_at DESC, seq DESC);
      CREATE INDEX runs_by_status ON runs (status);
      CREATE TABLE answers (
        run_id text PRIMARY KEY REFERENCES runs (id),
        status integer NOT NULL,
        headers json NOT NULL,
        size integer NOT NULL,
        sha256 text NOT NULL,
        body bytea NOT NULL
      );
      CREATE TABLE outputs (
        webhook_id text NOT NULL REFERENCES webhooks (id),
        histo text NOT NULL,
        created_at timestamptz NOT NULL,
        size integer NOT NULL,
        run_id text,
        notebook bytea NOT NULL,
        PRIMARY KEY (webhook_id, histo)
      );
    `,
  },
  // The cluster's own tables (store/postgres/cluster-queue.ts): worker heartbeats, results on
  // their way to the API node that waits, uploaded files on their way to the worker, settings.
  { version: 2, name: "cluster", sql: CLUSTER_MIGRATION },
  // Dashboard sign-outs, until the session would have expired: every API node refuses the cookie.
  {
    version: 3,
    name: "revoked sessions",
    sql: "CREATE TABLE revoked_sessions (id text PRIMARY KEY, expires_at timestamptz NOT NULL);",
  },
  // Webhook names: the identity, unique (existing webhooks: their path, which was it); the
  // notebook's file name in its own column; the deploying machine; the path no longer unique.
  {
    version: 4,
    name: "webhook names",
    sql: `
      ALTER TABLE webhooks DROP CONSTRAINT webhooks_path_key;
      ALTER TABLE webhooks RENAME COLUMN name TO file_name;
      ALTER TABLE webhooks ADD COLUMN name text;
      ALTER TABLE webhooks ADD COLUMN source_host text;
      UPDATE webhooks SET name = path;
      ALTER TABLE webhooks ALTER COLUMN name SET NOT NULL;
      ALTER TABLE webhooks ADD CONSTRAINT webhooks_name_key UNIQUE (name);
      CREATE INDEX webhooks_by_path ON webhooks (path);
    `,
  },
  // Secrets for notebooks (pg-secrets.ts): ciphertext only; webhook_id '' for a global one.
  {
    version: 5,
    name: "secrets",
    sql: `
      CREATE TABLE secrets (
        name text NOT NULL,
        webhook_id text NOT NULL DEFAULT '',
        ciphertext bytea NOT NULL,
        key_id text NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (name, webhook_id)
      );
    `,
  },
  // API tokens (pg-tokens.ts): the SHA-256 of each, never the token; names unique among live ones.
  // Server-wide keys (the dashboard's session signing key), one for every node.
  {
    version: 6,
    name: "api tokens",
    sql: `
      CREATE TABLE api_tokens (
        id text PRIMARY KEY,
        name text NOT NULL,
        scope text NOT NULL,
        webhook_ids jsonb NOT NULL DEFAULT '[]',
        token_sha256 text NOT NULL,
        created_at timestamptz NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
      );
      CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
      CREATE UNIQUE INDEX api_tokens_live_hash ON api_tokens (token_sha256) WHERE revoked_at IS NULL;
      CREATE TABLE server_keys (name text PRIMARY KEY, value text NOT NULL);
    `,
  },
];

/** The store's tables (migrations 1 and 3), children first (the order to empty them in tests). */
export const STORE_TABLES = [
  "answers",
  "outputs",
  "runs",
  "webhook_files",
  "versions",
  "webhooks",
  "revoked_sessions",
  "secrets",
  "api_tokens",
  "server_keys",
] as const;

/**
 * The key of the advisory lock held while migrating: fixed, so every nbhook node takes the same
 * one ("nbhook" in ASCII); no other application is likely to pick it.
 */
export const MIGRATION_LOCK_KEY = "121368937983851";

/** The schema version this nbhook writes: its newest migration. */
export const SCHEMA_VERSION = Math.max(0, ...MIGRATIONS.map((m) => m.version));

const appliedSchema = z.array(z.object({ version: z.number().int() }));

/**
 * Applies the migrations the database lacks, holding the advisory lock on one connection
 * throughout (released after, on failure too). A database that records a migration this nbhook
 * does not know was migrated by a newer one: it is refused, untouched. Returns the versions applied.
 */
export async function migrate(
  pool: pg.Pool,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on("error", onError);
  try {
    await client.query("SELECT pg_advisory_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
    try {
      return await applyMissing(client, migrations);
    } finally {
      await client
        .query("SELECT pg_advisory_unlock($1::bigint)", [MIGRATION_LOCK_KEY])
        .catch((err: unknown) => {
          // The lock ends with the session: a connection that cannot unlock is not given back.
          broken ??= err instanceof Error ? err : new Error(String(err));
        });
    }
  } finally {
    client.removeListener("error", onError);
    client.release(broken);
  }
}

async function applyMissing(client: pg.PoolClient, migrations: readonly Migration[]): Promise<number[]> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS nbhook_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  const applied = new Set(
    appliedSchema
      .parse((await client.query("SELECT version FROM nbhook_migrations ORDER BY version")).rows)
      .map((row) => row.version),
  );
  const known = new Set(migrations.map((m) => m.version));
  const unknown = [...applied].filter((version) => !known.has(version));
  if (unknown.length > 0) {
    const newest = Math.max(0, ...known);
    throw new Error(
      `the database was migrated by a newer nbhook (schema ${Math.max(...unknown)}; this one knows ` +
        `${newest}): upgrade nbhook to use it`,
    );
  }
  const done: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    await client.query("BEGIN");
    try {
      await client.query(migration.sql);
      await client.query("INSERT INTO nbhook_migrations (version, name) VALUES ($1, $2)", [
        migration.version,
        migration.name,
      ]);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw new Error(
        `migration ${migration.version} (${migration.name}) of the database failed: ${String(err)}`,
        { cause: err },
      );
    }
    done.push(migration.version);
  }
  return done;
}
