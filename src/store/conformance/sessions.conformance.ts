/** @module Conformance cases: dashboard sign-outs (revoked sessions). */
import { expect } from "vitest";
import type { DeclareCase } from "./harness.conformance.js";

const inHours = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString();

export function sessionCases(test: DeclareCase): void {
  test("remembers a signed-out session until it would have expired, and only that one", async (store) => {
    expect(await store.isSessionRevoked("session-a")).toBe(false);
    await store.revokeSession("session-a", inHours(12));
    expect(await store.isSessionRevoked("session-a")).toBe(true);
    expect(await store.isSessionRevoked("session-b")).toBe(false);
    await store.revokeSession("session-a", inHours(6)); // signed out twice: still out
    expect(await store.isSessionRevoked("session-a")).toBe(true);
  });

  test("forgets a revoked session once its time is over", async (store) => {
    await store.revokeSession("session-old", new Date(Date.now() - 1000).toISOString());
    expect(await store.isSessionRevoked("session-old")).toBe(false);
  });

  test("keeps sign-outs across a restart", async (store, harness) => {
    await store.revokeSession("session-kept", inHours(1));
    const reopened = await harness.reopen();
    expect(await reopened.isSessionRevoked("session-kept")).toBe(true);
  });
}
