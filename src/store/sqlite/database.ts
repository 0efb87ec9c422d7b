/**
 * @module The embedded store's database, `<home>/nbhook.db`: readable by the server's user
 * only, WAL, foreign keys on, migrated to this nbhook's schema.
 */
import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { migrate } from "./schema.js";

export const DATABASE_FILE = "nbhook.db";

export function openDatabase(home: string): Database.Database {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = path.join(home, DATABASE_FILE);
  const db = new Database(file);
  try {
    // It holds every webhook token: readable by the server's user only, whatever the folder allows.
    for (const name of [file, `${file}-wal`, `${file}-shm`]) {
      try {
        chmodSync(name, 0o600);
      } catch {
        // -wal/-shm appear with the first write; SQLite gives them the database file's mode.
      }
    }
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Runs `fn` in one IMMEDIATE transaction: all of it or nothing, the write lock taken first so that
 * another process cannot write between its reads and its writes. Synchronous, like better-sqlite3:
 * file I/O belongs before or after, never inside.
 */
export function inTransaction<T>(db: Database.Database, fn: () => T): T {
  return db.transaction(fn).immediate();
}

/**
 * Statements prepared once per SQL text: better-sqlite3 compiles a statement at `prepare`, a cost
 * every query would otherwise pay again (the largest part of the store's time per call).
 */
export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const statements = new Map<string, Database.Statement>();
  return (sql) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
}
