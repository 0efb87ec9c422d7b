/**
 * @module Conformance cases: notebook versions, dependency files and upload folders. The folders
 * the store gives are local ones (the kernel's working directory), so cases read them directly.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import { isHisto, newHisto } from "../histo.js";
import {
  ALL_BYTES,
  type DeclareCase,
  expectAppError,
  isTime,
  newHook,
  notebook,
} from "./harness.conformance.js";

export function versionCases(test: DeclareCase): void {
  test("keeps a version byte for byte, with its size, sha256 and time", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    const content = Buffer.concat([notebook(1), ALL_BYTES]);
    const version = await store.addVersion(webhook.id, content);
    expect(version).toMatchObject({
      webhookId: webhook.id,
      size: content.length,
      sha256: createHash("sha256").update(content).digest("hex"),
    });
    expect(isHisto(version.histo) && isTime(version.createdAt)).toBe(true);
    expect(await store.readVersion(webhook.id, version.histo)).toEqual(content);
    expect(await store.listVersions(webhook.id)).toEqual([version]);
  });

  test("makes the newest version live and lists versions newest first", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    expect(await store.listVersions(webhook.id)).toEqual([]);
    const v1 = await store.addVersion(webhook.id, notebook(1));
    const v2 = await store.addVersion(webhook.id, notebook(2));
    const v3 = await store.addVersion(webhook.id, notebook(3));
    expect((await store.getWebhook(webhook.id))?.liveHisto).toBe(v3.histo);
    expect((await store.listVersions(webhook.id)).map((v) => v.histo)).toEqual([
      v3.histo,
      v2.histo,
      v1.histo,
    ]);
    expect(await store.readVersion(webhook.id, v1.histo)).toEqual(notebook(1));
    const upserted = await store.upsertWebhook(newHook({ params: {} }));
    expect(upserted.liveHisto).toBe(v3.histo);
  });

  test("gives versions 20-digit histos that strictly increase, even added in quick succession", async (store) => {
    const a = await store.upsertWebhook(newHook());
    const b = await store.upsertWebhook(newHook({ path: "/home/u/b.ipynb" }));
    const histos: string[] = [];
    for (let i = 0; i < 30; i++)
      histos.push((await store.addVersion(i % 2 ? a.id : b.id, notebook(i))).histo);
    expect(histos.every(isHisto)).toBe(true);
    for (let i = 1; i < histos.length; i++) expect(histos[i]! > histos[i - 1]!).toBe(true);
  });

  test("deletes a version: it is no longer read, the next newest becomes live, and deleting again answers false", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    const v1 = await store.addVersion(webhook.id, notebook(1));
    const v2 = await store.addVersion(webhook.id, notebook(2));
    expect(await store.deleteVersion(webhook.id, v2.histo)).toBe(true);
    expect(await store.readVersion(webhook.id, v2.histo)).toBeUndefined();
    expect((await store.getWebhook(webhook.id))?.liveHisto).toBe(v1.histo);
    expect(await store.deleteVersion(webhook.id, v2.histo)).toBe(false);
    expect(await store.deleteVersion(webhook.id, v1.histo)).toBe(true);
    expect((await store.getWebhook(webhook.id))?.liveHisto).toBeNull();
    expect(await store.listVersions(webhook.id)).toEqual([]);
  });

  test("answers undefined, false or nothing for unknown versions", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    const version = await store.addVersion(webhook.id, notebook(1));
    expect(await store.readVersion(webhook.id, newHisto())).toBeUndefined();
    expect(await store.readVersion("no-such-webhook", version.histo)).toBeUndefined();
    expect(await store.deleteVersion(webhook.id, newHisto())).toBe(false);
    expect(await store.deleteVersion("no-such-webhook", version.histo)).toBe(false);
    expect(await store.listVersions("no-such-webhook")).toEqual([]);
    expect(await store.readVersion(webhook.id, version.histo)).toEqual(notebook(1));
  });
}

export function fileCases(test: DeclareCase): void {
  test("writes dependency files that read back byte for byte through filesDir, nested folders included", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    await store.writeFile(webhook.id, "data/table.csv", Buffer.from("a,b\n1,2\n"));
    await store.writeFile(webhook.id, "blob.bin", ALL_BYTES);
    const dir = await store.filesDir(webhook.id);
    expect(readFileSync(path.join(dir, "data", "table.csv"), "utf8")).toBe("a,b\n1,2\n");
    expect(readFileSync(path.join(dir, "blob.bin"))).toEqual(ALL_BYTES);
    await store.writeFile(webhook.id, "data/table.csv", Buffer.from("replaced"));
    expect(readFileSync(path.join(dir, "data", "table.csv"), "utf8")).toBe("replaced");
    expect(readdirSync(dir).sort()).toEqual(["blob.bin", "data"]);
  });

  test("refuses a dependency path that is absolute or leaves the files folder, as a usage error", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    for (const bad of ["../escape.txt", "/etc/passwd", "data/../../escape.txt", "..", "."]) {
      await expectAppError(store.writeFile(webhook.id, bad, Buffer.from("x")), "usage");
    }
    const dir = await store.filesDir(webhook.id);
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(path.join(dir, "..", "escape.txt"))).toBe(false);
  });

  test("gives a webhook one files folder, existing and the same each time, its own", async (store) => {
    const a = await store.upsertWebhook(newHook());
    const b = await store.upsertWebhook(newHook({ path: "/home/u/b.ipynb" }));
    const dir = await store.filesDir(a.id);
    expect(path.isAbsolute(dir) && statSync(dir).isDirectory()).toBe(true);
    expect(await store.filesDir(a.id)).toBe(dir);
    expect(await store.filesDir(b.id)).not.toBe(dir);
  });

  test("gives each run histo its own existing, empty uploads folder", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    const first = await store.uploadsDir(webhook.id, newHisto());
    const second = await store.uploadsDir(webhook.id, newHisto());
    expect(first).not.toBe(second);
    for (const dir of [first, second]) {
      expect(path.isAbsolute(dir) && existsSync(dir)).toBe(true);
      expect(readdirSync(dir)).toEqual([]);
    }
    expect(first).not.toBe(await store.filesDir(webhook.id));
  });
}
