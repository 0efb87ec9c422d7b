/**
 * Kernel folders under the server's home: private (0700), swept at start, no connection file once
 * the kernel answers, no IPython history on disk — for spawned and forked kernels alike.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  chooseKernelSpec,
  findKernelSpecs,
  KernelClient,
  prepareKernelRuntimeDir,
  type Message,
} from "../../src/kernel/index.js";
import { filesUnder } from "../support/fault-server.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

const tmp = guardKernelLeaks();
const spec = chooseKernelSpec(await findKernelSpecs(), { name: "python3" });

const started: KernelClient[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((k) => k.shutdown()));
  delete process.env.NBHOOK_FORKSERVER;
});

async function output(kernel: KernelClient, code: string): Promise<string> {
  let text = "";
  const onIopub = (m: Message) => {
    const c = m.content as { text?: string; data?: Record<string, string> };
    text += c.text ?? c.data?.["text/plain"] ?? "";
  };
  await kernel.execute(code, { onIopub });
  return text;
}

describe("the kernels' folder", () => {
  it("is created private and emptied of what an earlier server left", async () => {
    const home = path.join(tmp, "home-sweep");
    mkdirSync(path.join(home, "kernels", "nbhook-k-left"), { recursive: true });
    writeFileSync(path.join(home, "kernels", "nbhook-k-left", "connection.json"), "{}");
    writeFileSync(path.join(home, "kernels", "stray-file"), "x");
    const { dir, swept } = await prepareKernelRuntimeDir(home);
    expect(dir).toBe(path.join(home, "kernels"));
    expect(swept).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  for (const how of ["fork", "spawn"] as const) {
    it(`holds a ${how}ed kernel without its connection file once connected, and no history of its cells`, async () => {
      if (how === "spawn") process.env.NBHOOK_FORKSERVER = "0";
      const { dir: runtimeDir } = await prepareKernelRuntimeDir(path.join(tmp, `home-${how}`));
      const kernel = await KernelClient.start(spec, { runtimeDir });
      started.push(kernel);
      expect(kernel.startedBy).toBe(how);
      const [own] = readdirSync(runtimeDir);
      expect(own).toMatch(/^nbhook-k-/);
      expect(existsSync(path.join(runtimeDir, own!, "connection.json"))).toBe(false);
      // Its IPython profile is its own user's only, whoever wrote it (a forked kernel's process
      // writes its files itself).
      const ipython = path.join(runtimeDir, own!, "ipython");
      expect(statSync(ipython).mode & 0o777).toBe(0o700);
      expect(statSync(path.join(ipython, "profile_default")).mode & 0o777).toBe(0o700);
      expect(statSync(path.join(ipython, "profile_default", "ipython_kernel_config.json")).mode & 0o777).toBe(
        0o600,
      );

      expect(await output(kernel, "password = 'SECRET-" + how + "-4242'\n1 + 1")).toBe("2");
      expect(await output(kernel, "get_ipython().history_manager.enabled")).toBe("False");
      const leaked = filesUnder(runtimeDir).filter((file) =>
        readFileSync(file).includes(`SECRET-${how}-4242`),
      );
      expect(leaked).toEqual([]);

      await kernel.shutdown();
      started.pop();
      expect(readdirSync(runtimeDir)).toEqual([]);
    });
  }
});
