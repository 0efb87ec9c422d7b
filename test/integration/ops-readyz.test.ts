/**
 * GET /readyz says 503, with what failed and what to do, when the store is gone or no kernel can
 * be had (a kernelspec whose executable does not exist, first on JUPYTER_PATH; each test file runs
 * in its own process, so the variable is this file's alone).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { startServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();

const jupyter = mkdtempSync(path.join(os.tmpdir(), "nbhook-missing-python-"));
const spec = path.join(jupyter, "kernels", "python3", "kernel.json");
mkdirSync(path.dirname(spec), { recursive: true });
writeFileSync(
  spec,
  JSON.stringify({
    argv: [path.join(jupyter, "no-such-python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
    display_name: "Python 3 (gone)",
    language: "python",
  }),
);
process.env.JUPYTER_PATH = jupyter;

interface NotReady {
  error: string;
  message: string;
  checks: { name: string; ok: boolean; message: string }[];
}

const home = () => mkdtempSync(path.join(os.tmpdir(), "readyz-home-"));

describe("GET /readyz", () => {
  it("is 503 naming the store when the database is closed", async () => {
    const server = await startServer(
      resolveServerConfig({ host: "127.0.0.1", port: 0, home: home(), poolSize: 0 }, {}),
    );
    try {
      await server.deps.store.close();
      const res = await fetch(`${server.url}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as NotReady;
      expect(body.error).toBe("not-ready");
      expect(body.message).toMatch(
        /^not ready: store: the database does not answer: .*check that it is running/,
      );
      expect(body.checks.find((c) => c.name === "store")).toMatchObject({ ok: false });
      // Liveness is not readiness: the process still answers.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it("is 503 naming the kernel and its error when no kernel can be started", async () => {
    const server = await startServer(
      resolveServerConfig({ host: "127.0.0.1", port: 0, home: home(), poolSize: 1 }, {}),
    );
    try {
      // The pool tries python3 at start-up, in the background: its failure is what readyz reports.
      await expect.poll(async () => (await fetch(`${server.url}/readyz`)).status).toBe(503);
      const body = (await (await fetch(`${server.url}/readyz`)).json()) as NotReady;
      const kernels = body.checks.find((c) => c.name === "kernels")!;
      expect(kernels.ok).toBe(false);
      expect(kernels.message).toContain("python3:");
      expect(kernels.message).toContain("fix the kernelspec or install the kernel's package");
      expect(body.checks.find((c) => c.name === "store")!.ok).toBe(true);
    } finally {
      await server.close();
    }
  });
});
