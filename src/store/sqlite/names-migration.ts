/**
 * @module The SQLite migration that gives webhooks a name: `name` (the identity, unique; existing
 * webhooks are named by their path, which was their identity), `file_name` (what `name` held: the
 * notebook's file name), `source_host` (the deploying machine), and `path` no longer UNIQUE (two
 * webhooks may come from one path under different names).
 *
 * SQLite cannot drop a column's UNIQUE: the table is rebuilt (https://sqlite.org/lang_altertable.html,
 * "other kinds of table schema changes"), in the migration's transaction, with foreign keys not
 * enforced meanwhile (schema.ts's migrate). The new table is made from the table's own CREATE text
 * with only `path`'s UNIQUE removed, so columns other migrations added to webhooks are kept, in
 * their order; versions, runs and outputs keep referencing `webhooks(id)`.
 */
import type Database from "better-sqlite3";
import { z } from "zod";

const UNIQUE_PATH = /\bpath\s+TEXT\s+NOT\s+NULL\s+UNIQUE\b/i;

export function rebuildWebhooksForNames(db: Database.Database): void {
  const created = z
    .string()
    .parse(
      db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'webhooks'").pluck().get(),
    );
  const rebuilt = created
    .replace(/^CREATE\s+TABLE\s+("?)webhooks\1/i, "CREATE TABLE webhooks_rebuilt")
    .replace(UNIQUE_PATH, "path TEXT NOT NULL");
  if (
    !rebuilt.startsWith("CREATE TABLE webhooks_rebuilt") ||
    UNIQUE_PATH.test(rebuilt) ||
    rebuilt === created
  ) {
    throw new Error(
      `cannot rebuild table webhooks of ${db.name}: its definition is not nbhook's (${created})`,
    );
  }
  // Indexes of webhooks other than the automatic ones (UNIQUE columns) are made again after.
  const indexes = z
    .array(z.string())
    .parse(
      db
        .prepare(
          "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'webhooks' AND sql IS NOT NULL",
        )
        .pluck()
        .all(),
    );
  db.exec(rebuilt);
  db.exec("INSERT INTO webhooks_rebuilt SELECT * FROM webhooks");
  db.exec("DROP TABLE webhooks");
  db.exec("ALTER TABLE webhooks_rebuilt RENAME TO webhooks");
  for (const index of indexes) db.exec(index);
  db.exec(`
    ALTER TABLE webhooks RENAME COLUMN name TO file_name;
    ALTER TABLE webhooks ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE webhooks ADD COLUMN source_host TEXT;
    UPDATE webhooks SET name = path;
    CREATE UNIQUE INDEX webhooks_by_name ON webhooks (name);
    CREATE INDEX webhooks_by_path ON webhooks (path);
  `);
}
