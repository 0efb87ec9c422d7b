/**
 * Stray-process checks for tests that start kernels. Each test file gives its kernels a private
 * TMPDIR (their connection files live there), so leftover processes of this file can be found by
 * that folder in their command line, whatever other test files run at the same time.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect } from "vitest";

function processesMentioning(text: string): string[] {
  try {
    const out = execFileSync("pgrep", ["-af", text], { encoding: "utf8" });
    return out.split("\n").filter((line) => line.trim() && !line.includes("pgrep"));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * Points this test file's kernels at a private temp folder and fails the file if any process
 * started under it is still running when the file ends (or anything is left in the folder).
 */
export function guardKernelLeaks(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nbhook-test-"));
  process.env.TMPDIR = dir;
  afterAll(async () => {
    // Kernels get up to a second to exit after shutdown; poll briefly before calling it a leak.
    let strays = processesMentioning(dir);
    for (let i = 0; i < 20 && strays.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      strays = processesMentioning(dir);
    }
    rmSync(dir, { recursive: true, force: true });
    expect(strays, "kernel processes left running by this test file").toEqual([]);
  });
  return dir;
}
