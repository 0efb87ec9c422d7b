import { afterEach, describe, expect, it } from "vitest";
import { chooseKernelSpec, findKernelSpecs, KernelClient } from "../../src/kernel/index.js";
import { KernelPool } from "../../src/kernel/pool.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";

guardKernelLeaks();
const spec = chooseKernelSpec(await findKernelSpecs(), { name: "python3" });
const pools: KernelPool[] = [];
const taken: KernelClient[] = [];
afterEach(async () => {
  await Promise.all(taken.splice(0).map((k) => k.kill()));
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function newPool(size: number, healthIntervalMs?: number): KernelPool {
  const pool = new KernelPool({ size, healthIntervalMs });
  pools.push(pool);
  return pool;
}

async function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

const readyOf = (pool: KernelPool) => pool.stats()[0]?.ready ?? 0;

describe("KernelPool", () => {
  it("hands out distinct ready kernels and refills behind them", async () => {
    const pool = newPool(2);
    pool.warm(spec);
    await until(() => readyOf(pool) === 2);
    const readyPids = pool.stats()[0]!.pids;
    const t0 = Date.now();
    const a = await pool.take(spec);
    const b = await pool.take(spec);
    taken.push(a, b);
    expect(Date.now() - t0).toBeLessThan(100); // no kernel start on the call path
    expect(new Set([a.pid, b.pid]).size).toBe(2);
    expect([a.pid, b.pid].sort()).toEqual([...readyPids].sort());
    await until(() => readyOf(pool) === 2);
    expect(pool.stats()[0]!.pids.some((pid) => pid === a.pid || pid === b.pid)).toBe(false);
    expect((await a.execute("1+1")).status).toBe("ok");
  });

  it("warms spawned kernels up, and hands forked ones out as the fork server made them (helpers loaded)", async () => {
    const probe =
      "import sys; (get_ipython().last_execution_result is None, " +
      "all(m in sys.modules for m in ('nbhook', 'naas', 'nbhook._runner')))";
    const firstCell = async (kernel: KernelClient) => {
      let text = "";
      await kernel.execute(probe, {
        onIopub: (m) => (text += (m.content as { data?: Record<string, string> }).data?.["text/plain"] ?? ""),
      });
      return text;
    };
    const forked = await newPool(1).take(spec);
    taken.push(forked);
    expect([forked.startedBy, forked.prewarmed]).toEqual(["fork", true]);
    expect(await firstCell(forked)).toBe("(True, True)"); // no warm-up ran, nothing missing
    process.env.NBHOOK_FORKSERVER = "0";
    try {
      const spawned = await newPool(1).take(spec);
      taken.push(spawned);
      expect([spawned.startedBy, spawned.prewarmed]).toEqual(["spawn", false]);
      expect(await firstCell(spawned)).toBe("(False, True)"); // the warm-up ran first
    } finally {
      delete process.env.NBHOOK_FORKSERVER;
    }
  });

  it("never holds more than its size, even when takes outrun the refills", async () => {
    const pool = newPool(2);
    const kernels = await Promise.all([1, 2, 3, 4, 5].map(() => pool.take(spec)));
    taken.push(...kernels);
    expect(new Set(kernels.map((k) => k.pid)).size).toBe(5);
    const s = pool.stats()[0]!;
    expect(s.ready + s.starting).toBeLessThanOrEqual(2);
    await until(() => readyOf(pool) === 2);
    expect(pool.stats()[0]!.starting).toBe(0);
  });

  it("replaces an idle kernel that dies", async () => {
    const pool = newPool(1);
    pool.warm(spec);
    await until(() => readyOf(pool) === 1);
    const [victim] = pool.stats()[0]!.pids;
    process.kill(victim!, "SIGKILL");
    await until(() => readyOf(pool) === 1 && pool.stats()[0]!.pids[0] !== victim);
    const kernel = await pool.take(spec);
    taken.push(kernel);
    expect(kernel.pid).not.toBe(victim);
    expect((await kernel.execute("1")).status).toBe("ok");
  });

  it("replaces an idle kernel whose heartbeat stops answering", async () => {
    const pool = newPool(1, 300);
    pool.warm(spec);
    await until(() => readyOf(pool) === 1);
    const [frozen] = pool.stats()[0]!.pids;
    process.kill(frozen!, "SIGSTOP"); // alive but mute: only the heartbeat check can tell
    await until(() => readyOf(pool) === 1 && pool.stats()[0]!.pids[0] !== frozen, 20_000);
    expect(() => process.kill(frozen!, 0)).toThrow(); // the frozen one was killed
  });

  it("starts a kernel per call when the size is 0", async () => {
    const pool = newPool(0);
    const kernel = await pool.take(spec);
    taken.push(kernel);
    // Nothing kept ready; the kernel handed out counts as busy until it ends (metrics).
    expect(pool.stats()).toEqual([{ kernel: spec.name, ready: 0, starting: 0, busy: 1, pids: [] }]);
    expect((await kernel.execute("1")).status).toBe("ok");
  });

  it("shuts every kernel it started down on close, including ones still starting", async () => {
    const pool = new KernelPool({ size: 2 });
    pool.warm(spec);
    await new Promise((r) => setTimeout(r, 50)); // both still starting
    await pool.close();
    expect(pool.stats()[0]).toMatchObject({ ready: 0, starting: 0 });
    await expect(pool.take(spec)).rejects.toThrow(/closed/);
  });
});
