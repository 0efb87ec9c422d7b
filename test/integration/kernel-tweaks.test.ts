/**
 * The kernel tweaks (python/nbhook/_kernel_tweaks.py, loaded by nbhook's ipython_kernel_config.json):
 * every ipykernel kernel nbhook starts, spawned or forked, gets them unless NBHOOK_KERNEL_TWEAKS=0,
 * and nothing a client sees changes: a cell's stream outputs all arrive before its `idle` (the
 * client drops what comes after), whatever the IOPub thread is doing when the cell ends, and
 * control-channel requests (interrupt, shutdown) still reach a kernel busy with a cell; what a
 * subprocess writes to fd 1 or 2 is in its cell, in order with the cell's prints.
 */
import { afterEach, describe, expect, it } from "vitest";
import { chooseKernelSpec, findKernelSpecs, KernelClient, type KernelSpec } from "../../src/kernel/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();
const spec: KernelSpec = chooseKernelSpec(await findKernelSpecs(), { name: "python3" });

const started: KernelClient[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((k) => k.kill()));
  delete process.env.NBHOOK_FORKSERVER;
});

type How = "spawn" | "fork";
async function start(
  how: How,
  options: Parameters<typeof KernelClient.start>[1] = {},
  kernelSpec: KernelSpec = spec,
): Promise<KernelClient> {
  if (how === "spawn") process.env.NBHOOK_FORKSERVER = "0";
  try {
    const kernel = await KernelClient.start(kernelSpec, options);
    started.push(kernel);
    expect(kernel.startedBy).toBe(how);
    return kernel;
  } finally {
    delete process.env.NBHOOK_FORKSERVER;
  }
}

/** What a cell printed (streams, per name, joined) and its result, as the client got them by `idle`. */
async function run(
  kernel: KernelClient,
  code: string,
): Promise<{ status: string; out: string; err: string; result?: string }> {
  let out = "";
  let err = "";
  let result: string | undefined;
  const reply = await kernel.execute(code, {
    onIopub: (m) => {
      if (m.msg_type === "stream") {
        if (m.content.name === "stdout") out += m.content.text;
        else err += m.content.text;
      } else if (m.msg_type === "execute_result") {
        result = String((m.content.data as Record<string, unknown>)["text/plain"]);
      }
    },
  });
  return { status: reply.status, out, err, ...(result !== undefined ? { result } : {}) };
}

const APPLIED =
  "import nbhook._kernel_tweaks as t, ipykernel.iostream as s\n" +
  "'%s | %s | %s' % (' '.join(t.applied), t.skipped, s.OutStream.flush.__name__)";

describe("the kernel tweaks", () => {
  for (const how of ["spawn", "fork"] as const) {
    it(`are applied in a ${how}ed kernel, and not with NBHOOK_KERNEL_TWEAKS=0`, async () => {
      const on = await start(how);
      expect((await run(on, APPLIED)).result).toBe(
        "'lazy-flush fd-in-order no-control-flush cell-id-check-cached | None | draining_flush'",
      );
      // A forked kernel applies them before ipykernel makes its streams: nbhook's fd forwarders
      // from the start; a spawned one replaces ipykernel's watcher threads when the extension loads.
      const forwarders = "[(f.stream.name, f.replaced, f.thread.is_alive()) for f in t._forwarders]";
      const replaced = how === "spawn" ? "True" : "False";
      expect((await run(on, forwarders)).result).toBe(
        `[('stdout', ${replaced}, True), ('stderr', ${replaced}, True)]`,
      );
      const off = await start(how, { env: { NBHOOK_KERNEL_TWEAKS: "0" } });
      expect((await run(off, APPLIED)).result).toBe("' | off (NBHOOK_KERNEL_TWEAKS=0) | flush'");
    });
  }

  it("keep every stream output of a cell before its idle, whatever the IOPub thread is doing", async () => {
    // Cells whose end meets the IOPub thread in each state: nothing written, written and not yet
    // flushed, its timed flush (0.2 s after a write) due just then or running, written by another
    // thread, big enough to take a while to send. Without the flush at the cell's end, the text
    // would leave after `idle` and the client would not see it.
    const cells: [string, string, string][] = [];
    for (let i = 0; i < 12; i++) {
      const pause = (0.19 + i * 0.002).toFixed(3);
      cells.push([`print('a${i}')`, `a${i}\n`, ""]);
      cells.push([
        `import sys, time\nprint('b${i}'); time.sleep(${pause}); print('c${i}', file=sys.stderr)`,
        `b${i}\n`,
        `c${i}\n`,
      ]);
      cells.push([`print('d${i}'); time.sleep(${pause})`, `d${i}\n`, ""]);
      cells.push([
        `import threading\nt = threading.Thread(target=print, args=('e${i}',)); t.start(); t.join()`,
        `e${i}\n`,
        "",
      ]);
      cells.push([`x = ${i}`, "", ""]);
    }
    cells.push(["print('z' * 300000)", `${"z".repeat(300000)}\n`, ""]);
    for (const how of ["spawn", "fork"] as const) {
      const kernel = await start(how);
      for (const [code, out, err] of cells) {
        const got = await run(kernel, code);
        expect({ code, status: got.status, out: got.out, err: got.err }).toEqual({
          code,
          status: "ok",
          out,
          err,
        });
      }
    }
  });

  it("put what a subprocess wrote to fd 1 and 2 in its cell, before what the cell prints after it", async () => {
    // ipykernel's own fd watcher thread copies it whenever it runs: on a loaded machine the cell
    // has ended by then (the text lands in the next cell) or printed past it. The competing
    // threads here (a busy one holding the GIL) make that likely without the tweak.
    const busy =
      "import threading, time\nstop = False\ndef spin():\n    while not stop: pass\nthreading.Thread(target=spin, daemon=True).start()";
    const cell = (i: number) =>
      `import subprocess, sys\nsubprocess.run(['sh', '-c', 'echo o${i}; echo e${i} >&2'])\nprint('p${i}')\n` +
      `print('q${i}', file=sys.stderr)\nsubprocess.run(['echo', 'r${i}'])\n${i}`;
    for (const how of ["spawn", "fork"] as const) {
      const kernel = await start(how);
      expect((await run(kernel, busy)).status).toBe("ok");
      for (let i = 0; i < 15; i++) {
        expect(await run(kernel, cell(i))).toEqual({
          status: "ok",
          out: `o${i}\np${i}\nr${i}\n`,
          err: `e${i}\nq${i}\n`,
          result: String(i),
        });
      }
      // Forwarded while nothing else is written, a UTF-8 character split between two reads
      // included (ipykernel 6's watcher dies on one, and every later fd write is lost).
      const long =
        "import os, time\nos.write(1, b'x' + 'é'.encode() * 3000 + b'\\n')\ntime.sleep(0.5)\n" +
        "os.write(1, b'later\\n')\ntime.sleep(0.5)";
      const got = await run(kernel, long);
      expect(got.out).toBe(`x${"é".repeat(3000)}\nlater\n`);
      expect((await run(kernel, "subprocess.run(['echo', 'still'])\nstop = True")).out).toBe("still\n");
    }
  });

  it("let an interrupt_request over the control channel stop a running cell", async () => {
    const byMessage: KernelSpec = { ...spec, interruptMode: "message" };
    for (const how of ["spawn", "fork"] as const) {
      const kernel = await start(how, {}, byMessage);
      let out = "";
      let onStarted = () => {};
      const started = new Promise<void>((resolve) => (onStarted = resolve));
      const running = kernel.execute(
        "import time\nprint('started', flush=True)\nfor _ in range(100): time.sleep(0.05)\n'finished'",
        {
          onIopub: (m) => {
            if (m.msg_type === "stream") out += m.content.text;
            if (out.includes("started")) onStarted();
          },
        },
      );
      await started; // the cell runs: the interrupt comes while the kernel is busy
      await kernel.interrupt();
      const reply = await running;
      expect(reply.status).toBe("error");
      expect(reply.ename).toBe("KeyboardInterrupt");
      expect(out).toBe("started\n");
      // ipykernel aborts requests that arrive while it still aborts after the error (its
      // stop_on_error window, an event-loop turn): a loaded machine can put the next one in it.
      let after = await run(kernel, "'still alive'");
      for (let i = 0; i < 3 && after.status === "aborted"; i++) after = await run(kernel, "'still alive'");
      expect(after).toMatchObject({ status: "ok", result: "'still alive'" });
    }
  });

  it("let a shutdown_request over the control channel end a kernel busy with a cell", async () => {
    for (const how of ["spawn", "fork"] as const) {
      const kernel = await start(how);
      let onStarted = () => {};
      const started = new Promise<void>((resolve) => (onStarted = resolve));
      const running = kernel
        .execute("import time\nprint('started', flush=True)\nfor _ in range(20): time.sleep(0.05)", {
          onIopub: (m) => {
            if (m.msg_type === "stream") onStarted();
          },
        })
        .catch((err: unknown) => err);
      await started;
      expect(await kernel.shutdown()).toEqual({ code: 0, signal: null });
      await running;
    }
  });
});
