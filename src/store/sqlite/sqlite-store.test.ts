import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { newHisto } from "../histo.js";
import { describeStoreConformance } from "../store.conformance.js";
import { DEFAULT_SETTINGS } from "../types.js";
import { rebuildWebhooksForNames } from "./names-migration.js";
import { migrate, MIGRATIONS, SCHEMA_VERSION } from "./schema.js";
import { SqliteStore } from "./sqlite-store.js";

const freshHome = () => mkdtempSync(path.join(os.tmpdir(), "nbhook-store-"));

describeStoreConformance("SqliteStore", async () => {
  const home = freshHome();
  let store = new SqliteStore(home);
  return {
    store,
    async reopen() {
      await store.close();
      store = new SqliteStore(home);
      return store;
    },
    async close() {
      await store.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
});

describe("SqliteStore on disk", () => {
  const homes: string[] = [];
  const stores: SqliteStore[] = [];
  const open = (home = freshHome()) => {
    homes.push(home);
    const store = new SqliteStore(home);
    stores.push(store);
    return store;
  };
  /** A second connection to the same database, as an operator (or a bug) would write to it. */
  const raw = (home: string) => {
    const db = new Database(path.join(home, "nbhook.db"));
    db.pragma("busy_timeout = 5000");
    return db;
  };
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
  });
  const hook = { path: "/home/u/report.ipynb", params: {}, debug: false, timeoutMs: 1000 };
  const nb = Buffer.from('{"cells": []}');

  /** Every file and folder under `dir`, relative, folders ending in "/". */
  function tree(dir: string, prefix = ""): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? [`${prefix}${entry.name}/`, ...tree(path.join(dir, entry.name), `${prefix}${entry.name}/`)]
        : [`${prefix}${entry.name}`],
    );
  }

  it("lays out its home as DESIGN.md's store layout says, leaving no temporary files", async () => {
    const store = open();
    const w = await store.upsertWebhook(hook);
    const v = await store.addVersion(w.id, nb);
    await store.writeFile(w.id, "data/table.csv", Buffer.from("a\n"));
    const run = await store.createRun({ webhookId: w.id, versionHisto: v.histo, parameters: {} });
    await store.uploadsDir(w.id, run.outputHisto);
    await store.writeOutput(w.id, run.outputHisto, "{}", run.id);
    const answer = { status: 200, headers: {}, body: Buffer.from("x") };
    await store.finishRun(run.id, { status: "ok", durationMs: 1, error: null, httpStatus: 200, answer });
    const files = tree(store.home).filter((name) => !/^nbhook\.db-(wal|shm)$/.test(name));
    const dir = `webhooks/${w.id}`;
    expect(files.sort()).toEqual(
      [
        "nbhook.db",
        "webhooks/",
        `${dir}/`,
        `${dir}/versions/`,
        `${dir}/versions/${v.histo}.ipynb`,
        `${dir}/files/`,
        `${dir}/files/data/`,
        `${dir}/files/data/table.csv`,
        `${dir}/uploads/`,
        `${dir}/uploads/${run.outputHisto}/`,
        `${dir}/outputs/`,
        `${dir}/outputs/${run.outputHisto}.ipynb`,
        `${dir}/responses/`,
        `${dir}/responses/${run.id}`,
      ].sort(),
    );
  });

  it("makes the database readable and writable by its owner only", async () => {
    const store = open();
    await store.upsertWebhook(hook);
    const names = readdirSync(store.home).filter((name) => name.startsWith("nbhook.db"));
    expect(names).toContain("nbhook.db");
    for (const name of names) expect(statSync(path.join(store.home, name)).mode & 0o777, name).toBe(0o600);
  });

  it("records its schema in user_version, and migrates an older database, defaulting settings it lacked", async () => {
    const home = freshHome();
    homes.push(home);
    const old = raw(home);
    migrate(old, MIGRATIONS.slice(0, 1));
    old
      .prepare(
        `INSERT INTO webhooks (id, path, name, token, token_sha256, params, debug, timeout_ms, created_at, updated_at)
         VALUES ('w1', '/a.ipynb', 'a.ipynb', 't', 'h', '{"inline":true}', 0, 1000, ?, ?)`,
      )
      .run(new Date().toISOString(), new Date().toISOString());
    old.close();

    const store = open(home);
    expect(await store.getWebhook("w1")).toMatchObject({
      params: { inline: true },
      settings: DEFAULT_SETTINGS,
    });
    const check = raw(home);
    expect(check.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    check.prepare("UPDATE webhooks SET settings = ? WHERE id = 'w1'").run('{"mode":"reuse"}');
    check.close();
    expect((await store.getWebhook("w1"))?.settings).toEqual({ ...DEFAULT_SETTINGS, mode: "reuse" });
  });

  it("migrates a database of the schema before names: each webhook named by its path, its file name kept, foreign keys and indexes intact, paths no longer unique", async () => {
    const home = freshHome();
    homes.push(home);
    const before = MIGRATIONS.indexOf(rebuildWebhooksForNames);
    expect(before).toBeGreaterThan(0);
    const old = raw(home);
    old.pragma("foreign_keys = ON");
    migrate(old, MIGRATIONS.slice(0, before)); // the schema nbhook wrote before names
    const stamp = new Date().toISOString();
    old
      .prepare(
        `INSERT INTO webhooks (id, path, name, token, token_sha256, params, debug, timeout_ms, settings, created_at, updated_at)
         VALUES ('w1', '/home/u/report.ipynb', 'report.ipynb', 't1', 'h1', '{}', 0, 1000, '{"mode":"reuse"}', ?, ?)`,
      )
      .run(stamp, stamp);
    old
      .prepare("INSERT INTO versions (webhook_id, histo, created_at, size, sha256) VALUES ('w1', ?, ?, 1, ?)")
      .run("20260101000000000000", stamp, "0".repeat(64));
    old
      .prepare(
        `INSERT INTO runs (id, webhook_id, version_histo, output_histo, status, started_at, parameters)
         VALUES ('r1', 'w1', '20260101000000000000', '20260101000000000001', 'ok', ?, '{}')`,
      )
      .run(stamp);
    const indexesBefore = old
      .prepare(
        // The indexes of the tables the rebuild touches (later migrations add tables of their own).
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('webhooks', 'versions', 'runs', 'outputs') ORDER BY name",
      )
      .pluck()
      .all();
    old.close();

    const store = open(home);
    expect(await store.getWebhook("w1")).toMatchObject({
      name: "/home/u/report.ipynb",
      path: "/home/u/report.ipynb",
      fileName: "report.ipynb",
      sourceHost: null,
      settings: { ...DEFAULT_SETTINGS, mode: "reuse" },
      liveHisto: "20260101000000000000",
      lastRunStatus: "ok",
    });
    expect((await store.findWebhookByPath("/home/u/report.ipynb"))?.id).toBe("w1");
    // The same path under another name is another webhook now.
    const other = await store.upsertWebhook({ ...hook, path: "/home/u/report.ipynb", name: "bob" });
    expect(other.id).not.toBe("w1");
    // Ordered by name: "/home/u/report.ipynb" before "bob".
    expect((await store.listWebhooksByPath("/home/u/report.ipynb")).map((w) => w.id)).toEqual([
      "w1",
      other.id,
    ]);

    const check = raw(home);
    check.pragma("foreign_keys = ON");
    expect(check.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(check.pragma("foreign_key_check")).toEqual([]);
    expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
    // Versions, runs and outputs still reference webhooks(id), enforced.
    for (const table of ["versions", "runs", "outputs"]) {
      const keys = check.pragma(`foreign_key_list(${table})`) as { table: string; to: string }[];
      expect(
        keys.map((k) => [k.table, k.to]),
        table,
      ).toEqual([["webhooks", "id"]]);
    }
    expect(() =>
      check
        .prepare(
          "INSERT INTO versions (webhook_id, histo, created_at, size, sha256) VALUES ('nope', ?, ?, 1, ?)",
        )
        .run("20260101000000000002", stamp, "0".repeat(64)),
    ).toThrow(/FOREIGN KEY/);
    const indexesAfter = check
      .prepare(
        // The indexes of the tables the rebuild touches (later migrations add tables of their own).
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('webhooks', 'versions', 'runs', 'outputs') ORDER BY name",
      )
      .pluck()
      .all();
    expect(indexesAfter).toEqual([...indexesBefore, "webhooks_by_name", "webhooks_by_path"].sort());
    // Names are unique; tokens still are.
    expect(() =>
      check
        .prepare(
          `INSERT INTO webhooks (id, name, path, file_name, token, token_sha256, params, debug, timeout_ms, created_at, updated_at)
           VALUES ('w9', 'bob', '/x.ipynb', 'x.ipynb', 't9', 'h9', '{}', 0, 1, ?, ?)`,
        )
        .run(stamp, stamp),
    ).toThrow(/UNIQUE constraint failed: webhooks.name/);
    expect(() =>
      check
        .prepare(
          `INSERT INTO webhooks (id, name, path, file_name, token, token_sha256, params, debug, timeout_ms, created_at, updated_at)
           VALUES ('w9', 'carol', '/x.ipynb', 'x.ipynb', 't9', 'h1', '{}', 0, 1, ?, ?)`,
        )
        .run(stamp, stamp),
    ).toThrow(/UNIQUE constraint failed: webhooks.token_sha256/);
    check.close();
  });

  it("refuses a database written by a newer nbhook, saying to upgrade, and leaves it as it was", async () => {
    const home = freshHome();
    homes.push(home);
    await open(home).close();
    const db = raw(home);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => new SqliteStore(home)).toThrow(
      /newer nbhook \(schema \d+; this one knows \d+\): upgrade nbhook/,
    );
    const after = raw(home);
    expect(after.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION + 1);
    after.close();
  });

  it("reports a damaged row naming its table, its key and the bad field, never the token", async () => {
    const store = open();
    const w = await store.upsertWebhook(hook);
    const v = await store.addVersion(w.id, nb);
    const run = await store.createRun({ webhookId: w.id, versionHisto: v.histo, parameters: {} });
    await store.writeOutput(w.id, v.histo, "{}");
    const db = raw(store.home);
    const damage = (sql: string) => db.prepare(sql).run();

    damage(`UPDATE runs SET status = 'exploded' WHERE id = '${run.id}'`);
    const runError = new RegExp(`table "runs" with id "${run.id}" has bad fields \\(status: Invalid option`);
    await expect(store.getRun(run.id)).rejects.toThrow(runError);
    await expect(store.listRuns({})).rejects.toThrow(runError);
    await expect(store.getWebhook(w.id)).rejects.toThrow(
      /table "webhooks" with id "\w+" has bad fields \(last_run_status:/,
    );
    damage(
      `UPDATE runs SET status = 'ok', error = '{"evalue":"x"}', parameters = '[1' WHERE id = '${run.id}'`,
    );
    await expect(store.getRun(run.id)).rejects.toThrow(/bad fields \(error\.ename: .*; parameters: not JSON/);

    damage(`UPDATE webhooks SET settings = '{"mode":"warp"}'`);
    const webhookError = await store.getWebhook(w.id).catch((err: unknown) => err);
    expect(webhookError).toBeInstanceOf(Error);
    expect(String(webhookError)).toMatch(
      /table "webhooks" with id "\w+" has bad fields \(settings\.mode: Invalid option/,
    );
    expect(String(webhookError)).toMatch(/Restore nbhook\.db from a backup/);
    damage(`UPDATE webhooks SET settings = '{}', token = x'3432'`);
    const tokenError = String(await store.listWebhooks().catch((err: unknown) => err));
    expect(tokenError).toMatch(/bad fields \(token: /);
    expect(tokenError).not.toContain(w.token);

    damage(`UPDATE versions SET size = -1`);
    await expect(store.listVersions(w.id)).rejects.toThrow(
      new RegExp(`table "versions" with webhook_id "${w.id}", histo "${v.histo}" has bad fields \\(size: `),
    );
    damage(`UPDATE outputs SET created_at = 'yesterday'`);
    await expect(store.listOutputs(w.id)).rejects.toThrow(
      /table "outputs" with webhook_id .* has bad fields \(created_at: /,
    );
    db.close();
  });

  it("writes a version's row and the webhook's update together or not at all, and removes the refused version's file", async () => {
    const store = open();
    const w = await store.upsertWebhook(hook);
    const db = raw(store.home);
    db.exec(
      "CREATE TRIGGER refuse BEFORE UPDATE ON webhooks BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    );
    await expect(store.addVersion(w.id, nb)).rejects.toThrow(/refused by the test/);
    expect(await store.listVersions(w.id)).toEqual([]);
    expect(readdirSync(path.join(store.home, "webhooks", w.id, "versions"))).toEqual([]);
    db.exec("DROP TRIGGER refuse");
    db.close();
    const v = await store.addVersion(w.id, nb);
    expect((await store.getWebhook(w.id))?.liveHisto).toBe(v.histo);
  });

  it("sees what another store on the same home wrote", async () => {
    const home = freshHome();
    const a = open(home);
    const b = open(home);
    const w = await a.upsertWebhook(hook);
    await b.writeOutput(w.id, newHisto(), "{}");
    expect((await b.findWebhookByToken(w.token))?.id).toBe(w.id);
    expect(await a.listOutputs(w.id)).toHaveLength(1);
  });
});
