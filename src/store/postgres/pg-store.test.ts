import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ADMIN_URL, createTestDatabase, postgresAvailable } from "../../../test/support/postgres.js";
import { AppError } from "../../errors.js";
import { describeStoreConformance } from "../store.conformance.js";
import { storageProblem } from "../storage-errors.js";
import { maskDatabaseUrl, parseDatabaseUrl } from "./connection.js";
import { migrate, MIGRATIONS, SCHEMA_VERSION, STORE_TABLES } from "./migrations.js";
import { histoAfter, openPgStore, type PgStore } from "./pg-store.js";

const available = await postgresAvailable();
const describePg = available ? describe : describe.skip;

let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
beforeAll(async () => {
  if (available) database = await createTestDatabase("nbhook_pgstore");
});
afterAll(async () => {
  await database?.drop();
});

const databaseUrl = () => {
  if (!database) throw new Error("no test database");
  return database.url;
};
const freshCache = () => mkdtempSync(path.join(os.tmpdir(), "nbhook-pgcache-"));

/** Every nbhook table emptied, identities too: each conformance case starts on fresh data. */
async function emptyTables(store: PgStore): Promise<void> {
  await store.pool.query(`TRUNCATE ${STORE_TABLES.join(", ")} RESTART IDENTITY CASCADE`);
}

if (available) {
  describeStoreConformance("PgStore", async () => {
    const cacheDir = freshCache();
    let store = await openPgStore({ databaseUrl: databaseUrl(), cacheDir, poolMax: 4 });
    await emptyTables(store);
    return {
      store,
      async reopen() {
        await store.close();
        store = await openPgStore({ databaseUrl: databaseUrl(), cacheDir, poolMax: 4 });
        return store;
      },
      async close() {
        await store.close();
        rmSync(cacheDir, { recursive: true, force: true });
      },
    };
  });
} else {
  describe.skip(`Store conformance: PgStore (no Postgres at ${maskDatabaseUrl(ADMIN_URL)}; set NBHOOK_TEST_PG)`, () => {
    it("needs Postgres", () => {});
  });
}

describePg("PgStore on Postgres", () => {
  const hook = { path: "/home/u/report.ipynb", params: {}, debug: false, timeoutMs: 1000 };
  const nb = Buffer.from('{"cells": []}');

  /** Opens stores (each its own cache) on the test database, emptied; closes them all after. */
  async function withStores<T>(count: number, fn: (stores: PgStore[]) => Promise<T>): Promise<T> {
    const caches = Array.from({ length: count }, freshCache);
    const stores = await Promise.all(
      caches.map((cacheDir) => openPgStore({ databaseUrl: databaseUrl(), cacheDir })),
    );
    try {
      await emptyTables(stores[0]!);
      return await fn(stores);
    } finally {
      for (const store of stores) await store.close();
      for (const dir of caches) rmSync(dir, { recursive: true, force: true });
    }
  }

  it("applies the migrations once: opening again, or migrating again, changes nothing", async () => {
    await withStores(1, async ([store]) => {
      const recorded = async () =>
        (await store!.pool.query("SELECT version, name, applied_at FROM nbhook_migrations ORDER BY version"))
          .rows;
      const before = await recorded();
      expect(before.map((row) => [row.version, row.name])).toEqual(
        MIGRATIONS.map((m) => [m.version, m.name]),
      );
      expect(await migrate(store!.pool)).toEqual([]);
      const again = await openPgStore({ databaseUrl: databaseUrl(), cacheDir: store!.cacheDir });
      await again.close();
      expect(await recorded()).toEqual(before);
    });
  });

  it("migrates a database of the schema before names: each webhook named by its path, its file name kept, paths no longer unique", async () => {
    const fresh = await createTestDatabase("nbhook_pgnames");
    const cacheDir = freshCache();
    const pool = new pg.Pool({ connectionString: fresh.url });
    try {
      const at = MIGRATIONS.findIndex((m) => m.name === "webhook names");
      expect(at).toBeGreaterThan(0);
      await migrate(pool, MIGRATIONS.slice(0, at));
      await pool.query(
        `INSERT INTO webhooks (id, path, name, token, token_sha256, params, debug, timeout_ms, settings, created_at, updated_at)
         VALUES ('w1', '/home/u/report.ipynb', 'report.ipynb', 't1', 'h1', '{}', false, 1000, '{}', now(), now())`,
      );
      await pool.query(
        `INSERT INTO versions (webhook_id, histo, created_at, size, sha256, notebook)
         VALUES ('w1', '20260101000000000000', now(), 2, $1, '{}')`,
        ["0".repeat(64)],
      );
      const store = await openPgStore({ databaseUrl: fresh.url, cacheDir });
      try {
        expect(await store.getWebhook("w1")).toMatchObject({
          name: "/home/u/report.ipynb",
          path: "/home/u/report.ipynb",
          fileName: "report.ipynb",
          sourceHost: null,
          liveHisto: "20260101000000000000",
        });
        const other = await store.upsertWebhook({ ...hook, name: "bob" });
        expect(other.id).not.toBe("w1");
        expect((await store.listWebhooksByPath(hook.path)).map((w) => w.id)).toEqual(["w1", other.id]);
        await expect(
          pool.query(
            `INSERT INTO webhooks (id, path, file_name, name, token, token_sha256, params, debug, timeout_ms, settings, created_at, updated_at)
             VALUES ('w9', '/x.ipynb', 'x.ipynb', 'bob', 't9', 'h9', '{}', false, 1, '{}', now(), now())`,
          ),
        ).rejects.toThrow(/webhooks_name_key/);
      } finally {
        await store.close();
      }
    } finally {
      await pool.end();
      rmSync(cacheDir, { recursive: true, force: true });
      await fresh.drop();
    }
  });

  it("lets two nodes start at once on a fresh database: one migrates, both open", async () => {
    const fresh = await createTestDatabase("nbhook_pgrace");
    const cacheDir = freshCache();
    try {
      const stores = await Promise.all(
        [1, 2, 3].map(() => openPgStore({ databaseUrl: fresh.url, cacheDir })),
      );
      const { rows } = await stores[0]!.pool.query("SELECT version FROM nbhook_migrations");
      expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));
      const webhook = await stores[1]!.upsertWebhook(hook);
      expect((await stores[2]!.getWebhook(webhook.id))?.path).toBe(hook.path);
      for (const store of stores) await store.close();
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
      await fresh.drop();
    }
  });

  it("refuses a database migrated by a newer nbhook, saying to upgrade, and leaves it as it was", async () => {
    await withStores(1, async ([store]) => {
      const newer = SCHEMA_VERSION + 1;
      await store!.pool.query(
        "INSERT INTO nbhook_migrations (version, name) VALUES ($1, 'from the future')",
        [newer],
      );
      try {
        await expect(openPgStore({ databaseUrl: databaseUrl(), cacheDir: store!.cacheDir })).rejects.toThrow(
          new RegExp(`newer nbhook \\(schema ${newer}; this one knows ${SCHEMA_VERSION}\\): upgrade nbhook`),
        );
        const { rows } = await store!.pool.query("SELECT max(version) AS v FROM nbhook_migrations");
        expect(rows[0].v).toBe(newer);
        // The refused start released the lock: another node is not stuck behind it.
        const { rows: locks } = await store!.pool.query(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        expect(locks[0].n).toBe(0);
      } finally {
        await store!.pool.query("DELETE FROM nbhook_migrations WHERE version = $1", [newer]);
      }
    });
  });

  it("masks the password of a database URL, and checks that it is a Postgres one", () => {
    expect(maskDatabaseUrl("postgres://nb:s3cr%40t@db:5432/nbhook")).toBe("postgres://nb:***@db:5432/nbhook");
    expect(maskDatabaseUrl("postgresql://nb@db/nbhook")).toBe("postgresql://nb@db/nbhook");
    expect(maskDatabaseUrl("postgres://db/nbhook?sslmode=require&password=x")).toBe(
      "postgres://db/nbhook?sslmode=require&password=***",
    );
    expect(maskDatabaseUrl("host=db user=nb password=secret dbname=nbhook")).toBe(
      "host=db user=nb password=*** dbname=nbhook",
    );
    expect(maskDatabaseUrl("nb:secret@db/nbhook")).toBe("nb:***@db/nbhook");
    expect(maskDatabaseUrl("postgres:///nbhook?host=/run/pg&password=x&sslmode=disable")).toBe(
      "postgres:///nbhook?host=/run/pg&password=***&sslmode=disable",
    );
    expect(maskDatabaseUrl("password='a b' host=db")).toBe("password=*** host=db");
    expect(maskDatabaseUrl("not a url")).toBe("not a url");
    expect(maskDatabaseUrl("")).toBe("");

    expect(parseDatabaseUrl("postgresql://nb@db/nbhook").hostname).toBe("db");
    expect(parseDatabaseUrl("postgres:///nbhook?host=/run/postgresql").pathname).toBe("/nbhook");
    for (const [bad, why] of [
      ["mysql://nb:secret@db/nbhook", /not a Postgres one/],
      ["db:5432/nbhook", /not a Postgres one|not a URL/],
      ["nonsense", /not a URL/],
      ["postgres://nb:secret@/nbhook", /names no host|not a URL/],
      ["postgres:///nbhook", /names no host/],
    ] as const) {
      const thrown = (() => {
        try {
          parseDatabaseUrl(bad);
        } catch (err) {
          return err;
        }
      })();
      expect(thrown).toBeInstanceOf(AppError);
      expect(String(thrown)).toMatch(why);
      expect(String(thrown)).toMatch(/postgres:\/\/nbhook:secret@db\.example\.com:5432\/nbhook/);
      expect(String(thrown)).not.toContain("nb:secret@");
    }
  });

  it("materializes the files folder from the database, rewriting only changed files and keeping the notebook's own", async () => {
    await withStores(1, async ([store]) => {
      const w = await store!.upsertWebhook(hook);
      await store!.writeFile(w.id, "data/a.csv", Buffer.from("a\n"));
      await store!.writeFile(w.id, "b.txt", Buffer.from("b"));
      const dir = await store!.filesDir(w.id);
      const inode = (name: string) => statSync(path.join(dir, name)).ino;
      const [a, b] = [inode("data/a.csv"), inode("b.txt")];
      writeFileSync(path.join(dir, "made-by-the-notebook.txt"), "mine");

      await store!.writeFile(w.id, "b.txt", Buffer.from("b2"));
      expect(await store!.filesDir(w.id)).toBe(dir);
      expect(inode("data/a.csv")).toBe(a);
      expect(inode("b.txt")).not.toBe(b);
      expect(readFileSync(path.join(dir, "made-by-the-notebook.txt"), "utf8")).toBe("mine");

      // A restart on the same cache (its manifest on disk) rewrites nothing; a lost copy comes back.
      const again = await openPgStore({ databaseUrl: databaseUrl(), cacheDir: store!.cacheDir });
      try {
        const b2 = inode("b.txt");
        unlinkSync(path.join(dir, "data", "a.csv"));
        expect(await again.filesDir(w.id)).toBe(dir);
        expect(inode("b.txt")).toBe(b2);
        expect(readFileSync(path.join(dir, "data", "a.csv"), "utf8")).toBe("a\n");
        expect(readFileSync(path.join(dir, "made-by-the-notebook.txt"), "utf8")).toBe("mine");
      } finally {
        await again.close();
      }
    });
  });

  it("refuses a dependency path that is a file and a folder at once", async () => {
    await withStores(1, async ([store]) => {
      const w = await store!.upsertWebhook(hook);
      await store!.writeFile(w.id, "data/a.csv", Buffer.from("a"));
      await expect(store!.writeFile(w.id, "data", Buffer.from("x"))).rejects.toMatchObject({ code: "usage" });
      await expect(store!.writeFile(w.id, "data/a.csv/b", Buffer.from("x"))).rejects.toMatchObject({
        code: "usage",
      });
      await store!.writeFile(w.id, "data/b.csv", Buffer.from("b"));
    });
  });

  it("lets two nodes (two caches, one database) see each other's webhooks, versions, runs and files", async () => {
    await withStores(2, async ([a, b]) => {
      const w = await a!.upsertWebhook(hook);
      const v = await a!.addVersion(w.id, nb);
      await a!.writeFile(w.id, "data/table.csv", Buffer.from("x,y\n"));
      expect(await b!.findWebhookByToken(w.token)).toEqual(await a!.getWebhook(w.id));
      expect(await b!.listVersions(w.id)).toEqual([v]);
      expect(await b!.readVersion(w.id, v.histo)).toEqual(nb);
      const dirB = await b!.filesDir(w.id);
      expect(dirB.startsWith(b!.cacheDir)).toBe(true);
      expect(readFileSync(path.join(dirB, "data", "table.csv"), "utf8")).toBe("x,y\n");

      const run = await b!.createRun({ webhookId: w.id, versionHisto: v.histo, parameters: { n: 1 } });
      await b!.finishRun(run.id, {
        status: "ok",
        durationMs: 2,
        error: null,
        httpStatus: 200,
        answer: { status: 200, headers: { "x-b": "1" }, body: Buffer.from("from b") },
      });
      expect((await a!.readAnswer(run.id))?.body.toString()).toBe("from b");
      expect((await a!.getWebhook(w.id))?.lastRunStatus).toBe("ok");
      // The upsert of one path from both nodes at once: one webhook, one id, one token.
      const [x, y] = await Promise.all([a!.upsertWebhook(hook), b!.upsertWebhook({ ...hook, debug: true })]);
      expect(x.id).toBe(y.id);
      expect(x.token).toBe(y.token);
    });
  });

  it("gives distinct, increasing histos to versions added at once by two nodes, even with a clock ahead", async () => {
    await withStores(2, async ([a, b]) => {
      const w = await a!.upsertWebhook(hook);
      const added = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a! : b!).addVersion(w.id, Buffer.from(`{"n": ${i}}`))),
      );
      const histos = added.map((v) => v.histo);
      expect(new Set(histos).size).toBe(histos.length);
      // Each was greater than every one before it: in histo order, the times (the database's
      // clock, taken under the lock) never go back.
      const listed = await a!.listVersions(w.id);
      expect(listed.map((v) => v.histo)).toEqual([...histos].sort().reverse());
      const times = listed.map((v) => Date.parse(v.createdAt)).reverse();
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]!);

      // Another node's clock an hour ahead wrote the newest version: the next one is still greater.
      const ahead = "2999" + histos.at(-1)!.slice(4);
      await a!.pool.query(
        "INSERT INTO versions (webhook_id, histo, created_at, size, sha256, notebook) SELECT webhook_id, $2, created_at, size, sha256, notebook FROM versions WHERE webhook_id = $1 AND histo = $3",
        [w.id, ahead, histos[0]],
      );
      const next = await b!.addVersion(w.id, nb);
      expect(next.histo > ahead).toBe(true);
      expect((await a!.getWebhook(w.id))?.liveHisto).toBe(next.histo);
    });
    expect(histoAfter("20991231235959999999") > "20991231235959999999").toBe(true);
    expect(histoAfter("20991231235959999999")).toMatch(/^\d{20}$/);
  });

  it("creates a run in the caller's transaction: gone with its rollback, kept with its commit", async () => {
    await withStores(1, async ([store]) => {
      const w = await store!.upsertWebhook(hook);
      const v = await store!.addVersion(w.id, nb);
      const input = { webhookId: w.id, versionHisto: v.histo, parameters: {} };
      let rolledBack = "";
      await expect(
        store!.transaction(async (client) => {
          rolledBack = (await store!.createRunWith(client, input)).id;
          throw new Error("the job could not be added");
        }),
      ).rejects.toThrow(/the job could not be added/);
      expect(await store!.getRun(rolledBack)).toBeUndefined();
      const kept = await store!.transaction((client) => store!.createRunWith(client, input));
      expect(await store!.getRun(kept.id)).toEqual(kept);
      await expect(
        store!.transaction((client) => store!.createRunWith(client, { ...input, webhookId: "nope" })),
      ).rejects.toMatchObject({ code: "not-found" });
    });
  });

  it("logs a pooled connection lost while idle (Postgres restarted) and carries on", async () => {
    const cacheDir = freshCache();
    const warn = vi.fn();
    const store = await openPgStore({ databaseUrl: databaseUrl(), cacheDir, log: { warn } });
    try {
      await Promise.all([store.listWebhooks(), store.listWebhooks()]);
      const { rows } = await store.pool.query("SELECT pg_backend_pid() AS pid");
      await store.pool.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'nbhook' AND pid <> $1",
        [rows[0].pid],
      );
      await vi.waitFor(() => expect(warn).toHaveBeenCalled());
      expect(warn.mock.calls[0]![1]).toMatch(/Postgres connection/);
      const logged = warn.mock.calls[0]![0] as Record<string, unknown>;
      expect(logged).toMatchObject({ err: { code: "57P01" }, database: maskDatabaseUrl(databaseUrl()) });
      // The error alone, not the client pg-pool hangs on it (kilobytes a line).
      expect(JSON.stringify(logged).length).toBeLessThan(4000);
      expect(await store.listWebhooks()).toBeInstanceOf(Array);
    } finally {
      await store.close();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it("reports a damaged row naming its table, its key and the bad field", async () => {
    await withStores(1, async ([store]) => {
      const w = await store!.upsertWebhook(hook);
      const v = await store!.addVersion(w.id, nb);
      const run = await store!.createRun({ webhookId: w.id, versionHisto: v.histo, parameters: {} });
      await store!.pool.query("UPDATE runs SET status = 'exploded' WHERE id = $1", [run.id]);
      await expect(store!.getRun(run.id)).rejects.toThrow(
        new RegExp(`table "runs" with id "${run.id}" has bad fields \\(status: `),
      );
      await store!.pool.query(`UPDATE webhooks SET settings = '{"mode":"warp"}'`);
      await expect(store!.getWebhook(w.id)).rejects.toThrow(/table "webhooks" .* \(settings\.mode: /);
    });
  });
});

describe("storageProblem with Postgres errors", () => {
  const pgError = (code: string) => Object.assign(new Error("could not extend file"), { code });

  it("tells a full or read-only database server by its SQLSTATE, and nothing else", () => {
    expect(storageProblem(pgError("53100"))).toBe("the database server's disk is full");
    expect(storageProblem(new Error("insert failed", { cause: pgError("53100") }))).toBe(
      "the database server's disk is full",
    );
    expect(storageProblem(pgError("25006"))).toBe("the database is read-only");
    expect(storageProblem(pgError("53200"))).toBeUndefined();
    expect(storageProblem(pgError("23505"))).toBeUndefined();
    expect(storageProblem(pgError("ENOSPC"))).toBe("no space left on the device");
  });
});
