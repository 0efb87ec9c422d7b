/**
 * @module Failures of the disk under the store, told apart from bugs: a full disk or quota
 * (ENOSPC, EDQUOT, SQLite's "database or disk is full", Postgres's disk_full) and a read-only one
 * (EROFS, SQLite's readonly errors, a Postgres read-only transaction: a standby, or a server set
 * read-only). They are the operator's to fix, not a crash: callers get 507 Insufficient Storage
 * with the reason (server/http-errors.ts), runs a recorded outcome (runs/run-call.ts).
 */
import { AppError } from "../errors.js";

const ERRNO: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exceeded",
  EROFS: "the file system is read-only",
};

/**
 * Postgres SQLSTATEs (node-postgres puts them in `code`, a string like the errno codes above, so
 * only these exact values count). 53000 (insufficient_resources) and 53200 (out_of_memory) are
 * not here: they pass with load, and freeing disk would not fix them.
 */
const SQLSTATE: Record<string, string> = {
  "53100": "the database server's disk is full",
  "25006": "the database is read-only",
};

/** Why `err` is a storage failure ("no space left on the device"), or undefined when it is not one. */
export function storageProblem(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      if (Object.hasOwn(ERRNO, code)) return ERRNO[code];
      if (Object.hasOwn(SQLSTATE, code)) return SQLSTATE[code];
      if (code.startsWith("SQLITE_FULL")) return "the database or disk is full";
      if (code.startsWith("SQLITE_READONLY")) return "the database is read-only";
    }
    if (/database or disk is full/i.test(e.message)) return "the database or disk is full";
  }
  return undefined;
}

/** The 507 error of a request that met a storage failure (`problem`: {@link storageProblem}'s reason). */
export function insufficientStorage(problem: string, cause?: unknown): AppError {
  // The disk to free is the database server's when Postgres said so, else nbhook's own.
  const fix =
    problem === SQLSTATE["53100"]
      ? "Free space on the database server's disk"
      : "Free space on the server's disk (its --home)";
  return new AppError(
    "insufficient-storage",
    `the server cannot store what this request needs: ${problem}. ${fix}, then try again`,
    { cause },
  );
}
