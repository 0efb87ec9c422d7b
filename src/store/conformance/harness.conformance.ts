/**
 * @module What the store conformance suite's cases share: the harness an implementation gives
 * (a fresh store, a restart, a clean-up), the way a case is declared, and small fixtures.
 */
import { expect } from "vitest";
import { AppError, type ErrorCode } from "../../errors.js";
import type { NewWebhook, Run, Store, KeptAnswer, Webhook, WebhookVersion } from "../types.js";

/** One fresh store, as an implementation's test file opens it for each case. */
export interface StoreHarness {
  /** A store on fresh, empty data. */
  store: Store;
  /** Closes the current store and opens another on the same data (a server restart); returns it. */
  reopen(): Promise<Store>;
  /** Closes the current store and removes its data. */
  close(): Promise<void>;
}

/** Declares one case: `body` gets a fresh store (and its harness, for a restart). */
export type DeclareCase = (
  title: string,
  body: (store: Store, harness: StoreHarness) => Promise<void>,
) => void;

export const HOOK_PATH = "/home/u/report.ipynb";

export function newHook(more: Partial<NewWebhook> = {}): NewWebhook {
  return { path: HOOK_PATH, params: { inline: true }, debug: false, timeoutMs: 300_000, ...more };
}

/** A small nbformat v4 notebook, different for each `n`. */
export function notebook(n: number): Buffer {
  return Buffer.from(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [], n }));
}

/** Every byte value, up and down: what a binary answer or file must survive. */
export const ALL_BYTES = Buffer.from([
  ...Array.from({ length: 256 }, (_, i) => i),
  ...Array.from({ length: 256 }, (_, i) => 255 - i),
]);

/** Waits long enough for the clock to move on (times are kept to the millisecond). */
export function later(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 10));
}

export async function expectAppError(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const thrown = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(thrown, `expected AppError "${code}"`).toBeInstanceOf(AppError);
  expect(thrown).toMatchObject({ code });
}

/** A webhook with one version, ready to run. */
export async function deployed(
  store: Store,
  more: Partial<NewWebhook> = {},
): Promise<{ webhook: Webhook; version: WebhookVersion }> {
  const webhook = await store.upsertWebhook(newHook(more));
  const version = await store.addVersion(webhook.id, notebook(1));
  return { webhook, version };
}

export function newRun(
  store: Store,
  webhook: Webhook,
  version: WebhookVersion,
  queued = false,
): Promise<Run> {
  return store.createRun({ webhookId: webhook.id, versionHisto: version.histo, parameters: {}, queued });
}

/** Finishes a run as `ok` (200), keeping `answer` when given. */
export function finishOk(store: Store, runId: string, answer?: KeptAnswer): Promise<Run> {
  return store.finishRun(runId, { status: "ok", durationMs: 5, error: null, httpStatus: 200, answer });
}

export function isTime(value: string | null): boolean {
  return value !== null && !Number.isNaN(Date.parse(value));
}
