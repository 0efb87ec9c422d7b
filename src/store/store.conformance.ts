/**
 * @module The store conformance suite: the behaviour every `Store` implementation must have,
 * checked through the `Store` interface only. An implementation's test file runs it once:
 *
 *     describeStoreConformance("SqliteStore", async () => {
 *       let store = new SqliteStore(home);   // fresh, empty data for each case
 *       return { store, reopen: async () => …, close: async () => … };
 *     }, { skip: { "case title": "why it cannot pass here" } });
 *
 * Cases live in `conformance/`, one file per part of the interface.
 */
import { describe, it } from "vitest";
import { type DeclareCase, type StoreHarness } from "./conformance/harness.conformance.js";
import { outputCases, restartCases } from "./conformance/outputs.conformance.js";
import { runCases } from "./conformance/runs.conformance.js";
import { secretCases } from "./conformance/secrets.conformance.js";
import { sessionCases } from "./conformance/sessions.conformance.js";
import { tokenCases } from "./conformance/tokens.conformance.js";
import { fileCases, versionCases } from "./conformance/versions.conformance.js";
import { webhookCases } from "./conformance/webhooks.conformance.js";
import { nameCases } from "./conformance/names.conformance.js";

export type { StoreHarness } from "./conformance/harness.conformance.js";

export interface ConformanceOptions {
  /** Cases not run for this implementation: case title → why (a reason is required). */
  skip?: Record<string, string>;
}

const GROUPS: [group: string, declare: (test: DeclareCase) => void][] = [
  ["webhooks", webhookCases],
  ["webhook names", nameCases],
  ["versions", versionCases],
  ["dependency files and folders", fileCases],
  ["runs", runCases],
  ["outputs", outputCases],
  ["restart", restartCases],
  ["dashboard sessions", sessionCases],
  ["secrets", secretCases],
  ["API tokens", tokenCases],
];

type Case = { group: string; title: string; body: Parameters<DeclareCase>[1] };

function collectCases(): Case[] {
  const cases: Case[] = [];
  for (const [group, declare] of GROUPS) declare((title, body) => cases.push({ group, title, body }));
  return cases;
}

/**
 * Declares `describe("Store conformance: <name>")` with every case of store behaviour, grouped by
 * part of the interface. `open` is called once per case and must give a store on fresh, empty
 * data; the case ends by calling the harness's `close` (which also removes the data). A skip
 * naming no case, or without a reason, is an error.
 */
export function describeStoreConformance(
  name: string,
  open: () => Promise<StoreHarness>,
  options: ConformanceOptions = {},
): void {
  const skip = options.skip ?? {};
  const cases = collectCases();
  const titles = new Set(cases.map((c) => c.title));
  if (titles.size !== cases.length) throw new Error("two store conformance cases have the same title");
  for (const [title, reason] of Object.entries(skip)) {
    if (!titles.has(title)) throw new Error(`the skip of "${title}" names no store conformance case`);
    if (!reason.trim()) throw new Error(`the skip of "${title}" needs a reason`);
  }
  describe(`Store conformance: ${name}`, () => {
    for (const [group] of GROUPS) {
      describe(group, () => {
        for (const { title, body } of cases.filter((c) => c.group === group)) {
          const reason = skip[title];
          if (reason !== undefined) {
            it.skip(`${title} (skipped: ${reason})`, () => {});
            continue;
          }
          it(title, async () => {
            const harness = await open();
            try {
              await body(harness.store, harness);
            } finally {
              await harness.close();
            }
          });
        }
      });
    }
  });
}
