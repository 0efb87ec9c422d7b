/**
 * The warm-kernel manager (warm-kernels.ts) with fake kernels and fake clocks: which calls get a
 * warm lease, the global cap and which idle kernel gives way, idle versions expiring, `invalidate`
 * on deploy and delete, and `close`. One version's own behaviour is in warm-version.test.ts; the
 * same manager with a real ipykernel in test/integration/warm-modes.manager.test.ts.
 */
import { describe, expect, it, vi } from "vitest";
import type { ExecuteScript, FakeKernel } from "../../test/support/fake-kernel.js";
import { makeNotebook } from "../../test/support/notebooks.js";
import {
  FAKE_PYTHON,
  fakeClock,
  preparedCall,
  warmCall,
  warmHarness,
} from "../../test/support/warm-harness.js";
import type { KernelSpec } from "../kernel/index.js";
import type { WarmKernels } from "./warm-kernels.js";

// Real timers, for waiting on the kernels while the test fakes the clock.
const realSetTimeout = globalThis.setTimeout;

// Fake kernels answer in milliseconds: a test that waits longer is stuck, not slow.
vi.setConfig({ testTimeout: 5_000, hookTimeout: 5_000 });

const SPEC = FAKE_PYTHON;
const harness = warmHarness;
const prepared = preparedCall;
const call = warmCall;

const codes = (fake: FakeKernel) =>
  fake.requests
    .filter((r) => r.msgType === "execute_request")
    .map((r) => (r.content as { code: string }).code);

const injected = (run: string) => `# Parameters\nrun = "${run}"\n`;

const shutDown = (fake: FakeKernel) => fake.requests.some((r) => r.msgType === "shutdown_request");

async function until(check: () => boolean, what = "condition"): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((resolve) => realSetTimeout(resolve, 5));
  }
  throw new Error(`${what}: not met within 2 s`);
}

/** A short real pause, for asserting that something does not happen. */
const settle = () => new Promise((resolve) => realSetTimeout(resolve, 30));

function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Holds the call cells of `run` until the gate opens. */
function hold(cells: Record<string, ExecuteScript>, run: string) {
  const g = gate();
  cells[injected(run)] = async (_code, k) => {
    await g.opened;
    return k.ok();
  };
  return g;
}

const ranCall = (fakes: FakeKernel[], run: string) => fakes.some((f) => codes(f).includes(injected(run)));

const readyOf = (warm: WarmKernels, id: string) => warm.stats().find((s) => s.webhookId === id)?.ready ?? 0;

// ---------------------------------------------------------------------------------------------

describe("WarmKernels.leaseFor", () => {
  it("leaves isolated webhooks, kernels it cannot give a call's environment, and a closed manager to the default lease", async () => {
    const { warm, logs } = harness();
    const r: KernelSpec = { ...SPEC, name: "ir", language: "R" };
    expect(warm.leaseFor(prepared("iso", "isolated"))).toBeUndefined();
    expect(warm.leaseFor(prepared("r", "setup", { spec: r }))).toBeUndefined();
    expect(warm.leaseFor(prepared("r", "reuse", { spec: r }))).toBeUndefined();
    // warned once per webhook
    expect(logs.filter((l) => l.level === "warn")).toEqual([
      {
        level: "warn",
        fields: { webhook: "/work/r/nb.ipynb", kernel: "ir", mode: "setup" },
        msg: "warm mode not available for this kernel: calls run isolated",
      },
    ]);
    expect(warm.leaseFor(prepared("py", "setup"))).toBeTypeOf("function");
    await warm.close();
    expect(warm.leaseFor(prepared("py", "setup"))).toBeUndefined();
  });
});

describe("WarmKernels: the global cap", () => {
  it("keeps at most maxKernels, evicting the idle kernel of the version called least recently", async () => {
    fakeClock();
    const { warm, kernelsOf } = harness({ maxKernels: 2 });
    for (const id of ["a", "b", "c"]) {
      expect((await call(warm, prepared(id, "setup"), id)).status).toBe("ok");
      await until(() => readyOf(warm, id) === 1, `a kernel prepared ahead for ${id}`);
      await vi.advanceTimersByTimeAsync(1_000); // so that each webhook was called at its own time
    }
    expect(["a", "b", "c"].map((id) => readyOf(warm, id))).toEqual([0, 1, 1]);
    // a's kernels: the one its call used, and the prepared one evicted for c
    await until(() => kernelsOf("a").every((f) => !f.alive), "a's kernels stopped");
    expect(kernelsOf("a").map(shutDown)).toEqual([true, true]);
    expect(kernelsOf("b").filter((f) => f.alive)).toHaveLength(1);
    expect(kernelsOf("c").filter((f) => f.alive)).toHaveLength(1);
  });

  it("still serves a call when nothing can be evicted, on a kernel prepared for it and not kept", async () => {
    const { warm, cells, kernelsOf } = harness({ maxKernels: 1 });
    // a's reuse kernel is the one kept kernel, busy with a call: it cannot give way
    const a = hold(cells, "a1");
    const first = call(warm, prepared("a", "reuse"), "a1");
    await until(() => ranCall(kernelsOf("a"), "a1"), "a's call running");

    expect((await call(warm, prepared("b", "setup"), "b1")).status).toBe("ok");
    await settle();
    expect(kernelsOf("b")).toHaveLength(1);
    await until(() => !kernelsOf("b")[0]!.alive, "b's kernel shut down after its call");
    expect(readyOf(warm, "b")).toBe(0);

    a.open();
    expect((await first).status).toBe("ok");
    expect(readyOf(warm, "a")).toBe(1); // kept: it fits in the cap
  });
});

describe("WarmKernels: idle versions", () => {
  it("shuts down the kernels of a version not called for idleMs, at the next sweep, and prepares again on the next call", async () => {
    fakeClock();
    const { warm, starter } = harness({ idleMs: 60_000, sweepMs: 10_000 });
    const target = prepared("a", "reuse");
    expect((await call(warm, target, "r1")).status).toBe("ok");
    const [kernel] = starter.fakes;

    await vi.advanceTimersByTimeAsync(60_000); // exactly idleMs: not yet
    await settle();
    expect(kernel!.alive).toBe(true);
    expect(readyOf(warm, "a")).toBe(1);

    await vi.advanceTimersByTimeAsync(10_000); // the next sweep
    await until(() => !kernel!.alive, "the idle kernel shut down");
    expect(shutDown(kernel!)).toBe(true);
    expect(warm.stats()).toEqual([]);

    expect((await call(warm, target, "r2")).status).toBe("ok");
    expect(starter.fakes).toHaveLength(2);
    expect(codes(starter.fakes[1]!)).toContain("model = load()");
  });

  it("never expires a version while its call runs, however long", async () => {
    fakeClock();
    const { warm, starter, cells } = harness({ idleMs: 60_000, sweepMs: 10_000 });
    const slow = hold(cells, "slow");
    const running = call(warm, prepared("a", "reuse"), "slow");
    await until(() => ranCall(starter.fakes, "slow"), "the call running");
    await vi.advanceTimersByTimeAsync(120_000);
    await settle();
    expect(starter.fakes[0]!.alive).toBe(true);
    expect(shutDown(starter.fakes[0]!)).toBe(false);
    slow.open();
    expect((await running).status).toBe("ok");
    // still its version's kept kernel afterwards, not retired under the call
    await settle();
    expect(readyOf(warm, "a")).toBe(1);
    expect(shutDown(starter.fakes[0]!)).toBe(false);
  });
});

describe("WarmKernels.invalidate", () => {
  it("shuts a setup version's idle kernels down at once, the one in use after its call, and prepares the next call afresh", async () => {
    const { warm, cells, kernelsOf } = harness();
    // another webhook's kernel, which must stay
    expect((await call(warm, prepared("b", "reuse"), "b1")).status).toBe("ok");

    const target = prepared("a", "setup");
    const a = hold(cells, "a1");
    const first = call(warm, target, "a1");
    await until(
      () => ranCall(kernelsOf("a"), "a1") && readyOf(warm, "a") === 1,
      "a's call running, one kernel ready",
    );
    const [inUse, ready] = kernelsOf("a");
    expect(codes(inUse!)).toContain(injected("a1"));

    warm.invalidate("a");
    await until(() => !ready!.alive, "the idle kernel shut down");
    expect(shutDown(ready!)).toBe(true);
    expect(inUse!.alive).toBe(true);

    a.open();
    expect((await first).status).toBe("ok");
    await until(() => !inUse!.alive, "the kernel in use shut down after its call");
    await settle();
    expect(kernelsOf("a")).toHaveLength(2); // no replacement for a retired version
    expect(warm.stats().map((s) => s.webhookId)).toEqual(["b"]);
    expect(kernelsOf("b")[0]!.alive).toBe(true);

    expect((await call(warm, target, "a2")).status).toBe("ok");
    const fresh = kernelsOf("a")[2]!;
    expect(codes(fresh)).toEqual(expect.arrayContaining(["model = load()", injected("a2")]));
  });

  it("shuts a reuse version's kept kernel down at once", async () => {
    const { warm, starter } = harness();
    const target = prepared("a", "reuse");
    expect((await call(warm, target, "r1")).status).toBe("ok");
    const [kept] = starter.fakes;
    warm.invalidate("a");
    await until(() => !kept!.alive, "the kept kernel shut down");
    expect(shutDown(kept!)).toBe(true);
    expect((await call(warm, target, "r2")).status).toBe("ok");
    expect(starter.fakes).toHaveLength(2);
  });
});

describe("WarmKernels.close", () => {
  it("shuts every kept kernel down, fails the calls waiting for a preparation, and waits for the preparations in flight", async () => {
    const { warm, cells, kernelsOf } = harness();
    expect((await call(warm, prepared("b", "reuse"), "b1")).status).toBe("ok");

    const slowSetup = gate();
    cells["slow_setup()"] = async (_code, k) => {
      await slowSetup.opened;
      return k.ok();
    };
    const notebook = makeNotebook([{ source: "slow_setup()", tags: ["setup"] }, "answer()"]);
    const waiting = call(warm, prepared("a", "setup", { notebook }), "a1");
    await until(
      () => kernelsOf("a").some((f) => codes(f).includes("slow_setup()")),
      "a's setup cell running",
    );

    let closed = false;
    const closing = warm.close().then(() => (closed = true));
    await expect(waiting).rejects.toThrow("the server is shutting down");
    await until(() => !kernelsOf("b")[0]!.alive, "b's kept kernel shut down");
    expect(shutDown(kernelsOf("b")[0]!)).toBe(true);
    await settle();
    expect(closed).toBe(false); // a's preparation is still in flight

    slowSetup.open();
    await closing;
    const [preparing] = kernelsOf("a");
    expect(preparing!.alive).toBe(false);
    expect(shutDown(preparing!)).toBe(true);
    expect(codes(preparing!)).not.toContain("answer()");
  });

  // close() fails the calls waiting for their turn on a reuse kernel too: the waiting one must not
  // take the turn and make the closed manager prepare a new kernel.
  it("fails a reuse call waiting for its turn, without preparing another kernel", async () => {
    const { warm, starter, cells } = harness();
    const target = prepared("a", "reuse");
    const first = hold(cells, "r1");
    const running = call(warm, target, "r1");
    await until(() => ranCall(starter.fakes, "r1"), "the first call running");
    const waiting = call(warm, target, "r2").catch((e: unknown) => e);

    const closing = warm.close();
    first.open();
    expect((await running).status).toBe("ok");
    await closing;
    expect(await waiting).toMatchObject({ message: "the server is shutting down" });
    expect(starter.starts).toHaveLength(1);
  });
});
