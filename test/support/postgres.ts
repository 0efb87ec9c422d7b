/**
 * Throw-away Postgres databases for tests: one per test file, created in `beforeAll` and dropped
 * (WITH (FORCE): a store left open must not keep it alive) in `afterAll`. The server is
 * `postgres://postgres@127.0.0.1:5432/postgres` unless `NBHOOK_TEST_PG` names another admin URL.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

export const ADMIN_URL = process.env.NBHOOK_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** Runs `fn` on a connection to the admin database, closed after. */
async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  // A connection lost while idle emits `error`: unhandled, it would end the test process.
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Whether the test server answers (tests needing it skip, saying so, when it does not). */
export async function postgresAvailable(): Promise<boolean> {
  try {
    await withAdmin((client) => client.query("SELECT 1"));
    return true;
  } catch {
    return false;
  }
}

/** A new, empty database named `<prefix>_<pid>_<random>`, its URL, and how to drop it. */
export async function createTestDatabase(
  prefix = "nbhook_test",
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`.toLowerCase();
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`"${name}" is not a plain database name`);
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () =>
      withAdmin(async (client) => void (await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}
