import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KernelSpec } from "../kernel/index.js";
import { SqliteStore, type Webhook } from "../store/index.js";
import { prepareCall } from "./prepare-call.js";

const python: KernelSpec = {
  name: "python3",
  displayName: "Python 3",
  language: "python",
  argv: ["python3"],
  env: {},
  interruptMode: "signal",
  resourceDir: "/nowhere",
};
const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
const input = { query: { name: "caller" }, headers: {}, body: { kind: "none" as const } };

const version = (greeting: string) =>
  Buffer.from(
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
      cells: [
        {
          cell_type: "code",
          id: "p",
          metadata: { tags: ["parameters"] },
          source: "name = 'world'",
          outputs: [],
          execution_count: null,
        },
        {
          cell_type: "code",
          id: "r",
          metadata: {},
          source: `print('${greeting} ' + name)`,
          outputs: [],
          execution_count: null,
        },
      ],
    }),
  );

describe("prepareCall", () => {
  let home: string;
  let store: SqliteStore;
  beforeEach(() => {
    home = mkdtempSync(path.join(os.tmpdir(), "nbhook-prepare-"));
    store = new SqliteStore(home);
  });
  afterEach(async () => {
    await store.close();
    rmSync(home, { recursive: true, force: true });
  });

  const live = async (id: string): Promise<Webhook> => (await store.getWebhook(id))!;
  const deps = () => ({ store, findSpecs: async () => [python], log });

  it("parses a version once, frozen, and a newly deployed version afresh", async () => {
    const webhook = await store.upsertWebhook({
      path: "/n/greet.ipynb",
      params: {},
      debug: false,
      timeoutMs: 1000,
    });
    await store.addVersion(webhook.id, version("hello"));
    const first = await prepareCall(deps(), await live(webhook.id), input);
    const again = await prepareCall(deps(), await live(webhook.id), input);
    expect(again.notebook).toBe(first.notebook); // the version's parse, kept
    expect(Object.isFrozen(first.notebook.cells[1])).toBe(true);
    expect(() => {
      (first.notebook.cells[1] as { source: string }).source = "changed";
    }).toThrow(TypeError); // a reader that forgot to copy fails, instead of changing the next call
    expect(again.parameters).toMatchObject({ name: "caller" });

    await new Promise((r) => setTimeout(r, 2)); // a later histo
    await store.addVersion(webhook.id, version("goodbye"));
    const next = await prepareCall(deps(), await live(webhook.id), input);
    expect(next.versionHisto).not.toBe(first.versionHisto);
    expect(next.notebook.cells[1]!.source).toBe("print('goodbye ' + name)");
  });

  it("still refuses a version whose record is gone (404), whatever was parsed", async () => {
    const webhook = await store.upsertWebhook({
      path: "/n/greet.ipynb",
      params: {},
      debug: false,
      timeoutMs: 1000,
    });
    const v = await store.addVersion(webhook.id, version("hello"));
    const called = await live(webhook.id);
    await prepareCall(deps(), called, input);
    await store.deleteVersion(webhook.id, v.histo);
    await expect(prepareCall(deps(), called, input)).rejects.toMatchObject({ code: "not-found" });
  });
});
