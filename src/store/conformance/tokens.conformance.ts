/** @module Conformance cases: API tokens (kept by hash) and server-wide keys. */
import { createHash } from "node:crypto";
import { expect } from "vitest";
import type { NewApiToken } from "../types.js";
import { expectAppError, isTime, type DeclareCase } from "./harness.conformance.js";

const hashOf = (text: string) => createHash("sha256").update(text).digest("hex");

function newToken(name: string, more: Partial<NewApiToken> = {}): NewApiToken {
  return { name, scope: "deploy", webhookIds: [], hash: hashOf(`token of ${name}`), ...more };
}

export function tokenCases(test: DeclareCase): void {
  test("keeps a token by its hash: found by hash, by id, listed by name", async (store) => {
    const made = await store.createApiToken(newToken("ci", { webhookIds: ["w1", "w2"] }));
    expect(made).toMatchObject({
      name: "ci",
      scope: "deploy",
      webhookIds: ["w1", "w2"],
      lastUsedAt: null,
      revokedAt: null,
    });
    expect(isTime(made!.createdAt)).toBe(true);
    await store.createApiToken(newToken("alpha", { scope: "read" }));
    const found = await store.findApiTokenByHash(hashOf("token of ci"));
    expect(found).toMatchObject({ id: made!.id, name: "ci", hash: hashOf("token of ci") });
    expect(await store.findApiTokenByHash(hashOf("another"))).toBeUndefined();
    expect(await store.getApiToken(made!.id)).toMatchObject({ name: "ci", scope: "deploy" });
    expect(await store.getApiToken("no-such-id")).toBeUndefined();
    expect((await store.listApiTokens()).map((t) => t.name)).toEqual(["alpha", "ci"]);
  });

  test("refuses a second live token of the same name, not one of a revoked name", async (store) => {
    await store.createApiToken(newToken("ci"));
    await expectAppError(store.createApiToken(newToken("ci", { hash: hashOf("other") })), "conflict");
    const revoked = await store.revokeApiToken("ci");
    expect(isTime(revoked!.revokedAt)).toBe(true);
    expect(await store.revokeApiToken("ci")).toBeUndefined();
    const again = await store.createApiToken(newToken("ci", { hash: hashOf("other") }));
    expect(again!.id).not.toBe(revoked!.id);
  });

  test("a revoked token is found no more by hash, nor listed, but still by id", async (store) => {
    const made = await store.createApiToken(newToken("gone"));
    await store.revokeApiToken("gone");
    expect(await store.findApiTokenByHash(hashOf("token of gone"))).toBeUndefined();
    expect(await store.listApiTokens()).toEqual([]);
    expect((await store.getApiToken(made!.id))?.revokedAt).not.toBeNull();
  });

  test("makes the first token only when the store never held one", async (store) => {
    const first = await store.createApiToken(newToken("admin", { scope: "admin" }), { onlyIfNone: true });
    expect(first?.name).toBe("admin");
    expect(await store.createApiToken(newToken("second"), { onlyIfNone: true })).toBeUndefined();
    await store.revokeApiToken("admin");
    // Revoked tokens count: the first token is made once, never again.
    expect(await store.createApiToken(newToken("third"), { onlyIfNone: true })).toBeUndefined();
    expect(await store.listApiTokens()).toEqual([]);
  });

  test("puts a named token: kept when unchanged, replaced (a new id) when its hash changes", async (store) => {
    const put = await store.putApiToken(newToken("admin", { scope: "admin", hash: hashOf("one") }));
    expect(put.changed).toBe(true);
    const same = await store.putApiToken(newToken("admin", { scope: "admin", hash: hashOf("one") }));
    expect(same).toEqual({ token: put.token, changed: false });
    const replaced = await store.putApiToken(newToken("admin", { scope: "admin", hash: hashOf("two") }));
    expect(replaced.changed).toBe(true);
    expect(replaced.token.id).not.toBe(put.token.id);
    expect((await store.getApiToken(put.token.id))?.revokedAt).not.toBeNull();
    expect(await store.findApiTokenByHash(hashOf("one"))).toBeUndefined();
    expect((await store.findApiTokenByHash(hashOf("two")))?.id).toBe(replaced.token.id);
    // Back to an earlier token: its old, revoked record does not stand in the way.
    const back = await store.putApiToken(newToken("admin", { scope: "admin", hash: hashOf("one") }));
    expect((await store.findApiTokenByHash(hashOf("one")))?.id).toBe(back.token.id);
    expect((await store.listApiTokens()).map((t) => t.name)).toEqual(["admin"]);
  });

  test("records when a token was last used", async (store) => {
    const made = await store.createApiToken(newToken("ci"));
    await store.touchApiToken(made!.id, "2026-01-02T03:04:05.678Z");
    expect((await store.getApiToken(made!.id))?.lastUsedAt).toBe("2026-01-02T03:04:05.678Z");
    await store.touchApiToken(made!.id);
    const used = (await store.getApiToken(made!.id))!.lastUsedAt;
    expect(isTime(used)).toBe(true);
    expect(used! > "2026-01-02T03:04:05.678Z").toBe(true);
  });

  test("keeps tokens and server keys across a restart", async (store, harness) => {
    await store.createApiToken(newToken("kept"));
    expect(await store.serverKey("session", "first")).toBe("first");
    const reopened = await harness.reopen();
    expect((await reopened.findApiTokenByHash(hashOf("token of kept")))?.name).toBe("kept");
    expect(await reopened.serverKey("session", "second")).toBe("first");
  });

  test("gives each server key its first value", async (store) => {
    expect(await store.serverKey("a", "one")).toBe("one");
    expect(await store.serverKey("a", "two")).toBe("one");
    expect(await store.serverKey("b", "three")).toBe("three");
  });
}
