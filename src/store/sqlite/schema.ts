/**
 * Schema of the embedded store, as numbered migrations applied in order and recorded in
 * `PRAGMA user_version`. Add a new entry to change the schema; never edit an applied one. An entry
 * is SQL, or a function for a change SQL alone cannot make safely (a table rebuild).
 */
import type Database from "better-sqlite3";
import { z } from "zod";
import { rebuildWebhooksForNames } from "./names-migration.js";

export type Migration = string | ((db: Database.Database) => void);

export const MIGRATIONS: readonly Migration[] = [
  `
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    token TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    params TEXT NOT NULL,
    debug INTEGER NOT NULL DEFAULT 0,
    timeout_ms INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
  );
  CREATE TABLE versions (
    webhook_id TEXT NOT NULL REFERENCES webhooks(id),
    histo TEXT NOT NULL,
    created_at TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (webhook_id, histo)
  );
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id),
    version_histo TEXT NOT NULL,
    output_histo TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    duration_ms INTEGER,
    error TEXT,
    parameters TEXT NOT NULL,
    http_status INTEGER
  );
  CREATE INDEX runs_by_webhook ON runs (webhook_id, started_at);
  CREATE TABLE outputs (
    webhook_id TEXT NOT NULL REFERENCES webhooks(id),
    histo TEXT NOT NULL,
    created_at TEXT NOT NULL,
    size INTEGER NOT NULL,
    run_id TEXT,
    PRIMARY KEY (webhook_id, histo)
  );
  `,
  `ALTER TABLE webhooks ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';`,
  // Queued runs, and kept answers (headers as JSON; the body in webhooks/<id>/responses/<run id>).
  `
  ALTER TABLE runs ADD COLUMN queued_at TEXT;
  ALTER TABLE runs ADD COLUMN response_headers TEXT;
  `,
  // Dashboard sign-outs, until the session would have expired.
  `CREATE TABLE revoked_sessions (id TEXT PRIMARY KEY, expires_at TEXT NOT NULL);`,
  // Webhook names (identity, unique; existing rows: the path), the notebook's file name in its own
  // column, the deploying machine; the path no longer unique (names-migration.ts).
  rebuildWebhooksForNames,
  // Secrets for notebooks (sqlite-secrets.ts): ciphertext only; webhook_id '' for a global one.
  `
  CREATE TABLE secrets (
    name TEXT NOT NULL,
    webhook_id TEXT NOT NULL DEFAULT '',
    ciphertext BLOB NOT NULL,
    key_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (name, webhook_id)
  );
  `,
  // API tokens (sqlite-tokens.ts): the SHA-256 of each, never the token; names unique among live
  // ones. Server-wide keys (the dashboard's session signing key).
  `
  CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    webhook_ids TEXT NOT NULL DEFAULT '[]',
    token_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
  );
  CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
  CREATE UNIQUE INDEX api_tokens_live_hash ON api_tokens (token_sha256) WHERE revoked_at IS NULL;
  CREATE TABLE server_keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
];

/** The schema version this nbhook writes (`PRAGMA user_version` once migrated). */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Applies the migrations the database lacks, each in its own transaction with its version bump.
 * Foreign keys are not enforced while migrating (SQLite's way to rebuild a table that others
 * reference, https://sqlite.org/lang_altertable.html#otheralter): each migration is checked with
 * `PRAGMA foreign_key_check` before it commits instead, and enforcement is restored after.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): void {
  const current = z
    .number()
    .int()
    .nonnegative()
    .parse(db.pragma("user_version", { simple: true }));
  if (current > migrations.length) {
    throw new Error(
      `${db.name} was written by a newer nbhook (schema ${current}; this one knows ${migrations.length}): upgrade nbhook to open it`,
    );
  }
  if (current === migrations.length) return;
  const enforced = db.pragma("foreign_keys", { simple: true }) === 1;
  db.pragma("foreign_keys = OFF");
  try {
    for (let version = current; version < migrations.length; version++) {
      db.transaction(() => {
        const migration = migrations[version]!;
        if (typeof migration === "string") db.exec(migration);
        else migration(db);
        const broken = db.pragma("foreign_key_check");
        if (Array.isArray(broken) && broken.length > 0) {
          throw new Error(
            `migration ${version + 1} of ${db.name} would break foreign keys (${JSON.stringify(broken.slice(0, 3))}): ` +
              "nothing was changed; report this to nbhook's maintainers",
          );
        }
        db.pragma(`user_version = ${version + 1}`);
      })();
    }
  } finally {
    if (enforced) db.pragma("foreign_keys = ON");
  }
}
