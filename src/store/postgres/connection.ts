/**
 * @module The Postgres connection of a cluster: its URL checked once at start (a clear error
 * naming the fix, not a driver error at the first query) and masked wherever it is logged, and
 * the pool every node's store and cluster code share.
 */
import pg from "pg";
import { AppError } from "../../errors.js";

/** What the store logs: a pino logger fits. */
export interface PgLog {
  warn(obj: object, msg?: string): void;
}

const EXAMPLE_URL = "postgres://nbhook:secret@db.example.com:5432/nbhook";

/**
 * `url` with its password replaced by `***`, for logs. A URL without a password is given back as
 * it is; a string that is not a URL (a libpq `key=value` string, a typo) has anything that looks
 * like a password masked rather than being refused: a log line must never fail, nor leak.
 */
export function maskDatabaseUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  // "nb:secret@db/x" parses too, as a URL of scheme "nb:": only a real host or scheme counts.
  if (parsed && (parsed.host !== "" || /^postgres(ql)?:$/.test(parsed.protocol))) {
    const query = /([?&]password=)[^&]*/gi;
    if (parsed.password === "" && !query.test(parsed.search)) return url;
    if (parsed.password !== "") parsed.password = "***";
    parsed.search = parsed.search.replace(query, "$1***");
    return parsed.toString();
  }
  return url
    .replace(/(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)/gi, "$1***")
    .replace(/^([^:/@\s]*:\/\/)?([^:/@\s]+):[^@\s]*@/, "$1$2:***@");
}

/**
 * Checks a database URL: `postgres://` or `postgresql://`, with a host.
 * Throws `AppError("usage")` saying what a right one looks like; the message masks the password.
 */
export function parseDatabaseUrl(url: string): URL {
  const fix = `give a URL such as ${EXAMPLE_URL} (--database or NBHOOK_DATABASE_URL)`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AppError("usage", `the database URL "${maskDatabaseUrl(url)}" is not a URL: ${fix}`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new AppError(
      "usage",
      `the database URL "${maskDatabaseUrl(url)}" is not a Postgres one (it starts with ` +
        `${parsed.protocol}//, not postgres:// or postgresql://): ${fix}`,
    );
  }
  // A Unix socket is named by `?host=/run/postgresql`; the database defaults to the user's name.
  if (parsed.hostname === "" && !parsed.searchParams.has("host")) {
    throw new AppError("usage", `the database URL "${maskDatabaseUrl(url)}" names no host: ${fix}`);
  }
  return parsed;
}

/**
 * A pool on `databaseUrl`. Its `error` event (an idle connection lost when Postgres restarts or
 * a proxy drops it) is logged: unhandled, it would stop the process, and the pool replaces the
 * connection by itself at the next query.
 */
export function createPool(options: { databaseUrl: string; poolMax?: number; log?: PgLog }): pg.Pool {
  parseDatabaseUrl(options.databaseUrl);
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.poolMax ?? 10,
    application_name: "nbhook",
    // A dead server is an error within seconds, not a request hanging on the OS's TCP timeout.
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
  pool.on("error", (err) => {
    options.log?.warn(
      { err: briefError(err), database: maskDatabaseUrl(options.databaseUrl) },
      "a Postgres connection of the pool failed; the pool opens another at the next query",
    );
  });
  return pool;
}

/**
 * What a log needs of a connection's error: pg-pool hangs the whole client on it (`err.client`,
 * its buffers, its parameters), which a logger would serialize into a line of kilobytes.
 */
function briefError(err: Error): { type: string; message: string; code?: string; stack?: string } {
  const code = (err as { code?: unknown }).code;
  return {
    type: err.name,
    message: err.message,
    ...(typeof code === "string" && { code }),
    ...(err.stack !== undefined && { stack: err.stack }),
  };
}

/** Something to run a query on: the pool, or a client checked out of it (in a transaction). */
export type Queryable = pg.Pool | pg.PoolClient;

/**
 * Runs `fn` in one transaction on a client of `pool`: COMMIT when it resolves, ROLLBACK when it
 * throws (its error is rethrown), the client released either way. While checked out, a client
 * has no listener from the pool: one is added, since a connection lost between two queries would
 * otherwise emit an unhandled `error` and stop the process; that client is then discarded.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  log?: PgLog,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
    log?.warn({ err: briefError(err) }, "a Postgres connection failed during a transaction");
  };
  client.on("error", onError);
  try {
    await client.query("BEGIN");
    try {
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch((rollbackError: unknown) => {
        broken ??= rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw err;
    }
  } finally {
    client.removeListener("error", onError);
    client.release(broken);
  }
}
