import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "../../src/errors.js";
import { forkServerPids, stopForkServers } from "../../src/kernel/forkserver.js";
import {
  chooseKernelSpec,
  findKernelSpecs,
  KernelClient,
  type KernelSpec,
  type Message,
} from "../../src/kernel/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

const tmp = guardKernelLeaks();
const spec = chooseKernelSpec(await findKernelSpecs(), { name: "python3" });

const started: KernelClient[] = [];
beforeEach(() => {
  delete process.env.NBHOOK_FORKSERVER;
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((k) => k.kill()));
  delete process.env.NBHOOK_FORKSERVER;
  delete process.env.NBHOOK_FORKSERVER_TEST;
});

async function start(
  s: KernelSpec = spec,
  options: Parameters<typeof KernelClient.start>[1] = {},
): Promise<KernelClient> {
  const kernel = await KernelClient.start(s, options);
  started.push(kernel);
  return kernel;
}

async function output(kernel: KernelClient, code: string): Promise<string> {
  let text = "";
  const onIopub = (m: Message) => {
    const c = m.content as { text?: string; data?: Record<string, string>; evalue?: string };
    text += c.text ?? c.data?.["text/plain"] ?? (c.evalue ? `error: ${c.evalue}` : "");
  };
  const reply = await kernel.execute(code, { onIopub });
  return reply.status === "aborted" ? output(kernel, code) : text;
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error("expected a rejection");
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return parentOf(pid) > 0 && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe("kernels forked from the fork server", () => {
  it("run code as distinct children of one fork server, whose command line names the temp folder", async () => {
    const a = await start();
    const b = await start();
    expect([a.startedBy, b.startedBy]).toEqual(["fork", "fork"]);
    const [server] = forkServerPids();
    expect(server).toBeDefined();
    expect(new Set([a.pid, b.pid, server, process.pid]).size).toBe(4);
    expect([parentOf(a.pid!), parentOf(b.pid!)]).toEqual([server, server]);
    expect(readFileSync(`/proc/${server}/cmdline`, "utf8")).toContain(tmp);
    await a.execute("x = 'a'");
    await b.execute("x = 'b'");
    expect(await output(a, "x")).toBe("'a'");
    expect(await output(b, "import os; os.getpid()")).toBe(String(b.pid));
  });

  it("see what a spawned kernel sees: cwd first on sys.path, environment, helpers, shell commands", async () => {
    const cwd = mkdtempSync(path.join(tmp, "nb-"));
    writeFileSync(path.join(cwd, "localmod.py"), "VALUE = 42\n");
    const env = { NBHOOK_RUN: '{"run_id": "r1"}', TZ: "Asia/Tokyo" };
    const probe = [
      "import json, os, sys, time, localmod, naas, nbhook",
      "env = {k: v for k, v in os.environ.items() if k not in ('IPYTHONDIR', 'NBHOOK_FORKSERVER')}",
      "print(json.dumps([sys.path, os.getcwd(), env, localmod.VALUE, naas.__name__, time.strftime('%Z'),",
      "  os.environ['IPYTHONDIR'] in get_ipython().profile_dir.location, sys.argv[0], sys.flags.dont_write_bytecode]))",
    ].join("\n");
    process.env.NBHOOK_FORKSERVER = "0";
    const spawned = await start(spec, { cwd, env });
    delete process.env.NBHOOK_FORKSERVER;
    const forked = await start(spec, { cwd, env });
    expect([spawned.startedBy, forked.startedBy]).toEqual(["spawn", "fork"]);
    const [fromSpawned, fromForked] = await Promise.all([output(spawned, probe), output(forked, probe)]);
    expect(JSON.parse(fromForked)).toEqual(JSON.parse(fromSpawned));
    const [sysPath, kernelCwd, kernelEnv] = JSON.parse(fromForked) as [
      string[],
      string,
      Record<string, string>,
    ];
    expect(sysPath[0]).toBe(cwd);
    expect(kernelCwd).toBe(cwd);
    expect(kernelEnv).toMatchObject({
      ...env,
      JPY_PARENT_PID: String(process.pid),
      PYDEVD_DISABLE_FILE_VALIDATION: "1",
    });
    expect(await output(forked, "!ls")).toContain("localmod.py");
    expect(await output(forked, "%pip --version")).toMatch(/^pip /);
  });

  it("start four at once, each with its own state", async () => {
    const kernels = await Promise.all([1, 2, 3, 4].map(() => start()));
    expect(kernels.map((k) => k.startedBy)).toEqual(["fork", "fork", "fork", "fork"]);
    await Promise.all(kernels.map((k, i) => k.execute(`x = ${i}`)));
    expect(await Promise.all(kernels.map((k) => output(k, "x")))).toEqual(["0", "1", "2", "3"]);
    expect(new Set(kernels.map((k) => k.pid)).size).toBe(4);
  });

  it("start several times faster than spawned kernels", async () => {
    await start(); // the fork server is up
    const times = async () => {
      const ms: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const k = await KernelClient.start(spec);
        ms.push(performance.now() - t0);
        await k.kill();
      }
      return median(ms);
    };
    process.env.NBHOOK_FORKSERVER = "0";
    const spawned = await times();
    delete process.env.NBHOOK_FORKSERVER;
    const forked = await times();
    expect(forked * 2).toBeLessThan(spawned);
  });

  it("report an exit mid-cell within about a second, with the exit code and stderr", async () => {
    const kernel = await start();
    const t0 = Date.now();
    const err = await rejection(
      kernel.execute(
        "import os, time\nos.write(2, b'last words before exit\\n')\ntime.sleep(0.1)\nos._exit(3)",
      ),
    );
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(err.code).toBe("kernel-died");
    expect(err.message).toContain("exited with code 3");
    expect(err.message).toContain("last words before exit");
    await expect(kernel.execute("1")).rejects.toThrow(/last words before exit/);
  });

  it("report a segfault by its signal", async () => {
    const kernel = await start();
    const err = await rejection(kernel.execute("import ctypes\nctypes.string_at(0)"));
    expect(err.code).toBe("kernel-died");
    expect(err.message).toMatch(/killed by SIG(SEGV|BUS)/);
  });

  it("are interrupted by SIGINT when a cell runs past its timeout, and stay usable", async () => {
    const kernel = await start();
    const err = await rejection(kernel.execute("while True: pass", { timeoutMs: 500 }));
    expect(err.code).toBe("timeout");
    expect(kernel.isAlive).toBe(true);
    expect(await output(kernel, "1+1")).toBe("2");
  });

  it("die with a killed fork server, which the next launch replaces", async () => {
    const victim = await start();
    const [server] = forkServerPids();
    process.kill(server!, "SIGKILL");
    const exit = await victim.exited;
    expect(exit.signal).toBe("SIGKILL");
    await expect(victim.execute("1")).rejects.toThrow(/fork server/);
    await until(() => !alive(victim.pid!));
    const next = await start();
    expect(next.startedBy).toBe("fork");
    expect(forkServerPids()).not.toContain(server);
    expect(parentOf(next.pid!)).toBe(forkServerPids()[0]);
    expect(await output(next, "1+1")).toBe("2");
  });

  it("see a kernel they killed exit even when the fork server is stopped", async () => {
    const kernel = await start();
    const [server] = forkServerPids();
    process.kill(server!, "SIGSTOP");
    try {
      const t0 = Date.now();
      expect(await kernel.kill()).toEqual({ code: null, signal: "SIGKILL" });
      expect(Date.now() - t0).toBeLessThan(8000);
    } finally {
      process.kill(server!, "SIGCONT");
    }
    expect(await output(await start(), "1+1")).toBe("2");
    expect(forkServerPids()).toEqual([server]);
  });

  it("kill their kernels and exit when their stdin closes (what Node's death does)", async () => {
    const kernel = await start();
    const [server] = forkServerPids();
    await stopForkServers();
    expect(await kernel.exited).toMatchObject({ signal: "SIGKILL" });
    expect(alive(server!)).toBe(false);
    await until(() => !alive(kernel.pid!));
  });

  it("get a new fork server when the environment changes; the old one leaves after its kernels", async () => {
    const old = await start();
    const [first] = forkServerPids();
    process.env.NBHOOK_FORKSERVER_TEST = "changed";
    const fresh = await start();
    expect(fresh.startedBy).toBe("fork");
    expect(await output(fresh, "import os; os.environ['NBHOOK_FORKSERVER_TEST']")).toBe("'changed'");
    expect(parentOf(fresh.pid!)).not.toBe(first);
    expect(alive(first!)).toBe(true); // still has `old`
    expect(await output(old, "1+1")).toBe("2");
    await old.shutdown();
    await until(() => !alive(first!));
  });
});

describe("falling back to spawn", () => {
  it("spawns when NBHOOK_FORKSERVER=0", async () => {
    process.env.NBHOOK_FORKSERVER = "0";
    const kernel = await start();
    expect(kernel.startedBy).toBe("spawn");
    expect(parentOf(kernel.pid!)).toBe(process.pid);
    expect(await output(kernel, "1+1")).toBe("2");
  });

  it("spawns kernels whose argv is not exactly the ipykernel launcher", async () => {
    const kernel = await start({
      ...spec,
      name: "py-custom",
      argv: [...spec.argv.slice(0, 3), "-f", "{connection_file}", "--debug"],
    });
    expect(kernel.startedBy).toBe("spawn");
  });

  it("spawns, with one warning, when the fork server misbehaves", async () => {
    const dir = mkdtempSync(path.join(tmp, "fake-"));
    const python = path.join(dir, "python3");
    const real = spec.argv[0]!;
    writeFileSync(
      python,
      `#!/bin/sh\ncase "$1" in *_forkserver.py) echo 'not json'; exec sleep 5;; esac\nexec ${real} "$@"\n`,
    );
    chmodSync(python, 0o755);
    const broken = { ...spec, name: "py-broken", argv: [python, ...spec.argv.slice(1)] };
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      const kernels = [await start(broken), await start(broken)];
      expect(kernels.map((k) => k.startedBy)).toEqual(["spawn", "spawn"]);
      expect(await output(kernels[1]!, "1+1")).toBe("2");
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => /fork server/.test(w.message))).toHaveLength(1);
      expect(warnings[0]!.message).toContain("not json");
    } finally {
      process.off("warning", onWarning);
    }
  });
});
