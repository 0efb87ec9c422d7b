/**
 * Stray-process checks for tests that start kernels. Each test file gives its kernels a private
 * TMPDIR (their connection files live there), so leftover processes of this file can be found by
 * that folder in their command line, whatever other test files run at the same time.
 *
 * Forked kernels carry the command line of their fork server, which names the same folder (it is
 * started with the kernels' temp root as an argument). The fork servers of this process are the
 * only processes allowed to mention the folder while kernels are checked; they are then stopped,
 * and nothing at all may mention it afterwards.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect } from "vitest";
import { forkServerPids, stopForkServers } from "../../src/kernel/forkserver.js";

/** The processes whose command line mentions `text` (`pgrep -af`), pgrep and `except` left out. */
export function processesMentioning(text: string, except: number[] = []): string[] {
  try {
    const out = execFileSync("pgrep", ["-af", text], { encoding: "utf8" });
    return out.split("\n").filter((line) => {
      const pid = Number(line.trim().split(" ")[0]);
      return line.trim() && !line.includes("pgrep") && !except.includes(pid);
    });
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * Polls `list` every 100 ms until it is empty or `withinMs` has passed; returns its last value.
 * By default 2 s: kernels get up to a second to exit after shutdown.
 */
export async function settled<T>(list: () => T[], withinMs = 2000): Promise<T[]> {
  const deadline = Date.now() + withinMs;
  let left = list();
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = list();
  }
  return left;
}

/**
 * Points this test file's kernels at a private temp folder and fails the file if any process
 * started under it is still running when the file ends (or anything is left in the folder).
 */
export function guardKernelLeaks(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nbhook-test-"));
  process.env.TMPDIR = dir;
  afterAll(async () => {
    const kernels = await settled(() => processesMentioning(dir, forkServerPids()));
    await stopForkServers();
    const servers = await settled(() => processesMentioning(dir));
    rmSync(dir, { recursive: true, force: true });
    expect(kernels, "kernel processes left running by this test file").toEqual([]);
    expect(servers, "kernel fork servers left running by this test file").toEqual([]);
  });
  return dir;
}
