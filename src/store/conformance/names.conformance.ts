/** @module Conformance cases: webhook names (the identity), paths and source hosts, CORS settings. */
import { expect } from "vitest";
import { type DeclareCase, HOOK_PATH, newHook } from "./harness.conformance.js";

export function nameCases(test: DeclareCase): void {
  test("names a webhook by its path by default, with the notebook's file name and no source host", async (store) => {
    const webhook = await store.upsertWebhook(newHook());
    expect(webhook).toMatchObject({
      name: HOOK_PATH,
      path: HOOK_PATH,
      fileName: "report.ipynb",
      sourceHost: null,
    });
    expect(await store.findWebhookByName(HOOK_PATH)).toEqual(webhook);
    expect(await store.findWebhookByPath(HOOK_PATH)).toEqual(webhook);
  });

  test("two webhooks from the same path under different names are two webhooks", async (store) => {
    const ada = await store.upsertWebhook(newHook({ name: "ada-report", sourceHost: "laptop-ada" }));
    const bob = await store.upsertWebhook(newHook({ name: "bob-report", sourceHost: "laptop-bob" }));
    expect(bob.id).not.toBe(ada.id);
    expect(bob.token).not.toBe(ada.token);
    expect(ada).toMatchObject({
      name: "ada-report",
      path: HOOK_PATH,
      fileName: "report.ipynb",
      sourceHost: "laptop-ada",
    });
    expect(await store.findWebhookByName("bob-report")).toEqual(bob);
    expect(await store.findWebhookByName(HOOK_PATH)).toBeUndefined();
    expect((await store.listWebhooksByPath(HOOK_PATH)).map((w) => w.name)).toEqual([
      "ada-report",
      "bob-report",
    ]);
    // Several from one path and none named by it: the path alone names none of them.
    expect(await store.findWebhookByPath(HOOK_PATH)).toBeUndefined();
    const byPath = await store.upsertWebhook(newHook());
    expect(await store.findWebhookByPath(HOOK_PATH)).toEqual(byPath);
    expect(await store.listWebhooksByPath("/home/u/other.ipynb")).toEqual([]);
  });

  test("adding a name again from another path and host keeps the id and token and takes the new path, file name and host", async (store) => {
    const first = await store.upsertWebhook(newHook({ name: "report", sourceHost: "a" }));
    const again = await store.upsertWebhook(
      newHook({ name: "report", path: "/srv/b/summary.ipynb", sourceHost: "b" }),
    );
    expect(again).toMatchObject({
      id: first.id,
      token: first.token,
      name: "report",
      path: "/srv/b/summary.ipynb",
      fileName: "summary.ipynb",
      sourceHost: "b",
    });
    expect(await store.listWebhooksByPath(HOOK_PATH)).toEqual([]);
    expect((await store.listWebhooksByPath("/srv/b/summary.ipynb")).map((w) => w.id)).toEqual([first.id]);
    expect(await store.listWebhooks({ includeDeleted: true })).toHaveLength(1);
  });

  test("finds deleted webhooks by name and by path, and lists webhooks ordered by name", async (store) => {
    const z = await store.upsertWebhook(newHook({ name: "zeta", path: "/a/a.ipynb" }));
    const a = await store.upsertWebhook(newHook({ name: "alpha", path: "/z/z.ipynb" }));
    await store.deleteWebhook(z.id);
    expect((await store.findWebhookByName("zeta"))?.deletedAt).not.toBeNull();
    expect((await store.listWebhooksByPath("/a/a.ipynb")).map((w) => w.id)).toEqual([z.id]);
    expect((await store.listWebhooks({ includeDeleted: true })).map((w) => w.name)).toEqual([
      "alpha",
      "zeta",
    ]);
    expect((await store.listWebhooks()).map((w) => w.id)).toEqual([a.id]);
  });

  test("keeps a webhook's CORS origins, none by default", async (store) => {
    const plain = await store.upsertWebhook(newHook());
    expect(plain.settings.cors).toEqual([]);
    const open = await store.upsertWebhook(
      newHook({ name: "open", settings: { cors: ["https://example.com", "*"] } }),
    );
    expect(open.settings.cors).toEqual(["https://example.com", "*"]);
    expect((await store.getWebhook(open.id))?.settings.cors).toEqual(["https://example.com", "*"]);
    const closed = await store.upsertWebhook(newHook({ name: "open" }));
    expect(closed.settings.cors).toEqual([]);
  });
}
