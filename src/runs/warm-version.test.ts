/**
 * One webhook version's prepared kernels (warm-version.ts), driven through WarmKernels and
 * executeNotebook with fake kernels: `setup` mode (setup cells once per kernel, a kernel per call,
 * a replacement prepared behind it), `reuse` mode (one kernel in turn, kept or replaced), and a
 * failing setup cell (its error, failing fast, the backoff on a fake clock). The same behaviours
 * against a real ipykernel over HTTP: test/integration/warm-modes.test.ts.
 */
import { describe, expect, it, vi } from "vitest";
import type { ExecuteContext, ExecuteScript, FakeKernel } from "../../test/support/fake-kernel.js";
import { makeNotebook } from "../../test/support/notebooks.js";
import { fakeClock, preparedCall, warmCall, warmHarness } from "../../test/support/warm-harness.js";
import type { CodeCell } from "../notebook/types.js";
import type { WarmKernels } from "./warm-kernels.js";
import { SetupCellError } from "./warm-prepare.js";

// Real timers, for waiting on the kernels while the test fakes the clock.
const realSetTimeout = globalThis.setTimeout;

// Fake kernels answer in milliseconds: a test that waits longer is stuck, not slow.
vi.setConfig({ testTimeout: 5_000, hookTimeout: 5_000 });

const harness = warmHarness;
const prepared = preparedCall;
const call = warmCall;

const executes = (fake: FakeKernel) =>
  fake.requests
    .filter((r) => r.msgType === "execute_request")
    .map((r) => r.content as { code: string; silent: boolean });

/** What the fake ran, with the silent preambles (folder, environment) shown as "(context)". */
const ran = (fake: FakeKernel) => executes(fake).map((e) => (e.silent ? "(context)" : e.code));

const injected = (run: string) => `# Parameters\nrun = "${run}"\n`;

/** The fake that ran `run`'s call cells. */
const servedBy = (fakes: FakeKernel[], run: string) => {
  const found = fakes.filter((f) => executes(f).some((e) => e.code === injected(run)));
  expect(found, `kernels that ran call ${run}`).toHaveLength(1);
  return found[0]!;
};

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

const stats = (warm: WarmKernels, id: string) => warm.stats().find((s) => s.webhookId === id);

function loaded(_code: string, k: ExecuteContext): Promise<void> {
  void k.busy();
  void k.stream("stdout", "loaded\n");
  void k.reply({ status: "ok", execution_count: k.count });
  return k.idle();
}

function raising(ename: string, evalue: string): ExecuteScript {
  return (_code, k) => {
    void k.busy();
    return k.raise(ename, evalue);
  };
}

// ---------------------------------------------------------------------------------------------

describe("setup mode", () => {
  it("runs the setup cells once per prepared kernel, before the call, and shows their outputs without running them again", async () => {
    const { warm, starter, cells } = harness();
    cells["model = load()"] = loaded;
    const result = await call(warm, prepared("a", "setup"), "r1");

    expect(result.status).toBe("ok");
    const fake = servedBy(starter.fakes, "r1");
    expect(ran(fake)).toEqual([
      "(context)",
      "model = load()",
      "(context)",
      "run = ''",
      injected("r1"),
      "answer(run)",
    ]);
    const [setupContext, , callContext] = executes(fake);
    // the setup cells run in the webhook's folder, NBHOOK_RUN marked as setup; the call's own has no mark
    expect(setupContext!.code).toContain('chdir("/srv/files/a")');
    expect(setupContext!.code).toContain('\\"setup\\":true');
    expect(callContext!.code).toContain('chdir("/srv/files/a")');
    expect(callContext!.code).not.toContain("setup");
    const setupCell = result.notebook.cells[0] as CodeCell;
    expect(setupCell.outputs).toEqual([{ output_type: "stream", name: "stdout", text: "loaded\n" }]);
    expect(setupCell.execution_count).toBe(1);
    expect((result.notebook.cells.at(-1) as CodeCell).execution_count).toBe(4);
  });

  it("gives each call a kernel of its own, shut down after it, and prepares the next one in the background", async () => {
    const { warm, starter } = harness();
    const target = prepared("a", "setup");
    expect((await call(warm, target, "r1")).status).toBe("ok");
    const first = servedBy(starter.fakes, "r1");
    await until(() => !first.alive, "the first call's kernel shut down");
    expect(shutDown(first)).toBe(true);

    // the next kernel was prepared while nobody called: its setup cell ran, nothing else
    await until(() => stats(warm, "a")?.ready === 1, "a kernel prepared ahead");
    const next = starter.fakes.find((f) => f !== first)!;
    expect(ran(next)).toEqual(["(context)", "model = load()"]);

    expect((await call(warm, target, "r2")).status).toBe("ok");
    expect(servedBy(starter.fakes, "r2")).toBe(next);
    expect(ran(next)).toEqual([
      "(context)",
      "model = load()",
      "(context)",
      "run = ''",
      injected("r2"),
      "answer(run)",
    ]);
    await until(() => stats(warm, "a")?.ready === 1 && starter.fakes.length === 3, "a third kernel prepared");
  });

  it("prepares the next call's kernel while a call runs, and serves that call at once on it", async () => {
    const { warm, starter, cells } = harness();
    const hold = gate();
    cells[injected("slow")] = async (_code, k) => {
      await hold.opened;
      return k.ok();
    };
    const target = prepared("a", "setup");
    const slow = call(warm, target, "slow");
    await until(
      () => starter.fakes.some((f) => executes(f).some((e) => e.code === injected("slow"))),
      "slow call running",
    );
    await until(() => stats(warm, "a")?.ready === 1, "the next kernel prepared while the first call runs");
    expect(stats(warm, "a")).toMatchObject({ inUse: 1, ready: 1 });

    const quick = await call(warm, target, "quick");
    expect(quick.status).toBe("ok");
    hold.open();
    expect((await slow).status).toBe("ok");
    expect(servedBy(starter.fakes, "quick")).not.toBe(servedBy(starter.fakes, "slow"));
  });

  /** Two kernels kept ready, then a call held in its cells: `before` kernels started until it took one. */
  async function slowCallWithTwoReady() {
    const { warm, starter, cells } = harness({ readyPerVersion: 2 });
    const hold = gate();
    cells[injected("slow")] = async (_code, k) => {
      await hold.opened;
      return k.ok();
    };
    const target = prepared("a", "setup");
    expect((await call(warm, target, "r0")).status).toBe("ok"); // prepared on demand; two more behind it
    await until(
      () => stats(warm, "a")?.ready === 2 && stats(warm, "a")?.preparing === 0,
      "two prepared ahead",
    );
    const before = starter.fakes.length;
    const t0 = Date.now();
    const slow = call(warm, target, "slow"); // takes one; the other is still ready
    await until(() => stats(warm, "a")?.inUse === 1, "the slow call running");
    return { warm, starter, before, t0, slow, release: hold.open };
  }

  it("with two kept ready, starts the replacement of a taken kernel only after a pause, not beside the call", async () => {
    const { starter, before, t0, slow, release } = await slowCallWithTwoReady();
    await new Promise((resolve) => realSetTimeout(resolve, 100));
    expect(starter.fakes.length, "kernels started during the call's first 100 ms").toBe(before);
    await until(() => starter.fakes.length === before + 1, "the replacement started");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    release();
    expect((await slow).status).toBe("ok");
  });

  it("starts no delayed replacement for a version retired within the pause", async () => {
    const { warm, starter, before, slow, release } = await slowCallWithTwoReady();
    warm.invalidate("a"); // a new version deployed during the call
    await new Promise((resolve) => realSetTimeout(resolve, 250));
    release();
    expect((await slow).status).toBe("ok");
    await settle();
    expect(starter.fakes.length, "kernels started for the retired version").toBe(before);
  });
});

describe("reuse mode", () => {
  it("serves calls one at a time on one kernel, the second waiting its turn, and keeps it after ok calls", async () => {
    const { warm, starter, cells } = harness();
    const hold = gate();
    cells[injected("r1")] = async (_code, k) => {
      await hold.opened;
      return k.ok();
    };
    const target = prepared("a", "reuse");
    const first = call(warm, target, "r1");
    await until(
      () => starter.fakes.some((f) => executes(f).some((e) => e.code === injected("r1"))),
      "first call running",
    );
    const second = call(warm, target, "r2");
    await settle();
    // the second call sent nothing and started nothing while the first held the kernel
    expect(starter.fakes.flatMap(executes).map((e) => e.code)).not.toContain(injected("r2"));
    expect(starter.starts).toHaveLength(1);

    hold.open();
    const results = await Promise.all([first, second]);
    expect(results.map((r) => r.status)).toEqual(["ok", "ok"]);
    expect((await call(warm, target, "r3")).status).toBe("ok");

    const [kernel] = starter.fakes;
    expect(starter.fakes).toHaveLength(1);
    // setup once, the call's folder and environment once (they did not change), then each call
    expect(ran(kernel!)).toEqual([
      "(context)",
      "model = load()",
      "(context)",
      ...["r1", "r2", "r3"].flatMap((run) => ["run = ''", injected(run), "answer(run)"]),
    ]);
    expect(shutDown(kernel!)).toBe(false);
    expect(stats(warm, "a")).toMatchObject({ ready: 1, inUse: 0 });
  });

  it.each([
    {
      status: "error",
      script: raising("ValueError", "bad"),
    },
    {
      status: "timeout",
      script: (async (_code, k) => {
        void k.busy();
        await k.interrupted;
        return k.keyboardInterrupt();
      }) satisfies ExecuteScript,
    },
    {
      status: "died",
      script: ((_code, k) => {
        void k.busy();
        k.die({ code: 1 });
      }) satisfies ExecuteScript,
    },
  ])(
    "replaces the kernel after a call that ended $status: the next call runs on a fresh one",
    async ({ status, script }) => {
      const { warm, starter, cells } = harness();
      cells[injected("bad")] = script;
      const target = prepared("a", "reuse");
      expect((await call(warm, target, "ok")).status).toBe("ok");
      const kept = servedBy(starter.fakes, "ok");

      expect((await call(warm, target, "bad", { cellTimeoutMs: 50 })).status).toBe(status);
      expect(servedBy(starter.fakes, "bad")).toBe(kept);
      await until(() => !kept.alive, "the failed call's kernel stopped");
      if (status !== "died") expect(shutDown(kept)).toBe(true);
      await until(() => stats(warm, "a")?.ready === 1, "a replacement prepared");

      expect((await call(warm, target, "after")).status).toBe("ok");
      const fresh = servedBy(starter.fakes, "after");
      expect(fresh).not.toBe(kept);
      expect(ran(fresh).slice(0, 2)).toEqual(["(context)", "model = load()"]);
    },
  );

  it("replaces the kernel after reuseCalls calls", async () => {
    const { warm, starter } = harness();
    const target = prepared("a", "reuse", { reuseCalls: 2 });
    for (const run of ["r1", "r2", "r3"]) expect((await call(warm, target, run)).status).toBe("ok");

    const first = servedBy(starter.fakes, "r1");
    expect(servedBy(starter.fakes, "r2")).toBe(first);
    expect(servedBy(starter.fakes, "r3")).not.toBe(first);
    expect(shutDown(first)).toBe(true);
    expect(starter.fakes).toHaveLength(2);
  });
});

describe("a failing setup cell", () => {
  /** Setup cells at notebook indexes 1 and 2 (after a markdown cell). */
  const TWO_SETUP = makeNotebook([
    { source: "# Service", type: "markdown" },
    { source: "model = load()", tags: ["setup"] },
    { source: "db = connect()", tags: ["setup"] },
    { source: "run = ''", tags: ["parameters"] },
    "answer(run)",
  ]);

  it("fails the call waiting for the preparation with the cell's error, and kills that kernel", async () => {
    const { warm, starter, cells } = harness();
    cells["model = load()"] = loaded;
    cells["db = connect()"] = raising("ConnectionError", "database down");
    const failure = await call(warm, prepared("a", "setup", { notebook: TWO_SETUP }), "r1").catch(
      (e: unknown) => e,
    );

    expect(failure).toBeInstanceOf(SetupCellError);
    const err = failure as SetupCellError;
    expect(err.runError()).toEqual({
      ename: "ConnectionError",
      evalue: "database down",
      traceback: ["ConnectionError: database down"],
      cellIndex: 2,
    });
    // the outputs of the setup cells up to the error, for the saved notebook
    expect(err.setupOutputs.map((s) => s.outputs.map((o) => o.output_type))).toEqual([["stream"], ["error"]]);
    const [fake] = starter.fakes;
    expect(ran(fake!)).toEqual(["(context)", "model = load()", "db = connect()"]);
    expect(fake!.signals).toEqual(["SIGKILL"]);
  });

  it.each([
    {
      ename: "TimeoutError",
      script: (async (_code, k) => {
        void k.busy();
        await k.interrupted;
        return k.keyboardInterrupt();
      }) satisfies ExecuteScript,
    },
    {
      ename: "KernelDied",
      script: ((_code, k) => {
        void k.busy();
        k.die({ code: 1 });
      }) satisfies ExecuteScript,
    },
  ])("names a setup cell that stops the kernel $ename", async ({ ename, script }) => {
    const { warm, cells } = harness();
    cells["model = load()"] = script;
    // the webhook's time limit bounds the setup cells
    const failure = await call(warm, prepared("a", "setup", { timeoutMs: 50 }), "r1").catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(SetupCellError);
    expect(failure).toMatchObject({ ename, cellIndex: 0, evalue: expect.stringMatching(/^setup cell 1: /) });
  });

  it("fails later calls at once with the same error until 2 s have passed, then retries in the background and recovers", async () => {
    fakeClock();
    const { warm, starter, cells, logs } = harness();
    cells["model = load()"] = raising("ConnectionError", "database down");
    const target = prepared("a", "setup");
    const err = await call(warm, target, "r1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SetupCellError);

    // failing fast: the same error, no kernel started
    await expect(call(warm, target, "r2")).rejects.toBe(err);
    await vi.advanceTimersByTimeAsync(1_999);
    await expect(call(warm, target, "r3")).rejects.toBe(err);
    expect(starter.starts).toHaveLength(1);

    // the first background retry (it fails too)
    await vi.advanceTimersByTimeAsync(11);
    expect(starter.starts).toHaveLength(2);
    await until(() => stats(warm, "a")?.preparing === 0, "the retry over");
    expect(starter.fakes[1]!.signals).toEqual(["SIGKILL"]);

    // the database is back; the second background retry comes 4 s after the second failure
    cells["model = load()"] = loaded;
    await vi.advanceTimersByTimeAsync(3_999);
    expect(starter.starts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(11);
    expect(starter.starts).toHaveLength(3);
    await until(() => stats(warm, "a")?.ready === 1, "prepared after the failures");
    expect(logs.map((l) => l.msg)).toContain("warm kernel prepared again after a failure");

    const result = await call(warm, target, "r4");
    expect(result.status).toBe("ok");
    expect(servedBy(starter.fakes, "r4")).toBe(starter.fakes[2]);
  });

  it("backs off 2 s after the first failure, doubling with each one, at most 60 s", async () => {
    fakeClock();
    const { warm, starter, cells } = harness();
    cells["model = load()"] = raising("ConnectionError", "database down");
    const target = prepared("a", "setup");
    let last = await call(warm, target, "first").catch((e: unknown) => e);
    expect(last).toBeInstanceOf(SetupCellError);

    const waits = [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000];
    for (const [i, wait] of waits.entries()) {
      await vi.advanceTimersByTimeAsync(wait - 1);
      await expect(call(warm, target, `early-${i}`), `${wait - 1} ms after failure ${i + 1}`).rejects.toBe(
        last,
      );
      expect(starter.starts).toHaveLength(i + 1);
      await vi.advanceTimersByTimeAsync(1);
      // the backoff is over: this call prepares a kernel again (which fails again)
      const next = await call(warm, target, `on-time-${i}`).catch((e: unknown) => e);
      expect(next).toBeInstanceOf(SetupCellError);
      expect(next).not.toBe(last);
      expect(starter.starts).toHaveLength(i + 2);
      last = next;
    }
  });

  it("retries in the background three times only; after that a call triggers the next attempt", async () => {
    fakeClock();
    const { warm, starter, cells } = harness();
    cells["model = load()"] = raising("ConnectionError", "database down");
    const target = prepared("a", "setup");
    await expect(call(warm, target, "r1")).rejects.toBeInstanceOf(SetupCellError);

    // background retries 2, 4 and 8 s after each failure (plus the timer's 10 ms)
    for (const [i, wait] of [2_000, 4_000, 8_000].entries()) {
      await vi.advanceTimersByTimeAsync(wait + 10);
      expect(starter.starts).toHaveLength(i + 2);
      await until(() => stats(warm, "a")?.preparing === 0, `background retry ${i + 1} over`);
    }
    // the fourth failure's backoff (16 s) passes without a retry
    await vi.advanceTimersByTimeAsync(120_000);
    await settle();
    expect(starter.starts).toHaveLength(4);

    await expect(call(warm, target, "r2")).rejects.toBeInstanceOf(SetupCellError);
    expect(starter.starts).toHaveLength(5);
  });
});
