import { afterEach, describe, expect, it, vi } from "vitest";
import { AppError } from "../errors.js";
import { FakeKernel, startFakeKernel, type FakeKernelOptions } from "../../test/support/fake-kernel.js";
import { KernelClient } from "./client.js";
import type { IopubOutput } from "./messages.js";

const fakes: FakeKernel[] = [];
const kernels: KernelClient[] = [];

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(kernels.splice(0).map((k) => k.kill()));
  for (const fake of fakes.splice(0)) {
    await fake.close();
    expect(fake.openSockets, "sockets the fake kernel left open").toBe(0);
    expect(
      fake.requests.filter((r) => r.problem),
      "requests that fail their schema",
    ).toEqual([]);
  }
});

async function start(setup: (fake: FakeKernel) => void, options: FakeKernelOptions = {}) {
  const { kernel, fake } = await startFakeKernel(setup, options);
  fakes.push(fake);
  kernels.push(kernel);
  return { kernel, fake };
}

function collect(): { msgs: IopubOutput[]; onIopub: (m: IopubOutput) => void } {
  const msgs: IopubOutput[] = [];
  return { msgs, onIopub: (m) => msgs.push(m) };
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

/** Fake clocks for timeout tests; socket I/O stays real, so only these are faked. */
function fakeClock(): void {
  vi.useFakeTimers({ now: new Date("2026-01-01T00:00:00Z"), toFake: ["setTimeout", "clearTimeout", "Date"] });
}

describe("KernelClient.execute against a scripted kernel", () => {
  it("completes when the reply comes before the idle, with every output in order", async () => {
    const { kernel } = await start((fake) =>
      fake.onExecute(async (_code, k) => {
        k.busy();
        k.executeInput();
        k.stream("stdout", "a");
        k.reply({ status: "ok", execution_count: k.count });
        // the reply is in well before these: only the idle may end the execute
        await k.sleep(20);
        k.display({ "text/plain": "0%" }, { displayId: "bar" });
        k.updateDisplay("bar", { "text/plain": "100%" });
        k.clearOutput(true);
        k.result({ "text/plain": "2" });
        k.idle();
      }),
    );
    const { msgs, onIopub } = collect();
    const reply = await kernel.execute("1+1", { onIopub });
    expect(reply).toEqual({ status: "ok", execution_count: 1 });
    // status and execute_input are the client's business, not the output handler's
    expect(msgs.map((m) => m.msg_type)).toEqual([
      "stream",
      "display_data",
      "update_display_data",
      "clear_output",
      "execute_result",
    ]);
  });

  it("completes when the idle comes before the reply, with every output", async () => {
    const { kernel } = await start((fake) =>
      fake.onExecute(async (_code, k) => {
        k.busy();
        k.stream("stderr", "warning\n");
        k.error("ValueError", "bad", ["tb"]);
        k.idle();
        await k.sleep(20);
        k.reply({
          status: "error",
          execution_count: k.count,
          ename: "ValueError",
          evalue: "bad",
          traceback: ["tb"],
        });
      }),
    );
    const { msgs, onIopub } = collect();
    const reply = await kernel.execute("raise ValueError('bad')", { onIopub });
    expect(reply).toMatchObject({ status: "error", ename: "ValueError", evalue: "bad", traceback: ["tb"] });
    expect(msgs.map((m) => m.msg_type)).toEqual(["stream", "error"]);
  });

  it("delivers outputs that a Deno kernel publishes after the idle", async () => {
    const { kernel, fake } = await start(
      (fake) =>
        fake.onExecute((_code, k) => {
          k.busy();
          k.reply({ status: "ok", execution_count: k.count });
          k.idle();
          k.display({ "text/plain": "late" });
        }),
      {
        spec: {
          name: "deno",
          argv: ["/opt/deno/deno", "jupyter", "--kernel", "--conn", "{connection_file}"],
        },
      },
    );
    const { msgs, onIopub } = collect();
    await kernel.execute("await display()", { onIopub });
    expect(msgs.map((m) => (m.msg_type === "display_data" ? m.content.data : m.msg_type))).toEqual([
      { "text/plain": "late" },
    ]);
    // the barrier is one kernel_info after the execute
    expect(fake.requests.at(-1)?.msgType).toBe("kernel_info_request");
  });

  it("fails a cell that asks for input at once: interrupts it and answers StdinNotImplementedError", async () => {
    const { kernel, fake } = await start((fake) =>
      fake.onExecute(async (_code, k) => {
        k.busy();
        k.inputRequest("name? ");
        await k.interrupted;
        await k.keyboardInterrupt();
      }),
    );
    const reply = await kernel.execute("input('name? ')");
    expect(fake.signals).toEqual(["SIGINT"]);
    expect(reply).toMatchObject({ status: "error", ename: "StdinNotImplementedError" });
    expect(reply.evalue).toMatch(/asked for input/);
  });

  it("interrupts with an interrupt_request when the kernelspec says so", async () => {
    const { kernel, fake } = await start(
      (fake) =>
        fake.onExecute(async (_code, k) => {
          k.busy();
          k.inputRequest();
          await k.interrupted;
          await k.keyboardInterrupt();
        }),
      { spec: { interruptMode: "message" } },
    );
    const reply = await kernel.execute("input()");
    expect(reply.ename).toBe("StdinNotImplementedError");
    expect(fake.signals).toEqual([]);
    expect(fake.requests.map((r) => r.msgType)).toContain("interrupt_request");
  });

  it("drops and records a message with a bad signature, and still completes the execute", async () => {
    const { kernel } = await start((fake) =>
      fake.onExecute((_code, k) => {
        k.busy();
        k.publish("stream", { name: "stdout", text: "forged" }, { badSignature: true });
        k.stream("stdout", "real");
        k.reply({ status: "ok", execution_count: k.count });
        k.idle();
      }),
    );
    const { msgs, onIopub } = collect();
    expect((await kernel.execute("x", { onIopub })).status).toBe("ok");
    expect(msgs.map((m) => (m.msg_type === "stream" ? m.content.text : m.msg_type))).toEqual(["real"]);
    expect(kernel.protocolErrors).toEqual([expect.stringMatching(/^iopub: .*invalid HMAC signature/)]);
  });

  it("drops and records an output whose content fails its schema", async () => {
    const { kernel } = await start((fake) =>
      fake.onExecute((_code, k) => {
        k.busy();
        k.publish("stream", { name: "stdout", text: 42 });
        k.reply({ status: "ok", execution_count: k.count });
        k.idle();
      }),
    );
    const { msgs, onIopub } = collect();
    expect((await kernel.execute("x", { onIopub })).status).toBe("ok");
    expect(msgs).toEqual([]);
    expect(kernel.protocolErrors).toEqual([expect.stringMatching(/invalid stream .*content\.text/)]);
  });

  it("fails the execute with a protocol error, instead of hanging, when its reply is invalid", async () => {
    const { kernel } = await start((fake) =>
      fake.onExecute((_code, k) => {
        k.busy();
        k.reply({ status: "maybe" });
        k.idle();
      }),
    );
    const err = await rejection(kernel.execute("x"));
    expect(err.code).toBe("protocol");
    expect(err.message).toMatch(/invalid execute_reply .*content\.status/);
    expect(kernel.isAlive).toBe(true);
  });

  it("fails the execute with a protocol error, instead of hanging, when its status is invalid", async () => {
    const { kernel } = await start((fake) =>
      fake.onExecute((_code, k) => {
        k.busy();
        k.reply({ status: "ok", execution_count: 1 });
        k.publish("status", { execution_state: "Idle" });
      }),
    );
    const err = await rejection(kernel.execute("x"));
    expect(err.code).toBe("protocol");
    expect(err.message).toMatch(/invalid status .*content\.execution_state/);
  });

  it("ignores message types it does not read", async () => {
    const { kernel } = await start((fake) =>
      fake.onExecute((_code, k) => {
        k.busy();
        k.publish("comm_open", { comm_id: "c", target_name: "t", data: {} });
        k.ok();
      }),
    );
    const { msgs, onIopub } = collect();
    expect((await kernel.execute("x", { onIopub })).status).toBe("ok");
    expect(msgs).toEqual([]);
    expect(kernel.protocolErrors).toEqual([]);
  });

  it("rejects with kernel-died naming the exit code and the kernel's last words when it dies mid-cell", async () => {
    const { kernel } = await start((fake) =>
      fake.onExecute((_code, k) => {
        k.busy();
        k.stream("stdout", "starting");
        fake.stderr = "Segfault in extension module\n";
        k.die({ code: 3 });
      }),
    );
    const err = await rejection(kernel.execute("crash()"));
    expect(err.code).toBe("kernel-died");
    expect(err.message).toMatch(/exited with code 3/);
    expect(err.message).toMatch(/Segfault in extension module/);
    expect(kernel.isAlive).toBe(false);
    expect(await kernel.exited).toEqual({ code: 3, signal: null });
  });

  it("names the signal when the kernel is killed mid-cell", async () => {
    const { kernel } = await start((fake) => fake.onExecute((_code, k) => k.die({ signal: "SIGKILL" })));
    const err = await rejection(kernel.execute("x"));
    expect(err.message).toMatch(/killed by SIGKILL \(out of memory, or killed\)/);
  });
});

describe("KernelClient cell timeouts (fake clock)", () => {
  it("interrupts a cell that runs over its timeout and rejects with timeout", async () => {
    const { kernel, fake } = await start((fake) =>
      fake.onExecute(async (_code, k) => {
        k.busy();
        await k.interrupted;
        await k.keyboardInterrupt();
      }),
    );
    fakeClock();
    const result = rejection(kernel.execute("while True: pass", { timeoutMs: 10_000, graceMs: 5_000 }));
    await fake.waitFor("execute_request");
    await vi.advanceTimersByTimeAsync(9_999);
    expect(fake.signals).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    const err = await result;
    expect(err.code).toBe("timeout");
    expect(err.message).toBe("cell timed out after 10 s");
    expect(fake.signals).toEqual(["SIGINT"]);
    expect(kernel.isAlive).toBe(true);
  });

  it("kills the kernel when the interrupt does not take within the grace period", async () => {
    const { kernel, fake } = await start((fake) =>
      fake.onExecute(async (_code, k) => {
        k.busy();
        await k.hang(); // ignores SIGINT, like a cell stuck in C code
      }),
    );
    fakeClock();
    const result = rejection(kernel.execute("stuck()", { timeoutMs: 2_500, graceMs: 5_000 }));
    await fake.waitFor("execute_request");
    await vi.advanceTimersByTimeAsync(2_500);
    expect(fake.signals).toEqual(["SIGINT"]);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(kernel.isAlive).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    const err = await result;
    expect(err.code).toBe("timeout");
    expect(err.message).toBe("cell timed out after 2.5 s");
    expect(fake.signals).toEqual(["SIGINT", "SIGKILL"]);
    expect(await kernel.exited).toEqual({ code: null, signal: "SIGKILL" });
  });
});

describe("KernelClient start, heartbeat and shutdown against a scripted kernel", () => {
  it("completes the handshake when the first iopub messages are lost (slow joiner)", async () => {
    const { kernel, fake } = await start(() => {}, { loseFirstIopub: 3 });
    // busy and idle of the first kernel_info, and busy of the second, never reached the client
    expect(fake.requests.filter((r) => r.msgType === "kernel_info_request").length).toBeGreaterThanOrEqual(2);
    expect(kernel.info.language_info?.name).toBe("python");
    expect((await kernel.execute("1")).status).toBe("ok");
  });

  it("waits a moment for the iopub of its first kernel_info before asking again", async () => {
    // ipykernel's reply (main thread, shell) often overtakes its `busy` (IOPub thread): the
    // handshake gives iopub a few ms instead of sending a second request at once. Here the status
    // comes 3 ms after the reply. (Up to three starts: one whose event loop stalled past those ms
    // asks again, as before.)
    const counts: number[] = [];
    for (let i = 0; i < 3 && !counts.includes(1); i++) {
      const { kernel, fake } = await start((fake) =>
        fake.onKernelInfo(async (k) => {
          k.reply({ status: "ok", language_info: { name: "python" } });
          await new Promise((r) => setTimeout(r, 3));
          k.publish("status", { execution_state: "idle" });
        }),
      );
      expect(kernel.isAlive).toBe(true);
      counts.push(fake.requests.filter((r) => r.msgType === "kernel_info_request").length);
    }
    expect(counts).toContain(1);
  });

  it("takes an iopub message of any type as proof that iopub is live", async () => {
    const { kernel, fake } = await start((fake) =>
      fake.onKernelInfo((k) => {
        k.publish("comm_close", { comm_id: "c", data: {} });
        k.reply({ status: "ok", language_info: { name: "python" } });
      }),
    );
    // No status is ever published: the start completes only because a comm_close counts. (How
    // many kernel_info requests it took depends on when the subscription went live.)
    expect(kernel.isAlive).toBe(true);
    expect(fake.requests.filter((r) => r.msgType === "kernel_info_request").length).toBeGreaterThanOrEqual(1);
  });

  it("fails the start with a protocol error when kernel_info_reply is invalid, and kills the kernel", async () => {
    const fake = await FakeKernel.create();
    fakes.push(fake);
    fake.onKernelInfo((k) => k.reply({ language_info: { name: 3 } }));
    const err = await rejection(KernelClient.attach(fake.spec, fake.launched, { startTimeoutMs: 5_000 }));
    expect(err.code).toBe("protocol");
    expect(err.message).toMatch(/content\.language_info\.name/);
    expect(fake.signals).toEqual(["SIGKILL"]);
  });

  it("answers the heartbeat while the kernel lives, and not after", async () => {
    const { kernel, fake } = await start(() => {});
    expect(await kernel.ping()).toBe(true);
    fake.die({ code: 0 });
    await kernel.exited;
    expect(await kernel.ping(200)).toBe(false);
  });

  it("shuts down with a shutdown_request and reports the exit", async () => {
    const { kernel, fake } = await start(() => {});
    expect(await kernel.shutdown()).toEqual({ code: 0, signal: null });
    // Found by type, not as the last request: a kernel_info the handshake resent (slow joiner) on
    // shell may arrive after it, as channels keep no order between them.
    expect(fake.requests.filter((r) => r.msgType === "shutdown_request")).toMatchObject([
      { channel: "control", content: { restart: false } },
    ]);
    expect(fake.signals).toEqual([]);
  });

  it("stops reading iopub when an idle kernel shuts down, and still gets the reply and the exit", async () => {
    const { kernel, fake } = await start((fake) =>
      fake.onShutdown(async (k) => {
        // Read, this would be recorded as a protocol error: nothing reads iopub any more.
        await k.publish("status", { execution_state: "busy" }, { badSignature: true });
        await k.reply({ status: "ok", restart: false });
        k.die({ code: 0 });
      }),
    );
    expect((await kernel.execute("1")).status).toBe("ok");
    expect(await kernel.shutdown()).toEqual({ code: 0, signal: null });
    expect(fake.requests.filter((r) => r.msgType === "shutdown_request")).toHaveLength(1);
    expect(kernel.protocolErrors).toEqual([]);
    expect(fake.signals).toEqual([]);
  });

  it("sends requests that pass their schemas, counting executions as the kernel does", async () => {
    const { kernel, fake } = await start(() => {});
    expect((await kernel.execute("a")).execution_count).toBe(1);
    expect((await kernel.execute("b", { silent: true })).execution_count).toBe(1);
    expect((await kernel.execute("c")).execution_count).toBe(2);
    const executes = fake.requests.filter((r) => r.msgType === "execute_request");
    expect(executes.map((r) => r.content)).toEqual([
      expect.objectContaining({ code: "a", silent: false, store_history: true, allow_stdin: false }),
      expect.objectContaining({ code: "b", silent: true, store_history: false }),
      expect.objectContaining({ code: "c" }),
    ]);
  });
});
