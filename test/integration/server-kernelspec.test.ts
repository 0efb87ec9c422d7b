/**
 * A broken kernel.json on the Jupyter paths does not break the server: calls still run on the
 * kernels that are fine, and the server logs a warning naming the file (once).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { captureLog } from "../support/log-capture.js";
import { makeNotebook } from "../support/notebooks.js";

guardKernelLeaks();

// A Jupyter data folder first on JUPYTER_PATH, holding one kernel.json that is not JSON. The
// system folder (/usr/share/jupyter) still gives python3. Each test file runs in its own process.
const jupyter = mkdtempSync(path.join(os.tmpdir(), "nbhook-broken-spec-"));
const broken = path.join(jupyter, "kernels", "broken", "kernel.json");
mkdirSync(path.dirname(broken), { recursive: true });
writeFileSync(broken, '{"argv": ["python3", ');
process.env.JUPYTER_PATH = jupyter;

const { lines: logLines, stream: logStream } = captureLog();

let server: RunningServer;
beforeAll(async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "spec-home-"));
  const config = resolveServerConfig({ host: "127.0.0.1", port: 0, home, poolSize: 0 }, {});
  server = await startServer(config, { logger: { level: "info", stream: logStream } });
});
afterAll(async () => server?.close());

describe("a broken kernel.json on the Jupyter paths", () => {
  it("is skipped with one warning naming it, and calls still run", async () => {
    const store = server.deps.store;
    const webhook = await store.upsertWebhook({
      path: "/work/spec/nb.ipynb",
      params: {},
      debug: false,
      timeoutMs: 60_000,
    });
    const cells = ["import naas\nnaas.webhook.respond_json({'ok': True})"];
    await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cells))));
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${server.url}/notebook/${webhook.token}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
    }
    const warnings = logLines.filter((line) => line.code === "kernelspec-invalid");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, file: broken, msg: expect.stringContaining(broken) });
  });
});
