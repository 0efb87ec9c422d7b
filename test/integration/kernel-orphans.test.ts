import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();

/**
 * Starts a kernel in a separate Node process (the built dist/, as `npm test` builds first), then
 * SIGKILLs that process: no cleanup of ours can run.
 */
async function orphanAfterParentKill(kernel: string): Promise<number> {
  const script = `
    const { chooseKernelSpec, findKernelSpecs, KernelClient } = await import(${JSON.stringify(new URL("../../dist/kernel/index.js", import.meta.url).pathname)});
    const k = await KernelClient.start(chooseKernelSpec(await findKernelSpecs(), { name: ${JSON.stringify(kernel)} }));
    console.log(k.pid);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, NBHOOK_FORKSERVER: "0" },
  });
  const pid = await new Promise<number>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`helper exited ${code}`)));
  });
  child.kill("SIGKILL");
  return pid;
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe("kernels whose nbhook process is SIGKILLed", () => {
  it.each(["deno", "python3"])("a spawned %s kernel dies with its parent", async (kernel) => {
    const pid = await orphanAfterParentKill(kernel);
    const died = await gone(pid, 3000);
    if (!died) process.kill(pid, "SIGKILL");
    expect(died).toBe(true);
  });
});
