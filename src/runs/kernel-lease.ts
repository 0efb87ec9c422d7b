/**
 * Where a run's kernel comes from, and what happens to it afterwards. The default lease starts
 * a kernel (or takes a pooled one) and shuts it down after the run: nothing survives between
 * calls. Warm modes hand out prepared kernels instead (setup cells already run, or a kernel kept
 * for the next call) through the same interface.
 */
import { AppError } from "../errors.js";
import { contextPreamble, helperPreamble, KernelClient, type KernelPool } from "../kernel/index.js";
import type { LeaseFn, LeaseRequest } from "./types.js";

/**
 * Makes a running kernel ready for a run: the run's folder and environment when it was started
 * ahead (pooled), then nbhook's in-kernel helper where a silent import is needed (Deno).
 */
export async function prepareKernel(
  kernel: KernelClient,
  request: LeaseRequest,
  prestarted: boolean,
): Promise<void> {
  const { spec, start } = request;
  const preamble = [
    prestarted ? contextPreamble(spec, start.cwd, start.env) : undefined,
    helperPreamble(spec),
  ]
    .filter(Boolean)
    .join("\n");
  if (!preamble) return;
  await runPrelude(kernel, preamble);
}

/** Executes a lease's prelude on its own request (kernels without the cell runner). */
export async function runPrelude(kernel: KernelClient, code: string): Promise<void> {
  const reply = await kernel.execute(code, { silent: true, timeoutMs: 30_000 });
  if (reply.status !== "ok") throw preludeError(kernel.spec.name, reply.ename, reply.evalue);
}

export function preludeError(kernel: string, ename?: string, evalue?: string): AppError {
  return new AppError(
    "kernel-launch",
    `kernel "${kernel}" could not be prepared for the run (working folder, environment, nbhook helper): ` +
      `${ename}: ${evalue}`,
  );
}

/** A fresh kernel, from `pool` when given, prepared for the run and shut down after it. */
export function freshKernelLease(pool?: KernelPool): LeaseFn {
  return async (request) => {
    const kernel = await (pool
      ? pool.take(request.spec, request.start)
      : KernelClient.start(request.spec, request.start));
    // A pooled Python kernel's move into the run's folder and environment goes with the cells.
    const prelude =
      pool && helperPreamble(request.spec) === undefined && request.spec.language.toLowerCase() === "python"
        ? contextPreamble(request.spec, request.start.cwd, request.start.env)
        : undefined;
    try {
      if (prelude === undefined) await prepareKernel(kernel, request, pool !== undefined);
    } catch (err) {
      await kernel.kill();
      throw err;
    }
    return {
      kernel,
      prelude,
      release: async () => {
        // With a pool the shutdown happens after the answer; without one (the CLI) we wait for it.
        if (pool) pool.retire(kernel);
        else await kernel.shutdown();
      },
    };
  };
}
