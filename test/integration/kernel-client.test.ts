import { afterEach, describe, expect, it } from "vitest";
import { AppError } from "../../src/errors.js";
import { chooseKernelSpec, findKernelSpecs, KernelClient, type Message } from "../../src/kernel/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();

const started: KernelClient[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((k) => k.kill()));
});

async function python(): Promise<KernelClient> {
  const spec = chooseKernelSpec(await findKernelSpecs(), { name: "python3" });
  const kernel = await KernelClient.start(spec);
  started.push(kernel);
  return kernel;
}

function collect(): { msgs: [string, Record<string, unknown>][]; onIopub: (m: Message) => void } {
  const msgs: [string, Record<string, unknown>][] = [];
  return { msgs, onIopub: (m) => msgs.push([m.header.msg_type, m.content]) };
}

/**
 * After a failed cell ipykernel aborts requests that reach it within a short window
 * (stop_on_error); a client that goes on must expect one `aborted` reply.
 */
async function executeAfterError(kernel: KernelClient, code: string) {
  const first = await kernel.execute(code);
  return first.status === "aborted" ? kernel.execute(code) : first;
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

describe("KernelClient against Debian's ipykernel", () => {
  it("runs code and delivers every output of the request before resolving", async () => {
    const kernel = await python();
    expect(kernel.info.language_info?.name).toBe("python");
    const { msgs, onIopub } = collect();
    const reply = await kernel.execute("for i in range(200): print(i)\n'done'", { onIopub });
    expect(reply.status).toBe("ok");
    const text = msgs
      .filter(([t]) => t === "stream")
      .map(([, c]) => c.text)
      .join("");
    expect(text).toBe(Array.from({ length: 200 }, (_, i) => `${i}\n`).join(""));
    expect(msgs.at(-1)).toEqual([
      "execute_result",
      expect.objectContaining({ data: { "text/plain": "'done'" } }),
    ]);
  });

  it("answers the heartbeat and shuts down cleanly", async () => {
    const kernel = await python();
    expect(await kernel.ping()).toBe(true);
    // A generous grace: on a loaded machine the exit after the reply can take over the default 2 s.
    const exit = await kernel.shutdown(10_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(kernel.isAlive).toBe(false);
    expect(await kernel.ping(200)).toBe(false);
  });

  it("reports an error reply with its name and value", async () => {
    const kernel = await python();
    const { msgs, onIopub } = collect();
    const reply = await kernel.execute("1/0", { onIopub });
    expect(reply).toMatchObject({ status: "error", ename: "ZeroDivisionError", evalue: "division by zero" });
    expect(msgs.map(([t]) => t)).toEqual(["error"]);
  });

  it("detects a kernel that exits mid-cell within about a second, with its exit code and stderr", async () => {
    const kernel = await python();
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
    await expect(kernel.execute("1")).rejects.toThrow(/exited with code 3/);
  });

  it("detects a segfault and names the signal", async () => {
    const kernel = await python();
    const err = await rejection(kernel.execute("import ctypes\nctypes.string_at(0)"));
    expect(err.code).toBe("kernel-died");
    expect(err.message).toMatch(/killed by SIG(SEGV|BUS)/);
  });

  it("interrupts a cell that runs past its timeout and keeps the kernel usable", async () => {
    const kernel = await python();
    const t0 = Date.now();
    const err = await rejection(kernel.execute("while True: pass", { timeoutMs: 500 }));
    expect(err.code).toBe("timeout");
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(kernel.isAlive).toBe(true);
    expect((await executeAfterError(kernel, "1+1")).status).toBe("ok");
  });

  it("interrupts by control message when the kernelspec's interrupt_mode is message", async () => {
    const spec = chooseKernelSpec(await findKernelSpecs(), { name: "python3" });
    const kernel = await KernelClient.start({ ...spec, interruptMode: "message" });
    started.push(kernel);
    const err = await rejection(
      kernel.execute("import time\nwhile True: time.sleep(0.01)", { timeoutMs: 500 }),
    );
    expect(err.code).toBe("timeout");
    expect(kernel.isAlive).toBe(true);
    expect((await executeAfterError(kernel, "1+1")).status).toBe("ok");
  });

  it("reports a SIGKILL (what the OOM killer sends) as a likely out-of-memory death", async () => {
    const kernel = await python();
    const err = await rejection(kernel.execute("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"));
    expect(err.code).toBe("kernel-died");
    expect(err.message).toContain("killed by SIGKILL (out of memory, or killed)");
  });

  it("kills a kernel whose cell ignores the interrupt, after the grace period", async () => {
    const kernel = await python();
    const code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)";
    const err = await rejection(kernel.execute(code, { timeoutMs: 300, graceMs: 300 }));
    expect(err.code).toBe("timeout");
    await kernel.exited;
    expect(kernel.isAlive).toBe(false);
  });

  it("fails input() at once instead of waiting for stdin", async () => {
    const kernel = await python();
    const t0 = Date.now();
    const reply = await kernel.execute("name = input('name? ')", { timeoutMs: 10_000 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(reply).toMatchObject({ status: "error", ename: "StdinNotImplementedError" });
  });

  it("starts four kernels at once without port clashes, each with its own state", async () => {
    const spec = chooseKernelSpec(await findKernelSpecs(), { name: "python3" });
    const kernels = await Promise.all([1, 2, 3, 4].map(() => KernelClient.start(spec)));
    started.push(...kernels);
    await Promise.all(kernels.map((k, i) => k.execute(`x = ${i}`)));
    const values = await Promise.all(
      kernels.map(async (k) => {
        const { msgs, onIopub } = collect();
        await k.execute("x", { onIopub });
        return (msgs[0]![1].data as Record<string, string>)["text/plain"];
      }),
    );
    expect(values).toEqual(["0", "1", "2", "3"]);
    expect(new Set(kernels.map((k) => k.pid)).size).toBe(4);
  });
});
