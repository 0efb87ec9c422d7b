/**
 * Kernels where data people keep them: a real virtual environment (`python3 -m venv`), active
 * through VIRTUAL_ENV, holds kernelspecs in `<venv>/share/jupyter/kernels`; the server finds them
 * and runs notebooks on them — ipykernel's bare `python` argv on the venv's own Python — and a
 * notebook naming no installed kernel gets an answer saying how to install or register one.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import type { Notebook } from "../../src/notebook/types.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook } from "../support/notebooks.js";

guardKernelLeaks();

// Debian's python3 with the system's packages (ipykernel) visible, no pip: ~1 s.
const venv = mkdtempSync(path.join(os.tmpdir(), "nbhook-venv-"));
execFileSync("/usr/bin/python3", ["-m", "venv", "--without-pip", "--system-site-packages", venv]);

function kernel(name: string, argv0: string): void {
  const dir = path.join(venv, "share", "jupyter", "kernels", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "kernel.json"),
    JSON.stringify({
      argv: [argv0, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
      display_name: `venv ${name}`,
      language: "python",
      env: { NBHOOK_TEST_SPEC: name },
    }),
  );
}
kernel("venv-bare", "python"); // as `pip install ipykernel` writes it into every env
kernel("venv-abs", "/usr/bin/python3");
// Each test file runs in its own process: this is the server's environment only.
process.env.VIRTUAL_ENV = venv;

let server: RunningServer;
beforeAll(async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "venv-home-"));
  const config = resolveServerConfig({ host: "127.0.0.1", port: 0, home, poolSize: 0 }, {});
  server = await startServer(config, { logger: false });
});
afterAll(async () => server?.close());

let deployed = 0;
async function call(kernelName: string, language = "python"): Promise<Response> {
  const store = server.deps.store;
  const webhook = await store.upsertWebhook({
    path: `/work/venv/nb-${deployed++}.ipynb`,
    params: {},
    debug: false,
    timeoutMs: 60_000,
  });
  const nb: Notebook = makeNotebook([
    "import os, sys, naas\n" +
      "naas.webhook.respond_json({'prefix': sys.prefix, 'executable': sys.executable, " +
      "'spec': os.environ.get('NBHOOK_TEST_SPEC')})",
  ]);
  nb.metadata.kernelspec = { name: kernelName, display_name: kernelName, language } as never;
  delete (nb.metadata as { language_info?: unknown }).language_info;
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(nb)));
  return fetch(`${server.url}/notebook/${webhook.token}`);
}

describe("kernelspecs of the active virtual environment", () => {
  it("runs ipykernel's bare `python` argv on the venv's own Python", async () => {
    const res = await call("venv-bare");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      prefix: venv,
      executable: path.join(venv, "bin", "python"),
      spec: "venv-bare",
    });
  });

  it("uses the spec found there (its argv and env) when it names another Python", async () => {
    const res = await call("venv-abs");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ prefix: "/usr", executable: "/usr/bin/python3", spec: "venv-abs" });
  });

  it("answers a notebook naming no installed kernel with how to install or register one", async () => {
    const res = await call("no-such-kernel-anywhere", "cobol");
    const body = (await res.json()) as { error: string; message: string };
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(body.message).toContain("venv-bare");
    expect(body.message).toContain("python3 -m ipykernel install --user");
    expect(body.message).toContain('python -m ipykernel install --prefix "$VIRTUAL_ENV"');
    expect(body.message).toContain("conda install ipykernel");
    expect(body.message).toContain(`${venv}/share/jupyter/kernels (VIRTUAL_ENV)`);
  });
});
