/** @module Conformance cases: secrets (ciphertexts only; the store never sees a value). */
import { expect } from "vitest";
import type { DeclareCase } from "./harness.conformance.js";

const hook = (path: string) => ({ path, params: {}, debug: false, timeoutMs: 60_000 });
const bytes = (text: string) => Buffer.from(text, "utf8");

export function secretCases(test: DeclareCase): void {
  test("keeps secrets by name, global or for one webhook, and gives a webhook the global ones and its own", async (store) => {
    const a = await store.upsertWebhook(hook("/nb/a.ipynb"));
    const b = await store.upsertWebhook(hook("/nb/b.ipynb"));
    const binary = Buffer.from([0, 1, 2, 255, 254, 0, 10, 13]);
    await store.putSecret({ name: "DB_URL", webhookId: null, ciphertext: bytes("global"), keyId: "k1" });
    await store.putSecret({ name: "DB_URL", webhookId: a.id, ciphertext: bytes("own-a"), keyId: "k1" });
    await store.putSecret({ name: "API_KEY", webhookId: b.id, ciphertext: binary, keyId: "k1" });

    const forA = await store.secretsFor(a.id);
    expect(forA.map((s) => [s.name, s.webhookId, s.ciphertext.toString()])).toEqual([
      ["DB_URL", null, "global"],
      ["DB_URL", a.id, "own-a"],
    ]);
    const forB = await store.secretsFor(b.id);
    expect(forB.map((s) => [s.name, s.webhookId])).toEqual([
      ["API_KEY", b.id],
      ["DB_URL", null],
    ]);
    expect(forB[0]!.ciphertext.equals(binary)).toBe(true); // byte for byte
    expect(await store.secretsFor("no-such-webhook")).toHaveLength(1);

    const listed = await store.listSecrets();
    expect(listed.map((s) => [s.name, s.webhookId, s.keyId])).toEqual([
      ["API_KEY", b.id, "k1"],
      ["DB_URL", null, "k1"],
      ["DB_URL", a.id, "k1"],
    ]);
    for (const info of listed) {
      expect(info).not.toHaveProperty("ciphertext");
      expect(Date.parse(info.createdAt)).not.toBeNaN();
      expect(Date.parse(info.updatedAt)).not.toBeNaN();
    }
  });

  test("replaces a secret set again, keeping when it was created", async (store) => {
    const first = await store.putSecret({
      name: "TOKEN",
      webhookId: null,
      ciphertext: bytes("v1"),
      keyId: "k1",
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await store.putSecret({
      name: "TOKEN",
      webhookId: null,
      ciphertext: bytes("v2"),
      keyId: "k2",
    });
    expect(second.createdAt).toBe(first.createdAt);
    expect(Date.parse(second.updatedAt)).toBeGreaterThan(Date.parse(first.updatedAt));
    expect(second.keyId).toBe("k2");
    const [kept] = await store.secretsFor("any");
    expect(kept!.ciphertext.toString()).toBe("v2");
    expect(await store.listSecrets()).toHaveLength(1);
  });

  test("deletes one secret of one scope, and says when there was none", async (store) => {
    const a = await store.upsertWebhook(hook("/nb/a.ipynb"));
    await store.putSecret({ name: "X", webhookId: null, ciphertext: bytes("g"), keyId: "k" });
    await store.putSecret({ name: "X", webhookId: a.id, ciphertext: bytes("a"), keyId: "k" });
    expect(await store.deleteSecret("X", a.id)).toBe(true);
    expect(await store.deleteSecret("X", a.id)).toBe(false);
    expect((await store.secretsFor(a.id)).map((s) => s.ciphertext.toString())).toEqual(["g"]);
    expect(await store.deleteSecret("x", null)).toBe(false); // names are case-sensitive
    expect(await store.deleteSecret("X", null)).toBe(true);
    expect(await store.listSecrets()).toEqual([]);
  });

  test("keeps secrets across a restart", async (store, harness) => {
    await store.putSecret({ name: "KEPT", webhookId: null, ciphertext: bytes("c"), keyId: "k" });
    const reopened = await harness.reopen();
    expect((await reopened.secretsFor("w")).map((s) => s.name)).toEqual(["KEPT"]);
  });
}
