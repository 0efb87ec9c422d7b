/** @module Conformance cases: webhooks (create, upsert, find, list, rotate, delete). */
import { expect } from "vitest";
import { DEFAULT_SETTINGS } from "../types.js";
import {
  type DeclareCase,
  expectAppError,
  HOOK_PATH,
  isTime,
  newHook,
  notebook,
} from "./harness.conformance.js";

const TOKEN = /^[A-Za-z0-9_-]{43,}$/;

export function webhookCases(test: DeclareCase): void {
  test("creates a webhook with a fresh id, an unguessable token, the notebook's file name and default settings", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    expect(webhook).toMatchObject({
      path: HOOK_PATH,
      name: HOOK_PATH,
      fileName: "report.ipynb",
      params: { inline: true },
      debug: false,
      timeoutMs: 300_000,
      settings: DEFAULT_SETTINGS,
      deletedAt: null,
      liveHisto: null,
      lastRunAt: null,
      lastRunStatus: null,
    });
    expect(webhook.token).toMatch(TOKEN);
    expect(isTime(webhook.createdAt) && isTime(webhook.updatedAt)).toBe(true);
    const other = await store.upsertWebhook(newHook({ path: "/home/u/other.ipynb" }));
    expect(other.id).not.toBe(webhook.id);
    expect(other.token).not.toBe(webhook.token);
    expect(await store.getWebhook(webhook.id)).toEqual(webhook);
  });

  test("keeps the add-time params as given and the given settings over the defaults", async (store) => {
    const params = {
      notif_up: ["a@b.c"],
      next_url: "https://example.com/",
      inline: false,
      city: "Paris",
      n: 3,
      deep: { a: [1, null] },
    };
    const webhook = await store.upsertWebhook(
      newHook({ params, debug: true, timeoutMs: 1234, settings: { mode: "reuse", reuseCalls: 7 } }),
    );
    expect(webhook).toMatchObject({ debug: true, timeoutMs: 1234 });
    expect(webhook.params).toEqual(params);
    expect(webhook.settings).toEqual({ mode: "reuse", maxConcurrency: null, reuseCalls: 7, cors: [] });
    const unset = await store.upsertWebhook(
      newHook({
        path: "/home/u/b.ipynb",
        settings: { mode: "setup", maxConcurrency: undefined, reuseCalls: undefined },
      }),
    );
    expect(unset.settings).toEqual({ ...DEFAULT_SETTINGS, mode: "setup" });
  });

  test("adding the same path again keeps the id and the token and takes the new params, debug, timeout and settings", async (store) => {
    const first = await store.upsertWebhook(
      newHook({ params: { inline: true, a: 1 }, settings: { mode: "reuse", maxConcurrency: 3 } }),
    );
    const again = await store.upsertWebhook(
      newHook({ params: { inline: false }, debug: true, timeoutMs: 5000, settings: { mode: "setup" } }),
    );
    expect(again).toMatchObject({
      id: first.id,
      token: first.token,
      name: first.name,
      createdAt: first.createdAt,
      debug: true,
      timeoutMs: 5000,
    });
    expect(again.params).toEqual({ inline: false });
    expect(again.settings).toEqual({ ...DEFAULT_SETTINGS, mode: "setup" });
    expect(await store.listWebhooks({ includeDeleted: true })).toHaveLength(1);
    expect(await store.getWebhook(first.id)).toEqual(again);
  });

  test("a deleted webhook added again is revived with the same id and token", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    await store.deleteWebhook(webhook.id);
    const revived = await store.upsertWebhook(newHook());
    expect(revived).toMatchObject({ id: webhook.id, token: webhook.token, deletedAt: null });
    expect((await store.findWebhookByToken(webhook.token))?.id).toBe(webhook.id);
    expect((await store.listWebhooks()).map((w) => w.id)).toEqual([webhook.id]);
  });

  test("finds a webhook by its path, deleted or not, and nothing at an unknown path", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    expect(await store.findWebhookByPath(HOOK_PATH)).toEqual(webhook);
    expect(await store.findWebhookByPath("/home/u/other.ipynb")).toBeUndefined();
    await store.deleteWebhook(webhook.id);
    expect((await store.findWebhookByPath(HOOK_PATH))?.deletedAt).not.toBeNull();
  });

  test("finds a webhook by its token, and nothing by a wrong, altered, shortened, lengthened or empty token", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    const other = await store.upsertWebhook(newHook({ path: "/home/u/other.ipynb" }));
    expect(await store.findWebhookByToken(webhook.token)).toEqual(webhook);
    expect((await store.findWebhookByToken(other.token))?.id).toBe(other.id);
    const last = webhook.token.at(-1) === "A" ? "B" : "A";
    for (const wrong of [
      webhook.token.slice(0, -1) + last,
      webhook.token.slice(0, -1),
      webhook.token + "A",
      "",
      "not-a-token",
    ]) {
      expect(await store.findWebhookByToken(wrong), wrong).toBeUndefined();
    }
  });

  test("does not find a deleted webhook by its token", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    await store.deleteWebhook(webhook.id);
    expect(await store.findWebhookByToken(webhook.token)).toBeUndefined();
  });

  test("answers undefined for an unknown webhook id", async (store) => {
    expect(await store.getWebhook("no-such-webhook")).toBeUndefined();
  });

  test("lists webhooks ordered by name (by default their path), and deleted ones only when asked", async (store) => {
    expect(await store.listWebhooks()).toEqual([]);
    const b = await store.upsertWebhook(newHook({ path: "/b/z.ipynb" }));
    const a = await store.upsertWebhook(newHook({ path: "/a/y.ipynb" }));
    const c = await store.upsertWebhook(newHook({ path: "/c/x.ipynb" }));
    await store.deleteWebhook(c.id);
    expect((await store.listWebhooks()).map((w) => w.path)).toEqual([a.path, b.path]);
    const all = await store.listWebhooks({ includeDeleted: true });
    expect(all.map((w) => w.path)).toEqual([a.path, b.path, c.path]);
    expect(all[2]?.deletedAt).not.toBeNull();
    expect(all[0]).toEqual(await store.getWebhook(a.id));
  });

  test("rotates a token: the new one finds the webhook and the old one no longer does", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    const rotated = await store.rotateToken(webhook.id);
    expect(rotated).toMatchObject({ id: webhook.id, path: webhook.path });
    expect(rotated.token).toMatch(TOKEN);
    expect(rotated.token).not.toBe(webhook.token);
    expect(await store.findWebhookByToken(webhook.token)).toBeUndefined();
    expect((await store.findWebhookByToken(rotated.token))?.id).toBe(webhook.id);
    expect((await store.getWebhook(webhook.id))?.token).toBe(rotated.token);
  });

  test("deletes a webhook softly: it stays readable with its time of deletion, and keeps its versions", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    const version = await store.addVersion(webhook.id, notebook(1));
    await store.deleteWebhook(webhook.id);
    const deleted = await store.getWebhook(webhook.id);
    expect(isTime(deleted?.deletedAt ?? null)).toBe(true);
    expect(deleted).toMatchObject({ id: webhook.id, token: webhook.token, liveHisto: version.histo });
    expect(await store.readVersion(webhook.id, version.histo)).toEqual(notebook(1));
  });

  test("answers not-found when changing an unknown webhook", async (store) => {
    await expectAppError(store.rotateToken("no-such-webhook"), "not-found");
    await expectAppError(store.deleteWebhook("no-such-webhook"), "not-found");
    await expectAppError(store.addVersion("no-such-webhook", notebook(1)), "not-found");
    await expectAppError(store.writeFile("no-such-webhook", "a.txt", Buffer.from("a")), "not-found");
    await expectAppError(store.writeOutput("no-such-webhook", "20200101000000000000", "{}"), "not-found");
    await expectAppError(
      store.createRun({
        webhookId: "no-such-webhook",
        versionHisto: "20200101000000000000",
        parameters: {},
      }),
      "not-found",
    );
    expect(await store.listWebhooks({ includeDeleted: true })).toEqual([]);
  });
}
