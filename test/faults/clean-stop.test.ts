/**
 * A clean stop (SIGTERM) of a real `nbhook serve` process that meets a pooled kernel still
 * starting: the server exits 0 with every kernel stopped and every kernel folder of
 * `<home>/kernels` removed ("a kernel's folder is removed when it ends"; only a killed server
 * leaves some, for the next start to sweep).
 *
 * The kernelspec `python3` is replaced (JUPYTER_PATH) by one that sleeps 1 s before it execs
 * ipykernel, and the stop comes as soon as the server serves: the pool's first kernel is still
 * starting. (A stop meets the same case by chance when a call has just taken the pool's ready
 * kernel and its replacement is starting.)
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  alive,
  processesMentioning,
  settled,
  startFaultServer,
  stopFaultServers,
  tempFolder,
  waitFor,
} from "../support/fault-server.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();
afterEach(stopFaultServers);

/** A Jupyter data folder whose `python3` kernel starts `delayS` seconds late. */
function slowPythonKernel(delayS: number): string {
  const jupyter = tempFolder("jupyter-");
  const spec = path.join(jupyter, "kernels", "python3");
  mkdirSync(spec, { recursive: true });
  const script = `sleep ${delayS}; exec /usr/bin/python3 -m ipykernel_launcher -f "$0"`;
  writeFileSync(
    path.join(spec, "kernel.json"),
    JSON.stringify({
      argv: ["/bin/sh", "-c", script, "{connection_file}"],
      display_name: "Python 3 (slow start)",
      language: "python",
    }),
  );
  return jupyter;
}

describe("a clean stop while a pooled kernel is starting", () => {
  it("exits 0, stops every kernel and removes every kernel folder", async () => {
    // SIGTERM as soon as it serves: the pool's first kernel is still starting (1 s late).
    const server = await startFaultServer({
      args: ["--pool", "1"],
      env: { JUPYTER_PATH: slowPythonKernel(1) },
    });
    const kernels = path.join(server.home, "kernels");
    await waitFor(
      "the pooled kernel's start",
      () => readdirSync(kernels).length > 0 && server.descendants().length > 0,
      10_000,
    );
    const tree = server.descendants();
    const exit = await server.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await settled(() => tree.filter(alive), 5000)).toEqual([]);
    expect(await settled(() => processesMentioning(server.home), 3000)).toEqual([]);
    const left = readdirSync(kernels).map(
      (name) => `${name}: ${readdirSync(path.join(kernels, name)).join(", ")}`,
    );
    expect(left, "kernel folders left by a clean stop").toEqual([]);
  });
});
